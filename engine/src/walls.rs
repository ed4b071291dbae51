//! The in-memory index of feed entries: what memory knows of each entry, the per-user,
//! public, group and role wall lists, the follow and rule tables, and the focus redos an
//! open scan finds in the entries. Plain data and its upkeep; `feed` decides who sees what.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::error::{Error, Result};
use crate::ids::{BoardId, FileId, GroupId, ItemId, JobId, RuleId, UserId};
use crate::item_view::Focus;
use crate::order::OrderKey;
use crate::records::{self, FileRec, TimelineKind, TimelineRec};
use crate::store::{self, Store};

/// What memory knows of an entry without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntryMeta {
    /// The item it is about (0: none), below [`MAX_ITEM`].
    pub item: u64,
    /// Within ±2^55 ms ([`EntryCell`] clamps what is not).
    pub at: i64,
    pub kind: TimelineKind,
    /// Index into `FeedState::module_keys`; 0 for entries about no record.
    pub module: u16,
}

/// Item ids stay below this (2^48, 281 trillion; ids are handed out one by one): the
/// entry index keeps an item id in 48 bits. Creating an item past it is refused.
pub(crate) const MAX_ITEM: u64 = 1 << 48;

/// An [`EntryMeta`] as the entry index keeps it: 16 bytes, where an `Option<EntryMeta>`
/// takes 24 (the index has a cell per seq: 96 MB more at 12M entries, and a fresh page
/// costs a fault and a clearing, 0.7 s per GiB on this project's machines). The same two
/// words are a checkpoint segment's cells (docs/format.md, "Checkpoint").
///
/// `a`: the item id in the low 48 bits, the module index in the high 16. `b`: `at` in the
/// low 56 bits (two's complement; a time beyond ±2^55 ms, 1.1 million years, which no
/// RFC 3339 time reaches, is clamped to it), the kind's code in the high 8 (0: no entry at
/// this seq; an empty cell is both words 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EntryCell {
    a: u64,
    b: u64,
}

const AT_BITS: u32 = 56;
const AT_MAX: i64 = (1 << (AT_BITS - 1)) - 1;
const AT_MIN: i64 = -(1 << (AT_BITS - 1));
const ITEM_MASK: u64 = MAX_ITEM - 1;

impl EntryCell {
    /// No entry at this seq.
    pub(crate) const EMPTY: EntryCell = EntryCell { a: 0, b: 0 };

    /// The cell of `m`. An item id at or above [`MAX_ITEM`] (refused when items are
    /// created; only a damaged store holds one) keeps its low 48 bits.
    pub(crate) fn new(m: EntryMeta) -> EntryCell {
        let at = m.at.clamp(AT_MIN, AT_MAX);
        // Two's complement in 56 bits: the sign bits above are dropped here and restored
        // by the arithmetic shift in `get`.
        let at_bits = u64::from_ne_bytes(at.to_ne_bytes()) & ((1 << AT_BITS) - 1);
        EntryCell {
            a: (m.item & ITEM_MASK) | (u64::from(m.module) << 48),
            b: at_bits | (u64::from(kind_code(m.kind)) << AT_BITS),
        }
    }

    /// The two words, for a checkpoint segment.
    pub(crate) fn words(self) -> (u64, u64) {
        (self.a, self.b)
    }

    /// A cell from a checkpoint segment's two words; `None` if its kind code is unknown
    /// (a damaged file).
    pub(crate) fn from_words(a: u64, b: u64) -> Option<EntryCell> {
        let cell = EntryCell { a, b };
        let sound = if cell.is_empty() {
            a == 0 && b == 0
        } else {
            kind_of_code(cell.code()).is_some()
        };
        sound.then_some(cell)
    }

    fn code(self) -> u8 {
        u8::try_from(self.b >> AT_BITS).unwrap_or(0)
    }

    pub(crate) fn is_empty(self) -> bool {
        self.code() == 0
    }

    /// The item of the entry here, if there is one (0 for entries about no record).
    pub(crate) fn item(self) -> Option<u64> {
        (!self.is_empty()).then_some(self.a & ITEM_MASK)
    }

    /// The module index (`FeedState::module_keys`).
    pub(crate) fn module(self) -> u16 {
        u16::try_from(self.a >> 48).unwrap_or(0)
    }

