//! What the service tells operators: gRPC call metrics, and the HTTP side listener with
//! `/metrics`, `/healthz` and `/readyz`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

/// The methods livemsg serves, by path (`/package.Service/Method`): livemsg's own, read from
/// the embedded descriptors, and health and reflection. Only these become metric labels; any
/// other path is `unknown`, so nobody can grow the label set by calling made-up paths.
fn known_methods() -> &'static std::collections::HashSet<String> {
    use prost::Message;
    static KNOWN: std::sync::OnceLock<std::collections::HashSet<String>> =
        std::sync::OnceLock::new();
    KNOWN.get_or_init(|| {
        let set = prost_types::FileDescriptorSet::decode(livemsg_proto::FILE_DESCRIPTOR_SET)
            .expect("the embedded descriptor set decodes");
        let mut known = std::collections::HashSet::new();
        for file in &set.file {
            for service in &file.service {
                for method in &service.method {
                    known.insert(format!(
                        "/{}.{}/{}",
                        file.package(),
                        service.name(),
                        method.name()
                    ));
                }
            }
        }
        known.extend(
            [
                "/grpc.health.v1.Health/Check",
                "/grpc.health.v1.Health/Watch",
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            ]
            .map(String::from),
        );
        known
    })
}

/// The metric label of a request path: the path of a known method, else `unknown`.
pub(crate) fn method_label(path: &str) -> String {
    if known_methods().contains(path) {
        path.to_owned()
    } else {
        "unknown".to_owned()
    }
}

/// Counts and times every gRPC call by method and status:
/// `livemsg_grpc_requests_total{method, code}` and `livemsg_grpc_request_duration_seconds{method}`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GrpcMetricsLayer;

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics { inner }
    }
}

/// The service of [`GrpcMetricsLayer`].
#[derive(Debug, Clone)]
pub(crate) struct GrpcMetrics<S> {
    inner: S,
}

impl<S, B, R> tower::Service<axum::http::Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<axum::http::Request<B>, Response = axum::http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let method = method_label(request.uri().path());
        let started = Instant::now();
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            // An error is answered "trailers-only", with grpc-status in the headers; a success
            // carries its status in the trailers, which is 0.
            let code = response
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("0")
                .to_owned();
            metrics::counter!("livemsg_grpc_requests_total", "method" => method.clone(), "code" => code)
                .increment(1);
            metrics::histogram!("livemsg_grpc_request_duration_seconds", "method" => method)
                .record(started.elapsed().as_secs_f64());
            Ok(response)
        })
    }
}

/// The HTTP side listener: metrics, liveness and readiness (Postgres answers, not draining).
pub(crate) fn http_router(pool: sqlx::PgPool, draining: Arc<AtomicBool>) -> Router {
    livemsg_runtime::telemetry::router()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let (pool, draining) = (pool.clone(), draining.clone());
                async move {
                    if draining.load(Ordering::Acquire) {
                        return (StatusCode::SERVICE_UNAVAILABLE, "draining");
                    }
                    let ping = tokio::time::timeout(
                        std::time::Duration::from_secs(2),
                        sqlx::query("SELECT 1").execute(&pool),
                    )
                    .await;
                    match ping {
                        Ok(Ok(_)) => (StatusCode::OK, "ready"),
                        _ => (StatusCode::SERVICE_UNAVAILABLE, "postgres does not answer"),
                    }
                }
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_served_methods_become_labels() {
        for served in [
            "/livemsg.api.v1.GroupService/CreateGroup",
            "/livemsg.membership.v1.MembershipService/JoinGroup",
            "/livemsg.events.v1.EventService/WatchAppEvents",
            "/grpc.health.v1.Health/Check",
        ] {
            assert_eq!(method_label(served), served);
        }
        for made_up in [
            "/livemsg.api.v1.GroupService/Nope",
            "/x.Y/3f2a",
            "/",
            "/livemsg.api.v1.GroupService/CreateGroup/extra",
        ] {
            assert_eq!(method_label(made_up), "unknown");
        }
    }
}
