//! Each item's timeline as open found it: the seqs of every item's entries, in one flat
//! array by item id (compressed sparse rows), built by a counting sort.
//!
//! Why: open filed a busy store's entries into a list per item, a `SmallVec` each, and a
//! million lists took 12M pushes, each a cache miss on the list's header and another on
//! its heap part, plus a million allocations: 1.0–1.3 s of a start-up at 1M items and 12M
//! entries on the benchmark machine, the longest thread of the "items filed" phase
//! (BENCHMARKS.md). Here a counting sort in two levels (by bucket of ids, then by id
//! within each bucket, in cache) fills two arrays; nothing is allocated per item. What is
//! written after open goes to the item's own list (`ItemSlot::entries`), whose seqs are
//! all greater.
//!
//! Invariants:
//! 1. `starts` has one element per item id below `items` plus one; it starts at 0, never
//!    decreases, and ends at `seqs.len()`. With no item it is empty.
//! 2. `seqs[starts[i]..starts[i + 1]]` are the seqs of item `i`'s entries given to
//!    [`ItemSeqs::build`], ascending (the input comes in seq order; placing keeps it).
//! 3. It never changes after it is built: every later entry has a greater seq than any
//!    here, so an item's timeline is [`ItemSeqs::of`] followed by its own list.
//!
//! Costs: `build` is two passes over the input and, per bucket, three over its part of
//! the placed seqs (count, copy, place), each sequential or within one bucket (a few
//! hundred kB at 12M entries); memory is 8 B per seq plus 8 B per item id, and 4 B per seq
//! while it builds. `of` is two indexings. The seqs of an item deleted since open stay
//! until the next open (its slot is gone, so nothing reads them).

/// See the module's doc.
#[derive(Default, Debug, Clone)]
pub(crate) struct ItemSeqs {
    starts: Vec<u64>,
    seqs: Vec<u64>,
}

impl ItemSeqs {
    /// The timelines of item ids below `items` from `entries()`, an iterator of
    /// (seq, item id) in ascending seq order, called twice and giving the same pairs both
    /// times. Pairs naming an id at or above `items` are left out.
    ///
    /// A counting sort in two levels, so that no pass makes a cache miss per entry (a
    /// placing straight by item id, a miss on its cursor and one on its slot for each of
    /// 12M entries, took 0.7 s of CPU here): first by bucket of `2^shift` consecutive ids
    /// (a few hundred buckets, whose cursors stay in cache), placing each seq in its
    /// bucket's part of `seqs` and its id's offset in the bucket beside it; then each
    /// bucket's part (a few hundred kB) is sorted by id in place through a scratch copy.
    /// Both placings keep the order they read, so each item's seqs stay ascending.
    pub(crate) fn build<I>(items: usize, entries: impl Fn() -> I) -> ItemSeqs
    where
        I: Iterator<Item = (u64, usize)>,
    {
        if items == 0 {
            return ItemSeqs::default();
        }
        // 128 to 256 buckets, whatever the number of items. (`shift` passes 32 only past
        // 2^40 items, which no memory holds; an offset that did not fit a u32 would be
        // dropped, never misplaced.)
        let shift = usize::BITS
            .saturating_sub(items.leading_zeros())
            .saturating_sub(8);
        let bucket_of = |item: usize| item >> shift;
        let buckets = bucket_of(items - 1) + 1;
        let mut bucket_len = vec![0usize; buckets];
        for (_, item) in entries() {
            if item < items {
                if let Some(n) = bucket_len.get_mut(bucket_of(item)) {
                    *n += 1;
                }
            }
        }
        let total: usize = bucket_len.iter().sum();
        let mut bucket_start = Vec::with_capacity(buckets + 1);
        let mut at = 0usize;
        for n in &bucket_len {
            bucket_start.push(at);
            at += n;
        }
        bucket_start.push(at);
        let mut seqs = vec![0u64; total];
        // The id's offset in its bucket (below 2^shift), beside each placed seq.
        let mut offsets = vec![0u32; total];
        let mut next = bucket_start.clone();
        let low = (1usize << shift) - 1;
        for (seq, item) in entries() {
            if item >= items {
                continue;
            }
            let Some(at) = next.get_mut(bucket_of(item)) else {
                continue;
            };
            if let (Some(s), Some(o)) = (seqs.get_mut(*at), offsets.get_mut(*at)) {
                *s = seq;
                *o = u32::try_from(item & low).unwrap_or(u32::MAX);
                *at += 1;
            }
        }
        drop(next);
        let mut starts = Vec::with_capacity(items + 1);
        let mut scratch: Vec<u64> = Vec::new();
        let mut cursor: Vec<usize> = Vec::new();
        for b in 0..buckets {
            let (Some(&lo), Some(&hi)) = (bucket_start.get(b), bucket_start.get(b + 1)) else {
                break;
            };
            let first = b << shift;
            let ids = (items - first).min(1 << shift);
            // Each id's count, then its start (absolute) as a running sum.
            cursor.clear();
            cursor.resize(ids, 0);
            for o in offsets.get(lo..hi).unwrap_or_default() {
                if let Some(n) = cursor.get_mut(*o as usize) {
                    *n += 1;
                }
            }
            let mut at = lo;
            for n in cursor.iter_mut() {
                starts.push(at as u64);
                let count = *n;
                *n = at;
                at += count;
            }
            scratch.clear();
            scratch.extend_from_slice(seqs.get(lo..hi).unwrap_or_default());
            let part = offsets.get(lo..hi).unwrap_or_default();
            for (seq, o) in scratch.iter().zip(part) {
                if let Some(at) = cursor.get_mut(*o as usize) {
                    if let Some(cell) = seqs.get_mut(*at) {
                        *cell = *seq;
                    }
                    *at += 1;
                }
            }
        }
        starts.push(total as u64);
        ItemSeqs { starts, seqs }
    }