    /// This cell with another module index (a segment's table and memory's differ).
    pub(crate) fn with_module(self, module: u16) -> EntryCell {
        EntryCell {
            a: (self.a & ITEM_MASK) | (u64::from(module) << 48),
            b: self.b,
        }
    }

    /// The entry here, if there is one.
    pub(crate) fn get(self) -> Option<EntryMeta> {
        let kind = kind_of_code(self.code())?;
        // Shifted up and back down (arithmetic): the 56-bit time's sign is extended.
        let at = i64::from_ne_bytes((self.b << (64 - AT_BITS)).to_ne_bytes()) >> (64 - AT_BITS);
        Some(EntryMeta {
            item: self.a & ITEM_MASK,
            at,
            kind,
            module: self.module(),
        })
    }
}

/// The kinds by code - 1 (code 0 is "no entry").
const KINDS: [TimelineKind; 12] = [
    TimelineKind::Comment,
    TimelineKind::Note,
    TimelineKind::Event,
    TimelineKind::Change,
    TimelineKind::Reminder,
    TimelineKind::Deadline,
    TimelineKind::Created,
    TimelineKind::Deleted,
    TimelineKind::Activity,
    TimelineKind::Status,
    TimelineKind::Message,
    TimelineKind::File,
];

/// A kind's code in a cell, 1 and up (the match is exhaustive: a new kind must be given
/// one here and in [`KINDS`]; a test checks both agree).
fn kind_code(k: TimelineKind) -> u8 {
    match k {
        TimelineKind::Comment => 1,
        TimelineKind::Note => 2,
        TimelineKind::Event => 3,
        TimelineKind::Change => 4,
        TimelineKind::Reminder => 5,
        TimelineKind::Deadline => 6,
        TimelineKind::Created => 7,
        TimelineKind::Deleted => 8,
        TimelineKind::Activity => 9,
        TimelineKind::Status => 10,
        TimelineKind::Message => 11,
        TimelineKind::File => 12,
    }
}

fn kind_of_code(code: u8) -> Option<TimelineKind> {
    KINDS.get(usize::from(code).checked_sub(1)?).copied()
}

#[derive(Default)]
pub(crate) struct FeedState {
    /// By entry seq (seqs are shared with other rows, so there are gaps).
    pub entries: crate::chunked::Chunked<EntryCell>,
    pub walls: HashMap<UserId, Vec<u64>>,
    pub public: Vec<u64>,
    pub group_walls: HashMap<GroupId, Vec<u64>>,
    pub role_walls: HashMap<String, Vec<u64>>,
    pub module_keys: Vec<String>,
    pub module_ix: HashMap<String, u16>,
    /// Last change, comment, event or activity of each record.
    pub last_touch: crate::hashing::FastMap<ItemId, i64>,
    /// Every follow record, per item.
    pub by_item: HashMap<ItemId, BTreeMap<UserId, records::FollowRec>>,
    /// Active follows, per user.
    pub following: HashMap<UserId, BTreeSet<ItemId>>,
    /// Boards followed whole, per user, and each such board's followers: a record's
    /// board followers are its board's, less those who unfollowed the record.
    pub board_follows: HashMap<UserId, BTreeSet<BoardId>>,
    pub board_followers: HashMap<BoardId, BTreeSet<UserId>>,
    pub rules: BTreeMap<RuleId, records::RuleRec>,
    pub jobs: BTreeMap<JobId, records::JobRec>,
    pub files: HashMap<FileId, FileRec>,
    pub disabled: HashSet<String>,
    /// The newest focus redo of each item among the entries filed so far (open's scan
    /// and every entry since), while it still applies: a rewrite of the item's row (whose
    /// `version` then exceeds it) or the item's delete drops it. A checkpoint copies it at
    /// its cut: what applies of what an open scan of the entries below the cut would find.
    pub redos: Redos,
}

impl FeedState {
    pub(crate) fn module_index(&mut self, key: &str) -> u16 {
        if key.is_empty() {
            return 0;
        }
        if self.module_keys.is_empty() {
            self.module_keys.push(String::new());
        }
        if let Some(i) = self.module_ix.get(key) {
            return *i;
        }
        let i = u16::try_from(self.module_keys.len()).unwrap_or(u16::MAX);
        self.module_keys.push(key.to_string());
        self.module_ix.insert(key.to_string(), i);
        i
    }

