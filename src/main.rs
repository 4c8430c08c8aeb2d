use clap::Parser;
use palaver::{app::init_telemetry, Application, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    init_telemetry(config.log_format);
    let app = Application::build(config).await?;
    app.run_until_stopped().await
}
