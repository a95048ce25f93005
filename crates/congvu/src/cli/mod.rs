//! The operator's commands (DESIGN.md "The operator's interface").

pub mod audit;
pub mod credentials;
pub mod demo;
pub mod directory;
pub mod dkim;
pub mod grant;
pub mod init;
pub mod mailbox;
pub mod ops;
pub mod purge;
pub mod quarantine;
pub mod queue;
pub mod request;
pub mod token;
pub mod unit;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "congvu",
    version,
    about = "congvu — Hệ thống thư điện tử công vụ (official e-mail system of a Vietnamese province)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create ./congvu-demo (a sample province) if absent and serve it on loopback ports.
    Demo {
        /// Directory of the demo installation.
        #[arg(long, default_value = "congvu-demo")]
        dir: PathBuf,
    },
    /// Write DIR/congvu.toml, TLS material and an operator account (its password is printed once).
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// The province's mail domain, e.g. bacgiang.gov.vn.
        #[arg(long)]
        domain: String,
        /// Host name of this server (default: mail.DOMAIN).
        #[arg(long)]
        hostname: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Run every enabled listener until SIGTERM/SIGINT, then drain and exit 0.
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Mailboxes (hộp thư).
    Mailbox {
        #[command(subcommand)]
        command: mailbox::MailboxCommand,
    },
    /// Units (đơn vị) and their IT contacts.
    Unit {
        #[command(subcommand)]
        command: unit::UnitCommand,
    },
    /// Requests filed by unit IT contacts and decided by the operator.
    Request {
        #[command(subcommand)]
        command: request::RequestCommand,
    },
    /// The hash-chained audit log.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Mail held by the policy (thư bị giữ lại): list, release, delete.
    Quarantine {
        #[command(subcommand)]
        command: quarantine::QuarantineCommand,
    },
    /// Remove a message (by --message-id or --hash) from every mailbox, the quarantine and
    /// the queue, with a report of where it was (R-POL-7).
    Purge(purge::PurgeArgs),
    /// The outbound queue (thư đang chờ gửi ra ngoài): list, show, retry, delete.
    Queue {
        #[command(subcommand)]
        command: queue::QueueCommand,
    },
    /// DKIM signing keys of the hosted domains.
    Dkim {
        #[command(subcommand)]
        command: dkim::DkimCommand,
    },
    /// API tokens for scripts calling the JSON API (/api/v1).
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
    /// The directory (danh bạ): search it, export it as CSV or vCard.
    Directory {
        #[command(subcommand)]
        command: directory::DirectoryCommand,
    },
}