    pub(crate) fn module_of(&self, m: &EntryMeta) -> &str {
        self.module_keys
            .get(usize::from(m.module))
            .map_or("", String::as_str)
    }

    /// Whether the entry is about a record of a module whose entries are switched off
    /// (feed preferences): walls and streams leave it out.
    pub(crate) fn hidden(&self, m: &EntryMeta) -> bool {
        m.module != 0 && self.disabled.contains(self.module_of(m))
    }

    /// The kind of entry `seq`, if it exists.
    pub(crate) fn kind_of(&self, seq: u64) -> Option<TimelineKind> {
        self.meta(seq).map(|m| m.kind)
    }

    pub(crate) fn meta(&self, seq: u64) -> Option<EntryMeta> {
        usize::try_from(seq)
            .ok()
            .and_then(|i| self.entries.get(i))
            .and_then(|c| c.get())
    }

    /// [`FeedState::index`] for a stored entry read in place, during open; its focus
    /// redo, if any, goes to `redos`.
    fn index_archived(&mut self, r: &records::ArchivedTimelineRec, redos: &mut Redos) {
        if let Some(x) = r.redo.as_ref() {
            keep_newest(
                redos,
                r.item.to_native(),
                Redo {
                    seq: r.seq.to_native(),
                    key: crate::order::OrderKey::from_slice(&x.order),
                    focus: crate::item_view::Focus {
                        focused_at: x.focused_at.to_native(),
                        focus_reason: x.focus_reason.to_native(),
                        attention: x.attention.to_native(),
                    },
                },
            );
        }
        let rec = IndexFields {
            seq: r.seq.to_native(),
            item: r.item.to_native(),
            at: r.at.to_native(),
            kind: r.kind.to_native(),
            module: r.module.as_str(),
            group: r.group.as_ref().map(|g| g.to_native()),
            audience: r.audience.iter().map(|u| u.to_native()),
            mentions_groups: r.mentions_groups.iter().map(|g| g.to_native()),
            mentions_roles: r.mentions_roles.iter().map(|x| x.as_str()),
        };
        self.index_fields(rec);
    }

    /// Files the entry into memory: meta, walls, last touch, focus redo.
    pub(crate) fn index(&mut self, rec: &TimelineRec) {
        if let Some(x) = &rec.redo {
            keep_newest(
                &mut self.redos,
                rec.item,
                Redo {
                    seq: rec.seq,
                    key: OrderKey::from_slice(&x.order),
                    focus: Focus {
                        focused_at: x.focused_at,
                        focus_reason: x.focus_reason,
                        attention: x.attention,
                    },
                },
            );
        }
        self.index_fields(IndexFields {
            seq: rec.seq,
            item: rec.item,
            at: rec.at,
            kind: rec.kind,
            module: &rec.module,
            group: rec.group,
            audience: rec.audience.iter().copied(),
            mentions_groups: rec.mentions_groups.iter().copied(),
            mentions_roles: rec.mentions_roles.iter().map(String::as_str),
        });
    }

    fn index_fields<'a>(
        &mut self,
        rec: IndexFields<
            'a,
            impl Iterator<Item = u64>,
            impl Iterator<Item = u64>,
            impl Iterator<Item = &'a str>,
        >,
    ) {
        let module = self.module_index(rec.module);
        // The time as the cell keeps it (clamped), for the last touch too: a checkpoint
        // gives back the cell's time, and must give what a rebuild makes.
        let at = rec.at.clamp(AT_MIN, AT_MAX);
        // An item id the cell cannot hold (only a damaged store names one: creation stops
        // below it) is filed as about no record, in a rebuild as from a checkpoint.
        let item = if rec.item < MAX_ITEM { rec.item } else { 0 };
        let meta = EntryMeta {
            item,
            at,
            kind: rec.kind,
            module,
        };
        if let Ok(i) = usize::try_from(rec.seq) {
            if self.entries.len() <= i {
                self.entries.resize(i + 1, EntryCell::EMPTY);
            }
            if let Some(cell) = self.entries.get_mut(i) {
                *cell = EntryCell::new(meta);
            }
        }
        for u in rec.audience {
            self.walls.entry(UserId(u)).or_default().push(rec.seq);
        }
        match (rec.kind, rec.group) {
            (TimelineKind::Message, _) => {}
            (TimelineKind::Status, None) => self.public.push(rec.seq),
            (TimelineKind::Status | TimelineKind::File, Some(g)) => {
                self.group_walls
                    .entry(GroupId(g))
                    .or_default()
                    .push(rec.seq);
            }
            _ => {}
        }
        if rec.kind != TimelineKind::Message {
            for g in rec.mentions_groups {
                let wall = self.group_walls.entry(GroupId(g)).or_default();
                if wall.last() != Some(&rec.seq) {
                    wall.push(rec.seq);
                }
            }
            for r in rec.mentions_roles {
                let wall = self.role_walls.entry(r.to_string()).or_default();
                if wall.last() != Some(&rec.seq) {
                    wall.push(rec.seq);
                }
            }
        }
        if let Some(item) = records::about(item) {
            let t = self.last_touch.entry(item).or_insert(at);
            *t = (*t).max(at);
        }
    }
}

