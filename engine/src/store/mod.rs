//! The only module that names sled: the data directory, its lock, the format version,
//! the key layout and atomic batches.
//!
//! Everything lives in sled's default tree, one key prefix per kind of record, so that one
//! `apply_batch` writes a record, its meta row and anything else of one group of commands
//! atomically. Integers in keys are big-endian, so byte order is numeric order.
//!
//! | key                         | value                                   |
//! |-----------------------------|-----------------------------------------|
//! | `F`                         | format version, `u32` big-endian        |
//! | `M`                         | [`Meta`](crate::records::Meta): id counters, focus clock, change seq |
//! | `U` + user id `u64`         | [`UserRec`](crate::records::UserRec)    |
//! | `G` + group id `u64`        | [`GroupRec`](crate::records::GroupRec)  |
//! | `D` + module key (UTF-8)    | [`ModuleRec`](crate::records::ModuleRec)|
//! | `B` + board id `u64`        | [`BoardRec`](crate::records::BoardRec) (columns inside) |
//! | `I` + item id `u64`         | [`ItemRec`](crate::records::ItemRec) (order key, contacts, focus state inside) |
//! | `A` + activity id `u64`     | [`ActivityRec`](crate::records::ActivityRec) (deadline, reminders, which fired) |
//! | `T` + due bucket `u64`* + activity id `u64` | [`TimersRec`](crate::records::TimersRec): the activity's pending timers and their exact due times (* the earliest due, sign bit flipped, `>> 26`: see [`timer_key`]) |
//! | `K` + last entry seq `u64`  | a pack of timeline entries of one group (`packs.rs`): each a [`TimelineRec`](crate::records::TimelineRec), a timeline and feed entry, about a record (its `item`) or not (status, message, file); a focus it caused rides in it ([`FocusRedo`](crate::records::FocusRedo)) |
//! | `E` + entry seq `u64`       | one [`TimelineRec`](crate::records::TimelineRec), as formats up to 5 wrote every entry (read, never written) |
//! | `S` + entry seq `u64`       | [`SeenRec`](crate::records::SeenRec): event-id hashes one ingest accepted |
//! | `W` + user id + item id     | [`FollowRec`](crate::records::FollowRec): reasons, sticky unfollow |
//! | `R` + rule id `u64`         | [`RuleRec`](crate::records::RuleRec): an auto-follow rule |
//! | `J` + job id `u64`          | [`JobRec`](crate::records::JobRec): an `apply_to_existing` job and its progress |
//! | `Y` + file id `u64`         | [`FileRec`](crate::records::FileRec): a group file's metadata |
//! | `Z` + file id `u64` + chunk `u32` | the file's bytes, raw, in chunks of [`FILE_CHUNK`] (4 KiB, so that no leaf of file bytes is a sled blob: see `sync.rs`) |
//! | `P`                         | [`PrefsRec`](crate::records::PrefsRec): modules switched off in feeds |
//!
//! Values are rkyv archives in the unaligned little-endian format, so they can be read in
//! place from any `IVec` whatever its alignment. `docs/format.md` mirrors this table.

mod packs;
mod sync;
pub(crate) use packs::{Pack, PACK};
pub(crate) use sync::sync_dir;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use parking_lot::{Mutex, RwLock};

use crate::error::{io, Error, Result};
use sync::Durability;

/// The on-disk format this build reads and writes.
///
/// History: 2 — `E` entries with focus redo, one `T` row per activity; 3 — group files in
/// `Z` + id + chunk rows of [`FILE_CHUNK`] bytes and `S` rows of at most [`SEEN_PER_ROW`]
/// hashes (version 2 kept a file as one value, which sled wrote to an unsynced blob file);
/// 4 — a rule criterion's operator and a job's state are rkyv enums (were a string and a
/// `u8`); 5 — boards' counter mode; 6 — new entries in packs of a group's entries (`K`
/// rows, `packs.rs`) instead of one `E` row each; 7 — packs stored compressed (LZ4) when
/// that is shorter. Older formats from [`OLDEST_FORMAT`] on
/// are upgraded in place on open, one version at a time (`upgrade.rs`).
pub(crate) const FORMAT_VERSION: u32 = 7;

/// The oldest format `upgrade.rs` can bring up to [`FORMAT_VERSION`].
pub(crate) const OLDEST_FORMAT: u32 = 2;

/// The bytes of one `Z` row. sled writes a log message over a quarter of its 512 KiB
/// segment (128 KiB) to a blob file of its own (`sync.rs` says why we avoid them), and a
/// message is one value or a whole leaf node of up to about 20 values (sled splits leaves
/// above 16 entries and merges those below 4 into a neighbour). 4 KiB chunks keep a leaf of
/// file bytes near 80 KiB. An 8 MiB file is 2,048 rows, written in one batch.
pub(crate) const FILE_CHUNK: usize = 4 << 10;

/// A value as sled holds it: reference counted, cheap to clone, shared with sled's cache.
pub(crate) type Bytes = sled::IVec;

pub(crate) const FORMAT: &[u8] = b"F";
pub(crate) const META: &[u8] = b"M";
pub(crate) const USER: u8 = b'U';
pub(crate) const GROUP: u8 = b'G';
pub(crate) const MODULE: u8 = b'D';
pub(crate) const BOARD: u8 = b'B';
pub(crate) const ITEM: u8 = b'I';
pub(crate) const ACTIVITY: u8 = b'A';
pub(crate) const TIMER: u8 = b'T';
pub(crate) const SEEN: u8 = b'S';
pub(crate) const FEED: u8 = b'E';
pub(crate) const FOLLOW: u8 = b'W';
pub(crate) const BOARD_FOLLOW: u8 = b'V';
pub(crate) const RULE: u8 = b'R';
pub(crate) const JOB: u8 = b'J';
pub(crate) const FILE_META: u8 = b'Y';
pub(crate) const FILE_DATA: u8 = b'Z';
pub(crate) const PREFS: &[u8] = b"P";

/// `prefix` + two big-endian ids: the keys of the rows that join two things.
fn pair_key(prefix: u8, a: u64, b: u64) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[..9].copy_from_slice(&id_key(prefix, a));
    k[9..].copy_from_slice(&b.to_be_bytes());
    k
}

