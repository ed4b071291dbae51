//! The index behind the Deadlines view (PRODUCT §2 "Views"): a board's items by the
//! deadline of their next open activity, kept in the same step as the counters
//! (`State::count_item` and `State::recount_item` file an item here when they add its
//! contribution and take it out when they remove it), so it is exact at every moment a
//! read can observe.
//!
//! Invariants:
//! 1. An item is filed under at most one class: `Overdue` (an open activity's deadline
//!    fired), else `Unread` (attention > 0; it sits in the view's `today`), else `Planned`
//!    (it has an open activity); an item in none of them is in the view's `none` bucket and
//!    is not filed (a board of a million items without activities costs nothing here).
//! 2. Each filed item is in its board's sets and in its (board, responsible) sets, keyed by
//!    (deadline, item); `Unread` items without a deadline use `i64::MAX` (they sort last).
//! 3. `slots` counts the `Planned` items per 15-minute slot of their deadline. The view's
//!    bucket edges are local midnights of a UTC offset that is a multiple of 15 minutes, so
//!    they fall on slot edges: a bucket's count is a walk over at most its slots (≤ 672
//!    for a week), never over its items.
//! 4. `items` counts every item of the board (or the responsible's on it), filed or not:
//!    `none` = `items` − the filed ones.
//!
//! Costs: filing or unfiling an item, O(log n) in two sets; a bucket page, O(log n + page).

use std::collections::{BTreeMap, BTreeSet};

use crate::hashing::FastMap;
use crate::ids::{BoardId, ItemId, UserId};

/// The slot width of [`Sets::planned_between`]: every real UTC offset is a multiple.
pub(crate) const SLOT_MS: i64 = 15 * 60_000;

/// What an item is filed as (invariant 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Class {
    Overdue,
    Unread,
    Planned,
}

/// One item as [`DeadlineIndex::add`] takes it: (item, board, responsible, class and
/// deadline; `None`: counted, not filed).
pub(crate) type Filing = (ItemId, BoardId, UserId, Option<(Class, i64)>);

/// One board's items (or one responsible's on it), by class.
#[derive(Debug, Default)]
pub(crate) struct Sets {
    pub overdue: BTreeSet<(i64, ItemId)>,
    pub unread: BTreeSet<(i64, ItemId)>,
    pub planned: BTreeSet<(i64, ItemId)>,
    slots: BTreeMap<i64, u64>,
    pub items: u64,
}

impl Sets {
    fn set(&mut self, class: Class) -> &mut BTreeSet<(i64, ItemId)> {
        match class {
            Class::Overdue => &mut self.overdue,
            Class::Unread => &mut self.unread,
            Class::Planned => &mut self.planned,
        }
    }

    fn file(&mut self, id: ItemId, class: Class, deadline: i64) {
        self.set(class).insert((deadline, id));
        if class == Class::Planned {
            *self.slots.entry(deadline.div_euclid(SLOT_MS)).or_default() += 1;
        }
    }

    fn unfile(&mut self, id: ItemId, class: Class, deadline: i64) {
        self.set(class).remove(&(deadline, id));
        if class == Class::Planned {
            let slot = deadline.div_euclid(SLOT_MS);
            if let Some(n) = self.slots.get_mut(&slot) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.slots.remove(&slot);
                }
            }
        }
    }

    /// The sets of [`DeadlineIndex::add_all`], keyed by `key(board, owner)`, from sorted
    /// runs; `runs` is scratch space.
    fn build(
        items: &[Filing],
        key: impl Fn(BoardId, UserId) -> (BoardId, UserId),
        runs: &mut Vec<((BoardId, UserId), Class, i64, ItemId)>,
    ) -> FastMap<(BoardId, UserId), Sets> {
        let mut sets: FastMap<(BoardId, UserId), Sets> = FastMap::default();
        runs.clear();
        for (id, board, owner, class) in items {
            let k = key(*board, *owner);
            sets.entry(k).or_default().items += 1;
            if let Some((class, deadline)) = class {
                runs.push((k, *class, *deadline, *id));
            }
        }
        runs.sort_unstable();
        let mut rest = runs.as_slice();
        while let Some(&(k, class, _, _)) = rest.first() {
            let n = rest.iter().take_while(|r| r.0 == k && r.1 == class).count();
            let (run, tail) = rest.split_at(n);
            rest = tail;
            let Some(set) = sets.get_mut(&k) else {
                continue;
            };
            *set.set(class) = run.iter().map(|r| (r.2, r.3)).collect();
            if class == Class::Planned {
                let mut slots: Vec<(i64, u64)> = Vec::new();
                for r in run {
                    let slot = r.2.div_euclid(SLOT_MS);
                    match slots.last_mut() {
                        Some((s, n)) if *s == slot => *n += 1,
                        _ => slots.push((slot, 1)),
                    }
                }
                set.slots = slots.into_iter().collect();
            }
        }
        sets
    }

    /// `Planned` items with a deadline in `[from, to)` (`None`: unbounded); the edges are
    /// multiples of [`SLOT_MS`]. Walks the slots in the range (invariant 3).
    pub(crate) fn planned_between(&self, from: Option<i64>, to: Option<i64>) -> u64 {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let lo = from.map_or(Unbounded, |f| Included(f.div_euclid(SLOT_MS)));
        let hi = to.map_or(Unbounded, |t| Excluded(t.div_euclid(SLOT_MS)));
        if let (Included(a), Excluded(b)) = (lo, hi) {
            if a >= b {
                return 0;
            }
        }
        self.slots.range((lo, hi)).map(|(_, n)| *n).sum()
    }

    /// Items in no class: the view's `none` (invariant 4).
    pub(crate) fn unfiled(&self) -> u64 {
        let filed = self.overdue.len() + self.unread.len() + self.planned.len();
        self.items
            .saturating_sub(u64::try_from(filed).unwrap_or(u64::MAX))
    }
}

