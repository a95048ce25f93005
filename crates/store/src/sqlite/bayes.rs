//! The spam filter's Bayes counts (migration 0012, R-POL-5).
//!
//! Keeps true: a lesson is applied in full or not at all (one transaction for all lessons of
//! a call); a message is counted at most once per mailbox (`bayes_trained`), so teaching the
//! same message twice changes nothing and teaching it the other way first takes it back out;
//! counts never go below zero. Token lists travel as one JSON array (`json_each`), so each
//! step is one statement whatever the message's size.

use super::Shared;
use super::rows::db;
use crate::{AccountId, BayesCounts, BayesLesson, BayesTrained, Result};
use sqlx::sqlite::SqlitePool;
use sqlx::{Row, SqliteConnection};

/// The account id of the domain-wide scope.
const DOMAIN_SCOPE: AccountId = 0;

fn json_list(tokens: &[i64]) -> String {
    let mut s = String::with_capacity(tokens.len() * 20 + 2);
    s.push('[');
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&t.to_string());
    }
    s.push(']');
    s
}

fn count(v: i64) -> u64 {
    v.max(0) as u64
}

pub(super) async fn counts(
    read: &SqlitePool,
    domain: &str,
    account: Option<AccountId>,
    tokens: &[i64],
) -> Result<BayesCounts> {
    let scope = account.unwrap_or(DOMAIN_SCOPE);
    let mut out = BayesCounts::default();
    let totals = sqlx::query(
        "SELECT spam_messages, ham_messages FROM bayes_totals WHERE domain = ? AND account_id = ?",
    )
    .bind(domain)
    .bind(scope)
    .fetch_optional(read)
    .await
    .map_err(db)?;
    let Some(totals) = totals else {
        return Ok(out);
    };
    out.spam_messages = count(totals.try_get(0).map_err(db)?);
    out.ham_messages = count(totals.try_get(1).map_err(db)?);
    if tokens.is_empty() {
        return Ok(out);
    }
    let rows = sqlx::query(
        "SELECT token, spam, ham FROM bayes_tokens WHERE domain = ? AND account_id = ? \
         AND token IN (SELECT value FROM json_each(?))",
    )
    .bind(domain)
    .bind(scope)
    .bind(json_list(tokens))
    .fetch_all(read)
    .await
    .map_err(db)?;
    for row in rows {
        out.tokens.push((
            row.try_get(0).map_err(db)?,
            count(row.try_get(1).map_err(db)?),
            count(row.try_get(2).map_err(db)?),
        ));
    }
    Ok(out)
}