/// The two ids of a [`pair_key`] (a follow, a board follow), from its bytes 1..17.
pub(crate) fn key_pair(k: &[u8]) -> Option<(u64, u64)> {
    Some((
        key_id(k)?,
        u64::from_be_bytes(k.get(9..17)?.try_into().ok()?),
    ))
}

/// `W` + user id + item id: one follow.
pub(crate) fn follow_key(user: u64, item: u64) -> [u8; 17] {
    pair_key(FOLLOW, user, item)
}

/// `V` + board id + user id: one follow of a whole board.
pub(crate) fn board_follow_key(board: u64, user: u64) -> [u8; 17] {
    pair_key(BOARD_FOLLOW, board, user)
}

/// `E` + entry seq: a feed and timeline entry as formats up to 5 wrote each, in a row of
/// its own. Format 6 writes packs (`packs.rs`: `K` + the pack's last seq, also an append
/// at the right edge of its range, sled's cheapest write); an item's timeline is the list
/// of its seqs kept in memory.
fn entry_key(seq: u64) -> [u8; 9] {
    id_key(FEED, seq)
}

/// Due times in a `T` key are coarsened to buckets of 2^26 ms (about 18.6 hours): within a
/// bucket rows are ordered by activity id, so a new activity's row lands at the right
/// edge of its bucket (an append, sled's cheapest write) instead of at a random place
/// among all pending timers. The exact due times are in the row.
pub(crate) const TIMER_BUCKET_BITS: u32 = 26;

/// `T` + due bucket (`u64`: the due time with its sign bit flipped, so byte order is time
/// order, shifted right by [`TIMER_BUCKET_BITS`]) + activity id: one row per activity with
/// pending timers, in the bucket of its earliest.
pub(crate) fn timer_key(due: i64, activity: u64) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = TIMER;
    k[1..9]
        .copy_from_slice(&((due.cast_unsigned() ^ (1 << 63)) >> TIMER_BUCKET_BITS).to_be_bytes());
    k[9..].copy_from_slice(&activity.to_be_bytes());
    k
}

/// The activity id of a `T` key.
pub(crate) fn timer_key_activity(k: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(k.get(9..17)?.try_into().ok()?))
}

/// `Z` + file id + chunk index: one chunk of a group file's bytes.
pub(crate) fn file_chunk_key(file: u64, chunk: u32) -> [u8; 13] {
    let mut k = [0u8; 13];
    k[..9].copy_from_slice(&id_key(FILE_DATA, file));
    k[9..].copy_from_slice(&chunk.to_be_bytes());
    k
}

/// The id of a `prefix` + big-endian id key ([`id_key`]), from its bytes 1..9.
pub(crate) fn key_id(k: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(k.get(1..9)?.try_into().ok()?))
}

/// `prefix` + big-endian `id`.
pub(crate) fn id_key(prefix: u8, id: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = prefix;
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// A key for a person: the kind of record, its id(s), and the raw key in hex
/// (`item 42 (49 000000000000002a)`).
pub(crate) fn describe_key(k: &[u8]) -> String {
    let kind = match k.first().copied() {
        Some(USER) => "user",
        Some(GROUP) => "group",
        Some(MODULE) => "module",
        Some(BOARD) => "board",
        Some(ITEM) => "item",
        Some(ACTIVITY) => "activity",
        Some(TIMER) => "timer row",
        Some(SEEN) => "seen-events row",
        Some(FEED) => "entry",
        Some(PACK) => "entry pack",
        Some(FOLLOW) => "follow",
        Some(BOARD_FOLLOW) => "board follow",
        Some(RULE) => "rule",
        Some(JOB) => "job",
        Some(FILE_META) => "file",
        Some(FILE_DATA) => "file chunk",
        Some(b'P') => "preferences",
        Some(b'M') => "meta",
        _ => "record",
    };
    let ids: Vec<String> = k
        .get(1..)
        .unwrap_or_default()
        .chunks(8)
        .filter(|c| c.len() == 8)
        .filter_map(|c| <[u8; 8]>::try_from(c).ok())
        .map(|c| u64::from_be_bytes(c).to_string())
        .collect();
    let hex = hex(k);
    if ids.is_empty() || k.first() == Some(&MODULE) {
        format!("{kind} (key {hex})")
    } else {
        format!("{kind} {} (key {hex})", ids.join("/"))
    }
}

/// A key in lowercase hex: how a person (and a salvaged record's file name) sees one.
pub(crate) fn hex(k: &[u8]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

/// `prefix` + raw bytes.
pub(crate) fn str_key(prefix: u8, s: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + s.len());
    k.push(prefix);
    k.extend_from_slice(s.as_bytes());
    k
}

/// A sled iterator as the store's: an injected read fault (if armed) comes first.
fn fault_first(inner: sled::Iter) -> impl Iterator<Item = Result<(Bytes, Bytes)>> {
    injected(failpoint::READ)
        .err()
        .into_iter()
        .map(Err)
        .chain(inner.map(|r| r.map_err(storage)))
}

/// The most packs [`Store`] remembers (about 16 MiB): past it, the oldest are forgotten,
/// and a read of their entries seeks (learning them again only if they are newer than the
/// oldest one remembered: an older one would be forgotten at once, under the write lock).
const KNOWN_PACKS: usize = 1 << 19;

/// The memory a store may use for caches, in bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caches {
    /// sled's page cache (it holds packs as stored, compressed ones compressed).
    pub(crate) sled_bytes: u64,
    /// Decompressed packs ([`Store::pack`]).
    pub(crate) pack_bytes: u64,
}

/// Decompressed packs by last seq, weighed by their laid-out bytes. quick_cache's policy
/// (S3-FIFO) keeps the packs read again (a wall's newest, the first timeline pages of busy
/// items) against one-off reads, which do not evict them.
type PackCache = quick_cache::sync::Cache<u64, Pack, PackWeight>;

#[derive(Clone)]
struct PackWeight;

impl quick_cache::Weighter<u64, Pack> for PackWeight {
    fn weight(&self, _last: &u64, pack: &Pack) -> u64 {
        pack.value().len() as u64
    }
}

