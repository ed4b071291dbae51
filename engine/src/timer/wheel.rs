//! A hierarchical timing wheel shaped like tokio's: six levels of 64 slots. A level-0 slot
//! spans 1 ms, and a slot on any higher level spans one full turn of the level below. The
//! slots cover an aligned block of 2^36 ms (about 2.2 years) that holds the wheel's time.
//!
//! Time is kept as a `u64` *tick*: the `i64` milliseconds with the sign bit flipped. That
//! mapping keeps the order, so past instants (negative ones too) and the ends of the `i64`
//! range need no special case.
//!
//! Each armed timer is in exactly one place, recorded in its slab entry:
//! - a *slot list*, if `when > elapsed` and `when` is in the same 2^36-tick block as
//!   `elapsed`. The level is that of the highest bit where `when` and `elapsed` differ, and
//!   the slot is `when`'s six bits at that level;
//! - the *pending* list, if `when <= elapsed`. Such a timer was already due when it was
//!   armed, or `poll` was given a `now` behind the wheel's time. It fires at the first poll
//!   whose `now` reaches it;
//! - the *overflow* set, if `when` is in a later block. Overflow timers move into the slots
//!   when the wheel's time enters their block.
//!
//! A list is a `Vec` of slab indices, and each entry records its position in it, so removal
//! is a `swap_remove`. Compared with an intrusive linked list, arming writes no other
//! entry, and draining a slot reads entries whose indices are all known up front, so the
//! CPU can fetch them in parallel instead of chasing one pointer at a time.
//!
//! Invariants:
//! 1. `elapsed` (the wheel's time) never decreases.
//! 2. A timer in a slot list is in a later slot than the one `elapsed` is in on that level.
//!    So the first occupied slot of the lowest occupied level holds the earliest slot
//!    timers, and all timers in a level-0 slot have the same `when`.
//! 3. Every pending timer is due before every slot timer, and every slot timer before every
//!    overflow timer.
//! 4. A list's `min` is at most every `when` in it, and it equals the earliest one while
//!    `exact` is set. It loses `exact` only when the earliest timer is cancelled from pending
//!    or from a slot on level 1 or higher.
//! 5. An entry in a list sits at `items[entry.pos]` of that list.
//!
//! Costs: `insert` and `cancel` are O(1): one hash-map operation and a few slab writes, with
//! no allocation once the slab, the map and the lists have grown. Overflow timers are the
//! exception, at O(log n). `poll` costs O(levels + timers fired + timers cascaded), and a
//! timer cascades at most once per level. `next_due` is O(1) unless invariant 4's exception
//! applies, and then it scans that one list. Lists keep their capacity when drained, so
//! memory stays at its high-water mark, as a `Vec`'s does.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use super::TimerId;

/// Bits of time per level: each level has 2^6 = 64 slots.
const SLOT_BITS: u32 = 6;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
const SLOTS: usize = 1 << SLOT_BITS;
const LEVELS: usize = 6;
/// The bit at which each level's slot number starts.
const SHIFTS: [u32; LEVELS] = [0, 6, 12, 18, 24, 30];
/// The time bits the slots cover. A `when` that differs from `elapsed` above them overflows.
const WHEEL_BITS: u32 = 36;
const _: () = assert!(SHIFTS[LEVELS - 1] + SLOT_BITS == WHEEL_BITS);

/// List numbers: `level * SLOTS + slot` for the slot lists, then pending. Overflow and free
/// are not lists, but an entry's `list` field names them too.
const PENDING: usize = LEVELS * SLOTS;
const OVERFLOW: usize = PENDING + 1;
const FREE: usize = PENDING + 2;
/// The end of the free list. `Slab::get(NIL)` is `None`.
const NIL: usize = usize::MAX;

const SIGN: u64 = 1 << 63;

/// Milliseconds to ticks, keeping order.
const fn tick(millis: i64) -> u64 {
    millis.cast_unsigned() ^ SIGN
}

/// Ticks back to milliseconds.
const fn millis(tick: u64) -> i64 {
    (tick ^ SIGN).cast_signed()
}

