//! The checkpoint: what the entries make (each entry's meta, the walls, each record's last
//! touch by an entry, each item's newest focus redo) and the seen-event hashes of the `S`
//! rows, as of a cut, in files beside sled, so that open reads only the entries and `S`
//! rows written after the cut instead of the whole history.
//!
//! Why only these: on a busy store they are nine rows in ten, and they are the only records
//! never rewritten or removed (docs/format.md), so what they make below a seq is a pure
//! function of rows that never change. (The `S` rows are read from the store when a segment
//! is written, not copied from memory: memory's seen set does not know their seqs.) Items,
//! activities, follows and the rest are rewritten in place and are still read whole on
//! open (a million items take about 1.2 s of the scans on the benchmark machine;
//! BENCHMARKS.md). Open cost with a checkpoint is therefore the item scan plus reading
//! these files plus the rows after the cut; what still grows with history is the memory
//! the files fill (the entry index, wall and timeline lists, sorted hashes).
//!
//! Invariants:
//! 1. A cut is taken by the writer at the end of a committed group, with no group running
//!    and no storage failure seen: `upto` is `Meta::next_entry` then, so every entry below
//!    it is durable and filed in memory, and none at or above it is.
//! 2. Segments cover seq ranges `[lo, hi)` inside one span of 2^20 seqs, contiguous from 0
//!    to the head's `upto`. Walls and the entry index are append-only by seq, so a segment
//!    copied from memory after its cut (the part of each list below `hi`) is what it was
//!    at the cut: the writer is not stopped while a checkpoint is written, and a segment
//!    is copied in pieces, each under a read guard of its own. Only the module numbering
//!    is not stable (a rollback reloads the state, and its table in another order), so
//!    each piece is read with the table of its own guard.
//! 3. A full segment is never rewritten; the last, partial one is written again (under a
//!    new name, with its new `hi`) by the next checkpoint. Cost per checkpoint: the entries
//!    since the last one plus at most one span, plus the redos.
//! 4. Each file is written to `*.tmp`, synced and renamed; the segments are renamed in and
//!    the directory synced before the head that names them is. A crash at any point leaves
//!    the previous head and every segment it names, or no head. Files no head names are
//!    removed by the next checkpoint.
//! 5. Open trusts a checkpoint only if every file's CRC-32 and rkyv layout check, the
//!    checkpoint and store format versions match (or are 6 and 7: `same_state`, history
//!    now: only format 7 writes versions 3 and 4), the segments tile `[0, upto)`, the segments'
//!    event hashes add up to the head's count, `upto ≤ next_entry`,
//!    the head's `next_item` ≤ the store's, and the anchor row (the newest entry or `S`
//!    row below the cut) is this store's. Otherwise it logs why, removes it (a head that
//!    cannot be read at all, or of another version, is left for the next checkpoint to
//!    replace) and rebuilds from the rows, as without one. The files are read ([`Early`]) while sled opens, under the
//!    directory's lock; what needs the store is checked after ([`check`]).
//! 6. The redos in a head are those of the entries below `upto`, copied at the cut: a later
//!    redo of the same item (maybe never made durable) cannot hide the older one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, RwLock};
use rkyv::{Archive, Deserialize, Serialize};

use crate::error::{io, Error, Result};
use crate::ids::{GroupId, ItemId, UserId};
use crate::item_view::Focus;
use crate::order::OrderKey;
use crate::records::{self, FocusReason};
use crate::seen::Seen;
use crate::state::State;
use crate::store::Store;
use crate::walls::{EntryCell, FeedState, Redo, Redos};

/// The checkpoint's directory, inside the data directory.
pub(crate) const DIR: &str = "checkpoint";
const HEAD: &str = "head";
const TMP: &str = ".tmp";
/// Version of the files' layout; a head of another version is ignored (version 3 added
/// each segment's seen-event hashes, made the head's `seen` their count, and anchors on an
/// `S` row when one is the newest row below the cut; version 4 keeps the entry index as
/// 16-byte cells, one per seq, instead of 32-byte records naming their seq).
pub(crate) const VERSION: u32 = 4;
/// By default a segment spans at most 2^20 seqs: its archive stays far below rkyv's 2 GiB
/// offsets (≈ 60 MB at one audience member per entry), and rewriting the partial one is
/// cheap. `Config::with_checkpoint_span_bits` sets it (tests use tiny spans).
pub(crate) const SPAN_BITS: u32 = 20;
/// The checkpoint files' failpoint: a write stops half-way, as under `kill -9`.
#[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
pub(crate) const FAILPOINT: &str = "checkpoint::write";

/// `<data>/checkpoint/head`: the cut and the segments that hold what it covers.
#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub(crate) struct HeadRec {
    pub version: u32,
    /// The store's format version (`F`) when it was written.
    pub format: u32,
    /// Entries with a seq below this are covered.
    pub upto: u64,
    pub segments: Vec<SegmentRef>,
    /// The newest row below `upto` of those the segments hold something of (an entry or,
    /// since version 3, an `S` row) and the CRC-32 of its stored bytes: ties the
    /// checkpoint to this store's history (a store restored or rebuilt under the same
    /// directory, or one whose unflushed rows a checkpoint saw, does not match).
    pub anchor: Option<Anchor>,
    /// How many event hashes the segments hold, all told (checked on open). In version 2
    /// it was the seen set's size, a hint; the field stayed where it was so that an older
    /// head is still read far enough to be ignored for its version, not as damaged.
    pub seen: u64,
    /// `Meta::next_item` at the cut: the items the segments name are below it. Open reads
    /// the checkpoint while sled opens, before it knows the store's own counter, and checks
    /// this against it after.
    pub next_item: u64,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub seq: u64,
    pub crc: u32,
}

/// `<data>/checkpoint/redos-<upto>`: per item, its newest focus redo among the entries
/// below `upto`. Apart from the head, so that the head is small enough to read twice (open
/// learns the cut from it before its scans start).
#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub(crate) struct RedosRec {
    pub upto: u64,
    pub redos: Vec<RedoRec>,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentRef {
    pub lo: u64,
    pub hi: u64,
}

/// A segment the newest head names, as open and the checkpoint thread know it: its range
/// and how many seen-event hashes it holds (the head's `seen` is their sum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Named {
    pub range: SegmentRef,
    pub seen: u64,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub(crate) struct RedoRec {
    pub item: u64,
    pub seq: u64,
    pub order: Vec<u8>,
    pub focused_at: i64,
    pub focus_reason: FocusReason,
    pub attention: u32,
}