/// Reads entries by seq, keeping the last pack read ([`Store::entries`]).
pub(crate) struct EntryReader<'a> {
    store: &'a Store,
    pack: Option<Pack>,
}

impl EntryReader<'_> {
    /// The record of entry `seq`, as [`Store::entry`].
    pub(crate) fn read(&mut self, seq: u64) -> Result<Option<Bytes>> {
        injected(failpoint::READ)?;
        if let Some(p) = &self.pack {
            // Packs never change once written, and none other holds a seq in its span.
            if (p.first()..=p.last()).contains(&seq) {
                return Ok(p.find(seq));
            }
        }
        // The first known pack at or after `seq`: if it starts at or before `seq`, it is the
        // only pack that can hold it (invariant 1 of `packs.rs`: spans are disjoint and in
        // key order), whatever packs are not known. A `get` by its key (or the cache)
        // instead of a seek: sled's range iterator clones the whole leaf it lands in,
        // 15–17 % of a timeline page's CPU (BENCHMARKS.md, "Compressed packs"). A known
        // pack that starts after `seq` is not read: it cannot hold it.
        // Under the same guard: the oldest remembered pack, when the map is full (a pack
        // older than it is not learned, see below).
        let (known, floor) = {
            let k = self.store.known_packs.read();
            let floor = (k.len() >= KNOWN_PACKS)
                .then(|| k.keys().next().copied())
                .flatten();
            (k.range(seq..).next().map(|(l, f)| (*l, *f)), floor)
        };
        if let Some((last, first)) = known {
            if first <= seq {
                // The pack's own first seq, not only the remembered one, decides.
                if let Some(pack) = self.store.pack_at(last)?.filter(|p| p.first() <= seq) {
                    let found = pack.find(seq);
                    self.pack = Some(pack);
                    return Ok(found);
                }
            }
        }
        let from = packs::pack_key(seq);
        if let Some(kv) = self.store.db.range(from..=packs::pack_key(u64::MAX)).next() {
            let (k, v) = kv.map_err(storage)?;
            let last = packs::pack_last(&k)
                .ok_or_else(|| Error::Corrupt(format!("not a pack key: {}", hex(&k))))?;
            let pack = self.store.pack(last, v)?;
            if known.map(|(l, _)| l) != Some(last) && floor.is_none_or(|f| last > f) {
                self.store.learn([(last, pack.first())]);
            }
            let found = pack.find(seq);
            let held = pack.first() <= seq;
            self.pack = Some(pack);
            if held {
                return Ok(found);
            }
        }
        if self.store.legacy_entries {
            return self.store.db.get(entry_key(seq)).map_err(storage);
        }
        Ok(None)
    }
}

/// A row read by [`Store::entry_rows`].
pub(crate) enum EntryRow {
    /// An entry in a row of its own (written before format 6).
    Legacy { key: Bytes, seq: u64, value: Bytes },
    /// A pack, whose entries in `[lo, hi)` the scan asked for.
    Packed {
        key: Bytes,
        /// As stored (compressed or not): what a salvage sets aside.
        stored: Bytes,
        pack: Pack,
        lo: u64,
        hi: u64,
    },
    /// A pack whose key or header is damaged, and why.
    Damaged {
        key: Bytes,
        value: Bytes,
        reason: String,
    },
}

impl EntryRow {
    /// The row's key and value as stored (what a salvage sets aside).
    pub(crate) fn row(&self) -> (&Bytes, &Bytes) {
        match self {
            EntryRow::Legacy { key, value, .. } | EntryRow::Damaged { key, value, .. } => {
                (key, value)
            }
            EntryRow::Packed { key, stored, .. } => (key, stored),
        }
    }

    /// The bytes the ranges of [`EntryRow::seqs`] are in: a pack decompressed.
    pub(crate) fn records(&self) -> &Bytes {
        match self {
            EntryRow::Legacy { value, .. } | EntryRow::Damaged { value, .. } => value,
            EntryRow::Packed { pack, .. } => pack.value(),
        }
    }

    /// Every entry of the row, as (seq, where in [`EntryRow::records`]), the ones outside the
    /// scan's range included: a pack is checked whole before any entry of it is filed.
    pub(crate) fn seqs(&self) -> Vec<(u64, std::ops::Range<usize>)> {
        match self {
            EntryRow::Legacy { seq, value, .. } => vec![(*seq, 0..value.len())],
            EntryRow::Damaged { .. } => Vec::new(),
            EntryRow::Packed { pack, .. } => (0..pack.len())
                .map(|i| (pack.seq(i), pack.range(i)))
                .collect(),
        }
    }

    /// Whether the scan asked for entry `seq` of this row.
    pub(crate) fn wants(&self, seq: u64) -> bool {
        match self {
            EntryRow::Packed { lo, hi, .. } => (*lo..*hi).contains(&seq),
            EntryRow::Legacy { .. } | EntryRow::Damaged { .. } => true,
        }
    }

    /// Whether this scan reports the row if it is damaged: a pack that straddles two
    /// scans' ranges is reported by the one its key (its last seq) is in, and only
    /// skipped by the other, so a salvage lists it once.
    pub(crate) fn reported_here(&self) -> bool {
        match self {
            EntryRow::Packed { pack, hi, .. } => pack.last() < *hi,
            EntryRow::Legacy { .. } | EntryRow::Damaged { .. } => true,
        }
    }
}

/// What a running backup (`backup.rs`) needs from the writes: a copy of every row applied
/// between two group boundaries, in order. Moves Off → Starting → On → Stopping → Closed →
/// Off; the writer turns Starting into On and Stopping into Closed at the start of a group
/// ([`Store::tap_boundary`]), so the copy holds whole groups only.
enum Tap {
    Off,
    Starting,
    On(Tapped),
    Stopping(Tapped),
    Closed(Tapped),
}

/// The rows applied while a tap was on.
#[derive(Default)]
pub(crate) struct Tapped {
    pub ops: Vec<(Bytes, Option<Bytes>)>,
    bytes: usize,
    /// More than [`TAP_LIMIT`] bytes were written: the copy is incomplete.
    pub overflowed: bool,
}

/// The most bytes of rows a backup holds in memory while it copies the store (the writes
/// of about a minute of heavy traffic); past it the backup fails instead of growing.
const TAP_LIMIT: usize = 512 << 20;