/// Where a filed item is, to take it out again.
#[derive(Debug, Clone, Copy)]
struct Filed {
    class: Class,
    deadline: i64,
}

/// Every board's [`Sets`], and each responsible's on each board.
#[derive(Debug, Default)]
pub(crate) struct DeadlineIndex {
    boards: FastMap<BoardId, Sets>,
    owners: FastMap<(BoardId, UserId), Sets>,
    filed: FastMap<ItemId, Filed>,
}

impl DeadlineIndex {
    /// Files item `id` of `board`, responsible `owner`, as `class` at `deadline` (`None`:
    /// counted, not filed).
    pub(crate) fn add(
        &mut self,
        id: ItemId,
        board: BoardId,
        owner: UserId,
        class: Option<(Class, i64)>,
    ) {
        let (b, o) = (
            self.boards.entry(board).or_default(),
            self.owners.entry((board, owner)).or_default(),
        );
        b.items += 1;
        o.items += 1;
        if let Some((class, deadline)) = class {
            b.file(id, class, deadline);
            o.file(id, class, deadline);
            self.filed.insert(id, Filed { class, deadline });
        }
    }

    /// [`DeadlineIndex::add`] for each of `items` (id, board, owner, class). Into an empty
    /// index (an open), each set is built from a sorted run (`BTreeSet`'s bulk build, one
    /// pass for the boards' sets and one for the owners'): 1.5M single filings cost most of
    /// a second of a start-up here. Into an index that holds items, they are added one by
    /// one.
    pub(crate) fn add_all(&mut self, items: Vec<Filing>) {
        if !(self.boards.is_empty() && self.owners.is_empty() && self.filed.is_empty()) {
            for (id, board, owner, class) in items {
                self.add(id, board, owner, class);
            }
            return;
        }
        let filed = items.iter().filter(|i| i.3.is_some()).count();
        self.filed.reserve(filed);
        let mut runs = Vec::with_capacity(filed);
        // The boards' sets, keyed by board alone (owner 0 stands for "any"), then the
        // owners'.
        self.boards = Sets::build(&items, |b, _| (b, UserId(0)), &mut runs)
            .into_iter()
            .map(|((b, _), sets)| (b, sets))
            .collect();
        self.owners = Sets::build(&items, |b, o| (b, o), &mut runs);
        for (id, _, _, class) in items {
            if let Some((class, deadline)) = class {
                self.filed.insert(id, Filed { class, deadline });
            }
        }
    }

    /// Takes out what [`DeadlineIndex::add`] put in, with the same board and owner.
    pub(crate) fn remove(&mut self, id: ItemId, board: BoardId, owner: UserId) {
        let filed = self.filed.remove(&id);
        for sets in [
            self.boards.get_mut(&board),
            self.owners.get_mut(&(board, owner)),
        ]
        .into_iter()
        .flatten()
        {
            sets.items = sets.items.saturating_sub(1);
            if let Some(f) = filed {
                sets.unfile(id, f.class, f.deadline);
            }
        }
        if self
            .owners
            .get(&(board, owner))
            .is_some_and(|s| s.items == 0)
        {
            self.owners.remove(&(board, owner));
        }
    }

    /// The sets of `board`, or of `owner`'s items on it.
    pub(crate) fn sets(&self, board: BoardId, owner: Option<UserId>) -> Option<&Sets> {
        match owner {
            None => self.boards.get(&board),
            Some(o) => self.owners.get(&(board, o)),
        }
    }

