//! Conformance checks for units, mailbox details and lifecycle, passwords, requests and the
//! audit log (R-ACC-1/5/6, R-POL-1/2/10), run against every backend like `conformance`.
//!
//! This module is test support: it panics on the first broken expectation.

use crate::audit_chain::verify_chain;
use crate::{
    AccountDetails, AccountKind, AccountState, BlobStore, NewAccount, NewAuditEntry, NewRequest,
    NewUnit, PasswordChange, RequestDecision, RequestKind, RequestStatus, StateChange, Store,
    StoreError,
};
use congvu_core::naming::UnitKind;
use std::sync::Arc;

/// Runs every check of this module on the same stores.
pub async fn run_all(store: Arc<dyn Store>, blobs: Arc<dyn BlobStore>) {
    units_form_a_tree_with_mailboxes(&store, &blobs).await;
    details_state_history_and_passwords(&store, &blobs).await;
    requests_are_decided_once(&store, &blobs).await;
    audit_is_a_hash_chain(&store, &blobs).await;
}

fn new_account(address: &str, kind: AccountKind) -> NewAccount {
    NewAccount {
        address: address.to_string(),
        display_name: address.to_string(),
        password_hash: "$argon2id$test".into(),
        kind,
        created_at: 1_000,
    }
}

pub async fn units_form_a_tree_with_mailboxes(store: &Arc<dyn Store>, _blobs: &Arc<dyn BlobStore>) {
    let province = store
        .create_unit(NewUnit {
            name: "UBND tỉnh Bắc Giang".into(),
            kind: UnitKind::Province,
            parent: None,
            mailbox: None,
            mailbox_details: AccountDetails::default(),
            created_at: 1_000,
        })
        .await
        .expect("province");
    assert_eq!(province.account, None);
    let dept = store
        .create_unit(NewUnit {
            name: "Sở Thông tin và Truyền thông".into(),
            kind: UnitKind::Department,
            parent: Some(province.id),
            mailbox: Some(new_account("stttt@units.test", AccountKind::Unit)),
            mailbox_details: AccountDetails {
                must_change_password: true,
                password_changed_at: 1_000,
                ..Default::default()
            },
            created_at: 1_001,
        })
        .await
        .expect("department");
    assert_eq!(dept.parent, Some(province.id));
    assert_eq!(dept.kind, UnitKind::Department);
    let account_id = dept.account.expect("unit mailbox");
    let account = store.account_by_id(account_id).await.unwrap().unwrap();
    assert_eq!(account.kind, AccountKind::Unit);
    assert_eq!(account.address, "stttt@units.test");
    let folders = store.list_folders(account_id).await.unwrap();
    assert!(folders.iter().any(|f| f.name == "INBOX"), "{folders:?}");
    let details = store.account_details(account_id).await.unwrap().unwrap();
    assert_eq!(details.unit, Some(dept.id));
    assert!(details.must_change_password);
    assert_eq!(
        store.unit_by_account(account_id).await.unwrap(),
        Some(dept.clone())
    );
    assert_eq!(store.unit_by_id(dept.id).await.unwrap(), Some(dept.clone()));

    // A taken address rolls the whole unit back; an unknown parent is NotFound.
    let before = store.list_units().await.unwrap().len();
    let clash = store
        .create_unit(NewUnit {
            name: "Sở khác".into(),
            kind: UnitKind::Department,
            parent: Some(province.id),
            mailbox: Some(new_account("STTTT@units.test", AccountKind::Unit)),
            mailbox_details: AccountDetails::default(),
            created_at: 1_002,
        })
        .await;
    assert!(
        matches!(clash, Err(StoreError::AlreadyExists(_))),
        "{clash:?}"
    );
    let orphan = store
        .create_unit(NewUnit {
            name: "Phòng X".into(),
            kind: UnitKind::Division,
            parent: Some(i64::MAX),
            mailbox: None,
            mailbox_details: AccountDetails::default(),
            created_at: 1_002,
        })
        .await;
    assert!(matches!(orphan, Err(StoreError::NotFound(_))), "{orphan:?}");
    assert_eq!(store.list_units().await.unwrap().len(), before);

    // IT contacts.
    let contact = store
        .create_account(new_account("contact@units.test", AccountKind::Person))
        .await
        .unwrap();
    store.add_unit_contact(dept.id, contact.id).await.unwrap();
    store.add_unit_contact(dept.id, contact.id).await.unwrap();
    assert_eq!(
        store.contact_units(contact.id).await.unwrap(),
        vec![dept.id]
    );
    assert!(matches!(
        store.add_unit_contact(i64::MAX, contact.id).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn details_state_history_and_passwords(
    store: &Arc<dyn Store>,
    _blobs: &Arc<dyn BlobStore>,
) {
    let unit = store
        .create_unit(NewUnit {
            name: "Huyện Lục Nam".into(),
            kind: UnitKind::District,
            parent: None,
            mailbox: None,
            mailbox_details: AccountDetails::default(),
            created_at: 1_000,
        })
        .await
        .unwrap();
    let account = store
        .create_account_with_details(
            new_account("annv@details.test", AccountKind::Person),
            AccountDetails {
                unit: Some(unit.id),
                title: "Chuyên viên".into(),
                phone: "0204 123".into(),
                must_change_password: true,
                password_changed_at: 2_000,
                state_changed_at: None,
            },
        )
        .await
        .unwrap();
    let d = store.account_details(account.id).await.unwrap().unwrap();
    assert_eq!(
        (
            d.unit,
            d.title.as_str(),
            d.phone.as_str(),
            d.must_change_password,
            d.password_changed_at
        ),
        (Some(unit.id), "Chuyên viên", "0204 123", true, 2_000)
    );
    // An account created without details counts its creation as the password change.
    let plain = store
        .create_account(new_account("plain@details.test", AccountKind::Person))
        .await
        .unwrap();
    let d = store.account_details(plain.id).await.unwrap().unwrap();
    assert_eq!(
        (d.password_changed_at, d.must_change_password, d.unit),
        (1_000, false, None)
    );
    assert!(store.account_details(i64::MAX).await.unwrap().is_none());

    // Details change, password bookkeeping stays.
    let mut changed = store.account_details(account.id).await.unwrap().unwrap();
    changed.title = "Trưởng phòng".into();
    store
        .update_account_details(account.id, "Nguyễn Văn An", &changed)
        .await
        .unwrap();
    let d = store.account_details(account.id).await.unwrap().unwrap();
    assert_eq!(
        (d.title.as_str(), d.must_change_password),
        ("Trưởng phòng", true)
    );
    let a = store.account_by_id(account.id).await.unwrap().unwrap();
    assert_eq!(a.display_name, "Nguyễn Văn An");

    // State changes are compare-and-set and recorded.
    let suspend = StateChange {
        from: AccountState::Active,
        to: AccountState::Suspended,
        at: 3_000,
        reason: "nghỉ phép".into(),
    };
    store
        .change_account_state(account.id, suspend.clone())
        .await
        .unwrap();
    let again = store
        .change_account_state(account.id, suspend.clone())
        .await;
    assert!(matches!(again, Err(StoreError::Invalid(_))), "{again:?}");
    let revoke = StateChange {
        from: AccountState::Suspended,
        to: AccountState::Revoked,
        at: 4_000,
        reason: String::new(),
    };
    store
        .change_account_state(account.id, revoke.clone())
        .await
        .unwrap();
    assert_eq!(
        store
            .account_by_id(account.id)
            .await
            .unwrap()
            .unwrap()
            .state,
        AccountState::Revoked
    );
    assert_eq!(
        store.state_history(account.id).await.unwrap(),
        vec![suspend, revoke]
    );
    let d = store.account_details(account.id).await.unwrap().unwrap();
    assert_eq!(d.state_changed_at, Some(4_000));
    assert!(matches!(
        store
            .change_account_state(
                i64::MAX,
                StateChange {
                    from: AccountState::Active,
                    to: AccountState::Suspended,
                    at: 0,
                    reason: String::new(),
                }
            )
            .await,
        Err(StoreError::NotFound(_))
    ));

    // Password changes keep the newest N earlier hashes.
    for n in 1..=4 {
        store
            .change_password(
                account.id,
                PasswordChange {
                    hash: format!("hash-{n}"),
                    at: 5_000 + n,
                    must_change: false,
                    keep_history: 2,
                },
            )
            .await
            .unwrap();
    }
    let a = store.account_by_id(account.id).await.unwrap().unwrap();
    assert_eq!(a.password_hash, "hash-4");
    assert_eq!(
        store.password_history(account.id).await.unwrap(),
        vec!["hash-3".to_string(), "hash-2".to_string()]
    );
    let d = store.account_details(account.id).await.unwrap().unwrap();
    assert_eq!(
        (d.password_changed_at, d.must_change_password),
        (5_004, false)
    );
    assert!(matches!(
        store
            .change_password(
                i64::MAX,
                PasswordChange {
                    hash: "x".into(),
                    at: 0,
                    must_change: false,
                    keep_history: 5,
                }
            )
            .await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn requests_are_decided_once(store: &Arc<dyn Store>, _blobs: &Arc<dyn BlobStore>) {
    let filed = store
        .file_request(NewRequest {
            kind: RequestKind::NewMailbox,
            requested_by: "Contact@Requests.test".into(),
            unit: None,
            mailbox: String::new(),
            name: "Trần Thị Thu Hà".into(),
            title: "Văn thư".into(),
            phone: String::new(),
            reason: "cán bộ mới".into(),
            filed_at: 10,
        })
        .await
        .unwrap();
    assert_eq!(filed.status, RequestStatus::Pending);
    assert_eq!(filed.requested_by, "contact@requests.test");
    assert_eq!(filed.name, "Trần Thị Thu Hà");
    assert_eq!(
        store.request_by_id(filed.id).await.unwrap(),
        Some(filed.clone())
    );
    let pending = store
        .list_requests(Some(RequestStatus::Pending))
        .await
        .unwrap();
    assert!(pending.iter().any(|r| r.id == filed.id));

    let done = store
        .decide_request(
            filed.id,
            RequestStatus::Pending,
            RequestDecision {
                status: RequestStatus::Done,
                by: "op@requests.test".into(),
                at: 20,
                reason: String::new(),
                result: "hattt@requests.test".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            done.status,
            done.decided_by.as_deref(),
            done.decided_at,
            done.result.as_str()
        ),
        (
            RequestStatus::Done,
            Some("op@requests.test"),
            Some(20),
            "hattt@requests.test"
        )
    );
    let twice = store
        .decide_request(
            filed.id,
            RequestStatus::Pending,
            RequestDecision {
                status: RequestStatus::Rejected,
                by: "other@requests.test".into(),
                at: 30,
                reason: "no".into(),
                result: String::new(),
            },
        )
        .await;
    assert!(matches!(twice, Err(StoreError::Invalid(_))), "{twice:?}");
    assert!(
        !store
            .list_requests(Some(RequestStatus::Pending))
            .await
            .unwrap()
            .iter()
            .any(|r| r.id == filed.id)
    );
    assert!(
        store
            .list_requests(None)
            .await
            .unwrap()
            .iter()
            .any(|r| r.id == filed.id)
    );
    assert!(matches!(
        store
            .decide_request(
                i64::MAX,
                RequestStatus::Pending,
                RequestDecision {
                    status: RequestStatus::Rejected,
                    by: String::new(),
                    at: 0,
                    reason: String::new(),
                    result: String::new(),
                }
            )
            .await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn audit_is_a_hash_chain(store: &Arc<dyn Store>, _blobs: &Arc<dyn BlobStore>) {
    let before = store.list_audit().await.unwrap().len();
    let mut last = None;
    for n in 0..3 {
        let e = store
            .append_audit(NewAuditEntry {
                at: 100 + n,
                actor: "operator (cli)".into(),
                role: "operator".into(),
                action: "mailbox.suspend".into(),
                target: format!("user{n}@audit.test"),
                detail: "lý do: nghỉ việc".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        if let Some(prev) = &last {
            let prev: &crate::AuditEntry = prev;
            assert_eq!(e.prev_hash, prev.hash);
            assert!(e.id > prev.id);
        }
        last = Some(e);
    }
    let all = store.list_audit().await.unwrap();
    assert_eq!(all.len(), before + 3);
    assert_eq!(all.last(), last.as_ref());
    assert_eq!(verify_chain(&all), Ok(all.len()));
}
