//! The livemsg client edge process.

use anyhow::Context;
use livemsg_edge::{Application, EdgeSettings};
use livemsg_runtime::{init_tracing, shutdown_signal, ConfigSource};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings: EdgeSettings = ConfigSource::from_env()
        .load()
        .context("cannot read the edge settings")?;
    init_tracing(&settings.log);
    // Before the address is announced: a stop that comes at once is a clean stop.
    let stop = shutdown_signal();
    let app = Application::build(&settings)
        .await
        .with_context(|| format!("cannot start the edge on {}", settings.edge.listen))?;
    tracing::info!(
        listen.addr = %app.local_addr(),
        metrics.addr = %app.metrics_addr(),
        service.url = %settings.edge.service_url,
        "livemsg edge listening"
    );
    app.run_until_stopped(stop).await?;
    tracing::info!("livemsg edge stopped");
    Ok(())
}