/// What filing an entry needs, from an owned or an archived record.
struct IndexFields<'a, A, G, R> {
    seq: u64,
    item: u64,
    at: i64,
    kind: TimelineKind,
    module: &'a str,
    group: Option<u64>,
    audience: A,
    mentions_groups: G,
    mentions_roles: R,
}

/// Rebuilds walls and entry metadata from the stored entries with seqs in `[lo, hi)`. Runs
/// on its own thread on open, beside the item scan.
///
/// Entries are read in place (no copy of the record) and filed in seq order. A pack is
/// checked whole before any of its entries is filed, so a salvage that sets a damaged pack
/// aside leaves none of its entries in memory.
pub(crate) fn load_entries(
    store: &Store,
    modules: &[String],
    (lo, hi): (u64, u64),
    checks: &records::Checks,
) -> Result<(FeedState, Redos)> {
    let mut feed = FeedState::default();
    let mut redos = Redos::default();
    // Every store's modules are known before the scans, so parallel scans intern them
    // to the same indexes.
    for m in modules {
        feed.module_index(m);
    }
    for row in store.entry_rows(lo, hi) {
        let row = row?;
        let (k, stored) = row.row();
        let v = row.records();
        let checked = match &row {
            store::EntryRow::Damaged { reason, .. } => Err(Error::Corrupt(reason.clone())),
            _ => row
                .seqs()
                .into_iter()
                .map(|(seq, at)| {
                    let r = v
                        .get(at)
                        .ok_or_else(|| Error::Corrupt(format!("entry {seq} out of its row")))?;
                    let r = records::access::<records::ArchivedTimelineRec>(r)?;
                    if r.seq.to_native() != seq {
                        return Err(Error::Corrupt(format!(
                            "entry {} stored as entry {seq}",
                            r.seq.to_native()
                        )));
                    }
                    Ok(r)
                })
                .collect::<Result<Vec<_>>>(),
        };
        if checked.is_err() && !row.reported_here() {
            // A pack straddling the two scans: the other one reports it (and a salvage
            // removes it whole); none of its entries is filed here.
            continue;
        }
        let Some(entries) = checks.record(k, stored, checked)? else {
            continue;
        };
        for r in entries {
            if row.wants(r.seq.to_native()) {
                feed.index_archived(r, &mut redos);
            }
        }
    }
    Ok((feed, redos))
}

/// The seq ranges of the two entry scans on open: from seq `lo` below `mid`, and the rest.
/// Each range is read in seq order, so each half's lists come out sorted.
pub(crate) fn entry_ranges(lo: u64, mid: u64) -> [(u64, u64); 2] {
    [(lo, mid), (mid, u64::MAX)]
}

