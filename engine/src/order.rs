//! Dense order keys: the position of an item in its column, top first.
//!
//! A key is a non-empty byte string compared lexicographically; the column lists items by
//! descending key. Keys are read as base-256 fractions, so between any two distinct keys
//! there is always another one and a move never renumbers the column.
//!
//! Invariants (checked by the property tests below):
//! 1. No key ends in a `0x00` byte, so `between(a, b)` exists for every `a < b`.
//! 2. A focus-to-top key is the big-endian bytes of the engine's *focus clock*, a counter
//!    that grows by one per top placement. Every other key is built strictly between two
//!    existing keys (or below the bottom one), so a fresh top key is greater than every
//!    existing key: focus-to-top is O(1) to compute and never looks at the column.
//! 3. Keys compare as their bytes do. [`OrderKey`]'s `Ord` compares the first eight bytes
//!    (zero-padded) as a big-endian number first, which agrees with the bytes: where the
//!    numbers differ, the first differing byte is among those eight (a shorter key's
//!    padding zero sits where the longer key has a byte ≥ 0, and where they tie the bytes
//!    decide).

use std::cmp::Ordering;
use std::fmt;
use std::ops::Deref;

use smallvec::SmallVec;

/// An order key: its bytes, compared lexicographically. Most keys are 8–10 bytes and stay
/// inline.
///
/// The comparison looks at the first eight bytes as one big-endian number before it
/// compares bytes (the same order, invariant 3): a column is a `BTreeMap` by key, and a
/// focus moves an item out of the middle of a column of 100,000 (a search of about 35 key
/// comparisons), which was a fifth of the writer's CPU in the ingest load (`perf`, 1M
/// items), most of it in `memcmp` calls on keys whose first eight bytes already differ.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct OrderKey(SmallVec<[u8; 16]>);

impl OrderKey {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Self {
        Self(SmallVec::from_slice(bytes))
    }

    fn push(&mut self, byte: u8) {
        self.0.push(byte);
    }

    fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

impl Deref for OrderKey {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for OrderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.as_slice().fmt(f)
    }
}

impl Ord for OrderKey {
    fn cmp(&self, other: &Self) -> Ordering {
        tick_of(self)
            .cmp(&tick_of(other))
            .then_with(|| self.0.as_slice().cmp(other.0.as_slice()))
    }
}

impl PartialOrd for OrderKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The key placed on top when the focus clock reads `tick`.
pub(crate) fn top(tick: u64) -> OrderKey {
    OrderKey::from_slice(&tick.to_be_bytes())
}

/// The focus-clock tick a key was made at (its first eight bytes, zero-padded when it is
/// shorter), used on open to restore the clock above every stored key, and as the first
/// step of comparing two keys (invariant 3).
pub(crate) fn tick_of(key: &[u8]) -> u64 {
    match key.first_chunk::<8>() {
        Some(head) => u64::from_be_bytes(*head),
        None => {
            let mut buf = [0u8; 8];
            for (dst, src) in buf.iter_mut().zip(key.iter()) {
                *dst = *src;
            }
            u64::from_be_bytes(buf)
        }
    }
}

/// A key strictly between `lo` and `hi`, where `lo` absent means "below everything"
/// (the empty fraction 0) and `hi` absent means "above everything" (1).
///
/// Precondition: `lo < hi` when both are present; both obey invariant 1. On a violated
/// precondition the result is still a valid key, just not between the two.
pub(crate) fn between(lo: Option<&[u8]>, hi: Option<&[u8]>) -> OrderKey {
    let lo = lo.unwrap_or(&[]);
    let mut out = OrderKey::new();
    // `hi` stays bounding only while `out` is still a prefix of it.
    let mut hi = hi;
    let mut i = 0usize;
    loop {
        let da = u16::from(lo.get(i).copied().unwrap_or(0));
        let db = match hi {
            Some(h) => u16::from(h.get(i).copied().unwrap_or(0)),
            None => 256,
        };
        if da == db {
            // Common prefix with `hi`. Two equal inputs would share it for ever: stop
            // bounding by `hi` once both are exhausted.
            if hi.is_some_and(|h| i >= h.len() && i >= lo.len()) {
                hi = None;
                continue;
            }
            out.push(u8::try_from(da).unwrap_or(u8::MAX));
            i += 1;
            continue;
        }
        if db < da {
            // Only reachable on a violated precondition: fall back to "just above lo".
            hi = None;
            continue;
        }
        if db - da > 1 {
            // `da < mid < db`, and `mid >= 1`, so invariant 1 holds.
            out.push(u8::try_from((da + db) / 2).unwrap_or(u8::MAX));
            return out;
        }
        // Adjacent digits: keep lo's digit; from the next position on we are already
        // below `hi`, so only `lo` bounds us.
        out.push(u8::try_from(da).unwrap_or(u8::MAX));
        hi = None;
        i += 1;
    }
}

/// A key below `bottom` (the current lowest key of a column).
pub(crate) fn below(bottom: &[u8]) -> OrderKey {
    between(None, Some(bottom))
}

