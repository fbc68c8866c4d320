//! The two seams of the jobs system: where job records live ([`JobStore`]: D1 on Workers, a
//! map in tests) and the queue that carries [`JobMessage`]s to the consumer ([`JobQueue`]:
//! Cloudflare Queues on Workers). Every change to a record goes through [`update`]: a state
//! transition from [`super::record`], written only over the version it was computed from.

use super::{record::JobRecord, JobMessage};
use shared::jobs::JobStatus;
use std::{future::Future, pin::Pin};
use thiserror::Error;

/// A future that stays on its thread (Workers futures are not `Send`).
pub type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// The store or the queue failed; the text is for logs, never for clients.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// Where job records live.
pub trait JobStore {
    /// Stores `job`, unless its client already has a job with the same idempotency key:
    /// `None` when stored, else that existing job.
    fn insert<'a>(
        &'a self,
        job: &'a JobRecord,
    ) -> LocalFuture<'a, Result<Option<JobRecord>, StoreError>>;
    fn get<'a>(&'a self, id: &'a str) -> LocalFuture<'a, Result<Option<JobRecord>, StoreError>>;
    /// The client's jobs, newest first, at most `limit`.
    fn list<'a>(
        &'a self,
        client_id: &'a str,
        status: Option<JobStatus>,
        limit: u32,
    ) -> LocalFuture<'a, Result<Vec<JobRecord>, StoreError>>;
    /// Writes `job` if the stored record still has version `job.version - 1`; `false` when
    /// another writer changed it first.
    fn replace<'a>(&'a self, job: &'a JobRecord) -> LocalFuture<'a, Result<bool, StoreError>>;
    /// Deletes at most `limit` jobs last changed before `before_ms`; how many it deleted.
    fn delete_expired<'a>(
        &'a self,
        before_ms: u64,
        limit: u32,
    ) -> LocalFuture<'a, Result<u32, StoreError>>;
}

/// The queue the consumer reads.
pub trait JobQueue {
    /// Sends `message`, delivered after `delay_s` seconds.
    fn send<'a>(
        &'a self,
        message: &'a JobMessage,
        delay_s: u32,
    ) -> LocalFuture<'a, Result<(), StoreError>>;
}

/// How an [`update`] went.
#[derive(Debug, Clone, PartialEq)]
pub enum Updated {
    /// The change was written; the record as it now is.
    Applied(JobRecord),
    /// The change is not allowed from the record's state (shown as it is).
    Refused(JobRecord),
    /// No such job.
    Missing,
}

/// How often a change is recomputed when other writers keep getting there first.
const MAX_CONFLICTS: u32 = 5;

/// Applies `change` to job `id` (starting from `current` when the caller has just read it):
/// computes the next record, writes it over the version it came from, and on a conflict
/// re-reads and recomputes.
pub async fn update(
    store: &dyn JobStore,
    id: &str,
    current: Option<JobRecord>,
    change: impl Fn(&JobRecord) -> Option<JobRecord>,
) -> Result<Updated, StoreError> {
    let mut current = current;
    for _ in 0..MAX_CONFLICTS {
        let record = match current.take() {
            Some(record) => record,
            None => match store.get(id).await? {
                Some(record) => record,
                None => return Ok(Updated::Missing),
            },
        };
        let Some(next) = change(&record) else {
            return Ok(Updated::Refused(record));
        };
        if store.replace(&next).await? {
            return Ok(Updated::Applied(next));
        }
    }
    Err(StoreError(format!(
        "job {id} changed under {MAX_CONFLICTS} concurrent updates in a row"
    )))
}

/// The store and queue in memory, for native tests: the same contract as D1 and Queues.
#[cfg(test)]
#[cfg(test)]
pub mod memory {
    use super::*;
    use std::{
        cell::{Cell, RefCell},
        rc::Rc,
    };

    /// Jobs in memory; `fail_next_result` makes the next write of a finished job fail, as a
    /// store that goes away between the Bedrock answer and its storing.
    #[derive(Clone, Default)]
    pub struct MemoryStore {
        jobs: Rc<RefCell<Vec<JobRecord>>>,
        pub fail_next_result: Rc<Cell<bool>>,
    }

    impl MemoryStore {
        pub fn all(&self) -> Vec<JobRecord> {
            self.jobs.borrow().clone()
        }
    }