/// The level of a `when` that is after `elapsed` and in the same block.
fn level_for(elapsed: u64, when: u64) -> Option<usize> {
    // Setting the low six bits files every difference below bit 6 under level 0.
    let diff = (elapsed ^ when) | SLOT_MASK;
    usize::try_from(diff.ilog2() / SLOT_BITS).ok()
}

/// The slot of `when` on the level whose slot number starts at bit `shift`.
fn slot_for(when: u64, shift: u32) -> Option<usize> {
    usize::try_from((when >> shift) & SLOT_MASK).ok()
}

/// Internal list steps return `None` only if the wheel's own bookkeeping were broken, which
/// the model tests rule out. A debug build stops there; a release build skips the step
/// rather than panic in the timer thread.
fn checked(step: Option<()>) {
    debug_assert!(step.is_some(), "timer wheel bookkeeping is inconsistent");
}

/// A pure, in-memory schedule of timers keyed by [`TimerId`]: a hierarchical timing wheel.
///
/// Time goes in as `now` arguments, and due times are `i64` milliseconds since the epoch (in
/// the past too). The wheel reads no clock and does no I/O. [`Wheel::poll`] returns exactly
/// the timers due at or before its `now`, ordered by (due, id): never early, never twice.
///
/// Arming, re-arming and cancelling are O(1) and do not allocate once the wheel has grown.
/// The exception is a timer due beyond the aligned 2^36 ms block (about 2.2 years) that
/// holds the wheel's time, which costs O(log n). [`Wheel::next_due`] is exact.
pub struct Wheel {
    /// The wheel's time in ticks: the latest `now` polled, or the one given to `new`.
    elapsed: u64,
    /// The slot lists by `level * SLOTS + slot`, then the pending list.
    lists: Box<[List]>,
    /// Per level, bit `s` is set iff slot `s` on that level is not empty.
    occupied: [u64; LEVELS],
    slab: Slab,
    /// Every armed timer, by id, to its slab entry.
    index: HashMap<TimerId, usize, BuildHasherDefault<IdHasher>>,
    /// Timers beyond the block the slots cover, in due order.
    overflow: BTreeSet<(u64, TimerId)>,
    /// An empty list buffer that a drained list swaps in, so that draining does not free
    /// the list's capacity and cascading does not allocate.
    spare: Vec<usize>,
}

impl Wheel {
    /// An empty wheel whose time is `now`.
    #[must_use]
    pub fn new(now: i64) -> Self {
        Self::with_capacity(now, 0)
    }

    /// An empty wheel whose time is `now`, with room for `capacity` timers in its slab and
    /// id map before they allocate.
    #[must_use]
    pub fn with_capacity(now: i64, capacity: usize) -> Self {
        Self {
            elapsed: tick(now),
            lists: (0..=PENDING).map(|_| List::default()).collect(),
            occupied: [0; LEVELS],
            slab: Slab::with_capacity(capacity),
            index: HashMap::with_capacity_and_hasher(capacity, BuildHasherDefault::default()),
            overflow: BTreeSet::new(),
            spare: Vec::new(),
        }
    }

    /// How many timers are armed.
    #[must_use]
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no timer is armed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The wheel's time: the latest `now` it was polled at, or the one given to `new`.
    #[must_use]
    pub fn time(&self) -> i64 {
        millis(self.elapsed)
    }

    /// The due time of timer `id`, if it is armed.
    #[must_use]
    pub fn due(&self, id: TimerId) -> Option<i64> {
        let idx = *self.index.get(&id)?;
        self.slab.get(idx).map(|entry| millis(entry.when))
    }

    /// Arms timer `id` to fire at `due`, and returns the due time it replaced if it was
    /// already armed. A `due` at or before the wheel's time fires at the next poll.
    pub fn insert(&mut self, id: TimerId, due: i64) -> Option<i64> {
        let when = tick(due);
        let (idx, replaced) = match self.index.entry(id) {
            MapEntry::Vacant(vacant) => (*vacant.insert(self.slab.alloc(id, when)), None),
            MapEntry::Occupied(occupied) => {
                let idx = *occupied.get();
                (idx, self.slab.get(idx).map(|entry| entry.when))
            }
        };
        if replaced.is_some() {
            checked(self.detach(idx));
            if let Some(entry) = self.slab.get_mut(idx) {
                entry.when = when;
            }
        }
        checked(self.place(idx));
        replaced.map(millis)
    }

