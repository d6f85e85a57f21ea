//! Prometheus metrics: one recorder per process, and an HTTP router that serves them.
//!
//! Code anywhere records with the `metrics` macros (`counter!`, `histogram!`, `gauge!`); the
//! binaries serve [`router`] on their metrics address, which renders what was recorded in the
//! Prometheus text format.

use std::sync::OnceLock;

use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use (a second caller in the same
/// process, as in tests, shares it).
pub fn prometheus() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
            .expect("static buckets are valid")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then ours renders nothing new,
        // which a test would notice.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// `GET /metrics` in the Prometheus text format. Call it inside the Tokio runtime: it also
/// starts (once) the upkeep that keeps histogram memory bounded.
pub fn router() -> Router {
    static UPKEEP: OnceLock<()> = OnceLock::new();
    let handle = prometheus();
    UPKEEP.get_or_init(|| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
    });
    Router::new().route("/metrics", get(move || async move { handle.render() }))
}
