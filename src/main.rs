use std::process::ExitCode;

use clap::Parser;
use palaver::config::{Cli, Command};
use palaver::{app::init_telemetry, Application};

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        None => {
            init_telemetry(cli.config.log_format);
            let app = Application::build(cli.config).await?;
            app.run_until_stopped().await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::CopyToPostgres(args)) => {
            let copied = palaver::store::copy::sqlite_to_postgres(
                &args.from,
                &args.to,
                &mut std::io::stdout(),
            )
            .await;
            match copied {
                Ok(_) => Ok(ExitCode::SUCCESS),
                Err(err) => {
                    // The cause chain on one line, no backtrace: this is an operator's tool.
                    eprintln!("palaver copy-to-postgres: {err:#}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
