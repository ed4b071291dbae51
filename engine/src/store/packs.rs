//! Entry packs: the `K` rows, each holding the timeline entries of one group in seq order.
//!
//! sled's cost is per row, not per byte: on this machine, appending 1M entries of 232 bytes
//! as one row each ran at 47,000 entries/s, and as rows of 16 entries at 225,000/s (the same
//! bytes, the same batches of 1,000 and a flush per batch; BENCHMARKS.md, "Entry packs").
//! Before packs, half of the writer's time on ingest was sled inserting one row per entry.
//!
//! A pack's value, integers big-endian:
//!
//! | bytes | what |
//! |---|---|
//! | 4 | `n`, the number of entries, 1 to [`PACK_ENTRIES`] |
//! | 8 × `n` | their seqs, strictly increasing; the last is the key's |
//! | 4 × `n` | where each entry ends in the body, non-decreasing; the last is the body's length |
//! | the rest | the body: each entry's record (a `TimelineRec` archive), one after another |
//!
//! Invariants:
//! 1. A pack's key is `K` + its last seq, and every seq in a pack is above every seq of a
//!    pack with a smaller key (a group's entries are packed in the order their seqs were
//!    taken, and seqs only grow). So the pack that may hold seq `s` is the first whose key
//!    is at or above `K` + `s`: one sled seek.
//! 2. A pack holds at most [`PACK_ENTRIES`] entries and, unless it is one entry alone, at
//!    most [`PACK_BYTES`] of them, so a leaf of packs stays far below sled's blob threshold
//!    (see `FILE_CHUNK` in `mod.rs`).
//! 3. Seqs need not be consecutive: seen-event rows and rolled-back commands take seqs
//!    too.
//!
//! 4. A pack is stored as written above (codec [`Codec::Raw`], how format 6 wrote every
//!    pack) or compressed as one LZ4 block ([`Codec::Lz4`], since format 7), whichever is
//!    shorter; the first byte of the stored value tells which.
//!
//! Cost of a lookup: one seek (as a `get`), for a compressed pack one decompression (about
//! 1–1.5 µs for a pack of 4 KiB on this machine), a binary search over at most 64 seqs,
//! no copy of the entry (it is a subslice of the pack).
//!
//! Why LZ4: on the load generator's ingest (1.95M entries in 98,588 packs of 20 entries on
//! average, 216 bytes each), LZ4 stores 48 bytes per entry and decompresses a pack in
//! 1.0–1.5 µs; zstd level 1 stores 32 and takes 8–10 µs, which a timeline page pays once
//! per entry (its entries are in different packs). Compressing costs 8 µs per pack (0.4 µs
//! per entry) on the writer (BENCHMARKS.md, "Compressed packs").

use std::ops::Range;

use crate::error::{Error, Result};

use super::{Bytes, MAX_VALUE};

/// The prefix of pack rows.
pub(crate) const PACK: u8 = b'K';

/// Most entries in one pack (a binary search over them is a few comparisons).
pub(crate) const PACK_ENTRIES: usize = 64;

/// Most entry bytes in one pack, unless it holds one entry alone: like a file chunk, so
/// that a leaf of about 20 packs stays near 80 KiB.
pub(crate) const PACK_BYTES: usize = 4 << 10;

/// The longest a pack can be before it is stored: a full header and the longest body (one
/// entry alone is at most [`MAX_VALUE`]). A compressed pack that claims more is damaged,
/// so a damaged length never makes a read allocate more.
const MAX_RAW: usize = 4
    + 12 * PACK_ENTRIES
    + if PACK_BYTES > MAX_VALUE {
        PACK_BYTES
    } else {
        MAX_VALUE
    };

/// How a pack is stored: the first byte of its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Codec {
    /// The pack as laid out above. Its first byte is the top byte of `n` (at most 64), so
    /// always 0: every pack format 6 wrote reads as this codec.
    Raw = 0,
    /// Byte 1, then the laid-out pack's length (`u32`, big-endian), then the laid-out pack
    /// compressed as one LZ4 block (the block format, no frame).
    Lz4 = 1,
}

impl Codec {
    fn of(stored: &[u8]) -> Option<Codec> {
        match stored.first()? {
            0 => Some(Codec::Raw),
            1 => Some(Codec::Lz4),
            _ => None,
        }
    }
}

/// Whether a stored pack is compressed (reading it costs a decompression).
pub(crate) fn compressed(stored: &[u8]) -> bool {
    Codec::of(stored) == Some(Codec::Lz4)
}