    /// Disarms timer `id`. Returns whether it was armed.
    pub fn cancel(&mut self, id: TimerId) -> bool {
        let Some(idx) = self.index.remove(&id) else {
            return false;
        };
        checked(self.detach(idx));
        self.slab.release(idx);
        true
    }

    /// Disarms and returns every timer due at or before `now`, ordered by (due, id), and
    /// moves the wheel's time up to `now`.
    ///
    /// A `now` behind the wheel's time (a clock stepped back) leaves the time where it is
    /// and fires only the timers due at or before that `now`, so nothing fires early.
    #[must_use = "the returned timers are disarmed; dropping them loses them"]
    pub fn poll(&mut self, now: i64) -> Vec<(TimerId, i64)> {
        let mut fired = Vec::new();
        self.poll_into(now, &mut fired);
        fired
    }

    /// [`Wheel::poll`] that appends to `fired`, so a timer thread can reuse one buffer.
    /// Only the appended part is sorted.
    pub fn poll_into(&mut self, now: i64, fired: &mut Vec<(TimerId, i64)>) {
        let start = fired.len();
        let now = tick(now);
        self.drain(PENDING, now, fired);
        if now > self.elapsed {
            // Due overflow timers fire straight from the set. The output is sorted at the
            // end, so they need not wait for their block's turn in the slots.
            while let Some(&(when, id)) = self.overflow.first() {
                if when > now {
                    break;
                }
                self.overflow.pop_first();
                if let Some(idx) = self.index.remove(&id) {
                    self.slab.release(idx);
                }
                fired.push((id, millis(when)));
            }
            // Visit occupied slots in time order. Setting `elapsed` to each slot's start
            // before draining it makes its later timers cascade to lower levels.
            while let Some((list, start_tick)) = self.next_expiration() {
                if start_tick > now {
                    break;
                }
                self.elapsed = start_tick;
                self.drain(list, now, fired);
            }
            // No slot starts at or before `now`, so every slot timer stays on its level and
            // slot relative to `now` (invariant 2).
            self.elapsed = now;
            // Overflow timers in the block now current join the slots. They are after `now`
            // because the due ones fired above, and they are a prefix of the set.
            while let Some(&(when, id)) = self.overflow.first() {
                if (when ^ self.elapsed) >> WHEEL_BITS != 0 {
                    break;
                }
                self.overflow.pop_first();
                if let Some(&idx) = self.index.get(&id) {
                    checked(self.place(idx));
                }
            }
        }
        if let Some(appended) = fired.get_mut(start..) {
            appended.sort_unstable_by_key(|&(id, due)| (due, id));
        }
    }

    /// The earliest due time of any armed timer, exactly. A timer thread may sleep until
    /// then (or until a new timer is armed earlier) and then poll.
    #[must_use]
    pub fn next_due(&self) -> Option<i64> {
        // Invariant 3: pending, then the first occupied slot, then overflow.
        let when = match self.list_min(PENDING) {
            Some(when) => when,
            None => match self.next_expiration() {
                Some((list, _)) => self.list_min(list)?,
                None => self.overflow.first()?.0,
            },
        };
        Some(millis(when))
    }

    /// The first occupied slot list of the lowest occupied level, with the tick its slot
    /// starts at. Invariant 2 makes it the earliest one.
    fn next_expiration(&self) -> Option<(usize, u64)> {
        let (level, (&bits, shift)) = self
            .occupied
            .iter()
            .zip(SHIFTS)
            .enumerate()
            .find(|(_, (&bits, _))| bits != 0)?;
        let slot = bits.trailing_zeros();
        let level_start = self.elapsed & !((1u64 << (shift + SLOT_BITS)) - 1);
        let start_tick = level_start | (u64::from(slot) << shift);
        Some((level * SLOTS + usize::try_from(slot).ok()?, start_tick))
    }