/// `<data>/checkpoint/seg-<lo>-<hi>`: what the entries with seqs in `[lo, hi)` make.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default)]
pub(crate) struct SegmentRec {
    pub lo: u64,
    pub hi: u64,
    /// The module keys its entries name, by the index a cell's module field holds (0 is "",
    /// for entries about no record). Per segment, because memory's own table may be
    /// renumbered (a rollback rebuilds it in key order) while full segments never are.
    pub modules: Vec<String>,
    /// The entry index from `lo` on, a cell per seq (`walls::EntryCell`'s two words, with
    /// the module index into `modules`): at most `hi - lo`; seqs past the end have no
    /// entry. Since version 4 (32 B per entry with its seq before).
    pub cells: Vec<CellRec>,
    pub walls: Vec<WallRec>,
    pub public: Vec<u64>,
    pub groups: Vec<WallRec>,
    pub roles: Vec<RoleWallRec>,
    /// Per record, the latest `at` of its entries in the range.
    pub touched: Vec<(u64, i64)>,
    /// The event hashes of the `S` rows with seqs in the range, sorted: open merges the
    /// segments' runs into the seen set's sorted part (`seen.rs`).
    pub seen: Vec<u128>,
}

/// One seq's cell of the entry index: `walls::EntryCell`'s words.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CellRec {
    /// The item id in the low 48 bits, the module index in the high 16.
    pub item_module: u64,
    /// `at` in the low 56 bits (two's complement), the kind's code in the high 8 (0: no
    /// entry; both words are then 0).
    pub at_kind: u64,
}

impl CellRec {
    /// No entry at this seq.
    const EMPTY: CellRec = CellRec {
        item_module: 0,
        at_kind: 0,
    };
}

/// A user's or group's wall: ascending seqs.
#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub(crate) struct WallRec {
    pub owner: u64,
    pub seqs: Vec<u64>,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub(crate) struct RoleWallRec {
    pub role: String,
    pub seqs: Vec<u64>,
}

/// What [`crate::Engine::checkpoint`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// Entries with a seq below this are covered.
    pub upto: u64,
    /// Segment files the head names.
    pub segments: usize,
    /// Bytes written by this checkpoint (segments rewritten or added, and the head).
    pub bytes_written: u64,
}

/// A cut (invariant 1): taken by the writer, written by the checkpoint thread. Only
/// plain copies are made on the writer (the redo map's clone: no allocation per item,
/// the order keys are inline); the records are built on the checkpoint thread.
pub(crate) struct Cut {
    upto: u64,
    /// `Meta::next_item` at the cut: every item an entry below `upto` names is below it.
    next_item: u64,
    redos: Redos,
    replies: Vec<oneshot::Sender<Result<CheckpointInfo>>>,
}

impl Cut {
    fn of(st: &State) -> Cut {
        Cut {
            upto: st.meta.next_entry,
            next_item: st.meta.next_item,
            redos: st.feed.redos.clone(),
            replies: Vec::new(),
        }
    }
}

fn redo_records(redos: &Redos) -> Vec<RedoRec> {
    let mut out: Vec<RedoRec> = redos
        .iter()
        .map(|(item, r)| RedoRec {
            item: *item,
            seq: r.seq,
            order: r.key.to_vec(),
            focused_at: r.focus.focused_at,
            focus_reason: r.focus.focus_reason,
            attention: r.focus.attention,
        })
        .collect();
    out.sort_unstable_by_key(|r| r.item);
    out
}

/// When cuts are taken, and the hand-over to the checkpoint thread.
pub(crate) struct Control {
    /// log2 of a segment's span of seqs.
    span_bits: u32,
    /// A cut is due once this many seqs were handed out since the last one; 0: only forced
    /// cuts and the one at close.
    every: u64,
    last_cut: AtomicU64,
    force: AtomicBool,
    waiters: Mutex<Vec<oneshot::Sender<Result<CheckpointInfo>>>>,
    to_thread: Mutex<Option<Sender<Cut>>>,
    /// `upto` of the newest head on disk (0: none).
    written: AtomicU64,
    /// `upto` of the checkpoint open used (0: none).
    loaded: u64,
}

impl Control {
    /// `loaded`: the `upto` of the checkpoint open used (0 if none).
    pub(crate) fn new(every: u64, span_bits: u32, loaded: u64, to_thread: Sender<Cut>) -> Control {
        Control {
            span_bits: span_bits.clamp(1, 40),
            every,
            last_cut: AtomicU64::new(loaded),
            force: AtomicBool::new(false),
            waiters: Mutex::new(Vec::new()),
            to_thread: Mutex::new(Some(to_thread)),
            written: AtomicU64::new(loaded),
            loaded,
        }
    }

    /// `upto` of the checkpoint open used (0: it rebuilt from the records).
    pub(crate) fn loaded(&self) -> u64 {
        self.loaded
    }

    /// `upto` of the newest checkpoint on disk.
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Asks for a cut at the end of the next group; `reply` gets the written checkpoint.
    pub(crate) fn request(&self, reply: oneshot::Sender<Result<CheckpointInfo>>) {
        self.waiters.lock().push(reply);
        self.force.store(true, Ordering::Release);
    }

    /// Whether an asked-for cut has not been taken yet.
    pub(crate) fn force_pending(&self) -> bool {
        self.force.load(Ordering::Acquire)
    }

    /// Asks for a cut at the end of the next group, with nobody waiting for it.
    pub(crate) fn force(&self) {
        self.force.store(true, Ordering::Release);
    }

    /// Called by the writer at the end of each committed group (invariant 1): takes a cut
    /// if one is due or asked for. A due cut is skipped while the thread is still writing
    /// the previous one; an asked-for cut waits for it.
    pub(crate) fn after_group(&self, state: &RwLock<State>) {
        let forced = self.force.swap(false, Ordering::AcqRel);
        if !forced {
            let next = state.read().meta.next_entry;
            let last = self.last_cut.load(Ordering::Relaxed);
            if self.every == 0 || next.saturating_sub(last) < self.every {
                return;
            }
        }
        let guard = self.to_thread.lock();
        let Some(tx) = guard.as_ref() else { return };
        if tx.is_full() {
            // The thread is still on an earlier cut: no copy now; an asked-for cut is
            // taken at the end of a later group (the writer never waits for the thread).
            if forced {
                self.force.store(true, Ordering::Release);
            }
            return;
        }
        let mut cut = Cut::of(&state.read());
        let upto = cut.upto;
        if forced {
            cut.replies = std::mem::take(&mut *self.waiters.lock());
        }
        // Only this thread sends, and the channel had room: this does not block.
        if tx.try_send(cut).is_ok() {
            self.last_cut.store(upto, Ordering::Relaxed);
        }
    }

