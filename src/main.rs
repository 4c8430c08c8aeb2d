use clap::Parser;
use palaver::config::{Cli, Command};
use palaver::{app::init_telemetry, Application};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => {
            init_telemetry(cli.config.log_format);
            let app = Application::build(cli.config).await?;
            app.run_until_stopped().await
        }
        Some(Command::CopyToPostgres(args)) => {
            palaver::store::copy::sqlite_to_postgres(&args.from, &args.to, &mut std::io::stdout())
                .await?;
            Ok(())
        }
    }
}