    impl JobStore for MemoryStore {
        fn insert<'a>(
            &'a self,
            job: &'a JobRecord,
        ) -> LocalFuture<'a, Result<Option<JobRecord>, StoreError>> {
            Box::pin(async move {
                let mut jobs = self.jobs.borrow_mut();
                let existing = jobs.iter().find(|j| {
                    j.client_id == job.client_id
                        && j.idempotency_key.is_some()
                        && j.idempotency_key == job.idempotency_key
                });
                if let Some(existing) = existing {
                    return Ok(Some(existing.clone()));
                }
                jobs.push(job.clone());
                Ok(None)
            })
        }

        fn get<'a>(
            &'a self,
            id: &'a str,
        ) -> LocalFuture<'a, Result<Option<JobRecord>, StoreError>> {
            Box::pin(async move { Ok(self.jobs.borrow().iter().find(|j| j.id == id).cloned()) })
        }

        fn list<'a>(
            &'a self,
            client_id: &'a str,
            status: Option<JobStatus>,
            limit: u32,
        ) -> LocalFuture<'a, Result<Vec<JobRecord>, StoreError>> {
            Box::pin(async move {
                let mut jobs: Vec<JobRecord> = self
                    .jobs
                    .borrow()
                    .iter()
                    .filter(|j| j.client_id == client_id)
                    .filter(|j| status.is_none_or(|s| j.status == s))
                    .cloned()
                    .collect();
                jobs.sort_by_key(|j| std::cmp::Reverse(j.created_ms));
                jobs.truncate(limit as usize);
                Ok(jobs)
            })
        }

        fn replace<'a>(&'a self, job: &'a JobRecord) -> LocalFuture<'a, Result<bool, StoreError>> {
            Box::pin(async move {
                if job.status.is_final() && self.fail_next_result.take() {
                    return Err(StoreError("store unavailable".into()));
                }
                let mut jobs = self.jobs.borrow_mut();
                match jobs.iter_mut().find(|j| j.id == job.id) {
                    Some(stored) if stored.version.wrapping_add(1) == job.version => {
                        *stored = job.clone();
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            })
        }

        fn delete_expired<'a>(
            &'a self,
            before_ms: u64,
            limit: u32,
        ) -> LocalFuture<'a, Result<u32, StoreError>> {
            Box::pin(async move {
                let mut jobs = self.jobs.borrow_mut();
                let mut deleted = 0;
                jobs.retain(|job| {
                    let expired = job.updated_ms < before_ms && deleted < limit;
                    deleted += u32::from(expired);
                    !expired
                });
                Ok(deleted)
            })
        }
    }

    /// Messages sent, with their delays; `fail` makes every send fail.
    #[derive(Clone, Default)]
    pub struct MemoryQueue {
        pub sent: Rc<RefCell<Vec<(JobMessage, u32)>>>,
        pub fail: Rc<RefCell<bool>>,
    }

    impl MemoryQueue {
        pub fn take(&self) -> Vec<(JobMessage, u32)> {
            std::mem::take(&mut *self.sent.borrow_mut())
        }
    }

    impl JobQueue for MemoryQueue {
        fn send<'a>(
            &'a self,
            message: &'a JobMessage,
            delay_s: u32,
        ) -> LocalFuture<'a, Result<(), StoreError>> {
            Box::pin(async move {
                if *self.fail.borrow() {
                    return Err(StoreError("queue unavailable".into()));
                }
                self.sent.borrow_mut().push((message.clone(), delay_s));
                Ok(())
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{memory::MemoryStore, *};
    use crate::jobs::record::NewJob;
    use shared::jobs::JobKind;

    fn record(id: &str, key: Option<&str>) -> JobRecord {
        JobRecord::new(
            NewJob {
                id: id.into(),
                client_id: "cid:a".into(),
                idempotency_key: key.map(Into::into),
                kind: JobKind::Converse,
                route: "generate".into(),
                input: "{}".into(),
                callback_url: None,
            },
            1,
        )
    }

    #[tokio::test]
    async fn a_stale_write_is_recomputed_from_the_stored_version() {
        let store = MemoryStore::default();
        assert_eq!(store.insert(&record("j1", None)).await.unwrap(), None);
        let stale = store.get("j1").await.unwrap().unwrap();
        // Another writer starts the job meanwhile.
        let started = stale.start(2).unwrap();
        assert!(store.replace(&started).await.unwrap());
        assert!(
            !store.replace(&started).await.unwrap(),
            "same version twice"
        );
        let updated = update(&store, "j1", Some(stale), |j| j.start(3))
            .await
            .unwrap();
        let Updated::Applied(now) = updated else {
            panic!("{updated:?}")
        };
        assert_eq!(now.attempts, 2, "recomputed over the other writer's change");
        let done = update(&store, "j1", None, |j| j.succeed("{}".into(), 4))
            .await
            .unwrap();
        assert!(matches!(done, Updated::Applied(_)));
        let again = update(&store, "j1", None, |j| j.succeed("{}".into(), 5))
            .await
            .unwrap();
        assert!(matches!(again, Updated::Refused(j) if j.updated_ms == 4));
        let missing = update(&store, "nope", None, |j| j.start(6)).await.unwrap();
        assert_eq!(missing, Updated::Missing);
    }

    #[tokio::test]
    async fn an_idempotency_key_names_one_job_per_client() {
        let store = MemoryStore::default();
        assert_eq!(store.insert(&record("j1", Some("k"))).await.unwrap(), None);
        let existing = store.insert(&record("j2", Some("k"))).await.unwrap();
        assert_eq!(existing.map(|j| j.id), Some("j1".into()));
        let mut other_client = record("j3", Some("k"));
        other_client.client_id = "cid:b".into();
        assert_eq!(store.insert(&other_client).await.unwrap(), None);
        assert_eq!(store.list("cid:a", None, 10).await.unwrap().len(), 1);
    }
}