    /// At close, with the writer stopped: the last cut, then the thread is told to end.
    pub(crate) fn close(&self, state: &RwLock<State>, take_cut: bool) {
        let Some(tx) = self.to_thread.lock().take() else {
            return;
        };
        let mut cut = Cut::of(&state.read());
        cut.replies = std::mem::take(&mut *self.waiters.lock());
        if take_cut {
            let _ = tx.send(cut);
        } else {
            for r in cut.replies {
                let _ = r.send(Err(Error::ShuttingDown));
            }
        }
    }
}

/// The checkpoint thread: writes each cut it is handed. A failed checkpoint is logged and
/// changes nothing the engine relies on: the previous one (or none) stays in force.
pub(crate) fn thread_loop(
    store: &Store,
    format: u32,
    state: &RwLock<State>,
    control: &Control,
    cuts: &Receiver<Cut>,
    mut segments: Vec<Named>,
) {
    for mut cut in cuts {
        let replies = std::mem::take(&mut cut.replies);
        let started = std::time::Instant::now();
        let done = write(store, format, control.span_bits, state, cut, &mut segments);
        match &done {
            Ok(info) => {
                control.written.store(info.upto, Ordering::Relaxed);
                tracing::info!(
                    upto = info.upto,
                    segments = info.segments,
                    bytes = info.bytes_written,
                    ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "checkpoint written"
                );
            }
            Err(e) => tracing::warn!(error = %e, "checkpoint not written; the previous one stays"),
        }
        for r in replies {
            let answer = match &done {
                Ok(info) => Ok(*info),
                Err(e) => Err(Error::Checkpoint(e.to_string())),
            };
            let _ = r.send(answer);
        }
    }
}

fn segment_name(s: SegmentRef) -> String {
    format!("seg-{:016x}-{:016x}", s.lo, s.hi)
}

fn redos_name(upto: u64) -> String {
    format!("redos-{upto:016x}")
}

/// Writes the checkpoint of `cut` (invariants 2–4); `segments` is the previous head's list
/// and becomes the new one.
fn write(
    store: &Store,
    format: u32,
    span_bits: u32,
    state: &RwLock<State>,
    cut: Cut,
    segments: &mut Vec<Named>,
) -> Result<CheckpointInfo> {
    let dir = &store.dir().join(DIR);
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        crate::store::sync_dir(store.dir())?;
    }
    // No entry since the last checkpoint: nothing it covers changed (redos come only
    // with entries), so it stands.
    if segments.last().map(|s| s.range.hi) == Some(cut.upto) && dir.join(HEAD).exists() {
        return Ok(CheckpointInfo {
            upto: cut.upto,
            segments: segments.len(),
            bytes_written: 0,
        });
    }
    // The full segments below the cut, contiguous from 0, are kept as they are.
    let mut kept: Vec<Named> = Vec::new();
    for named in segments.iter() {
        let (s, next) = (named.range, kept.last().map_or(0, |k: &Named| k.range.hi));
        if s.lo != next || s.hi != s.lo + (1 << span_bits) || s.hi > cut.upto {
            break;
        }
        kept.push(*named);
    }
    let mut bytes = 0u64;
    let mut lo = kept.last().map_or(0, |s| s.range.hi);
    while lo < cut.upto {
        let hi = ((lo >> span_bits) + 1)
            .checked_shl(span_bits)
            .unwrap_or(u64::MAX)
            .min(cut.upto);
        let mut rec = segment(state, lo, hi);
        rec.seen = seen_hashes(store, lo, hi)?;
        let b = records::encode(&rec)?;
        let s = SegmentRef { lo, hi };
        bytes += write_file(dir, &segment_name(s), &b)?;
        kept.push(Named {
            range: s,
            seen: rec.seen.len() as u64,
        });
        lo = hi;
    }
    let redos = RedosRec {
        upto: cut.upto,
        redos: redo_records(&cut.redos),
    };
    bytes += write_file(dir, &redos_name(cut.upto), &records::encode(&redos)?)?;
    crate::store::sync_dir(dir)?;
    // One read guard for both: a second `read()` while the first is held deadlocks as soon
    // as the writer waits between them (parking_lot's lock lets a waiting writer go first).
    // The store is read with no guard held: a read from disk under one held the writer.
    let anchor_seq = anchor_seq(&state.read(), cut.upto);
    let anchor = anchor_at(store, anchor_seq, cut.upto)?;
    let head = HeadRec {
        version: VERSION,
        format,
        upto: cut.upto,
        segments: kept.iter().map(|s| s.range).collect(),
        anchor,
        seen: kept.iter().map(|s| s.seen).sum(),
        next_item: cut.next_item,
    };
    bytes += write_file(dir, HEAD, &records::encode(&head)?)?;
    crate::store::sync_dir(dir)?;
    *segments = kept;
    // Files no head names: the partial segment this one replaced, leftovers of a crash.
    let named: std::collections::HashSet<String> = segments
        .iter()
        .map(|s| segment_name(s.range))
        .chain([HEAD.to_string(), redos_name(cut.upto)])
        .collect();
    for e in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !named.contains(&name) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(CheckpointInfo {
        upto: cut.upto,
        segments: segments.len(),
        bytes_written: bytes,
    })
}

/// The seq of the newest entry below `upto`, if any: the anchor's (`HeadRec::anchor`).
fn anchor_seq(st: &State, upto: u64) -> Option<u64> {
    let end = usize::try_from(upto)
        .unwrap_or(usize::MAX)
        .min(st.feed.entries.len());
    let entries = &st.feed.entries;
    let last = (0..end)
        .rev()
        .find(|&i| entries.get(i).is_some_and(|c| !c.is_empty()));
    last.and_then(|i| u64::try_from(i).ok())
}

