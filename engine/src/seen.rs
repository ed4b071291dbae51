//! The seen-event set: the hash of every event id ever accepted or found unmatched
//! (PRODUCT §3: a second event with the same id is a duplicate "for ever").
//!
//! Two parts. `frozen` holds the hashes a checkpoint covered, as one sorted array with a
//! directory by their top bits; `recent` holds the rest (the `S` rows after the
//! checkpoint's cut, and every hash added since open) in a hash set. Why: the set holds a
//! hash per event of the whole history, and open filled a hash table with all of them,
//! 12M inserts that cost 2.4 s of CPU (the largest part of a start-up at 12M entries, on
//! the benchmark machine) and 23 B of memory each. A checkpoint segment keeps its hashes
//! sorted, so open merges a few sorted runs instead (a copy, bucket by bucket) into
//! 16 B a hash.
//!
//! Invariants:
//! 1. `frozen` is sorted ascending; `dir[b]` is the index of its first hash whose top
//!    `bits` bits are `b` or more, for every `b` in `0..=2^bits` (`dir[2^bits]` is its
//!    length). With no frozen hash, `dir` is empty.
//! 2. A hash is in the set iff it is in `frozen` or in `recent`. Inserting puts it in
//!    `recent` only (a hash already in `frozen` is never added again: callers insert only
//!    what `contains` denied).
//!
//! Costs: `contains` is one hash-set probe, then one directory read and a binary search
//! of one bucket (about 16 hashes: two or three cache misses). `from_runs` is two passes
//! over the hashes and one over the buckets, plus a sort of each bucket (a handful of
//! hashes); the hashes of 11M events in 12 runs took about 0.25 s of CPU on the benchmark
//! machine (a merge that took the runs bucket by bucket was about 0.13 s there, but cost
//! buckets × runs, which grows with the square of the history).
//!
//! `recent` is keyed by a per-process random seed (foldhash, `hashing.rs`): its hashes
//! are of ids clients choose, so an unkeyed table could be aimed at; SipHash cost 2.5 s
//! of a restart at 9M events here, foldhash a fraction of it. After an open without a
//! checkpoint (or a rollback, which reloads without one) every hash is recent (about 23 B
//! each instead of 16) until the next open from a checkpoint.
//!
//! The hashes are SHA-256 prefixes of ids clients choose: evenly spread, and a client
//! cannot crowd a bucket without grinding ids; a crowded bucket only costs its binary
//! search a few more steps.

use crate::hashing::FastSet;

/// About this many frozen hashes per directory bucket.
const PER_BUCKET: usize = 16;

/// See the module's doc.
#[derive(Default, Clone, Debug)]
pub(crate) struct Seen {
    frozen: Vec<u128>,
    dir: Vec<u32>,
    bits: u32,
    recent: FastSet<u128>,
}

impl Seen {
    /// A set of the hashes of `runs` (a checkpoint segment's each, kept sorted, which
    /// makes the placing below sweep the array in order; any order is placed right) in the
    /// frozen part, and nothing recent.
    ///
    /// A counting sort by bucket: count each bucket's hashes, sum the counts into the
    /// directory, place each hash at its bucket's next slot, then sort each bucket. Linear
    /// in the hashes plus the buckets, whatever the number of runs (a merge that looked at
    /// every run for every bucket cost buckets × runs: 4·10^8 steps at 100M hashes).
    pub(crate) fn from_runs(runs: &[Vec<u128>]) -> Seen {
        let total: usize = runs.iter().map(Vec::len).sum();
        // More than `u32::MAX` hashes cannot be indexed by the directory: then every
        // hash is recent (a slower open, never a wrong answer).
        if total == 0 || u32::try_from(total).is_err() {
            let mut seen = Seen::default();
            seen.recent.extend(runs.iter().flatten().copied());
            return seen;
        }
        let bits = (total / PER_BUCKET).max(1).ilog2().clamp(1, 28);
        let buckets = 1usize << bits;
        // dir[b + 1] counts bucket b's hashes, then the prefix sum makes it invariant 1's.
        let mut dir = vec![0u32; buckets + 1];
        for h in runs.iter().flatten() {
            if let Some(n) = dir.get_mut(bucket(*h, bits) + 1) {
                *n += 1;
            }
        }
        let mut sum = 0u32;
        for n in &mut dir {
            sum += *n;
            *n = sum;
        }
        // Each bucket's next free slot.
        let mut next: Vec<u32> = dir.clone();
        let mut frozen = vec![0u128; total];
        for h in runs.iter().flatten() {
            if let Some(at) = next.get_mut(bucket(*h, bits)) {
                if let Some(slot) = frozen.get_mut(*at as usize) {
                    *slot = *h;
                }
                *at += 1;
            }
        }
        for w in dir.windows(2) {
            if let Some(run) = frozen.get_mut(w[0] as usize..w[1] as usize) {
                run.sort_unstable();
            }
        }
        Seen {
            frozen,
            dir,
            bits,
            recent: FastSet::default(),
        }
    }

