//! Upgrading a database of schema 14 to 15 (`message_header_text`, the narrow copy of the
//! header search columns): messages stored before the upgrade are copied, messages stored
//! after it are copied by the trigger, and a message row's removal removes its copy.

use congvu_store::sqlite::SqliteStore;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Row};
use std::path::Path;

/// Inserts a message row as any schema from 1 to 15 has it.
async fn insert_message(conn: &mut SqliteConnection, hash: &str, exact: &str, folded: &str) {
    sqlx::query(
        "INSERT INTO messages (hash, size, sent_at, subject, from_display, message_id, has_attachments, \
         envelope, structure, \
         search_exact_subject, search_exact_from, search_exact_to, search_exact_cc, search_exact_bcc, search_exact_body, \
         search_folded_subject, search_folded_from, search_folded_to, search_folded_cc, search_folded_bcc, search_folded_body) \
         VALUES (?, 10, NULL, ?, 'An', NULL, FALSE, '{}', '{}', ?, 'an', 'binh', '', '', 'body', ?, 'an', 'binh', '', '', 'body')",
    )
    .bind(hash)
    .bind(exact)
    .bind(exact)
    .bind(folded)
    .execute(&mut *conn)
    .await
    .expect("insert message row");
}

async fn connect(path: &Path) -> SqliteConnection {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .foreign_keys(true);
    SqliteConnection::connect_with(&options)
        .await
        .expect("connect")
}

async fn folded_subject(conn: &mut SqliteConnection, hash: &str) -> Option<String> {
    sqlx::query("SELECT folded_subject FROM message_header_text WHERE hash = ?")
        .bind(hash)
        .fetch_optional(&mut *conn)
        .await
        .expect("read header text")
        .map(|row| row.get(0))
}

#[tokio::test]
async fn schema_14_database_gets_its_header_search_copy() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The migrations as they were at schema 14.
    let old = dir.path().join("migrations-14");
    std::fs::create_dir(&old).expect("mkdir");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for entry in std::fs::read_dir(&shipped).expect("read migrations") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let version: u32 = name[..4].parse().expect("numbered migration");
        if version <= 14 {
            std::fs::copy(entry.path(), old.join(&name)).expect("copy migration");
        }
    }
    let db = dir.path().join("meta.sqlite");
    let mut conn = connect(&db).await;
    Migrator::new(old.as_path())
        .await
        .expect("old migrations")
        .run(&mut conn)
        .await
        .expect("migrate to 14");
    insert_message(
        &mut conn,
        "a".repeat(64).as_str(),
        "công văn số 12",
        "cong van so 12",
    )
    .await;
    conn.close().await.expect("close");

    // The current store upgrades the file when it opens it.
    SqliteStore::open(&db)
        .await
        .expect("open and upgrade")
        .close()
        .await
        .expect("close store");

    let mut conn = connect(&db).await;
    let old_hash = "a".repeat(64);
    assert_eq!(
        folded_subject(&mut conn, &old_hash).await.as_deref(),
        Some("cong van so 12")
    );
    let new_hash = "b".repeat(64);
    insert_message(&mut conn, &new_hash, "Giấy mời họp", "giay moi hop").await;
    assert_eq!(
        folded_subject(&mut conn, &new_hash).await.as_deref(),
        Some("giay moi hop")
    );
    sqlx::query("DELETE FROM messages WHERE hash = ?")
        .bind(&old_hash)
        .execute(&mut conn)
        .await
        .expect("delete message row");
    assert_eq!(folded_subject(&mut conn, &old_hash).await, None);
    assert!(folded_subject(&mut conn, &new_hash).await.is_some());
}
