//! The spam check's view of the store (R-POL-5): the pipeline crate does not depend on the
//! store, so the binary hands it this [`BayesSource`] over `Store::bayes_counts`.

use async_trait::async_trait;
use congvu_pipeline::checks::spam::{BayesSource, Taught};
use congvu_store::{BayesCounts, Store};
use std::sync::Arc;

pub struct StoreBayes(pub Arc<dyn Store>);

fn taught(counts: BayesCounts) -> Taught {
    Taught {
        spam_messages: counts.spam_messages,
        ham_messages: counts.ham_messages,
        tokens: counts
            .tokens
            .into_iter()
            .map(|(token, spam, ham)| (token, (spam, ham)))
            .collect(),
    }
}

#[async_trait]
impl BayesSource for StoreBayes {
    async fn taught(
        &self,
        domain: &str,
        mailbox: Option<&str>,
        tokens: &[i64],
    ) -> Result<(Taught, Option<Taught>), String> {
        let store = &self.0;
        let domain_counts = store
            .bayes_counts(domain, None, tokens)
            .await
            .map_err(|e| e.to_string())?;
        let account = match mailbox {
            Some(address) => store
                .account_by_address(address)
                .await
                .map_err(|e| e.to_string())?,
            None => None,
        };
        let mailbox_counts = match account {
            Some(account) => Some(taught(
                store
                    .bayes_counts(domain, Some(account.id), tokens)
                    .await
                    .map_err(|e| e.to_string())?,
            )),
            None => None,
        };
        Ok((taught(domain_counts), mailbox_counts))
    }

    /// One row of `bayes_totals` (no tokens asked, so no token rows read).
    async fn domain_totals(&self, domain: &str) -> Result<Option<(u64, u64)>, String> {
        let counts = self
            .0
            .bayes_counts(domain, None, &[])
            .await
            .map_err(|e| e.to_string())?;
        Ok(Some((counts.spam_messages, counts.ham_messages)))
    }
}
