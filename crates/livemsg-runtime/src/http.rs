//! Serving HTTP/1.1 on a public listener with limits, so that a slow or idle client costs a
//! bounded amount and is cut off (the gateway's RPC port, the edge's WebSocket port).
//!
//! Each connection is served by hyper with a timer: a request head must arrive within
//! `header_timeout` (which also bounds how long an idle keep-alive connection is kept), and
//! may not be larger than `max_header_bytes`; a connection beyond `max_connections` is closed
//! at once. HTTP/2 is not spoken (the SDKs and browsers use HTTP/1.1 here), so no connection
//! multiplexes streams past these limits. Reading a body has its own deadline, applied where
//! the body is read. WebSocket upgrades are served.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// What one public listener allows a client.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// How long a request head may take to arrive, and an idle connection may stay open.
    pub header_timeout: Duration,
    /// The largest request head (request line and headers), in bytes; at least 8 KiB.
    pub max_header_bytes: usize,
    /// How many connections may be open at once; more are closed on arrival.
    pub max_connections: usize,
}

/// Serves `app` on `listener` within `limits` until `stop` resolves; then stops accepting,
/// lets each open connection finish the request it is serving (idle ones close at once) and
/// returns when all are closed. The caller bounds that wait (see [`crate::Drain`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (closing, closed) = watch::channel(false);
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics::counter!("livemsg_http_connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        // Small responses go out at once: without TCP_NODELAY, Nagle's algorithm and the
        // peer's delayed ACK hold a response back by up to 40 ms.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY");
        }
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.oneshot(request).await.unwrap_or_else(|e| match e {})) }
        });
        let mut closed = closed.clone();
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_buf_size(limits.max_header_bytes.max(8 * 1024))
            .keep_alive(true);
        tokio::spawn(async move {
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            let closing = async move {
                let _ = closed.wait_for(|closing| *closing).await;
            };
            tokio::select! {
                _ = connection.as_mut() => {}
                () = closing => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = closing.send(true);
    // Every connection holds a permit until it is closed: all of them back means all closed.
    let _ = permits.acquire_many(limits.max_connections as u32).await;
    Ok(())
}