/// `n` ascending keys, all below `bottom`, for moving a run of items under a column's
/// bottom item at once. Each key is a common prefix below `bottom` plus a fixed-width
/// counter, so the run costs O(1) per key and the keys stay short whatever `n` is.
pub(crate) fn run_below(bottom: Option<&[u8]>, n: usize) -> Vec<OrderKey> {
    let prefix = match bottom {
        Some(b) => below(b),
        None => top(0),
    };
    (0..n)
        .map(|i| {
            let mut k = prefix.clone();
            k.extend_from_slice(&u64::try_from(i).unwrap_or(u64::MAX).to_be_bytes());
            // Invariant 1: never end in 0.
            k.push(1);
            k
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn valid(k: &[u8]) -> bool {
        !k.is_empty() && k.last() != Some(&0)
    }

    #[test]
    fn between_adjacent_digits_extends() {
        let a = top(5);
        let b = top(6);
        let m = between(Some(&a), Some(&b));
        assert!(a < m && m < b, "{a:?} < {m:?} < {b:?}");
        assert!(valid(&m));
    }

    #[test]
    fn below_smallest_top_key() {
        let b = top(1);
        let m = below(&b);
        assert!(m < b);
        assert!(valid(&m));
        let m2 = below(&m);
        assert!(m2 < m && valid(&m2));
    }

    #[test]
    fn below_handles_leading_zero_runs() {
        let mut k = OrderKey::new();
        k.extend_from_slice(&[0, 0, 0, 1]);
        let m = below(&k);
        assert!(m < k && valid(&m), "{m:?}");
    }

    #[test]
    fn top_is_above_everything_made_before() {
        let t1 = top(10);
        let mid = between(Some(&top(9)), Some(&t1));
        assert!(top(11) > mid && top(11) > t1);
        assert_eq!(tick_of(&t1), 10);
        assert_eq!(tick_of(&mid), 9);
    }

    #[test]
    fn repeated_inserts_in_one_gap_stay_short() {
        // Dragging 1,000 times into the same gap grows the key by about one byte per
        // eight halvings; the key stays far below any practical limit.
        let lo = top(1);
        let mut hi = top(2);
        for _ in 0..1000 {
            let m = between(Some(&lo), Some(&hi));
            assert!(lo < m && m < hi);
            hi = m;
        }
        assert!(hi.len() < 140, "len {}", hi.len());
    }

    #[test]
    fn run_below_is_ascending_and_below() {
        let b = top(3);
        let run = run_below(Some(&b), 1000);
        assert!(run.windows(2).all(|w| w[0] < w[1]));
        assert!(run.iter().all(|k| k[..] < b[..] && valid(k)));
        assert!(run.iter().all(|k| k.len() <= 18));
    }

    fn arb_key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 1..12).prop_map(|mut v| {
            if let Some(last) = v.last_mut() {
                if *last == 0 {
                    *last = 1;
                }
            }
            v
        })
    }

    proptest! {
        /// Invariant 3: keys order as their bytes, whatever their lengths, zero bytes
        /// included (a shorter key against a longer one with the same head, zeros after
        /// the end of one of them).
        #[test]
        fn keys_compare_as_their_bytes(
            a in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(255u8), any::<u8>()], 0..20),
            b in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(255u8), any::<u8>()], 0..20),
            shared in 0usize..12,
        ) {
            // Half of the cases share a head, so the byte comparison after it is reached.
            let mut b = b;
            let n = shared.min(a.len()).min(b.len());
            b[..n].copy_from_slice(&a[..n]);
            let (ka, kb) = (OrderKey::from_slice(&a), OrderKey::from_slice(&b));
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b), "{:?} against {:?}", a, b);
            prop_assert_eq!(ka == kb, a == b);
        }

        #[test]
        fn between_is_strictly_between(a in arb_key(), b in arb_key()) {
            prop_assume!(a != b);
            let (lo, hi) = if a < b { (a, b) } else { (b, a) };
            let m = between(Some(&lo), Some(&hi));
            prop_assert!(lo.as_slice() < &m[..], "{:?} !< {:?}", lo, m);
            prop_assert!(&m[..] < hi.as_slice(), "{:?} !< {:?}", m, hi);
            prop_assert!(valid(&m));
        }

        #[test]
        fn below_is_below(a in arb_key()) {
            let m = below(&a);
            prop_assert!(&m[..] < a.as_slice());
            prop_assert!(valid(&m));
        }

        #[test]
        fn random_placements_keep_a_strict_order(ops in proptest::collection::vec((0u8..3, any::<prop::sample::Index>()), 1..200)) {
            // A column as a sorted list of keys; place new keys at top, bottom or between
            // random neighbours and check the list stays strictly increasing.
            let mut keys: Vec<OrderKey> = vec![top(1)];
            let mut tick = 1u64;
            for (op, idx) in ops {
                let k = match op {
                    0 => { tick += 1; top(tick) }
                    1 => below(&keys[0]),
                    _ => {
                        let i = idx.index(keys.len());
                        let hi = keys.get(i + 1).map(|k| &k[..]);
                        if hi.is_none() { tick += 1; top(tick) } else { between(Some(&keys[i]), hi) }
                    }
                };
                prop_assert!(valid(&k));
                let pos = keys.binary_search(&k);
                prop_assert!(pos.is_err(), "duplicate key {:?}", k);
                if let Err(p) = pos { keys.insert(p, k); }
            }
            for w in keys.windows(2) { prop_assert!(w[0] < w[1]); }
            prop_assert!(keys.iter().all(|k| tick_of(k) <= tick));
        }
    }
}
