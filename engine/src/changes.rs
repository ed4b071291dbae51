//! Committed changes in commit order: the source the live streams follow.
//!
//! The writer publishes a group's changes after its flush, so nobody sees a change that
//! is not durable. Two ways to follow them, both bounded:
//! - the **ring** keeps the last [`Config::with_change_ring`] changes (at least 65,536 by
//!   default). A reader keeps its own position and asks for what came after it
//!   ([`Engine::changes_after`]); one whose position has left the ring is told to resync.
//!   Readers cost the writer nothing but the append: this is what the server's streams use,
//!   with [`Engine::on_change`] to learn that there is something to read.
//! - a **subscription** ([`Engine::subscribe`]) is pushed each change into its own bounded
//!   buffer; one that falls behind is dropped and told [`Received::Resync`].
//!
//! Invariants:
//! 1. Sequence numbers are consecutive from 1 across restarts; the ring holds a consecutive
//!    run of them ending at the last published change.
//! 2. A change is in the ring only after the flush that made it durable.
//! 3. The ring never holds more than its capacity; publishing costs O(changes) plus one
//!    call of each `on_change` hook per group.
//!
//! [`Config::with_change_ring`]: crate::Config::with_change_ring
//! [`Engine::changes_after`]: crate::Engine::changes_after
//! [`Engine::on_change`]: crate::Engine::on_change
//! [`Engine::subscribe`]: crate::Engine::subscribe

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::{Mutex, RwLock};

use crate::ids::{BoardId, EntryId, ItemId};
use crate::item_view::ItemView;

/// What kind of change was committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// An item was created.
    ItemCreated,
    /// An item's fields changed.
    ItemUpdated,
    /// An item was focused (moved to the top by a trigger).
    ItemFocused,
    /// An item was moved by hand.
    ItemMoved,
    /// An item's attention was cleared.
    ItemRead,
    /// An item was deleted.
    ItemDeleted,
    /// A board or its columns changed.
    BoardChanged,
    /// Users, groups or modules changed.
    DirectoryChanged,
    /// A feed entry was written ([`Change::entry`]).
    EntryAdded,
}

/// One committed change.
#[derive(Debug, Clone)]
pub struct Change {
    /// Its position in commit order, from 1, without gaps across restarts.
    pub seq: u64,
    /// What happened.
    pub kind: ChangeKind,
    /// The board it concerns, if any.
    pub board: Option<BoardId>,
    /// The item it concerns, if any.
    pub item: Option<ItemId>,
    /// The item as this change left it (none for a deleted item): a shared handle on the
    /// stored bytes, so keeping it costs a reference count.
    pub view: Option<ItemView>,
    /// For [`ChangeKind::EntryAdded`]: the entry. Who may read it is decided as for the
    /// wall ([`crate::Engine::wall_entries`]).
    pub entry: Option<EntryId>,
}

/// What [`crate::Engine::changes_after`] gives.
#[derive(Debug, Clone)]
pub enum ChangesAfter {
    /// The changes after the position that passed the filter (at most the limit asked
    /// for), and the position to ask from next time.
    Changes {
        /// The changes, in commit order.
        changes: Vec<Change>,
        /// The last sequence number looked at.
        upto: u64,
    },
    /// Some change after the position is no longer held (or the position is ahead of
    /// every change): reload, then follow from [`crate::Engine::last_change`].
    Resync,
}

/// A hook told that changes were published.
pub(crate) type Hook = Box<dyn Fn(u64) + Send + Sync>;

struct Subscriber {
    tx: Sender<Change>,
    lagged: Arc<AtomicBool>,
}

pub(crate) struct Hub {
    subs: Mutex<Vec<Subscriber>>,
    ring: RwLock<VecDeque<Change>>,
    capacity: usize,
    last: AtomicU64,
    hooks: RwLock<Vec<Hook>>,
}