    /// The seqs of `item`'s entries as open found them, ascending; empty for an item
    /// created since (or unknown).
    pub(crate) fn of(&self, item: u64) -> &[u64] {
        let Ok(i) = usize::try_from(item) else {
            return &[];
        };
        let range = self
            .starts
            .get(i)
            .zip(self.starts.get(i.wrapping_add(1)))
            .and_then(|(a, b)| Some(usize::try_from(*a).ok()?..usize::try_from(*b).ok()?));
        range.and_then(|r| self.seqs.get(r)).unwrap_or_default()
    }

    /// How many seqs it holds, all items together.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.seqs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What open built before: a list per item, pushed in seq order; then whether `t`
    /// gives each item its list (and nothing past the last id).
    fn same_as_lists(items: usize, pairs: &[(u64, usize)]) -> Result<(), String> {
        let t = ItemSeqs::build(items, || pairs.iter().copied());
        let mut model = vec![Vec::new(); items];
        for (s, i) in pairs {
            if let Some(l) = model.get_mut(*i) {
                l.push(*s);
            }
        }
        for (i, want) in model.iter().enumerate() {
            if t.of(i as u64) != want.as_slice() {
                return Err(format!("item {i}: {:?} != {want:?}", t.of(i as u64)));
            }
        }
        if t.len() != model.iter().map(Vec::len).sum::<usize>() || !t.of(items as u64).is_empty() {
            return Err("seqs beyond the items' lists".into());
        }
        Ok(())
    }

    #[test]
    fn an_empty_build_names_nothing() {
        let t = ItemSeqs::build(0, || [(1u64, 0usize)].into_iter());
        assert_eq!(t.of(0), &[] as &[u64]);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn ids_out_of_range_are_left_out() {
        let t = ItemSeqs::build(2, || [(1u64, 0usize), (2, 5), (3, 1), (4, 0)].into_iter());
        assert_eq!(t.of(0), &[1, 4]);
        assert_eq!(t.of(1), &[3]);
        assert_eq!(t.of(2), &[] as &[u64]);
        assert_eq!(t.of(u64::MAX), &[] as &[u64]);
        assert_eq!(t.len(), 3);
    }

    /// Buckets of 512 ids and a partial last one (70,001 ids: 137 buckets), against a
    /// list per item.
    #[test]
    fn wide_buckets_and_a_partial_last_one_place_every_seq() {
        let items = 70_001usize;
        let mut x = 12_345u64;
        let pairs: Vec<(u64, usize)> = (1..=200_000u64)
            .map(|seq| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (seq, usize::try_from(x >> 33).unwrap_or(0) % (items + 50))
            })
            .collect();
        assert_eq!(same_as_lists(items, &pairs), Ok(()));
    }

    proptest! {
        #[test]
        fn each_item_gets_its_seqs_in_order(
            items in prop_oneof![0usize..40, 200usize..3000],
            gaps in prop::collection::vec((1u64..5, 0usize..3100), 0..600),
        ) {
            let mut seq = 0;
            let pairs: Vec<(u64, usize)> = gaps
                .into_iter()
                .map(|(gap, item)| {
                    seq += gap;
                    (seq, item)
                })
                .collect();
            prop_assert_eq!(same_as_lists(items, &pairs), Ok(()));
        }
    }
}
