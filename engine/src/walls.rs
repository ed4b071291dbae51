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
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryMeta {
    pub item: u64,
    pub at: i64,
    pub kind: TimelineKind,
    /// Index into `FeedState::module_keys`; 0 for entries about no record.
    pub module: u16,
}

#[derive(Default)]
pub(crate) struct FeedState {
    /// By entry seq (seqs are shared with other rows, so there are gaps).
    pub entries: crate::chunked::Chunked<Option<EntryMeta>>,
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

    pub(crate) fn meta(&self, seq: u64) -> Option<&EntryMeta> {
        usize::try_from(seq)
            .ok()
            .and_then(|i| self.entries.get(i))
            .and_then(Option::as_ref)
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
        let meta = EntryMeta {
            item: rec.item,
            at: rec.at,
            kind: rec.kind,
            module,
        };
        if let Ok(i) = usize::try_from(rec.seq) {
            if self.entries.len() <= i {
                self.entries.resize(i + 1, None);
            }
            if let Some(cell) = self.entries.get_mut(i) {
                *cell = Some(meta);
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
        if let Some(item) = records::about(rec.item) {
            let t = self.last_touch.entry(item).or_insert(rec.at);
            *t = (*t).max(rec.at);
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
            self.entries.resize(other.entries.len(), None);
        }
        for (i, e) in other.entries.into_iter().enumerate() {
            if let (Some(mut e), Some(cell)) = (e, self.entries.get_mut(i)) {
                e.module = modules.get(usize::from(e.module)).copied().unwrap_or(0);
                *cell = Some(e);
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
