//! Group commit of item changes: the outcomes of one engine's concurrent
//! sends (every run's) are written together, [`ItemStore::commit_items`]
//! at a time, instead of one transaction each.
//!
//! No thread or task of its own: a writer queues its change, then waits for
//! the write lock. Whoever holds it takes every change queued so far
//! (its own among them, unless an earlier holder wrote it already), writes
//! them in one call and hands each writer its answer. So a write costs one
//! transaction when the engine is idle, and under load the changes that
//! arrive during one transaction share the next. Each change is still its
//! own compare-and-set.

use std::sync::{Mutex, PoisonError};

use futures_channel::oneshot;

use crate::error::StoreError;
use crate::ports::{ItemChange, ItemStore};

/// Changes written by one call at most (bounded statements and
/// transactions; the rest go in the next).
const MOST_PER_WRITE: usize = 256;

/// What the writes are made through: [`ItemStore::commit_items`].
#[async_trait::async_trait]
pub(super) trait CommitItems: Send + Sync {
    async fn commit_items(&self, changes: &[ItemChange]) -> Result<Vec<bool>, StoreError>;
}

#[async_trait::async_trait]
impl<S: ItemStore + ?Sized> CommitItems for S {
    async fn commit_items(&self, changes: &[ItemChange]) -> Result<Vec<bool>, StoreError> {
        ItemStore::commit_items(self, changes).await
    }
}

/// A change waiting for its write, and where its answer goes.
struct Queued {
    change: ItemChange,
    answer: oneshot::Sender<Result<bool, StoreError>>,
}

/// One engine's queue of item changes and its write lock.
#[derive(Default)]
pub(super) struct Writes {
    queue: Mutex<Vec<Queued>>,
    writer: futures_util::lock::Mutex<()>,
}

impl std::fmt::Debug for Writes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writes").finish_non_exhaustive()
    }
}

impl Writes {
    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<Queued>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `change` (with others queued beside it): `true` when it
    /// applied, `false` when the item was not in `change.expected`.
    ///
    /// # Errors
    /// The store's error for the write it was part of;
    /// [`StoreError::Unavailable`] when the write that held it was dropped
    /// before it answered (it may or may not have applied).
    pub(super) async fn write<S: CommitItems + ?Sized>(
        &self,
        store: &S,
        change: ItemChange,
    ) -> Result<bool, StoreError> {
        let (answer, mut answered) = oneshot::channel();
        self.queue().push(Queued { change, answer });
        loop {
            let _writer = self.writer.lock().await;
            match answered.try_recv() {
                Ok(Some(result)) => return result,
                Ok(None) => {}
                Err(oneshot::Canceled) => {
                    return Err(StoreError::Unavailable(
                        "the write holding this item change was interrupted".to_owned(),
                    ));
                }
            }
            let taken: Vec<Queued> = {
                let mut queue = self.queue();
                let n = queue.len().min(MOST_PER_WRITE);
                queue.drain(..n).collect()
            };
            let (changes, answers): (Vec<ItemChange>, Vec<_>) =
                taken.into_iter().map(|q| (q.change, q.answer)).unzip();
            let result = store.commit_items(&changes).await;
            for (n, answer) in answers.into_iter().enumerate() {
                let one = match &result {
                    Ok(applied) => Ok(applied.get(n).copied().unwrap_or(false)),
                    Err(e) => Err(e.clone()),
                };
                // A writer that went away needs no answer.
                let _gone = answer.send(one);
            }
            // Our change was beyond this write's bound when the queue was
            // long: the next holder (maybe us) writes it.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{
        AccountId, BatchId, MembershipId, MerchantId, PartnerId, PayoutItemId, ProgramId,
    };
    use crate::item::{ItemState, PayoutItem};
    use crate::money::{Currency, Money};
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Answers `true` for items with no resends, after yielding once (so
    /// that other writers queue meanwhile); records each call's size.
    #[derive(Default)]
    struct Fake {
        sizes: Mutex<Vec<usize>>,
        fail: bool,
    }

    struct YieldOnce(bool);

    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    #[async_trait::async_trait]
    impl CommitItems for Fake {
        async fn commit_items(&self, changes: &[ItemChange]) -> Result<Vec<bool>, StoreError> {
            self.sizes.lock().unwrap().push(changes.len());
            YieldOnce(false).await;
            if self.fail {
                return Err(StoreError::Unavailable("down".to_owned()));
            }
            Ok(changes.iter().map(|c| c.next.resends == 0).collect())
        }
    }

    fn change(n: u32) -> ItemChange {
        let nil = uuid::Uuid::nil();
        let item = PayoutItem {
            id: PayoutItemId::from_uuid(uuid::Uuid::from_u128(u128::from(n).saturating_add(1))),
            batch_id: BatchId::from_uuid(nil),
            merchant_id: MerchantId::parse("m").unwrap(),
            program_id: ProgramId::from_uuid(nil),
            membership_id: MembershipId::from_uuid(nil),
            partner_id: PartnerId::from_uuid(nil),
            destination: AccountId::parse("acct_p").unwrap(),
            amount: Money::new(1000, Currency::USD),
            fee: Money::new(0, Currency::USD),
            commission_count: 1,
            state: ItemState::Pending,
            lease: None,
            resends: 0,
            created_at: time::macros::datetime!(2026-01-01 0:00 UTC),
        };
        let next = PayoutItem {
            resends: n % 2,
            ..item.clone()
        };
        ItemChange {
            next,
            expected: item.state,
            notifications: Vec::new(),
        }
    }

    fn run(store: &Fake, n: u32) -> Vec<Result<bool, StoreError>> {
        let writes = Writes::default();
        futures::executor::block_on(futures_util::future::join_all(
            (0..n).map(|i| writes.write(store, change(i))),
        ))
    }

    #[test]
    fn concurrent_changes_share_a_write_and_each_gets_its_own_answer() {
        let store = Fake::default();
        let answers = run(&store, 10);
        let expected: Vec<Result<bool, StoreError>> = (0..10).map(|i| Ok(i % 2 == 0)).collect();
        assert_eq!(answers, expected);
        // The first goes alone (nobody else had queued); the nine queued
        // while it was written share the next write.
        assert_eq!(*store.sizes.lock().unwrap(), vec![1, 9]);
    }

    #[test]
    fn a_write_is_bounded_and_the_rest_go_in_the_next() {
        let store = Fake::default();
        let answers = run(&store, 300);
        assert!(answers.iter().all(Result::is_ok));
        assert_eq!(*store.sizes.lock().unwrap(), vec![1, 256, 43]);
    }

    #[test]
    fn a_failed_write_answers_every_change_in_it_with_the_error() {
        let store = Fake {
            fail: true,
            ..Fake::default()
        };
        let answers = run(&store, 3);
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Err(StoreError::Unavailable(_)))),
            "{answers:?}"
        );
    }
}