/// The open data directory.
pub(crate) struct Store {
    db: sled::Db,
    tap: Mutex<Tap>,
    /// What sled leaves unsynced, synced after each flush (see `sync.rs`).
    durability: Mutex<Durability>,
    dir: PathBuf,
    /// Whether any entry is in an `E` row of its own (written before format 6): if none
    /// is, a lookup of an entry that is in no pack ends there.
    legacy_entries: bool,
    /// Compressed packs, decompressed, by last seq (a pack never changes once written).
    packs: PackCache,
    /// The spans of packs this process wrote or found ([`EntryReader::read`]), by last seq:
    /// their first seq. A hint: any subset of the packs is correct. About 30 bytes per
    /// pack in a B-tree (a pack holds up to 64 entries when a group writes many, one when a
    /// group is a single comment), at most [`KNOWN_PACKS`] of them: the newest are kept.
    known_packs: RwLock<BTreeMap<u64, u64>>,
    // Held for the life of the store; the OS releases it if the process dies.
    _lock: File,
}

/// One atomic write: puts and deletes in order (a later one for the same key wins).
///
/// Kept as a list, not as a `sled::Batch`, so a command's rows can be taken back
/// ([`Batch::truncate`] to a [`Batch::len`] taken before it): a failed command leaves no row
/// in its group. The `sled::Batch` is built on apply.
#[derive(Default)]
pub(crate) struct Batch {
    ops: Vec<(Bytes, Option<Bytes>)>,
    /// Timeline entries, in seq order, packed into `K` rows on apply ([`packs`]).
    entries: Vec<(u64, Bytes)>,
}

/// A savepoint of a [`Batch`]: what [`Batch::truncate`] goes back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchMark {
    ops: usize,
    entries: usize,
}

impl Batch {
    pub(crate) fn put(&mut self, key: &[u8], value: Bytes) {
        self.ops.push((Bytes::from(key), Some(value)));
    }

    /// Timeline entry `seq` (its `TimelineRec` archive). Entries must come in seq order;
    /// they are written in packs of the batch's entries (`packs.rs`), each pack a row.
    pub(crate) fn put_entry(&mut self, seq: u64, value: Bytes) {
        debug_assert!(self.entries.last().is_none_or(|(s, _)| *s < seq));
        self.entries.push((seq, value));
    }

    pub(crate) fn delete(&mut self, key: &[u8]) {
        self.ops.push((Bytes::from(key), None));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.entries.is_empty()
    }

    /// How many puts, deletes and entries so far.
    pub(crate) fn len(&self) -> usize {
        self.ops.len() + self.entries.len()
    }

    /// A savepoint for [`Batch::truncate`].
    pub(crate) fn mark(&self) -> BatchMark {
        BatchMark {
            ops: self.ops.len(),
            entries: self.entries.len(),
        }
    }

    /// Sets the format version row to `version` (the last row of an upgrade's batch).
    pub(crate) fn put_format(&mut self, version: u32) {
        self.put(FORMAT, Bytes::from(&version.to_be_bytes()[..]));
    }

    /// Whether anything was added since `mark`.
    pub(crate) fn grew_since(&self, mark: BatchMark) -> bool {
        self.ops.len() > mark.ops || self.entries.len() > mark.entries
    }

    /// Takes back every put, delete and entry after `mark`.
    pub(crate) fn truncate(&mut self, mark: BatchMark) {
        self.ops.truncate(mark.ops);
        self.entries.truncate(mark.entries);
    }

    /// Turns the entries into pack rows, at the end of the ops (no op of a batch names an
    /// entry's key, so their order among the ops does not matter).
    /// Returns the packs' spans, as (last, first) seqs.
    fn seal(&mut self) -> Vec<(u64, u64)> {
        let entries = std::mem::take(&mut self.entries);
        let mut spans = Vec::new();
        for part in packs::split(&entries) {
            if let (Some((first, _)), Some((last, _))) = (part.first(), part.last()) {
                self.ops.push((
                    Bytes::from(&packs::pack_key(*last)[..]),
                    Some(Bytes::from(packs::store(packs::encode(part)))),
                ));
                spans.push((*last, *first));
            }
        }
        spans
    }

    /// The sled batch, and the largest value in it.
    fn into_sled(self) -> (sled::Batch, usize) {
        let mut largest = 0;
        let mut inner = sled::Batch::default();
        for (key, value) in self.ops {
            match value {
                Some(v) => {
                    largest = largest.max(v.len());
                    inner.insert(key, v);
                }
                None => inner.remove(key),
            }
        }
        (inner, largest)
    }

    /// A group file's bytes as `Z` chunk rows (chunk 0 even for an empty file).
    pub(crate) fn put_file(&mut self, file: u64, bytes: &[u8]) {
        let mut chunks = bytes.chunks(FILE_CHUNK).peekable();
        if chunks.peek().is_none() {
            self.put(&file_chunk_key(file, 0), Bytes::from(&[][..]));
        }
        for (i, chunk) in chunks.enumerate() {
            // At most 8 MiB / 4 KiB = 2,048 chunks: the index always fits.
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            self.put(&file_chunk_key(file, i), Bytes::from(chunk));
        }
    }
}

/// sled's directory inside the data directory.
const SLED_DIR: &str = "db";

/// The largest value a row may have: alone, it stays well under sled's blob threshold
/// (128 KiB). Inputs are bounded to stay under it: texts 20,000 characters (80 KB at most in
/// UTF-8), an item's fields 32 KiB (a `record_updated` entry carries old and new), files in
/// [`FILE_CHUNK`]s, seen-event hashes in rows of [`SEEN_PER_ROW`]. A bigger value is logged
/// as a bug when written.
pub(crate) const MAX_VALUE: usize = 96 << 10;

/// Event-id hashes (16 bytes each) per `S` row: 4 KiB, like a file chunk.
pub(crate) const SEEN_PER_ROW: usize = 256;

/// What a store created with compression compresses with: zstd at this level (sled's
/// `compression_factor`, 1–22), in sled's log and snapshots. Level 1 is the fastest, and
/// the CPU is what compression costs here (`Config::with_compression`).
const ZSTD_LEVEL: i32 = 1;

