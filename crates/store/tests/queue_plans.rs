//! The statements that touch one queued message's recipients find them through
//! `UNIQUE (message_id, address)`, never by reading every pending recipient of the queue
//! (`queue_recipients_due`), whatever the size of the queue: the query plans say so.

use congvu_store::sqlite::SqliteStore;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Row};

#[tokio::test]
async fn one_messages_recipients_are_found_by_message_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("meta.sqlite");
    drop(SqliteStore::open(&db).await.expect("open store (migrates)"));
    let options = SqliteConnectOptions::new().filename(&db).foreign_keys(true);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .expect("connect");
    // The statements of `sqlite::queue::delete_row_if_finished` and of the operator's retry,
    // and the cascade of a removal.
    let plans = [
        "EXPLAIN QUERY PLAN DELETE FROM queue_messages WHERE id = 1 AND NOT EXISTS ( \
           SELECT 1 FROM queue_recipients WHERE message_id = 1 AND +status = 'pending' \
           AND id NOT IN (SELECT value FROM json_each('[]')))",
        "EXPLAIN QUERY PLAN UPDATE queue_recipients SET next_attempt_at = 0, locked_until = 0 \
           WHERE message_id = 1 AND +status = 'pending'",
        "EXPLAIN QUERY PLAN DELETE FROM queue_recipients WHERE message_id = 1",
    ];
    for sql in plans {
        let details: Vec<String> = sqlx::query(sql)
            .fetch_all(&mut conn)
            .await
            .expect("query plan")
            .iter()
            .map(|row| row.try_get::<String, _>(3).expect("detail"))
            .collect();
        let on_recipients: Vec<&String> = details
            .iter()
            .filter(|d| d.contains("queue_recipients"))
            .collect();
        assert!(!on_recipients.is_empty(), "{sql}: {details:?}");
        assert!(
            on_recipients
                .iter()
                .all(|d| d.contains("sqlite_autoindex_queue_recipients_1 (message_id=?)")),
            "{sql} reads queue_recipients without the index: {details:?}"
        );
    }
}