/// The hashes of the `S` rows with seqs in `[lo, hi)`, sorted. Read from the store, with
/// no guard of the state held: like entries, `S` rows are never rewritten, and every one
/// below the cut is durable (invariant 1).
fn seen_hashes(store: &Store, lo: u64, hi: u64) -> Result<Vec<u128>> {
    let mut out = Vec::new();
    for kv in store.seen_rows(lo, Some(hi)) {
        let (_, v) = kv?;
        let row = records::access::<records::ArchivedSeenRec>(&v)?;
        out.extend(row.hashes.iter().map(|h| h.to_native()));
    }
    out.sort_unstable();
    Ok(out)
}

/// The anchor: the newer of entry `entry` (the newest below `upto`, from memory) and the
/// newest `S` row below `upto`, with the CRC-32 of its stored bytes, read from the store
/// (neither is ever rewritten, so no guard of the state is needed). An ingest writes its
/// `S` row after its entries, and a batch of unmatched events writes no entry at all, so
/// the newest rows below a cut are often `S` rows.
fn anchor_at(store: &Store, entry: Option<u64>, upto: u64) -> Result<Option<Anchor>> {
    let seen = store.last_seen_row(upto)?;
    let (seq, bytes) = match (entry, seen) {
        (e, Some((seq, v))) if e.is_none_or(|e| seq > e) => (seq, v),
        (Some(seq), _) => {
            let b = store.entry(seq)?.ok_or_else(|| {
                Error::Corrupt(format!("entry {seq} below the cut is not stored"))
            })?;
            (seq, b)
        }
        (None, _) => return Ok(None),
    };
    Ok(Some(Anchor {
        seq,
        crc: crc32fast::hash(&bytes),
    }))
}

/// The stored bytes of row `seq`, an entry or an `S` row (they share the seqs).
fn anchored_bytes(store: &Store, seq: u64) -> Result<Option<crate::store::Bytes>> {
    match store.entry(seq)? {
        Some(b) => Ok(Some(b)),
        None => store.get(&crate::store::id_key(crate::store::SEEN, seq)),
    }
}

/// Seqs of the entry index copied under one read guard of the state ([`segment`]).
const COPY_SEQS: usize = 1 << 14;

/// Wall owners copied under one read guard of the state ([`segment`]).
const COPY_OWNERS: usize = 256;

/// What the entries with seqs in `[lo, hi)` made, copied from memory (invariant 2).
///
/// Copied in pieces, each under a read guard of its own: a whole span under one guard
/// held the writer for 331 ms (a 2^20-seq span of a 1M-item store), and a bump's p99 went
/// from 3.5 ms to 240–306 ms in every run that took a checkpoint. Invariant 2 makes the
/// pieces one copy: below `hi`, the entry index and every wall list are what they were at
/// the cut, whenever they are read.
fn segment(state: &RwLock<State>, lo: u64, hi: u64) -> SegmentRec {
    segment_with(state, lo, hi, (COPY_SEQS, COPY_OWNERS), &mut || {})
}

/// [`segment`], copying `pieces.0` seqs and `pieces.1` owners under each guard, and
/// calling `between` between two pieces of the entry index (tests change the state there,
/// as a writer can).
fn segment_with(
    state: &RwLock<State>,
    lo: u64,
    hi: u64,
    pieces: (usize, usize),
    between: &mut dyn FnMut(),
) -> SegmentRec {
    let (copy_seqs, copy_owners) = (pieces.0.max(1), pieces.1.max(1));
    let (a, b) = (
        usize::try_from(lo).unwrap_or(usize::MAX),
        usize::try_from(hi).unwrap_or(usize::MAX),
    );
    // Under each guard only a copy of the piece (memcpy speed) and of the module table its
    // indexes refer to; what they make is built after, with no guard: building it under
    // them held the writer 5 ms per 16k seqs. The table is the piece's own because a
    // rollback (`Tx::rebuild`) loads a new state whose table may be numbered otherwise.
    // Sized once, before any guard: a vector that grows under one copies itself there.
    let len = b.min(state.read().feed.entries.len()).saturating_sub(a);
    let mut raw: Vec<EntryCell> = Vec::with_capacity(len);
    // (where the piece starts in `raw`, the module table under its guard)
    let mut tables: Vec<(usize, Vec<String>)> = Vec::new();
    let mut at = a;
    while at < b {
        if at > a {
            between();
        }
        let end = at.saturating_add(copy_seqs).min(b);
        let st = state.read();
        if at >= st.feed.entries.len() {
            break;
        }
        tables.push((raw.len(), st.feed.module_keys.clone()));
        // A piece cut short by the end of the index is the last: the seqs of `raw` are
        // numbered by their place in it, which a gap would shift.
        let short = st.feed.entries.copy_into(at, end, &mut raw) < end - at;
        drop(st);
        at = end;
        if short {
            break;
        }
    }
    let mut cells = Vec::with_capacity(raw.len());
    // Item ids from the store, hashed with the engine's keyed fast hasher (`hashing.rs`).
    let mut touched: crate::hashing::FastMap<u64, i64> = crate::hashing::FastMap::default();
    // The segment's own table, by name, in order of first use; 0 is "no record".
    let mut modules: Vec<String> = vec![String::new()];
    let mut local: HashMap<String, u16> = HashMap::from([(String::new(), 0)]);
    for (i, (start, keys)) in tables.iter().enumerate() {
        let stop = tables.get(i + 1).map_or(raw.len(), |t| t.0);
        for cell in raw.get(*start..stop).unwrap_or(&[]) {
            let Some(m) = cell.get() else {
                cells.push(CellRec::EMPTY);
                continue;
            };
            let name = keys.get(usize::from(m.module)).map_or("", String::as_str);
            let module = match local.get(name) {
                Some(&k) => k,
                None => {
                    modules.push(name.to_string());
                    let k = u16::try_from(modules.len() - 1).unwrap_or(u16::MAX);
                    local.insert(name.to_string(), k);
                    k
                }
            };
            let (item_module, at_kind) = cell.with_module(module).words();
            cells.push(CellRec {
                item_module,
                at_kind,
            });
            if records::about(m.item).is_some() {
                let t = touched.entry(m.item).or_insert(m.at);
                *t = (*t).max(m.at);
            }
        }
    }
    drop(raw);
    let part = |w: &Vec<u64>| -> Vec<u64> {
        let a = w.partition_point(|s| *s < lo);
        let b = w.partition_point(|s| *s < hi);
        w.get(a..b).map(<[u64]>::to_vec).unwrap_or_default()
    };
    // The owners first, then their lists a few at a time. An owner that comes after this
    // has no seq below the cut (invariant 2), so it is not missed.
    let (users, groups, roles) = {
        let st = state.read();
        let f = &st.feed;
        (
            f.walls.keys().copied().collect::<Vec<_>>(),
            f.group_walls.keys().copied().collect::<Vec<_>>(),
            f.role_walls.keys().cloned().collect::<Vec<_>>(),
        )
    };
    // Each owner's part below `hi`, `copy_owners` owners under one guard.
    fn lists<K, R>(
        state: &RwLock<State>,
        owners: &[K],
        copy_owners: usize,
        list: impl Fn(&State, &K) -> Option<Vec<u64>>,
        make: impl Fn(&K, Vec<u64>) -> R,
    ) -> Vec<R> {
        let mut out = Vec::new();
        for some in owners.chunks(copy_owners) {
            let st = state.read();
            out.extend(some.iter().filter_map(|k| {
                let seqs = list(&st, k)?;
                (!seqs.is_empty()).then(|| make(k, seqs))
            }));
        }
        out
    }
    let mut walls = lists(
        state,
        &users,
        copy_owners,
        |st, u| st.feed.walls.get(u).map(part),
        |u, seqs| WallRec { owner: u.0, seqs },
    );
    walls.sort_unstable_by_key(|w| w.owner);
    let mut group_walls = lists(
        state,
        &groups,
        copy_owners,
        |st, g| st.feed.group_walls.get(g).map(part),
        |g, seqs| WallRec { owner: g.0, seqs },
    );
    group_walls.sort_unstable_by_key(|w| w.owner);
    let mut role_walls = lists(
        state,
        &roles,
        copy_owners,
        |st, r| st.feed.role_walls.get(r).map(part),
        |r, seqs| RoleWallRec {
            role: r.clone(),
            seqs,
        },
    );
    role_walls.sort_unstable_by(|x, y| x.role.cmp(&y.role));
    let public = part(&state.read().feed.public);
    let mut touched: Vec<(u64, i64)> = touched.into_iter().collect();
    touched.sort_unstable();
    SegmentRec {
        lo,
        hi,
        modules,
        cells,
        walls,
        public,
        groups: group_walls,
        roles: role_walls,
        touched,
        seen: Vec::new(),
    }
}

