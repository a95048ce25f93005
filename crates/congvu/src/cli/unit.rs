//! `congvu unit …`: the tree of units (R-ACC-1) and their IT contacts (R-ACC-6).
//!
//! `unit add` makes the unit's address from its name by the `[naming]` rules (R-ACC-3) and
//! creates the unit mailbox with a one-time password, printed once ("password: …").

use super::ops::{Ops, Who, unit_kind};
use anyhow::Result;
use clap::Subcommand;
use congvu_core::unit::{kind_token, tree_order};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum UnitCommand {
    /// Create a unit and its unit mailbox; prints the unit's address.
    Add {
        #[arg(long)]
        config: PathBuf,
        /// Vietnamese name, e.g. "Sở Thông tin và Truyền thông".
        #[arg(long)]
        name: String,
        /// province, department, board, association, sector, district, town, city, division,
        /// commune, ward, township or other (Vietnamese words such as `so`, `huyen`, `xa` too).
        #[arg(long)]
        kind: String,
        /// The parent unit: its id or its unit mailbox address.
        #[arg(long)]
        parent: Option<String>,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print the tree of units.
    List {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Make a mailbox an IT contact of a unit: they may file requests for it and the units below.
    Contact {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        unit: String,
        #[arg(long)]
        address: String,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: UnitCommand) -> Result<()> {
    match command {
        UnitCommand::Add {
            config,
            name,
            kind,
            parent,
            actor,
            json,
        } => {
            let kind = unit_kind(&kind)?;
            let ops = Ops::open(&config).await?;
            let parent = match parent {
                Some(p) => Some(ops.unit(&p).await?),
                None => None,
            };
            let (unit, account, password) = ops
                .add_unit(&name, kind, parent.as_ref(), &Who::cli(actor))
                .await?;
            if json {
                println!(
                    "{}",
                    json!({ "id": unit.id, "name": unit.name, "kind": kind_token(unit.kind),
                        "parent": unit.parent, "address": account.address, "password": password })
                );
            } else {
                println!("created unit {} (id {})", unit.name, unit.id);
                println!("address: {}", account.address);
                println!("password: {password}");
                println!(
                    "(one-time password of the unit mailbox: it must be changed at first use)"
                );
            }
            Ok(())
        }
        UnitCommand::List { config, json } => {
            let ops = Ops::open(&config).await?;
            let units = ops.store.list_units().await?;
            let mut addresses = HashMap::new();
            for u in &units {
                if let Some(id) = u.account
                    && let Some(a) = ops.store.account_by_id(id).await?
                {
                    addresses.insert(u.id, a.address);
                }
            }
            let nodes = ops.unit_nodes().await?;
            let order = tree_order(&nodes);
            if json {
                let rows: Vec<_> = order
                    .iter()
                    .map(|(depth, n)| {
                        json!({ "id": n.id, "name": n.name, "kind": kind_token(n.kind),
                            "parent": n.parent, "depth": depth, "address": addresses.get(&n.id) })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for (depth, n) in order {
                    println!(
                        "{}{}\t{}\t{}\t[id {}]",
                        "  ".repeat(depth),
                        n.name,
                        kind_token(n.kind),
                        addresses.get(&n.id).map(String::as_str).unwrap_or("-"),
                        n.id
                    );
                }
            }
            Ok(())
        }
        UnitCommand::Contact {
            config,
            unit,
            address,
            actor,
            json,
        } => {
            let ops = Ops::open(&config).await?;
            let unit = ops.unit(&unit).await?;
            let account = ops.account(&address).await?;
            ops.store.add_unit_contact(unit.id, account.id).await?;
            ops.audit(
                &Who::cli(actor),
                "unit.contact",
                &account.address,
                &format!("IT contact of {} (id {})", unit.name, unit.id),
            )
            .await?;
            if json {
                println!("{}", json!({ "unit": unit.id, "address": account.address }));
            } else {
                println!("{} is an IT contact of {}", account.address, unit.name);
            }
            Ok(())
        }
    }
}
