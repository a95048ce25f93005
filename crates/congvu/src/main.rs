//! congvu — Hệ thống thư điện tử công vụ: the binary. CLI, configuration, wiring, start-up and
//! shutdown. Exit codes (DESIGN.md): 0 success, 2 usage or configuration error, 1 other failure.

mod cli;
mod config;
mod memory;
mod serve;
mod spam;
mod storage;
mod tls;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    memory::return_large_allocations();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<config::ConfigError>().is_some()
                || e.downcast_ref::<congvu_web::ops::OpsError>()
                    .is_some_and(congvu_web::ops::OpsError::is_usage)
            {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init {
            dir,
            domain,
            hostname,
            json,
        } => cli::init::run(&dir, &domain, hostname.as_deref(), json).await,
        Command::Serve { config } => {
            let loaded = config::load(&config, std::env::vars())?;
            init_logging(&loaded.config.log.level);
            let shutdown = tokio_util::sync::CancellationToken::new();
            serve::cancel_on_signal(shutdown.clone());
            serve::run(loaded, shutdown, None).await
        }
        Command::Demo { dir } => {
            init_logging("info");
            cli::demo::run(&dir).await
        }
        Command::Mailbox { command } => cli::mailbox::run(command).await,
        Command::Unit { command } => cli::unit::run(command).await,
        Command::Request { command } => cli::request::run(command).await,
        Command::Audit { command } => cli::audit::run(command).await,
        Command::Queue { command } => cli::queue::run(command).await,
        Command::Quarantine { command } => cli::quarantine::run(command).await,
        Command::Purge(args) => cli::purge::run(args).await,
        Command::Dkim { command } => cli::dkim::run(command).await,
        Command::Directory { command } => cli::directory::run(command).await,
        Command::Token { command } => cli::token::run(command).await,
    }
}