    /// The earliest `when` in list `list`, or `None` if it is empty.
    fn list_min(&self, list: usize) -> Option<u64> {
        let list = self.lists.get(list)?;
        if list.items.is_empty() {
            None
        } else if list.exact {
            Some(list.min)
        } else {
            list.items
                .iter()
                .filter_map(|&idx| self.slab.get(idx))
                .map(|entry| entry.when)
                .min()
        }
    }

    /// Empties list `list`: fires its timers due at or before `now` and places the rest
    /// again relative to `elapsed`.
    fn drain(&mut self, list: usize, now: u64, fired: &mut Vec<(TimerId, i64)>) {
        let Some(head) = self.lists.get_mut(list) else {
            return;
        };
        if head.items.is_empty() {
            return;
        }
        // The drained list gets the spare buffer, so placing timers back into it (pending
        // after a clock step back) cannot disturb the walk below.
        let mut items = std::mem::replace(&mut head.items, std::mem::take(&mut self.spare));
        head.reset();
        self.mark_empty(list);
        for &idx in &items {
            let Some(entry) = self.slab.get(idx).copied() else {
                checked(None);
                continue;
            };
            if entry.when <= now {
                self.index.remove(&entry.id);
                self.slab.release(idx);
                fired.push((entry.id, millis(entry.when)));
            } else {
                checked(self.place(idx));
            }
        }
        items.clear();
        self.spare = items;
    }

    /// Puts a detached entry where its `when` belongs relative to `elapsed`.
    fn place(&mut self, idx: usize) -> Option<()> {
        let entry = self.slab.get_mut(idx)?;
        let when = entry.when;
        if when <= self.elapsed {
            return self.link(idx, PENDING);
        }
        if (when ^ self.elapsed) >> WHEEL_BITS != 0 {
            entry.list = OVERFLOW;
            self.overflow.insert((when, entry.id));
            return Some(());
        }
        let level = level_for(self.elapsed, when)?;
        let slot = slot_for(when, *SHIFTS.get(level)?)?;
        self.link(idx, level * SLOTS + slot)
    }

    /// Appends entry `idx` to list `list`.
    fn link(&mut self, idx: usize, list: usize) -> Option<()> {
        let head = self.lists.get_mut(list)?;
        let entry = self.slab.get_mut(idx)?;
        entry.list = list;
        entry.pos = head.items.len();
        // At or below a lower bound of the rest means it is the exact minimum.
        if entry.when <= head.min {
            head.min = entry.when;
            head.exact = true;
        }
        head.items.push(idx);
        if entry.pos == 0 {
            self.mark_occupied(list);
        }
        Some(())
    }

    /// Takes entry `idx` out of its list or the overflow set, leaving it detached.
    fn detach(&mut self, idx: usize) -> Option<()> {
        let entry = *self.slab.get(idx)?;
        match entry.list {
            OVERFLOW => {
                self.overflow.remove(&(entry.when, entry.id));
            }
            FREE => return None,
            list => {
                let head = self.lists.get_mut(list)?;
                if head.items.get(entry.pos) != Some(&idx) {
                    return None;
                }
                head.items.swap_remove(entry.pos);
                if let Some(&moved) = head.items.get(entry.pos) {
                    self.slab.get_mut(moved)?.pos = entry.pos;
                }
                if head.items.is_empty() {
                    head.reset();
                    self.mark_empty(list);
                } else if list >= SLOTS && entry.when == head.min {
                    // Level-0 slots are exempt: their timers all share one `when`.
                    head.exact = false;
                }
            }
        }
        Some(())
    }

    fn mark_occupied(&mut self, list: usize) {
        if let Some(bits) = self.occupied.get_mut(list / SLOTS) {
            *bits |= 1 << (list % SLOTS);
        }
    }

    fn mark_empty(&mut self, list: usize) {
        if let Some(bits) = self.occupied.get_mut(list / SLOTS) {
            *bits &= !(1 << (list % SLOTS));
        }
    }
}

impl fmt::Debug for Wheel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wheel")
            .field("time", &self.time())
            .field("len", &self.len())
            .field("next_due", &self.next_due())
            .field("overflow", &self.overflow.len())
            .finish_non_exhaustive()
    }
}

