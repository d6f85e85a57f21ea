//! The livemsg HTTP RPC gateway process.

use anyhow::Context;
use livemsg_gateway::{Application, GatewaySettings};
use livemsg_runtime::{init_tracing, shutdown_signal, ConfigSource};

/// mimalloc instead of the system allocator: under many threads glibc's malloc spent about a
/// tenth of the CPU of a full-stack list (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings: GatewaySettings = ConfigSource::from_env()
        .load()
        .context("cannot read the gateway settings")?;
    init_tracing(&settings.log);
    // Before the address is announced: a stop that comes at once is a clean stop.
    let stop = shutdown_signal();
    let app = Application::build(&settings)
        .await
        .with_context(|| format!("cannot listen on {}", settings.gateway.listen))?;
    tracing::info!(
        listen.addr = %app.local_addr(),
        metrics.addr = %app.metrics_addr(),
        service.url = %settings.gateway.service_url,
        "livemsg gateway listening"
    );
    app.run_until_stopped(stop).await?;
    tracing::info!("livemsg gateway stopped");
    Ok(())
}