impl Hub {
    /// A hub whose ring keeps `capacity` changes, after `last` (the store's last change
    /// number).
    pub(crate) fn new(capacity: usize, last: u64) -> Hub {
        Hub {
            subs: Mutex::new(Vec::new()),
            ring: RwLock::new(VecDeque::new()),
            capacity: capacity.max(1),
            last: AtomicU64::new(last),
            hooks: RwLock::new(Vec::new()),
        }
    }

    pub(crate) fn subscribe(&self, capacity: usize) -> Subscription {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        let lagged = Arc::new(AtomicBool::new(false));
        self.subs.lock().push(Subscriber {
            tx,
            lagged: Arc::clone(&lagged),
        });
        Subscription { rx, lagged }
    }

    pub(crate) fn on_change(&self, hook: Hook) {
        self.hooks.write().push(hook);
    }

    pub(crate) fn last(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }

    pub(crate) fn publish(&self, changes: Vec<Change>) {
        let Some(last) = changes.last().map(|c| c.seq) else {
            return;
        };
        {
            let mut subs = self.subs.lock();
            if !subs.is_empty() {
                subs.retain(|s| {
                    for c in &changes {
                        match s.tx.try_send(c.clone()) {
                            Ok(()) => {}
                            Err(TrySendError::Full(_)) => {
                                s.lagged.store(true, Ordering::Release);
                                return false;
                            }
                            Err(TrySendError::Disconnected(_)) => return false,
                        }
                    }
                    true
                });
            }
        }
        {
            let mut ring = self.ring.write();
            let over = (ring.len() + changes.len()).saturating_sub(self.capacity);
            let n = over.min(ring.len());
            ring.drain(..n);
            let skip = changes.len().saturating_sub(self.capacity);
            ring.extend(changes.into_iter().skip(skip));
        }
        self.last.store(last, Ordering::Release);
        for h in self.hooks.read().iter() {
            h(last);
        }
    }

    /// The changes after `after` that `keep` accepts, at most `limit` of them.
    pub(crate) fn after(
        &self,
        after: u64,
        limit: usize,
        keep: &dyn Fn(&Change) -> bool,
    ) -> ChangesAfter {
        let ring = self.ring.read();
        let last = ring.back().map_or(self.last(), |c| c.seq);
        if after >= last {
            return if after == last {
                ChangesAfter::Changes {
                    changes: Vec::new(),
                    upto: last,
                }
            } else {
                ChangesAfter::Resync
            };
        }
        let Some(first) = ring.front().map(|c| c.seq) else {
            return ChangesAfter::Resync;
        };
        if after + 1 < first {
            return ChangesAfter::Resync;
        }
        let start = usize::try_from(after + 1 - first).unwrap_or(usize::MAX);
        let mut changes = Vec::new();
        let mut upto = after;
        for c in ring.range(start.min(ring.len())..) {
            if changes.len() == limit {
                break;
            }
            upto = c.seq;
            if keep(c) {
                changes.push(c.clone());
            }
        }
        ChangesAfter::Changes { changes, upto }
    }
}
/// A subscriber's end of the change stream.
pub struct Subscription {
    rx: Receiver<Change>,
    lagged: Arc<AtomicBool>,
}

/// What [`Subscription::recv_timeout`] gives.
#[derive(Debug, Clone)]
pub enum Received {
    /// The next change.
    Change(Change),
    /// Nothing within the timeout.
    Idle,
    /// The subscriber fell behind and was cut off: reload, then subscribe again.
    Resync,
    /// The engine closed.
    Closed,
}

impl Subscription {
    /// Waits up to `timeout` for the next change.
    pub fn recv_timeout(&self, timeout: Duration) -> Received {
        match self.rx.recv_timeout(timeout) {
            Ok(c) => Received::Change(c),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Received::Idle,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                if self.lagged.load(Ordering::Acquire) {
                    Received::Resync
                } else {
                    Received::Closed
                }
            }
        }
    }
}