/// Writes `name` through `name.tmp` with a CRC-32 trailer; returns the bytes written.
fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<u64> {
    use std::io::Write;
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}{TMP}"));
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    let half = bytes.len() / 2;
    let (first, second) = bytes.split_at(half);
    f.write_all(first).map_err(io(&tmp))?;
    injected(&tmp)?;
    f.write_all(second).map_err(io(&tmp))?;
    f.write_all(&crc32fast::hash(bytes).to_be_bytes())
        .map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(bytes.len() as u64 + 4)
}

/// `Err` if a test armed [`FAILPOINT`]: the file is left half-written, as a crash would.
#[cfg_attr(not(feature = "failpoints"), allow(clippy::unnecessary_wraps))]
fn injected(_path: &Path) -> Result<()> {
    fail::fail_point!(FAILPOINT, |_| {
        Err(Error::Io {
            path: _path.to_path_buf(),
            source: std::io::Error::other(format!("injected by failpoint {FAILPOINT}")),
        })
    });
    Ok(())
}

/// Reads a file written by [`write_file`] and checks its trailer.
fn read_file(path: &Path) -> Result<Vec<u8>> {
    let mut b = Vec::new();
    read_file_into(path, &mut b)?;
    Ok(b)
}

/// [`read_file`] into `b`, whose memory is reused: the segments of one open are read one
/// after the other into one buffer, so 500 MB of files cost 50 MB of fresh pages (a fresh
/// page costs a fault and a clearing, 0.7 s per GiB on this project's machines).
fn read_file_into(path: &Path, b: &mut Vec<u8>) -> Result<()> {
    use std::io::Read;
    b.clear();
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let len = f.metadata().map_err(io(path))?.len();
    // A size the memory cannot hold (a damaged file system) is an error, not an abort.
    b.try_reserve_exact(usize::try_from(len).unwrap_or(usize::MAX))
        .map_err(|_| damaged(path, &format!("{len} bytes")))?;
    f.read_to_end(b).map_err(io(path))?;
    let n = b
        .len()
        .checked_sub(4)
        .ok_or_else(|| damaged(path, "shorter than its checksum"))?;
    let crc = b
        .get(n..)
        .and_then(|t| <[u8; 4]>::try_from(t).ok())
        .map(u32::from_be_bytes);
    b.truncate(n);
    if crc != Some(crc32fast::hash(b)) {
        return Err(damaged(path, "checksum mismatch"));
    }
    Ok(())
}

fn damaged(path: &Path, why: &str) -> Error {
    Error::Corrupt(format!("checkpoint file {}: {why}", path.display()))
}

/// A checkpoint being read on a thread of its own while the store opens (sled's open is
/// most of a second at 10M entries, on one core; the checkpoint's files are as much again).
pub(crate) struct Early {
    /// The cut, from the head: open starts its entry scans there, before the rest is read.
    pub upto: u64,
    /// The reading thread: it only reads (a refusal is [`check`]'s), so a failed open may
    /// drop it unjoined.
    read: std::thread::JoinHandle<Result<Read>>,
}

impl Early {
    /// Starts reading the checkpoint under `data`, whose lock the caller holds (nothing
    /// else writes it); `None` if there is none or its head cannot be used.
    pub(crate) fn start(data: &Path) -> Option<Early> {
        let path = data.join(DIR).join(HEAD);
        if !path.exists() {
            return None;
        }
        let bytes = match read_file(&path) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "checkpoint ignored; rebuilding from the records");
                return None;
            }
        };
        let head = records::access::<ArchivedHeadRec>(&bytes)
            .map(|h| (h.version.to_native(), h.upto.to_native()));
        let upto = match head {
            Ok((VERSION, upto)) => upto,
            Ok((v, _)) => {
                tracing::warn!(
                    version = v,
                    "checkpoint of another version ignored; rebuilding"
                );
                return None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "checkpoint ignored; rebuilding from the records");
                return None;
            }
        };
        let dir = data.join(DIR);
        let read = std::thread::Builder::new()
            .name("hoist-checkpoint-read".into())
            .spawn(move || try_read(&dir, &bytes));
        match read {
            Ok(read) => Some(Early { upto, read }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the checkpoint read; rebuilding");
                None
            }
        }
    }

    /// The checkpoint's files as read, for [`check`].
    pub(crate) fn finish(self) -> Result<Read> {
        self.read
            .join()
            .unwrap_or_else(|_| Err(Error::Corrupt("the checkpoint read panicked".into())))
    }
}