/// The data directory's record of whether its store compresses: `on` or `off`, written
/// and synced before sled first writes (so a store with data always has it).
const COMPRESSION_FILE: &str = "compression";

/// Whether the store in data directory `dir` (sled's directory `sled_dir`) compresses.
/// sled refuses to open a store with the other setting than it was created with, and a
/// wrong setting given for a store whose own record sled lost would have sled write it
/// down and then fail on every page, for good. So, in order: the data directory's own
/// record; sled's (its `conf` file, a line `use_compression: true|false`); for a store
/// with data and neither, off (it was created before compression existed: every store
/// since has the first); for a new store, `new_store`, recorded before sled writes.
fn compression_of(dir: &Path, sled_dir: &Path, new_store: bool) -> Result<bool> {
    let ours = dir.join(COMPRESSION_FILE);
    let recorded = match std::fs::read(&ours) {
        Ok(bytes) => match bytes.trim_ascii() {
            b"on" => Some(true),
            b"off" => Some(false),
            _ => {
                return Err(Error::Corrupt(format!(
                    "{}: expected `on` or `off`",
                    ours.display()
                )))
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(&ours)(e)),
    };
    let on = match recorded {
        Some(on) => on,
        None => {
            let on = match sled_setting(sled_dir)? {
                Some(on) => on,
                None if has_log(sled_dir)? => false,
                None => new_store,
            };
            // Whole or absent after a crash: a part would stop every later open.
            sync::write_atomically(dir, COMPRESSION_FILE, if on { b"on\n" } else { b"off\n" })?;
            on
        }
    };
    if on != new_store {
        tracing::info!(
            compressed = on,
            "the store keeps the compression it was created with"
        );
    }
    Ok(on)
}

/// What sled's `conf` says of compression, if it says.
fn sled_setting(sled_dir: &Path) -> Result<Option<bool>> {
    let conf = sled_dir.join("conf");
    match std::fs::read(&conf) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .find_map(|l| l.strip_prefix("use_compression: "))
            .and_then(|v| match v.trim() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&conf)(e)),
    }
}

/// Whether sled's directory holds a log with data (or a snapshot): not a new store.
fn has_log(path: &Path) -> Result<bool> {
    let entries = match std::fs::read_dir(path) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io(path)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(path))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let len = entry.metadata().map_err(io(&entry.path()))?.len();
        if (name == "db" && len > 0) || name.starts_with("snap.") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Opens sled at `path`, waiting out the file lock a previous instance in this process may
/// still hold for a few milliseconds while its background threads let go.
fn open_sled(path: &Path, cache_bytes: u64, compress: bool) -> Result<sled::Db> {
    let started = std::time::Instant::now();
    loop {
        let opened = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .use_compression(compress)
            .compression_factor(ZSTD_LEVEL)
            .open();
        match opened {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && started.elapsed() < std::time::Duration::from_secs(5) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => return other.map_err(storage),
        }
    }
}

fn storage(e: sled::Error) -> Error {
    Error::Storage(crate::error::StorageError::new(e))
}

/// The storage failpoints: every way the store touches the disk can be made to fail from a
/// test (sled's own rule), with the error a real disk gives. Armed through the `fail`
/// crate in builds with the `failpoints` feature (`fail::cfg("store::flush",
/// "return(enospc)")`); in any other build [`injected`] is `Ok(())` and costs nothing.
pub(crate) mod failpoint {
    /// `apply_batch`: a group's rows reaching sled (and any single-row write of open).
    pub(crate) const APPLY: &str = "store::apply";
    /// `flush`: sled's log write and fsync, and the syncs of `sync.rs`.
    pub(crate) const FLUSH: &str = "store::flush";
    /// Every read of a record: `get`, scans, ranges, a file's bytes.
    pub(crate) const READ: &str = "store::read";
}

/// `Err` if a test armed failpoint `point`: `return(enospc)` fails as a full disk does,
/// `return` (or any other argument) as an I/O error.
#[cfg_attr(not(feature = "failpoints"), allow(clippy::unnecessary_wraps))]
fn injected(_point: &'static str) -> Result<()> {
    fail::fail_point!(_point, |arg: Option<String>| {
        let (kind, what) = match arg.as_deref() {
            Some("enospc") => (std::io::ErrorKind::StorageFull, "no space left on device"),
            _ => (std::io::ErrorKind::Other, "input/output error"),
        };
        let e = std::io::Error::new(kind, format!("{what} (injected by failpoint {_point})"));
        Err(Error::Storage(crate::error::StorageError::new(e)))
    });
    Ok(())
}

/// The lock of a data directory (`<data>/LOCK`, an advisory file lock): one process at a
/// time opens a directory.
pub(crate) struct DirLock {
    dir: PathBuf,
    file: File,
}

impl DirLock {
    /// Creates `dir` if needed and takes its lock; `Error::Locked` if another process holds
    /// it.
    pub(crate) fn take(dir: &Path) -> Result<DirLock> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let lock_path = dir.join("LOCK");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock {
                dir: dir.to_path_buf(),
                file,
            }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked(dir.to_path_buf())),
            Err(std::fs::TryLockError::Error(e)) => Err(io(&lock_path)(e)),
        }
    }
}

impl Store {
    /// Opens (creating if needed) the data directory: takes its lock, opens sled and checks
    /// or writes the format version. `compress_new`: whether a new store compresses what
    /// it writes (an existing one keeps what it was created with).
    /// `caches`: sled's page cache and the cache of decompressed packs.
    pub(crate) fn open(dir: &Path, caches: Caches, compress_new: bool) -> Result<Store> {
        Store::open_locked(DirLock::take(dir)?, caches, compress_new)
    }

