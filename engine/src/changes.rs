//! Committed changes in commit order: the source the live streams follow.
//!
//! The writer publishes a group's changes after its flush, so a subscriber never sees a
//! change that is not durable. Each subscriber has a bounded buffer; one that falls behind
//! is dropped and its subscription reports [`Received::Resync`], so the engine never
//! buffers without bound.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;

use crate::ids::{BoardId, ItemId};

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
}

/// One committed change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// Its position in commit order, from 1, without gaps across restarts.
    pub seq: u64,
    /// What happened.
    pub kind: ChangeKind,
    /// The board it concerns, if any.
    pub board: Option<BoardId>,
    /// The item it concerns, if any.
    pub item: Option<ItemId>,
}

struct Subscriber {
    tx: Sender<Change>,
    lagged: Arc<AtomicBool>,
}

#[derive(Default)]
pub(crate) struct Hub {
    subs: Mutex<Vec<Subscriber>>,
}

impl Hub {
    pub(crate) fn subscribe(&self, capacity: usize) -> Subscription {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        let lagged = Arc::new(AtomicBool::new(false));
        self.subs.lock().push(Subscriber {
            tx,
            lagged: Arc::clone(&lagged),
        });
        Subscription { rx, lagged }
    }

    pub(crate) fn publish(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let mut subs = self.subs.lock();
        subs.retain(|s| {
            for c in &changes {
                match s.tx.try_send(*c) {
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

/// A subscriber's end of the change stream.
pub struct Subscription {
    rx: Receiver<Change>,
    lagged: Arc<AtomicBool>,
}

/// What [`Subscription::recv_timeout`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
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