pub(super) async fn train(shared: &Shared, lessons: &[BayesLesson]) -> Result<Vec<BayesTrained>> {
    if lessons.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = shared.write.lock().await;
    let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(db)?;
    let mut results = Vec::with_capacity(lessons.len());
    for lesson in lessons {
        let before =
            sqlx::query("SELECT spam FROM bayes_trained WHERE account_id = ? AND blob_hash = ?")
                .bind(lesson.account)
                .bind(&lesson.blob.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        let before: Option<bool> = match before {
            Some(row) => Some(row.try_get::<i64, _>(0).map_err(db)? != 0),
            None => None,
        };
        let result = match before {
            Some(was_spam) if was_spam == lesson.spam => BayesTrained::Unchanged,
            Some(was_spam) => {
                for scope in [DOMAIN_SCOPE, lesson.account] {
                    apply(&mut tx, lesson, scope, was_spam, -1).await?;
                }
                BayesTrained::Relearned
            }
            None => BayesTrained::Learned,
        };
        if result != BayesTrained::Unchanged {
            for scope in [DOMAIN_SCOPE, lesson.account] {
                apply(&mut tx, lesson, scope, lesson.spam, 1).await?;
            }
            sqlx::query(
                "INSERT INTO bayes_trained (account_id, blob_hash, domain, spam, trained_at) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, blob_hash) DO UPDATE SET \
                 domain = excluded.domain, spam = excluded.spam, trained_at = excluded.trained_at",
            )
            .bind(lesson.account)
            .bind(&lesson.blob.0)
            .bind(&lesson.domain)
            .bind(i64::from(lesson.spam))
            .bind(lesson.at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        results.push(result);
    }
    tx.commit().await.map_err(db)?;
    Ok(results)
}

/// Adds (`delta` = 1) or takes back (`delta` = -1) one message's counts in one scope.
async fn apply(
    conn: &mut SqliteConnection,
    lesson: &BayesLesson,
    scope: AccountId,
    spam: bool,
    delta: i64,
) -> Result<()> {
    let (ds, dh) = if spam { (delta, 0) } else { (0, delta) };
    sqlx::query(
        "INSERT INTO bayes_totals (domain, account_id, spam_messages, ham_messages) \
         VALUES (?, ?, MAX(?, 0), MAX(?, 0)) ON CONFLICT (domain, account_id) DO UPDATE SET \
         spam_messages = MAX(spam_messages + ?, 0), ham_messages = MAX(ham_messages + ?, 0)",
    )
    .bind(&lesson.domain)
    .bind(scope)
    .bind(ds)
    .bind(dh)
    .bind(ds)
    .bind(dh)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    let list = json_list(&lesson.tokens);
    if delta > 0 {
        // `WHERE true` keeps SQLite from reading ON CONFLICT as a join clause (its upsert notes).
        sqlx::query(
            "INSERT INTO bayes_tokens (domain, account_id, token, spam, ham) \
             SELECT ?, ?, value, ?, ? FROM json_each(?) WHERE true \
             ON CONFLICT (domain, account_id, token) DO UPDATE SET \
             spam = spam + excluded.spam, ham = ham + excluded.ham",
        )
        .bind(&lesson.domain)
        .bind(scope)
        .bind(ds)
        .bind(dh)
        .bind(list)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    } else {
        sqlx::query(
            "UPDATE bayes_tokens SET spam = MAX(spam + ?, 0), ham = MAX(ham + ?, 0) \
             WHERE domain = ? AND account_id = ? AND token IN (SELECT value FROM json_each(?))",
        )
        .bind(ds)
        .bind(dh)
        .bind(&lesson.domain)
        .bind(scope)
        .bind(&list)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
        sqlx::query(
            "DELETE FROM bayes_tokens WHERE domain = ? AND account_id = ? AND spam = 0 AND ham = 0 \
             AND token IN (SELECT value FROM json_each(?))",
        )
        .bind(&lesson.domain)
        .bind(scope)
        .bind(&list)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::SqliteStore;
    use crate::{AccountKind, BayesLesson, BayesTrained, BlobHash, NewAccount, Store};

    fn lesson(account: i64, blob: &str, spam: bool, tokens: &[i64]) -> BayesLesson {
        BayesLesson {
            account,
            domain: "tinh.gov.vn".into(),
            blob: BlobHash(blob.into()),
            spam,
            tokens: tokens.to_vec(),
            at: 1,
        }
    }

    #[tokio::test]
    async fn teaches_once_relearns_the_other_way_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let an = store
            .create_account(NewAccount {
                address: "annv@tinh.gov.vn".into(),
                display_name: "An".into(),
                password_hash: "x".into(),
                kind: AccountKind::Person,
                created_at: 0,
            })
            .await
            .unwrap()
            .id;
        let r = store
            .bayes_train(&[
                lesson(an, "b1", true, &[1, 2, -3]),
                lesson(an, "b1", true, &[1, 2, -3]),
                lesson(an, "b2", false, &[2, 4]),
            ])
            .await
            .unwrap();
        assert_eq!(
            r,
            vec![
                BayesTrained::Learned,
                BayesTrained::Unchanged,
                BayesTrained::Learned
            ]
        );
        let domain = store
            .bayes_counts("tinh.gov.vn", None, &[1, 2, -3, 4, 99])
            .await
            .unwrap();
        assert_eq!((domain.spam_messages, domain.ham_messages), (1, 1));
        let mut tokens = domain.tokens.clone();
        tokens.sort();
        assert_eq!(tokens, vec![(-3, 1, 0), (1, 1, 0), (2, 1, 1), (4, 0, 1)]);
        let user = store
            .bayes_counts("tinh.gov.vn", Some(an), &[2])
            .await
            .unwrap();
        assert_eq!((user.spam_messages, user.ham_messages), (1, 1));
        assert_eq!(user.tokens, vec![(2, 1, 1)]);

        // Moving b1 out of Junk: untaught as spam, taught as ham.
        let r = store
            .bayes_train(&[lesson(an, "b1", false, &[1, 2, -3])])
            .await
            .unwrap();
        assert_eq!(r, vec![BayesTrained::Relearned]);
        store.close().await.unwrap();

        let store = SqliteStore::open(&path).await.unwrap();
        let domain = store
            .bayes_counts("tinh.gov.vn", None, &[1, 2, -3, 4])
            .await
            .unwrap();
        assert_eq!((domain.spam_messages, domain.ham_messages), (0, 2));
        let mut tokens = domain.tokens;
        tokens.sort();
        assert_eq!(tokens, vec![(-3, 0, 1), (1, 0, 1), (2, 0, 2), (4, 0, 1)]);
        let other = store.bayes_counts("khac.gov.vn", None, &[2]).await.unwrap();
        assert_eq!(other, crate::BayesCounts::default());
    }
}