/// A checkpoint as open uses it.
pub(crate) struct Loaded {
    pub upto: u64,
    pub feed: FeedState,
    pub redos: Redos,
    pub segments: Vec<Named>,
    /// The seen-event hashes of the segments, merged (nothing recent).
    pub seen: Seen,
}

/// A checkpoint's files as read before the store is open: [`check`] decides whether open may
/// use them.
pub(crate) struct Read {
    format: u32,
    next_item: u64,
    anchor: Option<Anchor>,
    loaded: Loaded,
}

/// Whether open may use `read` (what [`Early`] read: every file's CRC and archive checked)
/// on `store`, whose format version and counters are given (invariant 5). Why not is
/// logged, and the checkpoint removed: here, under the store's lock, never on the reading
/// thread (which may outlive a failed open).
pub(crate) fn check(
    read: Result<Read>,
    store: &Store,
    format: u32,
    next_entry: u64,
    next_item: u64,
) -> Option<Loaded> {
    read.and_then(|r| try_check(r, store, format, next_entry, next_item))
        .map_err(|e| refuse(store.dir(), &e))
        .ok()
}

fn refuse(data: &Path, e: &Error) {
    tracing::warn!(error = %e, "checkpoint ignored and removed; rebuilding from the records");
    // Removed at once: a checkpoint that does not fit this store must not become trusted
    // later (say, once the store has as many entries again).
    if let Err(e) = discard(data) {
        tracing::warn!(error = %e, "cannot remove the ignored checkpoint");
    }
}

/// Whether a checkpoint written on a store of format `written` holds the state of the
/// same store at format `now`: the same format, or 6 under 7 (format 7 only compresses
/// the packs it writes; every record, and so everything built from them, is the same).
fn same_state(written: u32, now: u32) -> bool {
    written == now || (written, now) == (6, 7)
}

fn try_check(
    read: Read,
    store: &Store,
    format: u32,
    next_entry: u64,
    next_item: u64,
) -> Result<Loaded> {
    let path = store.dir().join(DIR).join(HEAD);
    let upto = read.loaded.upto;
    if !same_state(read.format, format) {
        return Err(damaged(&path, "written for another store format"));
    }
    if upto > next_entry {
        return Err(damaged(
            &path,
            &format!("covers entries up to {upto}, the store has {next_entry}"),
        ));
    }
    if read.next_item > next_item {
        return Err(damaged(
            &path,
            &format!(
                "names items up to {}, the store has {next_item}",
                read.next_item
            ),
        ));
    }
    if let Some(a) = read.anchor {
        let stored = anchored_bytes(store, a.seq)?;
        if stored.map(|b| crc32fast::hash(&b)) != Some(a.crc) {
            return Err(damaged(
                &path,
                &format!("its row {} is not this store's (another history)", a.seq),
            ));
        }
    }
    Ok(read.loaded)
}

/// Reads the files the head in `head_bytes` (one [`Early::start`] read and found of this
/// version) names.
fn try_read(dir: &Path, head_bytes: &[u8]) -> Result<Read> {
    let path = dir.join(HEAD);
    let head = records::access::<ArchivedHeadRec>(head_bytes)?;
    let upto = head.upto.to_native();
    let next_item = head.next_item.to_native();
    let anchor = head.anchor.as_ref().map(|a| Anchor {
        seq: a.seq.to_native(),
        crc: a.crc.to_native(),
    });
    let mut feed = FeedState::default();
    let mut segments = Vec::new();
    let mut touched: Vec<Option<i64>> = Vec::new();
    let mut next = 0u64;
    let mut seg_bytes = Vec::new();
    // Each segment's sorted hashes, copied out of its file (whose buffer the next reuses).
    let mut seen_runs: Vec<Vec<u128>> = Vec::new();
    for s in head.segments.iter() {
        let s = SegmentRef {
            lo: s.lo.to_native(),
            hi: s.hi.to_native(),
        };
        if s.lo != next || s.hi <= s.lo || s.hi > upto {
            return Err(damaged(&path, "segments do not tile the covered seqs"));
        }
        let p = dir.join(segment_name(s));
        read_file_into(&p, &mut seg_bytes)?;
        let seg = records::access::<ArchivedSegmentRec>(&seg_bytes)?;
        if seg.lo.to_native() != s.lo || seg.hi.to_native() != s.hi {
            return Err(damaged(&p, "range differs from its name"));
        }
        // Sized one checked segment at a time (the index grows in chunks, never copied),
        // never from the head alone; a size the memory cannot hold is a damaged
        // checkpoint, not an abort.
        let hi = usize::try_from(s.hi).unwrap_or(usize::MAX);
        if feed.entries.try_resize(hi, EntryCell::EMPTY).is_err() {
            return Err(damaged(&p, &format!("covers entries up to {}", s.hi)));
        }
        file_segment(&mut feed, &mut touched, seg, &p, next_item)?;
        let run: Vec<u128> = seg.seen.iter().map(|h| h.to_native()).collect();
        segments.push(Named {
            range: s,
            seen: run.len() as u64,
        });
        seen_runs.push(run);
        next = s.hi;
    }
    if next != upto {
        return Err(damaged(&path, "segments do not reach the cut"));
    }
    if segments.iter().map(|s| s.seen).sum::<u64>() != head.seen.to_native() {
        return Err(damaged(
            &path,
            "its segments hold another count of event hashes",
        ));
    }
    feed.last_touch
        .reserve(touched.iter().filter(|t| t.is_some()).count());
    for (item, at) in (0u64..).zip(touched) {
        if let Some(at) = at {
            feed.last_touch.insert(ItemId(item), at);
        }
    }
    let p = dir.join(redos_name(upto));
    read_file_into(&p, &mut seg_bytes)?;
    let redo_bytes = seg_bytes;
    let file = records::access::<ArchivedRedosRec>(&redo_bytes)?;
    if file.upto.to_native() != upto {
        return Err(damaged(&p, "written for another cut"));
    }
    let mut redos = Redos::with_capacity_and_hasher(file.redos.len(), Default::default());
    for r in file.redos.iter() {
        redos.insert(
            r.item.to_native(),
            Redo {
                seq: r.seq.to_native(),
                key: OrderKey::from_slice(&r.order),
                focus: Focus {
                    focused_at: r.focused_at.to_native(),
                    focus_reason: r.focus_reason.to_native(),
                    attention: r.attention.to_native(),
                },
            },
        );
    }
    Ok(Read {
        format: head.format.to_native(),
        next_item,
        anchor,
        loaded: Loaded {
            upto,
            feed,
            redos,
            segments,
            seen: Seen::from_runs(&seen_runs),
        },
    })
}