    /// This set with `recent` added (open's scan of the `S` rows after a checkpoint's cut,
    /// built on a thread of its own).
    pub(crate) fn with_recent(mut self, recent: FastSet<u128>) -> Seen {
        if self.recent.is_empty() {
            self.recent = recent;
        } else {
            self.recent.extend(recent);
        }
        self
    }

    /// Whether `hash` was seen.
    pub(crate) fn contains(&self, hash: u128) -> bool {
        self.recent.contains(&hash) || self.frozen_contains(hash)
    }

    fn frozen_contains(&self, hash: u128) -> bool {
        if self.frozen.is_empty() {
            return false;
        }
        let b = bucket(hash, self.bits);
        let range = match (self.dir.get(b), self.dir.get(b + 1)) {
            (Some(&lo), Some(&hi)) => lo as usize..hi as usize,
            _ => return false,
        };
        self.frozen
            .get(range)
            .is_some_and(|run| run.binary_search(&hash).is_ok())
    }

    /// Adds `hash` (one `contains` denied).
    pub(crate) fn insert(&mut self, hash: u128) {
        self.recent.insert(hash);
    }

    /// Adds every hash of `hashes`.
    pub(crate) fn extend(&mut self, hashes: impl IntoIterator<Item = u128>) {
        self.recent.extend(hashes);
    }

    /// How many hashes the set holds.
    pub(crate) fn len(&self) -> usize {
        self.frozen.len() + self.recent.len()
    }

    /// How many of them are recent (the rest came sorted from a checkpoint): at open, how
    /// many were read from the `S` rows.
    pub(crate) fn recent_len(&self) -> usize {
        self.recent.len()
    }
}

/// The directory bucket of `hash`: its top `bits` bits (0 with none).
fn bucket(hash: u128, bits: u32) -> usize {
    let top = hash.checked_shr(128u32.saturating_sub(bits)).unwrap_or(0);
    usize::try_from(top).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn sorted(mut v: Vec<u128>) -> Vec<u128> {
        v.sort_unstable();
        v
    }

    #[test]
    fn an_empty_set_holds_nothing() {
        for mut s in [Seen::from_runs(&[]), Seen::default()] {
            assert!(!s.contains(0) && !s.contains(u128::MAX));
            assert_eq!(s.len(), 0);
            s.insert(7);
            assert!(s.contains(7) && !s.contains(0));
        }
    }

    #[test]
    fn the_extremes_are_found_in_the_first_and_last_buckets() {
        let runs = vec![
            sorted((0..1000u128).map(|i| i << 100).collect()),
            vec![0, u128::MAX],
        ];
        let s = Seen::from_runs(&runs);
        assert!(s.contains(0) && s.contains(u128::MAX) && s.contains(999 << 100));
        assert!(!s.contains(1) && !s.contains(u128::MAX - 1));
        assert_eq!(s.len(), 1002, "a hash in two runs is kept twice, and found");
    }

    proptest! {
        /// The set answers as a `BTreeSet` of the same hashes does, whatever the runs and
        /// what is inserted after; `frozen` and `dir` keep invariant 1.
        #[test]
        fn it_answers_as_a_plain_set(
            runs in proptest::collection::vec(
                proptest::collection::vec(any::<u128>(), 0..200), 0..6),
            // Hashes crowded into the low buckets, as ground ids would be; left unsorted
            // (placing does not need sorted runs).
            crowded in proptest::collection::vec(0u128..1 << 20, 0..50),
            later in proptest::collection::vec(any::<u128>(), 0..50),
            probes in proptest::collection::vec(any::<u128>(), 0..50),
        ) {
            let mut runs: Vec<Vec<u128>> = runs.into_iter().map(sorted).collect();
            runs.push(crowded);
            let mut model: BTreeSet<u128> = runs.iter().flatten().copied().collect();
            let mut s = Seen::from_runs(&runs);
            prop_assert!(s.frozen.windows(2).all(|w| w[0] <= w[1]));
            if !s.frozen.is_empty() {
                prop_assert_eq!(s.dir.len(), (1 << s.bits) + 1);
                prop_assert_eq!(*s.dir.last().unwrap_or(&0) as usize, s.frozen.len());
                for (b, w) in s.dir.windows(2).enumerate() {
                    for h in &s.frozen[w[0] as usize..w[1] as usize] {
                        prop_assert_eq!(bucket(*h, s.bits), b);
                    }
                }
            }
            for h in &later {
                if !s.contains(*h) {
                    s.insert(*h);
                }
                model.insert(*h);
            }
            for h in model.iter().chain(&probes) {
                prop_assert_eq!(s.contains(*h), model.contains(h), "hash {}", h);
            }
        }
    }
}
