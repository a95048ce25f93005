//! Conformance check for `directory_rows` (R-ACC-4), run against every backend like
//! `conformance`: the joined rows agree with `account_details`, revoked mailboxes are left
//! out, suspended ones stay.
//!
//! This module is test support: it panics on the first broken expectation.

use crate::{
    AccountDetails, AccountKind, AccountState, BlobStore, NewAccount, NewUnit, StateChange, Store,
};
use congvu_core::naming::UnitKind;
use std::sync::Arc;

/// Runs every check of this module on the same stores.
pub async fn run_all(store: Arc<dyn Store>, blobs: Arc<dyn BlobStore>) {
    directory_rows_join_details_and_skip_revoked(&store, &blobs).await;
}

fn new_account(address: &str, name: &str, kind: AccountKind) -> NewAccount {
    NewAccount {
        address: address.to_string(),
        display_name: name.to_string(),
        password_hash: "$argon2id$secret-never-listed".into(),
        kind,
        created_at: 2_000,
    }
}

pub async fn directory_rows_join_details_and_skip_revoked(
    store: &Arc<dyn Store>,
    _blobs: &Arc<dyn BlobStore>,
) {
    let unit = store
        .create_unit(NewUnit {
            name: "Sở Du lịch".into(),
            kind: UnitKind::Department,
            parent: None,
            mailbox: Some(new_account("sdl@dir.test", "Sở Du lịch", AccountKind::Unit)),
            mailbox_details: AccountDetails {
                phone: "0204 385 0000".into(),
                ..Default::default()
            },
            created_at: 2_000,
        })
        .await
        .expect("unit");
    let mut ids = Vec::new();
    for (local, name, title) in [
        ("annv", "Nguyễn Văn An", "Chuyên viên"),
        ("hattt", "Trần Thị Thu Hà", "Phó Giám đốc"),
        ("baotv", "Trần Văn Bảo", ""),
    ] {
        let account = store
            .create_account_with_details(
                new_account(&format!("{local}@dir.test"), name, AccountKind::Person),
                AccountDetails {
                    unit: Some(unit.id),
                    title: title.into(),
                    phone: format!("0912 000 {}", local.len()),
                    ..Default::default()
                },
            )
            .await
            .expect("person");
        ids.push(account.id);
    }
    let change = |from, to| StateChange {
        from,
        to,
        at: 2_100,
        reason: "test".into(),
    };
    store
        .change_account_state(
            ids[1],
            change(AccountState::Active, AccountState::Suspended),
        )
        .await
        .expect("suspend");
    store
        .change_account_state(ids[2], change(AccountState::Active, AccountState::Revoked))
        .await
        .expect("revoke");

    let rows: Vec<_> = store
        .directory_rows()
        .await
        .expect("directory rows")
        .into_iter()
        .filter(|r| r.address.ends_with("@dir.test"))
        .collect();
    let addresses: Vec<&str> = rows.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(
        addresses,
        ["sdl@dir.test", "annv@dir.test", "hattt@dir.test"],
        "by id, revoked left out"
    );
    assert!(rows.windows(2).all(|w| w[0].account < w[1].account));
    let unit_row = &rows[0];
    assert_eq!(unit_row.kind, AccountKind::Unit);
    assert_eq!(unit_row.unit, Some(unit.id));
    assert_eq!(unit_row.phone, "0204 385 0000");
    let an = &rows[1];
    assert_eq!(an.display_name, "Nguyễn Văn An");
    assert_eq!(an.kind, AccountKind::Person);
    assert_eq!(an.state, AccountState::Active);
    assert_eq!(an.title, "Chuyên viên");
    assert_eq!(an.unit, Some(unit.id));
    assert_eq!(rows[2].state, AccountState::Suspended);
    // The joined row says what account_details says.
    for row in &rows {
        let details = store
            .account_details(row.account)
            .await
            .expect("details")
            .expect("present");
        assert_eq!(
            (&details.title, &details.phone, details.unit),
            (&row.title, &row.phone, row.unit)
        );
    }
    // Restoring brings the mailbox back into the directory.
    store
        .change_account_state(ids[2], change(AccountState::Revoked, AccountState::Active))
        .await
        .expect("restore");
    assert!(
        store
            .directory_rows()
            .await
            .expect("rows")
            .iter()
            .any(|r| r.address == "baotv@dir.test")
    );
}