    /// Whether `id` is filed (so not in `none`).
    pub(crate) fn is_filed(&self, id: ItemId) -> bool {
        self.filed.contains_key(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn classes_counts_and_slots_follow_add_and_remove() {
        let mut ix = DeadlineIndex::default();
        let (b, ann, bob) = (BoardId(1), UserId(2), UserId(3));
        ix.add(ItemId(1), b, ann, Some((Class::Planned, 10 * HOUR)));
        ix.add(ItemId(2), b, ann, Some((Class::Planned, 10 * HOUR + 1)));
        ix.add(ItemId(3), b, bob, Some((Class::Planned, 40 * HOUR)));
        ix.add(ItemId(4), b, bob, Some((Class::Unread, i64::MAX)));
        ix.add(ItemId(5), b, bob, Some((Class::Overdue, HOUR)));
        ix.add(ItemId(6), b, ann, None);
        let s = ix.sets(b, None).expect("test value");
        assert_eq!(s.planned_between(None, None), 3);
        assert_eq!(s.planned_between(Some(0), Some(24 * HOUR)), 2);
        assert_eq!(s.planned_between(Some(24 * HOUR), None), 1);
        assert_eq!(s.planned_between(Some(24 * HOUR), Some(24 * HOUR)), 0);
        assert_eq!((s.overdue.len(), s.unread.len(), s.unfiled()), (1, 1, 1));
        let a = ix.sets(b, Some(ann)).expect("test value");
        assert_eq!((a.planned_between(None, None), a.unfiled()), (2, 1));
        ix.remove(ItemId(1), b, ann);
        ix.remove(ItemId(6), b, ann);
        let s = ix.sets(b, None).expect("test value");
        assert_eq!(s.planned_between(Some(0), Some(24 * HOUR)), 1);
        assert_eq!((s.items, s.unfiled()), (4, 0));
        assert!(!ix.is_filed(ItemId(1)) && ix.is_filed(ItemId(2)));
        ix.remove(ItemId(2), b, ann);
        assert!(
            ix.sets(b, Some(ann)).is_none(),
            "an owner with no items is dropped"
        );
    }

    /// Everything an index holds, in a comparable form.
    fn dump(ix: &DeadlineIndex) -> Vec<String> {
        let mut out: Vec<String> = ix
            .boards
            .iter()
            .map(|(b, s)| format!("board {b:?} {s:?}"))
            .chain(ix.owners.iter().map(|(k, s)| format!("owner {k:?} {s:?}")))
            .chain(ix.filed.iter().map(|(i, f)| format!("filed {i:?} {f:?}")))
            .collect();
        out.sort();
        out
    }

    fn class() -> impl Strategy<Value = Option<(Class, i64)>> {
        let deadline = -3 * HOUR..3 * HOUR;
        prop_oneof![
            Just(None),
            deadline.clone().prop_map(|d| Some((Class::Overdue, d))),
            deadline.clone().prop_map(|d| Some((Class::Unread, d))),
            Just(Some((Class::Unread, i64::MAX))),
            deadline.prop_map(|d| Some((Class::Planned, d))),
        ]
    }

    proptest! {
        /// The bulk build of an open equals one `add` per item, into an empty index and
        /// into one that holds items already.
        #[test]
        fn add_all_equals_one_add_per_item(
            items in proptest::collection::vec((1u64..4, 1u64..4, class()), 0..200),
            before in 0usize..3,
        ) {
            let items: Vec<_> = (1u64..)
                .zip(items)
                .map(|(id, (b, o, c))| (ItemId(id), BoardId(b), UserId(o), c))
                .collect();
            let (mut one, mut all) = (DeadlineIndex::default(), DeadlineIndex::default());
            let (first, rest) = items.split_at(before.min(items.len()));
            for &(id, b, o, c) in first {
                one.add(id, b, o, c);
                all.add(id, b, o, c);
            }
            for &(id, b, o, c) in rest {
                one.add(id, b, o, c);
            }
            all.add_all(rest.to_vec());
            prop_assert_eq!(dump(&one), dump(&all));
        }
    }

    #[test]
    fn a_slot_count_never_underflows_and_empty_slots_go() {
        let mut s = Sets::default();
        s.file(ItemId(1), Class::Planned, 5);
        s.unfile(ItemId(1), Class::Planned, 5);
        s.unfile(ItemId(1), Class::Planned, 5);
        assert!(s.slots.is_empty());
        assert_eq!(s.planned_between(None, None), 0);
    }
}