/// Adds one segment to `feed`; segments come in seq order, so every list stays ascending.
/// `touched`: the latest touch per item id (dense: a record is touched in most segments,
/// and a map upserted once per segment cost more than the rest of the load).
fn file_segment(
    feed: &mut FeedState,
    touched: &mut Vec<Option<i64>>,
    seg: &ArchivedSegmentRec,
    path: &Path,
    next_item: u64,
) -> Result<()> {
    let modules: Vec<u16> = seg
        .modules
        .iter()
        .map(|m| feed.module_index(m.as_str()))
        .collect();
    let lo = seg.lo.to_native();
    let span = seg.hi.to_native().saturating_sub(lo);
    if seg.cells.len() as u64 > span {
        return Err(damaged(path, "more cells than seqs"));
    }
    for (seq, c) in (lo..).zip(seg.cells.iter()) {
        let cell = EntryCell::from_words(c.item_module.to_native(), c.at_kind.to_native())
            .ok_or_else(|| damaged(path, &format!("entry {seq}: unknown kind")))?;
        if cell.is_empty() {
            continue;
        }
        let local = cell.module();
        let Some(&module) = modules.get(usize::from(local)) else {
            return Err(damaged(
                path,
                &format!("entry {seq}: unknown module {local}"),
            ));
        };
        let slot = usize::try_from(seq)
            .ok()
            .and_then(|i| feed.entries.get_mut(i))
            .ok_or_else(|| damaged(path, &format!("entry {seq} beyond the cut")))?;
        *slot = cell.with_module(module);
    }
    for w in seg.walls.iter() {
        let list = feed.walls.entry(UserId(w.owner.to_native())).or_default();
        list.extend(w.seqs.iter().map(|s| s.to_native()));
    }
    feed.public.extend(seg.public.iter().map(|s| s.to_native()));
    for w in seg.groups.iter() {
        let list = feed
            .group_walls
            .entry(GroupId(w.owner.to_native()))
            .or_default();
        list.extend(w.seqs.iter().map(|s| s.to_native()));
    }
    for w in seg.roles.iter() {
        let list = feed
            .role_walls
            .entry(w.role.as_str().to_string())
            .or_default();
        list.extend(w.seqs.iter().map(|s| s.to_native()));
    }
    for t in seg.touched.iter() {
        let (item, at) = (t.0.to_native(), t.1.to_native());
        let i = usize::try_from(item).ok().filter(|_| item < next_item);
        let Some(i) = i else {
            return Err(damaged(
                path,
                &format!("touched item {item} was never created"),
            ));
        };
        if touched.len() <= i {
            if touched.try_reserve(i + 1 - touched.len()).is_err() {
                return Err(damaged(path, &format!("touched item {item}")));
            }
            touched.resize(i + 1, None);
        }
        if let Some(cell) = touched.get_mut(i) {
            *cell = Some(cell.map_or(at, |c: i64| c.max(at)));
        }
    }
    Ok(())
}