/// One slot's timers, or the pending ones: slab indices in no particular order.
#[derive(Debug)]
struct List {
    items: Vec<usize>,
    /// See invariant 4.
    min: u64,
    exact: bool,
}

impl Default for List {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            min: u64::MAX,
            exact: true,
        }
    }
}

impl List {
    /// Resets the minimum of a list that has just become empty.
    fn reset(&mut self) {
        self.min = u64::MAX;
        self.exact = true;
    }
}

/// One armed (or free) timer.
#[derive(Debug, Clone, Copy)]
struct Entry {
    id: TimerId,
    when: u64,
    /// A list number, [`OVERFLOW`] or [`FREE`].
    list: usize,
    /// The position in the list's items (invariant 5), or the next free entry.
    pos: usize,
}

/// Entries by index, with freed ones reused first, so steady-state arming does not
/// allocate.
#[derive(Debug)]
struct Slab {
    entries: Vec<Entry>,
    /// The first free entry, or [`NIL`].
    free: usize,
}

impl Slab {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Vec::with_capacity(capacity),
            free: NIL,
        }
    }

    fn get(&self, idx: usize) -> Option<&Entry> {
        self.entries.get(idx)
    }

    fn get_mut(&mut self, idx: usize) -> Option<&mut Entry> {
        self.entries.get_mut(idx)
    }

    /// A detached entry for `id`.
    fn alloc(&mut self, id: TimerId, when: u64) -> usize {
        let fresh = Entry {
            id,
            when,
            list: FREE,
            pos: NIL,
        };
        let idx = self.free;
        if let Some(entry) = self.entries.get_mut(idx) {
            self.free = entry.pos;
            *entry = fresh;
            idx
        } else {
            self.entries.push(fresh);
            self.entries.len() - 1
        }
    }

    /// Returns a detached entry to the free list.
    fn release(&mut self, idx: usize) {
        if let Some(entry) = self.entries.get_mut(idx) {
            entry.list = FREE;
            entry.pos = self.free;
            self.free = idx;
        }
    }
}