    /// [`Store::open`] on a directory whose lock the caller took (to read files of the
    /// directory, such as the checkpoint, while sled opens).
    pub(crate) fn open_locked(lock: DirLock, caches: Caches, compress_new: bool) -> Result<Store> {
        let DirLock { dir, file: lock } = lock;
        let dir = dir.as_path();
        let sled_dir = dir.join(SLED_DIR);
        let compress = compression_of(dir, &sled_dir, compress_new)?;
        let db = open_sled(&sled_dir, caches.sled_bytes, compress)?;
        let found = match db.get(FORMAT).map_err(storage)? {
            Some(v) => <[u8; 4]>::try_from(v.as_ref())
                .map(u32::from_be_bytes)
                .unwrap_or(u32::MAX),
            None if db.first().map_err(storage)?.is_some() => 0,
            None => {
                db.insert(FORMAT, &FORMAT_VERSION.to_be_bytes())
                    .map_err(storage)?;
                FORMAT_VERSION
            }
        };
        // An older format opens for `upgrade.rs` to bring it up, before anything reads it.
        if !(OLDEST_FORMAT..=FORMAT_VERSION).contains(&found) {
            return Err(Error::UnknownFormat {
                found,
                expected: FORMAT_VERSION,
            });
        }
        db.flush().map_err(storage)?;
        // Syncs what sled wrote without a sync, this open's writes included.
        let durability = Durability::open(dir, &sled_dir)?;
        let legacy_entries = db.scan_prefix([FEED]).next().is_some();
        Ok(Store {
            db,
            tap: Mutex::new(Tap::Off),
            durability: Mutex::new(durability),
            dir: dir.to_path_buf(),
            legacy_entries,
            packs: PackCache::with_weighter(
                // quick_cache's estimate of the item count: packs of about 4 KiB.
                usize::try_from(caches.pack_bytes >> 12).unwrap_or(usize::MAX),
                caches.pack_bytes,
                PackWeight,
            ),
            known_packs: RwLock::new(BTreeMap::new()),
            _lock: lock,
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The format version the store's records are in (the `F` row).
    pub(crate) fn format(&self) -> Result<u32> {
        let v = self
            .get(FORMAT)?
            .ok_or_else(|| Error::Corrupt("no format row".into()))?;
        <[u8; 4]>::try_from(v.as_ref())
            .map(u32::from_be_bytes)
            .map_err(|_| Error::Corrupt(format!("format row {v:?}")))
    }

    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        injected(failpoint::READ)?;
        self.db.get(key).map_err(storage)
    }

    /// The seen-event (`S`) rows with seqs from `lo` on, below `hi` if given, in seq order.
    pub(crate) fn seen_rows(
        &self,
        lo: u64,
        hi: Option<u64>,
    ) -> impl Iterator<Item = Result<(Bytes, Bytes)>> + '_ {
        let to = hi.map_or_else(|| vec![SEEN + 1], |h| id_key(SEEN, h).to_vec());
        fault_first(self.db.range(id_key(SEEN, lo).to_vec()..to))
    }

    /// The newest seen-event row below seq `hi`: its seq and value.
    pub(crate) fn last_seen_row(&self, hi: u64) -> Result<Option<(u64, Bytes)>> {
        injected(failpoint::READ)?;
        let last = self
            .db
            .range(id_key(SEEN, 0)..id_key(SEEN, hi))
            .next_back()
            .transpose()
            .map_err(storage)?;
        Ok(last.and_then(|(k, v)| key_id(&k).map(|seq| (seq, v))))
    }

    /// The record of timeline entry `seq`: from its pack (`packs.rs`), or from its own `E`
    /// row in a store written before format 6. A damaged pack is [`Error::Corrupt`].
    pub(crate) fn entry(&self, seq: u64) -> Result<Option<Bytes>> {
        self.entries().read(seq)
    }

    /// A reader of entries that keeps the last pack it read: a page of consecutive entries
    /// (a wall's newest) is then a seek per pack, not per entry.
    pub(crate) fn entries(&self) -> EntryReader<'_> {
        EntryReader {
            store: self,
            pack: None,
        }
    }

    /// The pack stored under `K` + `last` as `stored`, checked: a compressed one from the
    /// cache, or decompressed and kept there. Decompressing a pack of 4 KiB costs about
    /// 1.2 µs here, and a timeline page of 50 entries reads 50 packs: without the cache,
    /// timeline pages of long histories ran at 0.74× the rate of format 6's raw packs
    /// (BENCHMARKS.md, "Compressed packs").
    fn pack(&self, last: u64, stored: Bytes) -> Result<Pack> {
        if packs::compressed(&stored) {
            if let Some(p) = self.packs.get(&last) {
                return Ok(p);
            }
        }
        self.parse_pack(last, stored)
    }

    /// The pack under `K` + `last`: from the cache, else a `get`; `None` if no such row.
    fn pack_at(&self, last: u64) -> Result<Option<Pack>> {
        if let Some(p) = self.packs.get(&last) {
            return Ok(Some(p));
        }
        match self.db.get(packs::pack_key(last)).map_err(storage)? {
            Some(stored) => self.parse_pack(last, stored).map(Some),
            None => Ok(None),
        }
    }

    /// Checks a stored pack (decompressing it if need be); a compressed one is kept in
    /// the cache.
    fn parse_pack(&self, last: u64, stored: Bytes) -> Result<Pack> {
        let compressed = packs::compressed(&stored);
        let pack = Pack::parse(last, stored)?;
        if compressed {
            self.packs.insert(last, pack.clone());
        }
        Ok(pack)
    }

    /// Remembers packs by their spans, (last, first) seqs, forgetting the oldest past
    /// [`KNOWN_PACKS`].
    fn learn(&self, spans: impl IntoIterator<Item = (u64, u64)>) {
        let mut known = self.known_packs.write();
        known.extend(spans);
        while known.len() > KNOWN_PACKS {
            known.pop_first();
        }
    }

    /// The pack cache's hits and misses since open, and the bytes it holds.
    pub(crate) fn pack_cache(&self) -> (u64, u64, u64) {
        (self.packs.hits(), self.packs.misses(), self.packs.weight())
    }