/// What is stored for the laid-out pack `raw`: compressed if that is shorter (invariant 4).
/// A pack longer than [`MAX_RAW`] (one entry over `MAX_VALUE`, which the writer logs but
/// writes) stays raw: a read refuses a compressed pack that claims more.
pub(crate) fn store(raw: Vec<u8>) -> Vec<u8> {
    if raw.len() > MAX_RAW {
        return raw;
    }
    let packed = lz4_flex::block::compress(&raw);
    if 5 + packed.len() >= raw.len() {
        return raw;
    }
    let mut out = Vec::with_capacity(5 + packed.len());
    out.push(Codec::Lz4 as u8);
    // At most MAX_RAW: the length always fits.
    out.extend_from_slice(&u32::try_from(raw.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&packed);
    out
}

/// The laid-out pack of a stored value: the value itself, or its decompression.
fn unpack(stored: &Bytes) -> Result<Bytes> {
    match Codec::of(stored) {
        Some(Codec::Raw) => Ok(stored.clone()),
        Some(Codec::Lz4) => {
            let len = be_u32(stored, 1).ok_or_else(|| corrupt("shorter than its length"))? as usize;
            if len > MAX_RAW {
                return Err(corrupt(&format!("{len} bytes once decompressed")));
            }
            let block = stored.get(5..).unwrap_or_default();
            let raw = lz4_flex::block::decompress(block, len)
                .map_err(|e| corrupt(&format!("does not decompress: {e}")))?;
            if raw.len() != len {
                return Err(corrupt("decompresses to another length than it says"));
            }
            Ok(Bytes::from(raw))
        }
        None => Err(corrupt("unknown codec")),
    }
}

/// `K` + the pack's last seq.
pub(crate) fn pack_key(last: u64) -> [u8; 9] {
    super::id_key(PACK, last)
}

/// The last seq of a pack key; `None` if `key` is not `K` and 8 bytes.
pub(crate) fn pack_last(key: &[u8]) -> Option<u64> {
    match key {
        [PACK, rest @ ..] => Some(u64::from_be_bytes(<[u8; 8]>::try_from(rest).ok()?)),
        _ => None,
    }
}

/// Splits `entries` (in seq order) into packs: consecutive runs, each closed before it
/// would pass [`PACK_ENTRIES`] entries or [`PACK_BYTES`] bytes.
pub(crate) fn split(entries: &[(u64, Bytes)]) -> Vec<&[(u64, Bytes)]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, (_, v)) in entries.iter().enumerate() {
        let n = i - start;
        if n > 0 && (n == PACK_ENTRIES || bytes + v.len() > PACK_BYTES) {
            out.extend(entries.get(start..i));
            start = i;
            bytes = 0;
        }
        bytes += v.len();
    }
    if start < entries.len() {
        out.extend(entries.get(start..));
    }
    out
}