/// The id map's hasher: one multiply and a fold, several times cheaper than `SipHash`.
///
/// The multiply carries every input bit into the high half. The fold brings the high half
/// down, so both the low bits (the bucket) and the top bits (the tag) depend on the whole
/// id, even for sequential ids or ids that differ only in high bits. It gives no protection
/// against chosen keys, so it is used only because timer ids come from the engine.
#[derive(Debug, Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let x = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 32);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    const BLOCK: i64 = 1 << WHEEL_BITS;

    fn t(id: u64) -> TimerId {
        TimerId(id)
    }

    fn ids(fired: &[(TimerId, i64)]) -> Vec<u64> {
        fired.iter().map(|(id, _)| id.0).collect()
    }

    #[test]
    fn fires_at_due_and_not_before() {
        let mut wheel = Wheel::new(1_000);
        assert_eq!(wheel.insert(t(1), 1_005), None);
        assert_eq!(wheel.next_due(), Some(1_005));
        assert!(wheel.poll(1_004).is_empty());
        assert_eq!(wheel.poll(1_005), vec![(t(1), 1_005)]);
        assert!(wheel.is_empty());
        assert_eq!(wheel.next_due(), None);
        assert!(wheel.poll(10_000).is_empty());
    }

    #[test]
    fn past_and_present_due_fire_at_next_poll() {
        let mut wheel = Wheel::new(1_000);
        wheel.insert(t(2), 1_000);
        wheel.insert(t(1), -5);
        wheel.insert(t(3), i64::MIN);
        assert_eq!(wheel.next_due(), Some(i64::MIN));
        assert_eq!(
            wheel.poll(1_000),
            vec![(t(3), i64::MIN), (t(1), -5), (t(2), 1_000)]
        );
        assert!(wheel.is_empty());
    }

    #[test]
    fn output_is_ordered_by_due_then_id() {
        let mut wheel = Wheel::new(0);
        // Dues on every level, ties included, armed in no particular order.
        let dues = [70_000, 3, 64, 3, 4_096, 1 << 20, 63, 70_000, 1 << 30, 65, 1];
        let mut expected: Vec<_> = (0..).zip(dues).map(|(id, due)| (t(id), due)).collect();
        for &(id, due) in expected.iter().rev() {
            wheel.insert(id, due);
        }
        let fired = wheel.poll(1 << 31);
        expected.sort_by_key(|&(id, due)| (due, id));
        assert_eq!(fired, expected);
    }

    #[test]
    fn each_timer_fires_exactly_at_its_millisecond() {
        let mut wheel = Wheel::new(0);
        let dues = [
            1, 2, 63, 64, 65, 127, 128, 4_095, 4_096, 4_097, 262_143, 262_144, 300_001,
        ];
        for (id, due) in (0..).zip(dues) {
            wheel.insert(t(id), due);
        }
        let mut seen = Vec::new();
        for now in 0..=300_001 {
            for (id, due) in wheel.poll(now) {
                assert_eq!(due, now, "timer {id:?} fired late or early");
                seen.push(id.0);
            }
        }
        assert_eq!(seen, (0..13).collect::<Vec<_>>());
    }

    #[test]
    fn insert_replaces_the_due_time() {
        let mut wheel = Wheel::new(0);
        wheel.insert(t(1), 5_000);
        assert_eq!(wheel.insert(t(1), 2_000), Some(5_000));
        assert_eq!(wheel.len(), 1);
        assert_eq!(wheel.due(t(1)), Some(2_000));
        assert!(wheel.poll(1_999).is_empty());
        assert_eq!(wheel.poll(3_000), vec![(t(1), 2_000)]);
        assert!(wheel.poll(6_000).is_empty());
        // Moving a timer later works the same way, also from pending.
        wheel.insert(t(2), 10);
        assert_eq!(wheel.insert(t(2), 7_000), Some(10));
        assert!(wheel.poll(6_999).is_empty());
        assert_eq!(wheel.poll(7_000), vec![(t(2), 7_000)]);
    }

    #[test]
    fn cancel_disarms_once() {
        let mut wheel = Wheel::new(0);
        wheel.insert(t(1), 100);
        wheel.insert(t(2), 100);
        wheel.insert(t(3), BLOCK * 3);
        assert!(wheel.cancel(t(1)));
        assert!(!wheel.cancel(t(1)));
        assert!(!wheel.cancel(t(9)));
        assert!(wheel.cancel(t(3)));
        assert_eq!(wheel.poll(BLOCK * 4), vec![(t(2), 100)]);
        assert!(!wheel.cancel(t(2)));
        assert!(wheel.is_empty());
    }

    #[test]
    fn next_due_stays_exact_after_cancelling_a_slot_minimum() {
        let mut wheel = Wheel::new(0);
        // All three land in the same level-2 slot.
        wheel.insert(t(1), 100_000);
        wheel.insert(t(2), 100_500);
        wheel.insert(t(3), 100_200);
        assert_eq!(wheel.next_due(), Some(100_000));
        assert!(wheel.cancel(t(1)));
        assert_eq!(wheel.next_due(), Some(100_200));
        assert!(wheel.cancel(t(3)));
        assert_eq!(wheel.next_due(), Some(100_500));
        wheel.insert(t(4), 100_400);
        assert_eq!(wheel.next_due(), Some(100_400));
        // The same for pending.
        wheel.insert(t(5), -3);
        wheel.insert(t(6), -2);
        assert_eq!(wheel.next_due(), Some(-3));
        assert!(wheel.cancel(t(5)));
        assert_eq!(wheel.next_due(), Some(-2));
    }

    #[test]
    fn far_future_timers_wait_in_overflow() {
        let mut wheel = Wheel::new(0);
        let far = (1 << 40) + 5;
        wheel.insert(t(1), far);
        wheel.insert(t(2), i64::MAX);
        assert_eq!(wheel.next_due(), Some(far));
        assert!(wheel.poll(far - 1).is_empty());
        assert_eq!(wheel.next_due(), Some(far));
        assert_eq!(wheel.poll(far), vec![(t(1), far)]);
        assert_eq!(wheel.poll(i64::MAX), vec![(t(2), i64::MAX)]);
    }

    #[test]
    fn timers_across_a_block_boundary_move_into_the_slots() {
        let mut wheel = Wheel::new(BLOCK - 10);
        wheel.insert(t(1), BLOCK + 10);
        wheel.insert(t(2), BLOCK - 5);
        assert_eq!(wheel.overflow.len(), 1);
        assert_eq!(wheel.poll(BLOCK), vec![(t(2), BLOCK - 5)]);
        assert!(wheel.overflow.is_empty());
        assert_eq!(wheel.next_due(), Some(BLOCK + 10));
        assert!(wheel.poll(BLOCK + 9).is_empty());
        assert_eq!(wheel.poll(BLOCK + 10), vec![(t(1), BLOCK + 10)]);
    }

    #[test]
    fn a_clock_stepped_back_fires_nothing_early() {
        let mut wheel = Wheel::new(1_000);
        wheel.insert(t(1), 900);
        wheel.insert(t(2), 700);
        assert_eq!(wheel.poll(800), vec![(t(2), 700)]);
        assert_eq!(wheel.time(), 1_000);
        assert_eq!(wheel.next_due(), Some(900));
        assert_eq!(wheel.poll(950), vec![(t(1), 900)]);
    }

    #[test]
    fn extreme_times() {
        let mut wheel = Wheel::new(i64::MIN);
        wheel.insert(t(1), i64::MAX);
        wheel.insert(t(2), 0);
        wheel.insert(t(3), i64::MIN);
        wheel.insert(t(4), i64::MIN + 1);
        assert_eq!(wheel.poll(i64::MIN), vec![(t(3), i64::MIN)]);
        assert_eq!(wheel.poll(-1), vec![(t(4), i64::MIN + 1)]);
        assert_eq!(wheel.poll(i64::MAX), vec![(t(2), 0), (t(1), i64::MAX)]);
        assert_eq!(wheel.time(), i64::MAX);
        wheel.insert(t(5), i64::MAX);
        assert_eq!(wheel.poll(i64::MAX), vec![(t(5), i64::MAX)]);
    }

    #[test]
    fn freed_entries_are_reused() {
        let mut wheel = Wheel::new(0);
        for round in 0..10 {
            for id in 0..100 {
                wheel.insert(t(id), 1_000 + i64::try_from(id).unwrap_or(0));
            }
            if round % 2 == 0 {
                for id in 0..100 {
                    assert!(wheel.cancel(t(id)));
                }
            } else {
                assert_eq!(wheel.poll(2_000 * round).len(), 100);
            }
        }
        assert_eq!(wheel.slab.entries.len(), 100);
    }

    #[test]
    fn poll_into_appends_and_sorts_only_its_part() {
        let mut wheel = Wheel::new(0);
        wheel.insert(t(1), 5);
        wheel.insert(t(2), 3);
        let mut fired = vec![(t(9), 100)];
        wheel.poll_into(10, &mut fired);
        assert_eq!(ids(&fired), vec![9, 2, 1]);
    }

    #[test]
    fn many_random_timers_match_a_sorted_model() {
        // A small xorshift keeps this deterministic without another dependency.
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let start = 1_700_000_000_000_i64;
        let mut wheel = Wheel::new(start);
        let mut model = BTreeSet::new();
        for id in 0..50_000_u64 {
            let due = start + i64::try_from(next() % (1 << 33)).unwrap_or(0) - 1_000;
            wheel.insert(t(id), due);
            model.insert((due, id));
        }
        let mut now = start;
        while !model.is_empty() {
            now += i64::try_from(next() % (1 << 27)).unwrap_or(0);
            let expected: Vec<_> = model
                .range(..(now + 1, 0))
                .map(|&(due, id)| (t(id), due))
                .collect();
            for (id, due) in &expected {
                model.remove(&(*due, id.0));
            }
            assert_eq!(wheel.poll(now), expected);
            assert_eq!(wheel.len(), model.len());
            assert_eq!(wheel.next_due(), model.first().map(|&(due, _)| due));
        }
    }

    /// One step of a random schedule. Times are offsets from the model's latest `now`.
    #[derive(Debug, Clone)]
    enum Op {
        Insert {
            id: u64,
            offset: i64,
        },
        InsertAt {
            id: u64,
            due: i64,
        },
        Cancel {
            id: u64,
        },
        Poll {
            step: i64,
        },
        /// Poll at the next due time, or one millisecond before it.
        PollNextDue {
            before: bool,
        },
    }

    fn offset() -> impl Strategy<Value = i64> {
        prop_oneof![
            -2_000..=0_i64,
            0..70_i64,
            0..5_000_i64,
            0..400_000_i64,
            0..30_000_000_i64,
            0..(1_i64 << 37),
            (BLOCK - 100)..(BLOCK + 100),
        ]
    }

    fn step() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(0_i64),
            1..70_i64,
            1..5_000_i64,
            1..400_000_i64,
            1..30_000_000_i64,
            1..(1_i64 << 38),
            -3_000..0_i64,
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        let id = 0..48_u64;
        prop_oneof![
            6 => (id.clone(), offset()).prop_map(|(id, offset)| Op::Insert { id, offset }),
            1 => (id.clone(), prop_oneof![Just(i64::MIN), Just(i64::MAX), any::<i64>()])
                .prop_map(|(id, due)| Op::InsertAt { id, due }),
            2 => id.prop_map(|id| Op::Cancel { id }),
            3 => step().prop_map(|step| Op::Poll { step }),
            1 => any::<bool>().prop_map(|before| Op::PollNextDue { before }),
        ]
    }

    fn start() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(1_700_000_000_000_i64),
            (-5_i64..5).prop_map(|k| k * BLOCK - 50),
            -1_000_000_i64..1_000_000,
            any::<i64>(),
        ]
    }

    /// Polls at `now` and checks the answer against the model, which it updates.
    fn poll_matches(
        wheel: &mut Wheel,
        model: &mut BTreeMap<u64, i64>,
        now: i64,
    ) -> Result<(), TestCaseError> {
        let mut expected: Vec<_> = model
            .iter()
            .filter(|&(_, &due)| due <= now)
            .map(|(&id, &due)| (t(id), due))
            .collect();
        expected.sort_by_key(|&(id, due)| (due, id));
        for (id, _) in &expected {
            model.remove(&id.0);
        }
        prop_assert_eq!(wheel.poll(now), expected);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn wheel_matches_model(start in start(), ops in prop::collection::vec(op(), 1..200)) {
            let mut wheel = Wheel::new(start);
            // id → due; the reference answer for everything the wheel is asked.
            let mut model: BTreeMap<u64, i64> = BTreeMap::new();
            let mut now = start;
            for op in ops {
                match op {
                    Op::Insert { id, offset } => {
                        let due = now.saturating_add(offset);
                        prop_assert_eq!(wheel.insert(t(id), due), model.insert(id, due));
                    }
                    Op::InsertAt { id, due } => {
                        prop_assert_eq!(wheel.insert(t(id), due), model.insert(id, due));
                    }
                    Op::Cancel { id } => {
                        prop_assert_eq!(wheel.cancel(t(id)), model.remove(&id).is_some());
                    }
                    Op::Poll { step } => {
                        now = now.saturating_add(step);
                        poll_matches(&mut wheel, &mut model, now)?;
                    }
                    Op::PollNextDue { before } => {
                        let next = model.values().min().copied().unwrap_or(now);
                        now = if before { next.saturating_sub(1) } else { next };
                        poll_matches(&mut wheel, &mut model, now)?;
                    }
                }
                prop_assert_eq!(wheel.len(), model.len());
                prop_assert_eq!(wheel.next_due(), model.values().min().copied());
                for (&id, &due) in &model {
                    prop_assert_eq!(wheel.due(t(id)), Some(due));
                }
            }
            // Nothing is lost: the end of time fires everything left.
            let mut rest: Vec<_> = model.iter().map(|(&id, &due)| (t(id), due)).collect();
            rest.sort_by_key(|&(id, due)| (due, id));
            prop_assert_eq!(wheel.poll(i64::MAX), rest);
            prop_assert!(wheel.is_empty());
        }
    }
}
