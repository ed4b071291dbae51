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
//! 4. `by_board` holds, for each board, the seqs of exactly the changes in the ring that
//!    name it, ascending; a board none of them names has no list. It changes only with the
//!    ring, under the same lock.
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

use crate::hashing::FastMap;
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

/// The ring and its index by board (invariant 4).
#[derive(Default)]
struct Ring {
    changes: VecDeque<Change>,
    /// A board stream reads its board's changes from here instead of scanning every change
    /// since its position: with 1,000 streams on 1,000 boards during `bump`, each wake-up
    /// looked at ~1,000 changes of other boards, and `Hub::after` was the first symbol of
    /// the server's own code in a profile (3.6 % of the machine's samples).
    by_board: FastMap<BoardId, VecDeque<u64>>,
}

impl Ring {
    fn push(&mut self, c: Change) {
        if let Some(b) = c.board {
            self.by_board.entry(b).or_default().push_back(c.seq);
        }
        self.changes.push_back(c);
    }

    fn pop_front(&mut self) {
        let Some(c) = self.changes.pop_front() else {
            return;
        };
        let Some(b) = c.board else { return };
        if let Some(list) = self.by_board.get_mut(&b) {
            let front = list.pop_front();
            debug_assert_eq!(
                front,
                Some(c.seq),
                "a board's list starts at its oldest change"
            );
            if list.is_empty() {
                self.by_board.remove(&b);
            }
        }
    }

    /// Whether the changes after `after` are all held: `Some(last)` if so (`after` is not
    /// ahead of the last change and the one after it has not left the ring).
    fn holds_after(&self, after: u64, last_published: u64) -> Option<u64> {
        let last = self.changes.back().map_or(last_published, |c| c.seq);
        if after >= last {
            return (after == last).then_some(last);
        }
        let first = self.changes.front()?.seq;
        (after + 1 >= first).then_some(last)
    }

    fn get(&self, seq: u64) -> Option<&Change> {
        let first = self.changes.front()?.seq;
        let i = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.changes.get(i)
    }
}