impl FeedState {
    /// Appends a scan of later entries (every seq in `other` is above every seq here: the
    /// second half of an open scan, or the entries after a checkpoint's cut). Lists are
    /// extended, not sorted (a sort of 30M sorted seqs cost 0.65 s of a restart); a list
    /// whose junction is out of order, which the callers never make, is sorted. The
    /// other's module indexes are translated into this table.
    pub(crate) fn append(mut self, other: FeedState) -> FeedState {
        let modules: Vec<u16> = other
            .module_keys
            .iter()
            .map(|k| self.module_index(k))
            .collect();
        if self.entries.len() < other.entries.len() {
            self.entries.resize(other.entries.len(), EntryCell::EMPTY);
        }
        for (i, e) in other.entries.into_iter().enumerate() {
            if let (false, Some(cell)) = (e.is_empty(), self.entries.get_mut(i)) {
                *cell = e.with_module(modules.get(usize::from(e.module())).copied().unwrap_or(0));
            }
        }
        fn extend(list: &mut Vec<u64>, more: Vec<u64>) {
            let ordered = match (list.last(), more.first()) {
                (Some(last), Some(first)) => last < first,
                _ => true,
            };
            list.extend(more);
            if !ordered {
                list.sort_unstable();
                list.dedup();
            }
        }
        for (u, w) in other.walls {
            extend(self.walls.entry(u).or_default(), w);
        }
        extend(&mut self.public, other.public);
        for (g, w) in other.group_walls {
            extend(self.group_walls.entry(g).or_default(), w);
        }
        for (r, w) in other.role_walls {
            extend(self.role_walls.entry(r).or_default(), w);
        }
        for (i, t) in other.last_touch {
            let e = self.last_touch.entry(i).or_insert(t);
            *e = (*e).max(t);
        }
        self
    }
}

/// An item's newest focus redo found by an open scan of the entries.
#[derive(Debug, Clone)]
pub(crate) struct Redo {
    pub seq: u64,
    pub key: OrderKey,
    pub focus: Focus,
}

/// Newest redo per item id.
pub(crate) type Redos = crate::hashing::FastMap<u64, Redo>;

/// Keeps the newer of two redos of an item.
pub(crate) fn keep_newest(into: &mut Redos, item: u64, redo: Redo) {
    match into.get(&item) {
        Some(old) if old.seq >= redo.seq => {}
        _ => {
            into.insert(item, redo);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_kind_has_the_code_its_place_in_the_table_gives() {
        for (i, k) in KINDS.iter().enumerate() {
            assert_eq!(usize::from(kind_code(*k)), i + 1, "{k:?}");
            assert_eq!(kind_of_code(kind_code(*k)), Some(*k));
        }
        assert_eq!(kind_of_code(0), None);
        assert_eq!(kind_of_code(13), None);
    }

    #[test]
    fn an_empty_cell_is_no_entry_and_only_zero_words_read_as_empty() {
        assert_eq!(EntryCell::EMPTY.get(), None);
        assert_eq!(EntryCell::EMPTY.item(), None);
        assert_eq!(EntryCell::default(), EntryCell::EMPTY);
        assert_eq!(EntryCell::from_words(0, 0), Some(EntryCell::EMPTY));
        assert_eq!(EntryCell::from_words(5, 0), None, "junk in an empty cell");
        assert_eq!(
            EntryCell::from_words(0, 13 << AT_BITS),
            None,
            "unknown kind"
        );
    }

    #[test]
    fn times_beyond_the_cell_range_are_clamped() {
        let m = |at| EntryMeta {
            item: 1,
            at,
            kind: TimelineKind::Event,
            module: 0,
        };
        assert_eq!(
            EntryCell::new(m(i64::MAX)).get().map(|m| m.at),
            Some(AT_MAX)
        );
        assert_eq!(
            EntryCell::new(m(i64::MIN)).get().map(|m| m.at),
            Some(AT_MIN)
        );
        // RFC 3339 years 0000 and 9999 are well inside.
        for at in [-62_167_219_200_000, 253_402_300_799_999] {
            assert_eq!(EntryCell::new(m(at)).get().map(|m| m.at), Some(at));
        }
    }

    fn kinds() -> impl Strategy<Value = TimelineKind> {
        prop::sample::select(KINDS.to_vec())
    }

    proptest! {
        #[test]
        fn a_cell_gives_back_what_it_was_made_of(
            item in 0..MAX_ITEM,
            at in AT_MIN..=AT_MAX,
            kind in kinds(),
            module: u16,
            other: u16,
        ) {
            let m = EntryMeta { item, at, kind, module };
            let cell = EntryCell::new(m);
            prop_assert_eq!(cell.get(), Some(m));
            prop_assert_eq!(cell.item(), Some(item));
            prop_assert_eq!(cell.module(), module);
            let (a, b) = cell.words();
            prop_assert_eq!(EntryCell::from_words(a, b), Some(cell));
            prop_assert_eq!(
                cell.with_module(other).get(),
                Some(EntryMeta { module: other, ..m })
            );
        }
    }
}