/// The value of the pack of `entries` (in seq order, at least one).
pub(crate) fn encode(entries: &[(u64, Bytes)]) -> Vec<u8> {
    let body: usize = entries.iter().map(|(_, v)| v.len()).sum();
    let mut out = Vec::with_capacity(4 + 12 * entries.len() + body);
    // At most PACK_ENTRIES (64): the count always fits.
    out.extend_from_slice(
        &u32::try_from(entries.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for (seq, _) in entries {
        out.extend_from_slice(&seq.to_be_bytes());
    }
    let mut end = 0usize;
    for (_, v) in entries {
        end += v.len();
        // A pack's body is at most PACK_BYTES, or one entry under the store's MAX_VALUE.
        out.extend_from_slice(&u32::try_from(end).unwrap_or(u32::MAX).to_be_bytes());
    }
    for (_, v) in entries {
        out.extend_from_slice(v);
    }
    out
}

/// A pack whose header was checked: every seq and range it answers is within its value.
#[derive(Debug, Clone)]
pub(crate) struct Pack {
    /// As laid out (decompressed): what seqs and ranges are read from. The stored value is
    /// not kept: a cached pack's clone is one reference count (on hot packs, shared by the
    /// reading threads, each is a contended atomic; two of them cost 5 % of a timeline
    /// page's CPU).
    value: Bytes,
    n: usize,
}

fn corrupt(why: &str) -> Error {
    Error::Corrupt(format!("entry pack: {why}"))
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

impl Pack {
    /// Decompresses if need be, and checks the header of the pack stored under `K` + `last`.
    pub(crate) fn parse(last: u64, stored: Bytes) -> Result<Pack> {
        let value = unpack(&stored)?;
        let b: &[u8] = &value;
        let n = be_u32(b, 0).ok_or_else(|| corrupt("shorter than its count"))? as usize;
        if n == 0 || n > PACK_ENTRIES {
            return Err(corrupt(&format!("{n} entries")));
        }
        let body = 4 + 12 * n;
        if b.len() < body {
            return Err(corrupt("shorter than its header"));
        }
        let mut prev_seq = None;
        let mut prev_end = 0u32;
        for i in 0..n {
            let seq = be_u64(b, 4 + 8 * i).ok_or_else(|| corrupt("header"))?;
            let end = be_u32(b, 4 + 8 * n + 4 * i).ok_or_else(|| corrupt("header"))?;
            if prev_seq.is_some_and(|p| p >= seq) {
                return Err(corrupt("seqs out of order"));
            }
            if end < prev_end {
                return Err(corrupt("entry ends out of order"));
            }
            prev_seq = Some(seq);
            prev_end = end;
        }
        if prev_seq != Some(last) {
            return Err(corrupt(&format!("its last seq is not its key's ({last})")));
        }
        if body + prev_end as usize != b.len() {
            return Err(corrupt("its body is not as long as its header says"));
        }
        Ok(Pack { value, n })
    }

    /// How many entries it holds.
    pub(crate) fn len(&self) -> usize {
        self.n
    }

    /// The seq of entry `i` (below [`Pack::len`]).
    pub(crate) fn seq(&self, i: usize) -> u64 {
        be_u64(&self.value, 4 + 8 * i).unwrap_or(u64::MAX)
    }

    /// The first seq it holds.
    pub(crate) fn first(&self) -> u64 {
        self.seq(0)
    }

    /// The last seq it holds (its key's).
    pub(crate) fn last(&self) -> u64 {
        self.seq(self.n - 1)
    }

    /// Where entry `i` is in the pack's laid-out value ([`Pack::value`]).
    pub(crate) fn range(&self, i: usize) -> Range<usize> {
        let end_at = |j: usize| be_u32(&self.value, 4 + 8 * self.n + 4 * j).unwrap_or(0) as usize;
        let body = 4 + 12 * self.n;
        let start = if i == 0 { 0 } else { end_at(i - 1) };
        body + start..body + end_at(i)
    }

    /// The whole pack as laid out (decompressed).
    pub(crate) fn value(&self) -> &Bytes {
        &self.value
    }

    /// Entry `i`'s record, without a copy.
    pub(crate) fn entry(&self, i: usize) -> Bytes {
        let r = self.range(i);
        // `parse` checked every range against the value's length.
        self.value.subslice(r.start, r.len())
    }

    /// The record of entry `seq`, if the pack holds it.
    pub(crate) fn find(&self, seq: u64) -> Option<Bytes> {
        let (mut lo, mut hi) = (0, self.n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.seq(mid).cmp(&seq) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(self.entry(mid)),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entries(lens: &[usize], gaps: &[u64]) -> Vec<(u64, Bytes)> {
        let mut seq = 0;
        lens.iter()
            .zip(gaps.iter().cycle())
            .map(|(len, gap)| {
                seq += gap;
                let v: Vec<u8> = (0..*len)
                    .map(|i| u8::try_from(i % 251).unwrap_or(0) ^ seq.to_le_bytes()[0])
                    .collect();
                (seq, Bytes::from(v))
            })
            .collect()
    }

    proptest! {
        /// Splitting then encoding then parsing gives back every entry, each from the
        /// pack the key order points to, and nothing else.
        #[test]
        fn packs_give_back_what_was_packed(
            lens in proptest::collection::vec(0usize..3000, 1..300),
            gaps in proptest::collection::vec(1u64..4, 1..10),
        ) {
            let all = entries(&lens, &gaps);
            let parts = split(&all);
            prop_assert_eq!(parts.iter().map(|p| p.len()).sum::<usize>(), all.len());
            let mut packs = Vec::new();
            for part in &parts {
                prop_assert!(part.len() <= PACK_ENTRIES);
                let bytes: usize = part.iter().map(|(_, v)| v.len()).sum();
                prop_assert!(part.len() == 1 || bytes <= PACK_BYTES);
                let last = part.last().map(|(s, _)| *s).unwrap_or_default();
                let pack = Pack::parse(last, Bytes::from(store(encode(part)))).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(pack.len(), part.len());
                packs.push((last, pack));
            }
            let max = all.last().map(|(s, _)| *s).unwrap_or_default();
            for seq in 0..=max + 1 {
                // Invariant 1: the first pack whose key is at or above the seq.
                let found = packs.iter().find(|(last, _)| *last >= seq).and_then(|(_, p)| p.find(seq));
                let want = all.iter().find(|(s, _)| *s == seq).map(|(_, v)| v.clone());
                prop_assert_eq!(found, want);
            }
        }

        /// A damaged pack is refused, never read past its end: any cut or any changed byte
        /// of the header.
        #[test]
        fn a_damaged_header_is_refused_or_stays_in_bounds(
            lens in proptest::collection::vec(0usize..200, 1..20),
            at in any::<proptest::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<bool>(),
        ) {
            let all = entries(&lens, &[1]);
            let last = all.last().map(|(s, _)| *s).unwrap_or_default();
            let mut v = encode(&all);
            let i = at.index(4 + 12 * all.len());
            if cut {
                v.truncate(i);
            } else {
                v[i] = byte;
            }
            if let Ok(p) = Pack::parse(last, Bytes::from(v.clone())) {
                for j in 0..p.len() {
                    prop_assert!(p.range(j).end <= v.len());
                    let _ = p.entry(j);
                }
            }
        }

        /// A damaged compressed pack is refused or reads within its own bounds: any cut or
        /// any changed byte of the stored value.
        #[test]
        fn a_damaged_compressed_pack_is_refused_or_stays_in_bounds(
            n in 2usize..64,
            at in any::<proptest::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<bool>(),
        ) {
            let all = alike(n);
            let last = all.last().map(|(s, _)| *s).unwrap_or_default();
            let mut v = store(encode(&all));
            prop_assert_eq!(Codec::of(&v), Some(Codec::Lz4));
            let i = at.index(v.len());
            if cut {
                v.truncate(i);
            } else {
                v[i] = byte;
            }
            if let Ok(p) = Pack::parse(last, Bytes::from(v)) {
                for j in 0..p.len() {
                    prop_assert!(p.range(j).end <= p.value().len());
                    let _ = p.entry(j);
                }
            }
        }
    }

    /// `n` entries as alike as the load generator's: they compress.
    fn alike(n: usize) -> Vec<(u64, Bytes)> {
        (1..=n as u64)
            .map(|seq| {
                let text = format!("call_in from +49 30 1234 {seq:05}, item {}", seq % 7);
                (seq, Bytes::from(text.repeat(3).as_bytes()))
            })
            .collect()
    }

    #[test]
    fn a_pack_is_stored_compressed_only_when_that_is_shorter() {
        let all = alike(20);
        let raw = encode(&all);
        let stored = store(raw.clone());
        assert_eq!(Codec::of(&stored), Some(Codec::Lz4));
        assert!(
            stored.len() * 3 < raw.len(),
            "{} of {}",
            stored.len(),
            raw.len()
        );
        let pack = Pack::parse(20, Bytes::from(stored.clone())).expect("parses");
        assert_eq!(pack.value().as_ref(), &raw[..]);
        for (seq, v) in &all {
            assert_eq!(pack.find(*seq).as_ref(), Some(v));
        }
        // Bytes that do not compress (an xorshift stream) stay as they are.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..300)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()[0]
            })
            .collect();
        let raw = encode(&[(5, Bytes::from(noise))]);
        assert_eq!(store(raw.clone()), raw);
        assert_eq!(Codec::of(&raw), Some(Codec::Raw));
    }

    #[test]
    fn an_entry_over_the_value_limit_is_stored_raw_and_reads_back() {
        let big = vec![(9, Bytes::from(vec![b'a'; MAX_VALUE + 20_000]))];
        let raw = encode(&big);
        assert!(raw.len() > MAX_RAW);
        let stored = store(raw.clone());
        assert_eq!(stored, raw, "too long to compress: a read would refuse it");
        let pack = Pack::parse(9, Bytes::from(stored)).expect("parses");
        assert_eq!(pack.find(9).map(|v| v.len()), Some(MAX_VALUE + 20_000));
    }

    #[test]
    fn a_compressed_pack_that_claims_too_much_or_another_codec_is_refused() {
        let mut v = store(encode(&alike(10)));
        v[1..5].copy_from_slice(&u32::try_from(MAX_RAW + 1).unwrap_or(u32::MAX).to_be_bytes());
        assert!(Pack::parse(10, Bytes::from(v)).is_err());
        let mut v = store(encode(&alike(10)));
        v[0] = 2;
        assert!(Pack::parse(10, Bytes::from(v)).is_err());
        assert!(Pack::parse(10, Bytes::from(&[1u8][..])).is_err());
    }

    #[test]
    fn a_pack_is_refused_under_another_key_or_with_a_longer_body() {
        let all = entries(&[10, 20], &[1]);
        let v = encode(&all);
        assert!(Pack::parse(2, Bytes::from(v.clone())).is_ok());
        assert!(Pack::parse(3, Bytes::from(v.clone())).is_err());
        let mut longer = v;
        longer.push(0);
        assert!(Pack::parse(2, Bytes::from(longer)).is_err());
        assert!(Pack::parse(2, Bytes::from(&[0u8, 0, 0, 0][..])).is_err());
    }

    #[test]
    fn one_big_entry_is_a_pack_alone() {
        let all = entries(&[100, PACK_BYTES + 1, 100], &[1]);
        let parts = split(&all);
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [1, 1, 1]);
    }
}