pub(crate) struct Hub {
    subs: Mutex<Vec<Subscriber>>,
    ring: RwLock<Ring>,
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
            ring: RwLock::new(Ring::default()),
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
            let over = (ring.changes.len() + changes.len()).saturating_sub(self.capacity);
            for _ in 0..over.min(ring.changes.len()) {
                ring.pop_front();
            }
            let skip = changes.len().saturating_sub(self.capacity);
            for c in changes.into_iter().skip(skip) {
                ring.push(c);
            }
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
        self.read(None, after, limit, keep)
    }

    /// [`Hub::after`] for the changes that name `board`: the same answer as `after` with
    /// `keep` also asking for the board, at the cost of that board's changes only
    /// (invariant 4).
    pub(crate) fn board_after(
        &self,
        board: BoardId,
        after: u64,
        limit: usize,
        keep: &dyn Fn(&Change) -> bool,
    ) -> ChangesAfter {
        self.read(Some(board), after, limit, keep)
    }

    /// Both reads: the candidates are every change after `after`, or `board`'s. `upto` is
    /// the last change looked at, of any board: the one before the first candidate left
    /// out by `limit`, else the last one held.
    fn read(
        &self,
        board: Option<BoardId>,
        after: u64,
        limit: usize,
        keep: &dyn Fn(&Change) -> bool,
    ) -> ChangesAfter {
        let ring = self.ring.read();
        let Some(last) = ring.holds_after(after, self.last()) else {
            return ChangesAfter::Resync;
        };
        let candidates: Box<dyn Iterator<Item = u64> + '_> = match board {
            // `after < last` here, or the range is empty: no overflow.
            None => Box::new((after..last).map(|s| s + 1)),
            Some(b) => match ring.by_board.get(&b) {
                Some(list) => {
                    let from = list.partition_point(|&s| s <= after);
                    Box::new(list.range(from..).copied())
                }
                None => Box::new(std::iter::empty()),
            },
        };
        let mut changes = Vec::new();
        for seq in candidates {
            if changes.len() == limit {
                // `seq > after`, so this never goes below `after`.
                return ChangesAfter::Changes {
                    changes,
                    upto: seq - 1,
                };
            }
            if let Some(c) = ring.get(seq).filter(|c| keep(c)) {
                changes.push(c.clone());
            }
        }
        ChangesAfter::Changes {
            changes,
            upto: last,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn change(seq: u64, board: Option<u64>) -> Change {
        Change {
            seq,
            kind: ChangeKind::ItemFocused,
            board: board.map(BoardId),
            item: None,
            view: None,
            entry: None,
        }
    }

    fn seqs(got: &ChangesAfter) -> Option<(Vec<u64>, u64)> {
        match got {
            ChangesAfter::Changes { changes, upto } => {
                Some((changes.iter().map(|c| c.seq).collect(), *upto))
            }
            ChangesAfter::Resync => None,
        }
    }

    proptest! {
        /// The index by board answers what a scan of the ring filtered by board answers
        /// (invariant 4), through groups that push the oldest changes out of the ring:
        /// the same changes, the same resyncs, and a position past every change of the
        /// board it did not return.
        #[test]
        fn board_reads_equal_a_filtered_scan(
            capacity in 1usize..12,
            groups in prop::collection::vec(
                prop::collection::vec(prop::option::of(0u64..4), 1..6), 1..12),
            asks in prop::collection::vec((0u64..4, 0u64..80, 1usize..5), 1..20),
        ) {
            let hub = Hub::new(capacity, 0);
            let mut seq = 0;
            let mut all = Vec::new();
            for g in groups {
                let changes: Vec<Change> = g
                    .into_iter()
                    .map(|b| {
                        seq += 1;
                        all.push((seq, b));
                        change(seq, b)
                    })
                    .collect();
                hub.publish(changes);
                for &(board, after, limit) in &asks {
                    let scan = hub.after(after, usize::MAX, &|c| c.board == Some(BoardId(board)));
                    let got = hub.board_after(BoardId(board), after, limit, &|_| true);
                    // The scan with a limit stops at the limit-th change it keeps.
                    let limited = hub.after(after, limit, &|c| c.board == Some(BoardId(board)));
                    if let (Some((want, _)), Some((have, upto))) = (seqs(&scan), seqs(&limited)) {
                        let n = want.len().min(limit);
                        prop_assert_eq!(&have[..], &want[..n]);
                        let stop = if n == limit && want[n - 1] < seq { want[n - 1] } else { seq };
                        prop_assert_eq!(upto, stop);
                    }
                    match (seqs(&scan), seqs(&got)) {
                        (None, None) => {}
                        (Some((want, _)), Some((have, upto))) => {
                            let n = want.len().min(limit);
                            prop_assert_eq!(&have[..], &want[..n]);
                            // Nothing of the board was skipped, and nothing past the end.
                            let next = want.get(n).copied();
                            prop_assert_eq!(upto, next.map_or(seq, |s| s - 1));
                        }
                        (a, b) => prop_assert!(false, "scan {:?} but index {:?}", a, b),
                    }
                }
                // The index holds exactly the ring's changes that name a board.
                let ring = hub.ring.read();
                let listed: usize = ring.by_board.values().map(VecDeque::len).sum();
                prop_assert_eq!(listed, ring.changes.iter().filter(|c| c.board.is_some()).count());
                prop_assert!(ring.by_board.values().all(|l| !l.is_empty()));
            }
            prop_assert_eq!(all.len() as u64, seq);
        }
    }

    #[test]
    fn a_position_at_the_last_change_reads_nothing_and_one_past_it_resyncs() {
        let hub = Hub::new(4, 0);
        hub.publish(vec![change(1, Some(1)), change(2, None)]);
        let at = hub.board_after(BoardId(1), 2, 10, &|_| true);
        assert_eq!(seqs(&at), Some((vec![], 2)));
        assert!(seqs(&hub.board_after(BoardId(1), 3, 10, &|_| true)).is_none());
        assert!(seqs(&hub.after(u64::MAX, 10, &|_| true)).is_none());
        assert_eq!(
            seqs(&hub.board_after(BoardId(1), 0, 10, &|_| true)),
            Some((vec![1], 2))
        );
    }
}
