//! The livemsg gRPC service process.

use anyhow::Context;
use livemsg_runtime::{init_tracing, shutdown_signal, ConfigSource};
use livemsg_service::{Application, ServiceSettings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings: ServiceSettings = ConfigSource::from_env()
        .load()
        .context("cannot read the service settings")?;
    init_tracing(&settings.log);
    let app = Application::build(&settings)
        .await
        .with_context(|| format!("cannot start the service on {}", settings.service.listen))?;
    tracing::info!(
        listen.addr = %app.local_addr(),
        metrics.addr = %app.http_addr(),
        "livemsg service listening"
    );
    app.run_until_stopped(shutdown_signal()).await?;
    tracing::info!("livemsg service stopped");
    Ok(())
}