/// Removes the checkpoint under `data`, durably (a salvaging open, whose removals it may
/// not reflect; one open would not trust).
pub(crate) fn discard(data: &Path) -> Result<()> {
    let dir: PathBuf = data.join(DIR);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => crate::store::sync_dir(data),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(&dir)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Engine, Mentions, NewBoard, NewItem};

    #[test]
    fn a_segment_copied_in_pieces_is_the_segment_copied_at_once() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let e = open(tmp.path());
        e.bootstrap_admin(None).expect("admin");
        let admin = e.users()[0].id;
        // Two modules, whose entries interleave: table indexes 1 and 2.
        let boards: Vec<_> = ["deal", "lead"]
            .into_iter()
            .map(|module| {
                e.create_board(NewBoard {
                    module: module.into(),
                    name: module.into(),
                    columns: vec!["New".into()],
                    ..NewBoard::default()
                })
                .expect("board")
                .id
            })
            .collect();
        for i in 0..40 {
            let item = e
                .create_item(
                    admin,
                    NewItem {
                        board: boards[i % 2],
                        title: format!("Deal {i}"),
                        ..NewItem::default()
                    },
                )
                .expect("item");
            let id = item.get().expect("record").id();
            if i % 3 == 0 {
                e.comment(admin, id, "c".into(), Mentions::default())
                    .expect("comment");
            }
            if i % 5 == 0 {
                e.post(admin, "p".into(), None, Mentions::default())
                    .expect("post");
            }
        }
        let state = &e.shared.state;
        let hi = state.read().meta.next_entry;
        assert!(hi > 50, "{hi}");
        assert!(
            state.read().feed.module_keys.len() >= 3,
            "no record, and two modules"
        );
        for (lo, hi) in [(0, hi), (7, hi - 5), (hi / 2, hi)] {
            let whole = records::encode(&segment_with(
                state,
                lo,
                hi,
                (usize::MAX, usize::MAX),
                &mut || {},
            ))
            .expect("encode");
            for pieces in [(1, 1), (3, 2), (16, 1), (COPY_SEQS, COPY_OWNERS)] {
                let copied = records::encode(&segment_with(state, lo, hi, pieces, &mut || {}))
                    .expect("encode");
                assert_eq!(copied, whole, "[{lo}, {hi}) in pieces of {pieces:?}");
            }
            // A rollback between two pieces loads a state whose module table is numbered
            // otherwise (here: reversed after "no record", as a reload in key order can
            // renumber a table numbered by first appearance). The copy is still the same.
            let mut renumber = || {
                let mut st = state.write();
                let f = &mut st.feed;
                let n = u16::try_from(f.module_keys.len()).expect("a small table");
                f.module_keys[1..].reverse();
                for c in f.entries.iter_mut() {
                    if !c.is_empty() && c.module() > 0 {
                        *c = c.with_module(n - c.module());
                    }
                }
            };
            let copied = records::encode(&segment_with(state, lo, hi, (3, 2), &mut renumber))
                .expect("encode");
            assert_eq!(
                copied, whole,
                "[{lo}, {hi}) with the table renumbered between pieces"
            );
        }
        e.close();
    }

    fn open(dir: &Path) -> Engine {
        Engine::open(dir, Config::default().with_timer_thread(false)).expect("open")
    }

    /// A store with a board, three items (so three entries) and the checkpoint its close
    /// wrote; its item count.
    fn store_with_a_checkpoint(dir: &Path) -> u64 {
        let e = open(dir);
        e.bootstrap_admin(None).expect("admin");
        let admin = e.users()[0].id;
        let board = e
            .create_board(NewBoard {
                module: "deal".into(),
                name: "Deals".into(),
                columns: vec!["New".into()],
                ..NewBoard::default()
            })
            .expect("board");
        for _ in 0..3 {
            e.create_item(
                admin,
                NewItem {
                    board: board.id,
                    title: "Deal".into(),
                    ..NewItem::default()
                },
            )
            .expect("item");
        }
        let items = e.stats().items;
        e.close();
        assert!(dir.join(DIR).join(HEAD).exists(), "the close wrote one");
        items
    }

    /// Rewrites the head as a writer of another version or of another store would have.
    fn rewrite_head(dir: &Path, change: impl FnOnce(&mut HeadRec)) {
        let dir = dir.join(DIR);
        let bytes = read_file(&dir.join(HEAD)).expect("head");
        let mut head = records::decode::<HeadRec>(&bytes).expect("decodes");
        change(&mut head);
        write_file(&dir, HEAD, &records::encode(&head).expect("encodes")).expect("write");
    }

    /// Rewrites every segment (CRC and archive sound) as a damaged writer would have.
    fn rewrite_segments(dir: &Path, change: impl Fn(&mut SegmentRec)) {
        let dir = dir.join(DIR);
        let names: Vec<String> = std::fs::read_dir(&dir)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("seg-"))
            .collect();
        assert!(!names.is_empty());
        for name in names {
            let bytes = read_file(&dir.join(&name)).expect("segment");
            let mut seg = records::decode::<SegmentRec>(&bytes).expect("decodes");
            change(&mut seg);
            write_file(&dir, &name, &records::encode(&seg).expect("encodes")).expect("write");
        }
    }

    /// A segment whose cells a reader must refuse (each with its CRC and archive sound)
    /// is logged and removed, and everything is rebuilt: the same items, and the next
    /// open uses the checkpoint that rebuild wrote.
    #[test]
    fn a_segment_with_damaged_cells_is_refused_and_everything_is_rebuilt() {
        type Damage = (&'static str, fn(&mut SegmentRec));
        let damage: [Damage; 4] = [
            ("an unknown kind", |s| {
                if let Some(c) = s.cells.iter_mut().rev().find(|c| c.at_kind != 0) {
                    c.at_kind |= 0xff << 56;
                }
            }),
            ("an empty cell with an item", |s| {
                s.cells.insert(
                    0,
                    CellRec {
                        item_module: 7,
                        at_kind: 0,
                    },
                );
                s.cells.pop();
            }),
            ("an unknown module", |s| {
                if let Some(c) = s.cells.iter_mut().rev().find(|c| c.at_kind != 0) {
                    c.item_module |= 0xfff << 48;
                }
            }),
            ("more cells than seqs", |s| {
                let span = usize::try_from(s.hi - s.lo).expect("small");
                s.cells.resize(span + 1, CellRec::EMPTY);
            }),
        ];
        for (what, change) in damage {
            let dir = tempfile::tempdir().expect("temp dir");
            let items = store_with_a_checkpoint(dir.path());
            rewrite_segments(dir.path(), change);
            assert_eq!(reopened(dir.path()), (0, items), "{what}");
            assert!(reopened(dir.path()).0 > 0, "{what}: rewritten, then used");
        }
    }

    fn reopened(dir: &Path) -> (u64, u64) {
        let e = open(dir);
        let s = e.stats();
        e.close();
        (s.opened_from_checkpoint, s.items)
    }

    #[test]
    fn a_sound_checkpoint_is_used() {
        let dir = tempfile::tempdir().expect("temp dir");
        let items = store_with_a_checkpoint(dir.path());
        let (from, n) = reopened(dir.path());
        assert!(from > 0, "opened from the checkpoint");
        assert_eq!(n, items);
    }

    #[test]
    fn a_head_of_another_version_is_ignored_and_everything_is_rebuilt() {
        let dir = tempfile::tempdir().expect("temp dir");
        let items = store_with_a_checkpoint(dir.path());
        rewrite_head(dir.path(), |h| h.version = VERSION - 1);
        assert_eq!(reopened(dir.path()), (0, items));
        // That open wrote a checkpoint of this version; the next one uses it.
        assert!(reopened(dir.path()).0 > 0);
    }

    #[test]
    fn a_head_covering_more_entries_than_any_memory_is_ignored_without_sizing_for_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let items = store_with_a_checkpoint(dir.path());
        // 2^36 entries would be 1.5 TiB of index, in chunks of 1.5 MB: sized from the head
        // alone, the index was filled chunk by chunk until the process was killed.
        rewrite_head(dir.path(), |h| h.upto = 1 << 36);
        assert_eq!(reopened(dir.path()), (0, items));
        assert!(reopened(dir.path()).0 > 0, "rewritten, then used");
    }

    #[test]
    fn only_a_format_6_checkpoint_counts_for_a_store_of_another_format() {
        assert!(same_state(7, 7) && same_state(6, 7) && same_state(6, 6));
        // Any other pair is refused: those formats changed records, or the store is older.
        assert!(!same_state(5, 7) && !same_state(5, 6) && !same_state(7, 6));
    }

    #[test]
    fn a_head_of_an_older_store_format_is_refused_and_everything_is_rebuilt() {
        let dir = tempfile::tempdir().expect("temp dir");
        let items = store_with_a_checkpoint(dir.path());
        rewrite_head(dir.path(), |h| h.format = 5);
        assert_eq!(reopened(dir.path()), (0, items));
        assert!(reopened(dir.path()).0 > 0, "rewritten, then used");
    }

    #[test]
    fn a_head_naming_more_items_than_the_store_is_refused_and_removed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let items = store_with_a_checkpoint(dir.path());
        rewrite_head(dir.path(), |h| h.next_item += 1);
        assert_eq!(reopened(dir.path()), (0, items));
        assert!(reopened(dir.path()).0 > 0, "rewritten, then used");
    }
}