    /// The rows holding the entries with seqs in `[lo, hi)`, in seq order: the `E` rows of
    /// entries written before format 6, then the packs. The first and last pack may hold
    /// entries outside the range too ([`EntryRow::seqs`] leaves them out); a damaged pack
    /// is yielded (as [`EntryRow::Damaged`]) only by the range its key is in, so two scans
    /// that split the seqs report it once.
    pub(crate) fn entry_rows(
        &self,
        lo: u64,
        hi: u64,
    ) -> impl Iterator<Item = Result<EntryRow>> + '_ {
        let legacy = self
            .legacy_entries
            .then(|| self.range(&entry_key(lo), &entry_key(hi)))
            .into_iter()
            .flatten()
            .map(|kv| {
                let (k, v) = kv?;
                let seq = key_id(&k).unwrap_or(u64::MAX);
                Ok(EntryRow::Legacy {
                    key: k,
                    seq,
                    value: v,
                })
            });
        enum Step {
            Row(Result<EntryRow>),
            Skip,
            Stop,
        }
        let mut done = false;
        let packed = self
            .range(&packs::pack_key(lo), &[PACK + 1])
            .map(move |kv| {
                if done {
                    return Step::Stop;
                }
                let (k, v) = match kv {
                    Ok(kv) => kv,
                    Err(e) => return Step::Row(Err(e)),
                };
                // Byte order: a row at or past `K` + `hi` is the next range's to report.
                let ours = k.as_ref() < &packs::pack_key(hi)[..];
                let parsed = packs::pack_last(&k)
                    .ok_or_else(|| Error::Corrupt("not a pack key".into()))
                    .and_then(|last| Ok((last, Pack::parse(last, v.clone())?)));
                match parsed {
                    // A pack starting at or past `hi` is the next range's.
                    Ok((_, p)) if p.first() >= hi => Step::Stop,
                    Ok((last, pack)) => {
                        done = last >= hi;
                        Step::Row(Ok(EntryRow::Packed {
                            key: k,
                            stored: v,
                            pack,
                            lo,
                            hi,
                        }))
                    }
                    Err(error) if ours => Step::Row(Ok(EntryRow::Damaged {
                        key: k,
                        value: v,
                        // The reason alone: a damaged record's report says "corrupt" once.
                        reason: match error {
                            Error::Corrupt(reason) => reason,
                            other => other.to_string(),
                        },
                    })),
                    Err(_) => Step::Skip,
                }
            })
            .take_while(|s| !matches!(s, Step::Stop))
            .filter_map(|s| match s {
                Step::Row(r) => Some(r),
                Step::Skip | Step::Stop => None,
            });
        legacy.chain(packed)
    }

    /// Every `(key, value)` whose key starts with `prefix`, in key order.
    pub(crate) fn scan(&self, prefix: u8) -> impl Iterator<Item = Result<(Bytes, Bytes)>> + '_ {
        fault_first(self.db.scan_prefix([prefix]))
    }

    /// Values with keys in `[lo, hi)`, in key order.
    pub(crate) fn range(
        &self,
        lo: &[u8],
        hi: &[u8],
    ) -> impl Iterator<Item = Result<(Bytes, Bytes)>> + '_ {
        fault_first(self.db.range(lo.to_vec()..hi.to_vec()))
    }

    /// A group file's bytes (`size` of them, as its metadata says): its `Z` chunks in
    /// order, or `None` if it has none.
    pub(crate) fn file_bytes(&self, file: u64, size: usize) -> Result<Option<Vec<u8>>> {
        injected(failpoint::READ)?;
        let mut out: Option<Vec<u8>> = None;
        for kv in self.db.scan_prefix(id_key(FILE_DATA, file)) {
            let (_, chunk) = kv.map_err(storage)?;
            out.get_or_insert_with(|| Vec::with_capacity(size))
                .extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Applies `batch` atomically. Not yet durable: see [`Store::flush`].
    pub(crate) fn apply(&self, mut batch: Batch) -> Result<()> {
        injected(failpoint::APPLY)?;
        let spans = batch.seal();
        if let Tap::On(t) = &mut *self.tap.lock() {
            if !t.overflowed {
                t.bytes += batch
                    .ops
                    .iter()
                    .map(|(k, v)| k.len() + v.as_ref().map_or(0, |v| v.len()))
                    .sum::<usize>();
                t.overflowed = t.bytes > TAP_LIMIT;
                t.ops.extend(batch.ops.iter().cloned());
            }
        }
        // A pack row deleted (a salvage sets one aside) is forgotten by the readers' map
        // and cache, which `EntryReader` trusts before sled.
        let gone: Vec<u64> = batch
            .ops
            .iter()
            .filter(|(_, v)| v.is_none())
            .filter_map(|(k, _)| packs::pack_last(k))
            .collect();
        let (inner, largest) = batch.into_sled();
        if largest > MAX_VALUE {
            // A bound on some input is missing. The write still goes through (the blob it
            // makes is synced by `sync.rs`), but it is a bug: say so loudly.
            tracing::error!(
                bytes = largest,
                max = MAX_VALUE,
                "a value over the store's limit: sled will write it as a blob"
            );
        }
        self.db.apply_batch(inner).map_err(storage)?;
        if !spans.is_empty() {
            self.learn(spans);
        }
        if !gone.is_empty() {
            let mut known = self.known_packs.write();
            for last in gone {
                known.remove(&last);
                self.packs.remove(&last);
            }
        }
        Ok(())
    }

    /// Makes everything applied so far durable, power cut included: sled's flush, then
    /// the syncs sled leaves out (`sync.rs`). One flush serves a whole group.
    pub(crate) fn flush(&self) -> Result<()> {
        let mut durability = self.durability.lock();
        injected(failpoint::FLUSH)?;
        self.db.flush().map_err(storage)?;
        durability.sync()
    }

    /// Every row, in key order. Not a snapshot: see `backup.rs` for how a tap makes the
    /// copy consistent.
    pub(crate) fn scan_all(&self) -> impl Iterator<Item = Result<(Bytes, Bytes)>> + '_ {
        fault_first(self.db.iter())
    }

    /// Asks for a tap from the next group on; `false` if one is already running.
    pub(crate) fn tap_start(&self) -> bool {
        let mut tap = self.tap.lock();
        if matches!(*tap, Tap::Off) {
            *tap = Tap::Starting;
            true
        } else {
            false
        }
    }

    /// Whether the tap is on: rows applied now are kept.
    pub(crate) fn tap_is_on(&self) -> bool {
        matches!(*self.tap.lock(), Tap::On(_))
    }

    /// Asks for the tap to close at the next group's start.
    pub(crate) fn tap_stop(&self) {
        let mut tap = self.tap.lock();
        if let Tap::On(t) = std::mem::replace(&mut *tap, Tap::Off) {
            *tap = Tap::Stopping(t);
        }
    }

    /// The writer, before the first command of each group.
    pub(crate) fn tap_boundary(&self) {
        let mut tap = self.tap.lock();
        match std::mem::replace(&mut *tap, Tap::Off) {
            Tap::Starting => *tap = Tap::On(Tapped::default()),
            Tap::Stopping(t) => *tap = Tap::Closed(t),
            other => *tap = other,
        }
    }

    /// The rows of a closed tap (and the tap off); `None` if it is not closed.
    pub(crate) fn tap_take(&self) -> Option<Tapped> {
        let mut tap = self.tap.lock();
        match std::mem::replace(&mut *tap, Tap::Off) {
            Tap::Closed(t) => Some(t),
            other => {
                *tap = other;
                None
            }
        }
    }

    /// Turns the tap off, whatever its state (a backup that failed).
    pub(crate) fn tap_cancel(&self) {
        *self.tap.lock() = Tap::Off;
    }

    /// Bytes sled uses on disk.
    pub(crate) fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> Store {
        let caches = Caches {
            sled_bytes: 8 << 20,
            pack_bytes: 8 << 20,
        };
        Store::open(dir, caches, false).expect("open")
    }

    /// Entries with gaps between their seqs (seqs no entry has, as seen-event rows take),
    /// some alike (their packs compress) and some not, in batches of several packs.
    fn write(store: &Store) -> std::collections::BTreeMap<u64, Vec<u8>> {
        let mut all = std::collections::BTreeMap::new();
        let mut seq = 3u64;
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for batch_no in 0..6 {
            let mut batch = Batch::default();
            for i in 0..90u64 {
                seq += if i % 4 == 0 { 3 } else { 1 };
                let v: Vec<u8> = if batch_no % 2 == 0 {
                    format!("entry {seq}: a call about the renewal, {i}")
                        .repeat(4)
                        .into_bytes()
                } else {
                    (0..150)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            x.to_le_bytes()[0]
                        })
                        .collect()
                };
                batch.put_entry(seq, Bytes::from(v.clone()));
                all.insert(seq, v);
            }
            store.apply(batch).expect("apply");
        }
        store.flush().expect("flush");
        all
    }

    /// Every seq from 0 to past the last, with a fresh reader each and with one reader for
    /// all, descending (a timeline) and ascending: each entry as written, nothing else.
    fn check(store: &Store, all: &std::collections::BTreeMap<u64, Vec<u8>>) {
        let max = all.keys().last().copied().unwrap_or(0) + 2;
        let mut shared = store.entries();
        for seq in (0..=max).rev().chain(0..=max) {
            let want = all.get(&seq).map(Vec::as_slice);
            let fresh = store.entry(seq).expect("read");
            assert_eq!(fresh.as_deref(), want, "seq {seq}, fresh reader");
            let kept = shared.read(seq).expect("read");
            assert_eq!(kept.as_deref(), want, "seq {seq}, kept reader");
        }
    }

    #[test]
    fn the_store_remembers_the_newest_packs_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path());
        store.learn((0..KNOWN_PACKS as u64 + 10).map(|s| (s, s)));
        store.learn([(3, 3), (5, 5)]);
        let known = store.known_packs.read();
        assert_eq!(known.len(), KNOWN_PACKS);
        assert_eq!(known.keys().next(), Some(&10), "the oldest forgotten");
        assert_eq!(known.keys().last(), Some(&(KNOWN_PACKS as u64 + 9)));
    }

    #[test]
    fn a_deleted_pack_is_forgotten_by_the_known_packs_and_the_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path());
        let mut all = write(&store);
        check(&store, &all);
        let last = *store.known_packs.read().keys().nth(3).expect("a pack");
        let mut batch = Batch::default();
        batch.delete(&packs::pack_key(last));
        store.apply(batch).expect("apply");
        assert!(!store.known_packs.read().contains_key(&last));
        // Its entries (those after the pack before it, up to its last) are gone; cached,
        // remembered or not, no read finds them.
        let prev = store
            .known_packs
            .read()
            .range(..last)
            .last()
            .map_or(0, |(l, _)| *l);
        all.retain(|seq, _| !(prev < *seq && *seq <= last));
        check(&store, &all);
    }

    #[test]
    fn entries_read_the_same_through_known_packs_the_cache_and_seeks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path());
        let all = write(&store);
        let (_, _, cached) = store.pack_cache();
        assert_eq!(cached, 0, "nothing read yet");
        // Every pack the writer wrote is known: reads are gets, then cache hits.
        let written = store.known_packs.read().len();
        assert!(written >= 6 * 2, "{written} packs");
        check(&store, &all);
        check(&store, &all);
        let (hits, _, cached) = store.pack_cache();
        assert!(hits > 0 && cached > 0, "compressed packs cached");
        drop(store);

        // Reopened: nothing known, every first read of a pack is a seek that learns it.
        let store = open(dir.path());
        assert!(store.known_packs.read().is_empty());
        check(&store, &all);
        assert_eq!(
            store.known_packs.read().len(),
            written,
            "each pack learnt once"
        );
        check(&store, &all);

        // A partial hint (every other pack known, the cache off) reads the same.
        drop(store);
        let caches = Caches {
            sled_bytes: 8 << 20,
            pack_bytes: 0,
        };
        let store = Store::open(dir.path(), caches, false).expect("open");
        let spans: Vec<(u64, u64)> = store
            .scan(PACK)
            .map(|kv| {
                let (k, v) = kv.expect("read");
                let last = packs::pack_last(&k).expect("a pack key");
                (last, Pack::parse(last, v).expect("a pack").first())
            })
            .collect();
        // And spans of no pack: seqs of no entry, seqs inside packs, past the end.
        let max = all.keys().last().copied().unwrap_or(0);
        let gaps = (0..max)
            .filter(|s| spans.iter().all(|(l, _)| l != s))
            .step_by(3)
            .map(|s| (s, s.saturating_sub(5)));
        store.learn(
            spans
                .iter()
                .step_by(2)
                .copied()
                .chain(gaps)
                .chain([(max + 1, 0), (max + 9, max + 9)]),
        );
        check(&store, &all);
    }
}
