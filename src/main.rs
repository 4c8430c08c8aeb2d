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
        Some(Command::Admin { action }) => {
            use palaver::app::admin::{self, AdminOutcome};
            let (verb, name) = match &action {
                palaver::config::AdminAction::Grant { username } => ("is now", username),
                palaver::config::AdminAction::Revoke { username } => ("is no longer", username),
            };
            match admin::run(&cli.config, &action).await {
                Ok(AdminOutcome::Done(user)) => {
                    println!("{} {verb} a site admin", user.username);
                    Ok(ExitCode::SUCCESS)
                }
                Ok(AdminOutcome::NoSuchUser) => {
                    eprintln!("palaver admin: no account is named {name:?}");
                    Ok(ExitCode::from(admin::EXIT_NO_SUCH_USER))
                }
                Err(err) => {
                    eprintln!("palaver admin: {err:#}");
                    Ok(ExitCode::from(admin::EXIT_STORE_FAILED))
                }
            }
        }
        Some(Command::Reindex) => match palaver::app::reindex::run(&cli.config).await {
            Ok(()) => {
                println!("the search index is rebuilt");
                Ok(ExitCode::SUCCESS)
            }
            Err(err) => {
                eprintln!("palaver reindex: {err:#}");
                Ok(ExitCode::FAILURE)
            }
        },
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
