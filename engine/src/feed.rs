//! Feeds: entries, who sees them, and walls.
//!
//! Every entry is one `E` + seq row, about a record (then it is also the record's timeline
//! row) or not (status messages, direct messages, files), written once, in the same batch
//! as the change it describes. Seqs only grow, so each write is an append.
//!
//! Walls are fanned out **in memory**, not in sled (ARCHITECTURE.md, "Feeds"): when an
//! entry is written, its per-user audience (the record's followers at that moment,
//! mentioned users, the parties of a direct message) is resolved, stored inside the entry,
//! and its seq is pushed onto each of those users' in-memory wall lists. Audiences that are
//! defined at read time — everyone (public status), a group's *current* members, holders
//! of a role — are lists per public/group/role, merged into a user's wall when it is read.
//! A wall page is a k-way merge, newest first, over the user's list, the public list and
//! the lists of their groups and roles, from the cursor down, then one sled get per entry
//! shown: it costs the page plus what the filters skip, never the store. All of it is
//! rebuilt from the entries on open.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::clock::Millis;
use crate::engine::{Engine, Tx};
use crate::error::{Error, Result};
use crate::ids::{EntryId, GroupId, ItemId, UserId};
use crate::records::{self, FileRec, PrefsRec, TimelineKind, TimelineRec};
use crate::state::{keep_newest, Counter, Redo, Redos, State};
use crate::store::{self, Store};
use crate::timeline::{Mentions, TimelineEntry};
use crate::validate;
use crate::view::{limit_of, Page, PageRequest};

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
    pub entries: Vec<Option<EntryMeta>>,
    pub walls: HashMap<UserId, Vec<u64>>,
    pub public: Vec<u64>,
    pub group_walls: HashMap<GroupId, Vec<u64>>,
    pub role_walls: HashMap<String, Vec<u64>>,
    pub module_keys: Vec<String>,
    pub module_ix: HashMap<String, u16>,
    /// Last change, comment, event or activity of each record.
    pub last_touch: HashMap<ItemId, i64>,
    /// Every follow record, per item.
    pub by_item: HashMap<ItemId, BTreeMap<UserId, records::FollowRec>>,
    /// Active follows, per user.
    pub following: HashMap<UserId, BTreeSet<ItemId>>,
    pub rules: BTreeMap<u64, records::RuleRec>,
    pub jobs: BTreeMap<u64, records::JobRec>,
    pub files: HashMap<u64, FileRec>,
    pub disabled: HashSet<String>,
}

impl FeedState {
    fn module_index(&mut self, key: &str) -> u16 {
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

    fn module_of(&self, m: &EntryMeta) -> &str {
        self.module_keys
            .get(usize::from(m.module))
            .map_or("", String::as_str)
    }

    /// The kind of entry `seq`, if it exists.
    pub(crate) fn kind_of(&self, seq: u64) -> Option<TimelineKind> {
        self.meta(seq).map(|m| m.kind)
    }

    fn meta(&self, seq: u64) -> Option<&EntryMeta> {
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
                    focus: crate::state::Focus {
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

    /// Walls must be ascending; the two halves of an open scan are merged in order, and
    /// a sort of sorted lists costs a linear pass, so this is a cheap guarantee.
    fn sort_lists(&mut self) {
        let sort = |v: &mut Vec<u64>| {
            v.sort_unstable();
            v.dedup();
        };
        self.walls.values_mut().for_each(sort);
        sort(&mut self.public);
        self.group_walls.values_mut().for_each(sort);
        self.role_walls.values_mut().for_each(sort);
    }

    /// Files the entry into memory: meta, walls, last touch.
    fn index(&mut self, rec: &TimelineRec) {
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
                self.role_walls
                    .entry(r.to_string())
                    .or_default()
                    .push(rec.seq);
            }
        }
        if rec.item != 0 {
            let t = self.last_touch.entry(ItemId(rec.item)).or_insert(rec.at);
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

/// Rebuilds walls and entry metadata from the stored entries. Runs on its own thread on
/// open, beside the item scan.
///
/// Entries are read in place (no copy of the record) and filed in seq order.
pub(crate) fn load_entries(
    store: &Store,
    modules: &[String],
    ranges: &[(Vec<u8>, Vec<u8>)],
) -> Result<(FeedState, Redos)> {
    let mut feed = FeedState::default();
    let mut redos = Redos::new();
    // Every store's modules are known before the scans, so parallel scans intern them
    // to the same indexes.
    for m in modules {
        feed.module_index(m);
    }
    for (lo, hi) in ranges {
        for kv in store.range(lo, hi) {
            let (_, v) = kv?;
            let r = records::access::<records::ArchivedTimelineRec>(&v)?;
            feed.index_archived(r, &mut redos);
        }
    }
    Ok((feed, redos))
}

/// The key ranges of the entry scans on open: the entries below seq `mid` and the rest.
/// Each range is read in seq order, so each half's lists come out sorted.
pub(crate) fn entry_ranges(mid: u64) -> [Vec<(Vec<u8>, Vec<u8>)>; 2] {
    let k = |seq: u64| store::entry_key(seq).to_vec();
    [vec![(k(0), k(mid))], vec![(k(mid), vec![store::FEED + 1])]]
}

impl FeedState {
    /// Folds another partial scan into this one (same module table), then sorts.
    pub(crate) fn merge(mut self, other: FeedState) -> FeedState {
        if self.entries.len() < other.entries.len() {
            self.entries.resize(other.entries.len(), None);
        }
        for (i, e) in other.entries.into_iter().enumerate() {
            if let (Some(e), Some(cell)) = (e, self.entries.get_mut(i)) {
                *cell = Some(e);
            }
        }
        for (u, w) in other.walls {
            self.walls.entry(u).or_default().extend(w);
        }
        self.public.extend(other.public);
        for (g, w) in other.group_walls {
            self.group_walls.entry(g).or_default().extend(w);
        }
        for (r, w) in other.role_walls {
            self.role_walls.entry(r).or_default().extend(w);
        }
        for (i, t) in other.last_touch {
            let e = self.last_touch.entry(i).or_insert(t);
            *e = (*e).max(t);
        }
        self.sort_lists();
        self
    }
}

/// The rest of the feed state, once items and entries are loaded: follows, rules, jobs,
/// files, preferences, and from `items` (id, last update, responsible) the owners'
/// follows and the records' last touch.
pub(crate) fn load(st: &mut State, store: &Store, items: &[(ItemId, i64, UserId)]) -> Result<()> {
    for kv in store.scan(store::FOLLOW) {
        let (k, v) = kv?;
        let user = k
            .get(1..9)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes);
        let item = k
            .get(9..17)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes);
        let (Some(user), Some(item)) = (user, item) else {
            return Err(Error::Corrupt("malformed follow key".into()));
        };
        let f: records::FollowRec = records::decode(&v)?;
        let owner = st
            .slot(ItemId(item))
            .is_some_and(|s| s.responsible == UserId(user));
        if crate::follow::active(&f, owner) {
            st.feed
                .following
                .entry(UserId(user))
                .or_default()
                .insert(ItemId(item));
        }
        st.feed
            .by_item
            .entry(ItemId(item))
            .or_default()
            .insert(UserId(user), f);
    }
    for kv in store.scan(store::RULE) {
        let (_, v) = kv?;
        let r: records::RuleRec = records::decode(&v)?;
        st.feed.rules.insert(r.id, r);
    }
    for kv in store.scan(store::JOB) {
        let (_, v) = kv?;
        let j: records::JobRec = records::decode(&v)?;
        st.feed.jobs.insert(j.id, j);
    }
    for kv in store.scan(store::FILE_META) {
        let (_, v) = kv?;
        let f: FileRec = records::decode(&v)?;
        st.feed.files.insert(f.id, f);
    }
    if let Some(p) = store.get(store::PREFS)? {
        let p: PrefsRec = records::decode(&p)?;
        st.feed.disabled = p.disabled_modules.into_iter().collect();
    }
    // Items never commented on count as touched when last updated; the responsible
    // follows as owner unless they unfollowed (the owner reason is not stored). Built from
    // sorted runs: a million single inserts would cost several times more.
    st.feed.last_touch.reserve(items.len());
    let mut owned: Vec<(UserId, ItemId)> = Vec::with_capacity(items.len());
    for (id, updated_at, responsible) in items {
        let t = st.feed.last_touch.entry(*id).or_insert(0);
        *t = (*t).max(*updated_at);
        if !crate::follow::unfollowed(st, *responsible, *id) {
            owned.push((*responsible, *id));
        }
    }
    owned.sort_unstable();
    let mut rest = owned.as_slice();
    while let Some((user, _)) = rest.first() {
        let n = rest.iter().take_while(|(u, _)| u == user).count();
        let (run, tail) = rest.split_at(n);
        let set = st.feed.following.entry(*user).or_default();
        if set.is_empty() {
            *set = run.iter().map(|(_, i)| *i).collect();
        } else {
            set.extend(run.iter().map(|(_, i)| *i));
        }
        rest = tail;
    }
    Ok(())
}

/// A record's module key, title and last touch, for listings.
pub(crate) fn record_info(st: &State, item: ItemId) -> Option<(String, String, i64)> {
    let slot = st.slot(item)?;
    let r = records::access::<records::ArchivedItemRec>(&slot.rec).ok()?;
    let module = st
        .boards
        .get(&slot.board)
        .map(|b| b.module.clone())
        .unwrap_or_default();
    let touched = st
        .feed
        .last_touch
        .get(&item)
        .copied()
        .unwrap_or(r.updated_at.to_native());
    Some((module, r.title.to_string(), touched))
}

/// Writes an entry and files it into memory. For entries about a record, the record's
/// module and title are stamped on it and its current followers join the audience.
pub(crate) fn append(tx: &mut Tx<'_>, mut rec: TimelineRec) -> Result<TimelineRec> {
    rec.seq = tx.state.alloc(Counter::Entry);
    if rec.item != 0 {
        let item = ItemId(rec.item);
        if let Some(slot) = tx.state.slot(item) {
            if let Some(b) = tx.state.boards.get(&slot.board) {
                rec.module = b.module.clone();
            }
            if let Ok(r) = records::access::<records::ArchivedItemRec>(&slot.rec) {
                rec.title = r.title.to_string();
            }
        }
        let mut audience: BTreeSet<u64> = crate::follow::followers(tx, item)
            .into_iter()
            .map(|u| u.0)
            .collect();
        audience.extend(rec.mentions_users.iter().copied());
        audience.extend(rec.audience.iter().copied());
        rec.audience = audience.into_iter().collect();
    }
    tx.batch
        .put(&store::entry_key(rec.seq), records::encode(&rec)?);
    tx.state.feed.index(&rec);
    if let Some(slot) = tx.state.slot_mut(ItemId(rec.item)) {
        slot.entries.push(rec.seq);
    }
    Ok(rec)
}

/// A wall's filters (all that are set must hold).
#[derive(Debug, Clone, Default)]
pub struct WallFilter {
    /// Only these modules (any of them).
    pub modules: Vec<String>,
    /// Only these feed kinds (`comment`, `record_updated`, …).
    pub kinds: Vec<String>,
    /// Only entries at or after.
    pub since: Option<Millis>,
    /// Only entries before.
    pub until: Option<Millis>,
}

/// A feed entry as walls show it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEntry {
    /// Its id (newer entries have greater ids).
    pub id: EntryId,
    /// The feed kind: `status`, `comment`, `note`, `record_created`, `record_updated`,
    /// `record_deleted`, `event`, `activity`, `direct_message`, `file`.
    pub kind: &'static str,
    /// When.
    pub at: Millis,
    /// Who (none for system entries).
    pub author: Option<UserId>,
    /// The text (for record entries without text: a short description).
    pub text: String,
    /// The record's module.
    pub module: Option<String>,
    /// The record.
    pub item: Option<ItemId>,
    /// The record's title when the entry was written.
    pub title: Option<String>,
    /// The group.
    pub group: Option<GroupId>,
    /// Mentions.
    pub mentions: Mentions,
    /// For `record_updated`: each field's old and new value.
    pub changes: Vec<crate::item::FieldChange>,
    /// For direct messages: the recipients.
    pub recipients: Vec<UserId>,
    /// For files: the file.
    pub file: Option<u64>,
    /// The underlying timeline entry kind.
    pub detail: TimelineKind,
}

fn to_feed(rec: TimelineRec) -> FeedEntry {
    let kind = rec.kind.feed_kind();
    let module = (!rec.module.is_empty()).then(|| rec.module.clone());
    let title = (rec.item != 0).then(|| rec.title.clone());
    let group = rec.group.map(GroupId);
    let recipients = rec.recipients.iter().map(|u| UserId(*u)).collect();
    let file = rec.file;
    let t: TimelineEntry = crate::timeline::entry(rec);
    FeedEntry {
        id: t.id,
        kind,
        at: t.at,
        author: t.author,
        text: t.text,
        module,
        item: (t.item.0 != 0).then_some(t.item),
        title,
        group,
        mentions: t.mentions,
        changes: t.changes,
        recipients,
        file,
        detail: t.kind,
    }
}

/// The keys of a page, chosen under the state lock.
struct Picked {
    /// Entry seqs, newest first.
    keys: Vec<u64>,
    more: bool,
}

const KINDS: [&str; 10] = [
    "status",
    "comment",
    "note",
    "record_created",
    "record_updated",
    "record_deleted",
    "event",
    "activity",
    "direct_message",
    "file",
];

impl Engine {
    /// Merges `sources` (ascending seq lists) newest first below the cursor, keeps what
    /// `keep` accepts, and reads the page's entries from sled.
    fn merge_page(
        &self,
        st: &State,
        sources: &[&Vec<u64>],
        req: &PageRequest,
        keep: &dyn Fn(u64, &EntryMeta) -> bool,
    ) -> Result<Picked> {
        let limit = limit_of(req)?;
        let before = req
            .cursor
            .as_deref()
            .map(|c| crate::cursor::decode_u64(b'w', c))
            .transpose()?
            .unwrap_or(u64::MAX);
        // Per source: how many entries below the cursor remain (we read from the end).
        let mut heads: Vec<usize> = sources
            .iter()
            .map(|s| s.partition_point(|x| *x < before))
            .collect();
        let mut picked: Vec<u64> = Vec::with_capacity(limit);
        let mut more = false;
        let mut last_seen = u64::MAX;
        loop {
            let mut best: Option<(usize, u64)> = None;
            for (i, h) in heads.iter().enumerate() {
                if *h == 0 {
                    continue;
                }
                let v = sources
                    .get(i)
                    .and_then(|s| s.get(*h - 1))
                    .copied()
                    .unwrap_or(0);
                if best.is_none_or(|(_, b)| v > b) {
                    best = Some((i, v));
                }
            }
            let Some((i, seq)) = best else { break };
            if let Some(h) = heads.get_mut(i) {
                *h -= 1;
            }
            if seq == last_seen {
                continue; // the same entry reached through two sources
            }
            last_seen = seq;
            let Some(meta) = st.feed.meta(seq) else {
                continue;
            };
            if meta.module != 0 && st.feed.disabled.contains(st.feed.module_of(meta)) {
                continue;
            }
            if !keep(seq, meta) {
                continue;
            }
            if picked.len() == limit {
                more = true;
                break;
            }
            picked.push(seq);
        }
        Ok(Picked { keys: picked, more })
    }

    /// Reads the picked entries from sled. Called after the state lock is released, so a
    /// cold page never holds up the writer.
    fn fetch(&self, picked: Picked) -> Result<Page<FeedEntry>> {
        let Picked { keys: picked, more } = picked;
        let mut items = Vec::with_capacity(picked.len());
        for seq in &picked {
            if let Some(v) = self.shared.store.get(&store::entry_key(*seq))? {
                items.push(to_feed(records::decode::<TimelineRec>(&v)?));
            }
        }
        let next_cursor = if more {
            picked.last().map(|s| crate::cursor::encode_u64(b'w', *s))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// The wall of `user`, newest first, filtered.
    pub fn wall(
        &self,
        user: UserId,
        filter: &WallFilter,
        req: &PageRequest,
    ) -> Result<Page<FeedEntry>> {
        for (i, k) in filter.kinds.iter().enumerate() {
            if !KINDS.contains(&k.as_str()) {
                return Err(Error::invalid(
                    format!("kind[{i}]"),
                    format!("unknown kind {k:?}"),
                ));
            }
        }
        let st = self.shared.state.read();
        for (i, m) in filter.modules.iter().enumerate() {
            if !st.modules.contains_key(m) {
                return Err(Error::invalid(
                    format!("module[{i}]"),
                    format!("unknown module {m:?}"),
                ));
            }
        }
        let u = st
            .users
            .get(&user)
            .ok_or_else(|| Error::not_found("user", user))?;
        let empty = Vec::new();
        let mut sources: Vec<&Vec<u64>> =
            vec![st.feed.walls.get(&user).unwrap_or(&empty), &st.feed.public];
        for g in st.groups.values().filter(|g| g.members.contains(&user.0)) {
            if let Some(w) = st.feed.group_walls.get(&GroupId(g.id)) {
                sources.push(w);
            }
        }
        for r in &u.roles {
            if let Some(w) = st.feed.role_walls.get(r) {
                sources.push(w);
            }
        }
        let keep = |_: u64, m: &EntryMeta| {
            (filter.modules.is_empty() || filter.modules.iter().any(|x| x == st.feed.module_of(m)))
                && (filter.kinds.is_empty() || filter.kinds.iter().any(|k| k == m.kind.feed_kind()))
                && filter.since.is_none_or(|s| m.at >= s.0)
                && filter.until.is_none_or(|u| m.at < u.0)
        };
        let picked = self.merge_page(&st, &sources, req, &keep)?;
        drop(st);
        self.fetch(picked)
    }

    /// A group's entries (status messages, files, mentions of it): members only.
    pub fn group_feed(
        &self,
        user: UserId,
        group: GroupId,
        req: &PageRequest,
    ) -> Result<Page<FeedEntry>> {
        let st = self.shared.state.read();
        let g = st
            .groups
            .get(&group)
            .filter(|g| g.members.contains(&user.0));
        if g.is_none() {
            return Err(Error::not_found("group", group));
        }
        let empty = Vec::new();
        let w = st.feed.group_walls.get(&group).unwrap_or(&empty);
        let picked = self.merge_page(&st, &[w], req, &|_, _| true)?;
        drop(st);
        self.fetch(picked)
    }

    /// The direct messages `user` sent or received, optionally only those with `with`.
    pub fn messages(
        &self,
        user: UserId,
        with: Option<UserId>,
        req: &PageRequest,
    ) -> Result<Page<FeedEntry>> {
        let Some(other) = with else {
            let st = self.shared.state.read();
            let empty = Vec::new();
            let w = st.feed.walls.get(&user).unwrap_or(&empty);
            let keep = |_: u64, m: &EntryMeta| m.kind == TimelineKind::Message;
            let picked = self.merge_page(&st, &[w], req, &keep)?;
            drop(st);
            return self.fetch(picked);
        };
        // One conversation: the parties are inside the entries, so take the user's
        // messages below the cursor under the lock, then read them newest first without
        // it until the page is full. Costs the user's messages scanned, not the store.
        let limit = limit_of(req)?;
        let before = req
            .cursor
            .as_deref()
            .map(|c| crate::cursor::decode_u64(b'w', c))
            .transpose()?
            .unwrap_or(u64::MAX);
        let candidates: Vec<u64> = {
            let st = self.shared.state.read();
            st.feed
                .walls
                .get(&user)
                .map(|w| {
                    w.iter()
                        .rev()
                        .copied()
                        .filter(|s| *s < before)
                        .filter(|s| {
                            st.feed
                                .meta(*s)
                                .is_some_and(|m| m.kind == TimelineKind::Message)
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut items = Vec::with_capacity(limit);
        let mut more = false;
        for seq in candidates {
            let Some(v) = self.shared.store.get(&store::entry_key(seq))? else {
                continue;
            };
            let r = records::decode::<TimelineRec>(&v)?;
            let author = r.author.unwrap_or(0);
            let ours = (author == user.0 && r.recipients.contains(&other.0))
                || (author == other.0 && r.recipients.contains(&user.0));
            if !ours {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(to_feed(r));
        }
        let next_cursor = if more {
            items
                .last()
                .map(|e: &FeedEntry| crate::cursor::encode_u64(b'w', e.id.0))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Record peek: the latest entries of one record (hidden if its module is off).
    pub fn record_feed(&self, item: ItemId, req: &PageRequest) -> Result<Page<FeedEntry>> {
        let st = self.shared.state.read();
        let (module, _, _) =
            record_info(&st, item).ok_or_else(|| Error::not_found("item", item))?;
        if st.feed.disabled.contains(&module) {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        drop(st);
        let page = self.entries_of(item, req, false)?;
        let items = page
            .items
            .into_iter()
            .map(|t| FeedEntry {
                id: t.id,
                kind: t.kind.feed_kind(),
                at: t.at,
                author: t.author,
                text: t.text,
                module: Some(module.clone()),
                item: Some(t.item),
                title: None,
                group: None,
                mentions: t.mentions,
                changes: t.changes,
                recipients: Vec::new(),
                file: None,
                detail: t.kind,
            })
            .collect();
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }

    /// A status message: to everyone, or to a group the author belongs to.
    pub fn post(
        &self,
        author: UserId,
        text: String,
        group: Option<GroupId>,
        mentions: Mentions,
    ) -> Result<FeedEntry> {
        self.call(move |tx| {
            let text = validate::text_len("text", &text, 1, 20_000)?;
            if let Some(g) = group {
                member_of(tx, author, g)?;
            }
            crate::timeline::check_mentions(tx, &mentions)?;
            let mut rec = crate::timeline::blank(tx, ItemId(0), TimelineKind::Status);
            rec.author = Some(author.0);
            rec.text = text;
            rec.group = group.map(|g| g.0);
            rec.audience = mentions.users.iter().map(|u| u.0).collect();
            rec.audience.sort_unstable();
            rec.audience.dedup();
            rec.mentions_users = mentions.users.iter().map(|u| u.0).collect();
            rec.mentions_groups = mentions.groups.iter().map(|g| g.0).collect();
            rec.mentions_roles = mentions.roles;
            Ok(to_feed(append(tx, rec)?))
        })
    }

    /// A direct message to users and/or the members of a group (resolved now). Only the
    /// sender and the recipients ever see it.
    pub fn send_message(
        &self,
        from: UserId,
        text: String,
        to_users: Vec<UserId>,
        to_group: Option<GroupId>,
    ) -> Result<FeedEntry> {
        self.call(move |tx| {
            let text = validate::text_len("text", &text, 1, 20_000)?;
            let mut recipients = BTreeSet::new();
            for (i, u) in to_users.iter().enumerate() {
                tx.state.active_user(*u, &format!("to_users[{i}]"))?;
                recipients.insert(u.0);
            }
            if let Some(g) = to_group {
                let group = member_of(tx, from, g)?;
                recipients.extend(group.iter().copied());
            }
            recipients.remove(&from.0);
            if recipients.is_empty() {
                return Err(Error::invalid(
                    "to_users",
                    "a message needs at least one recipient other than the sender",
                ));
            }
            let mut rec = crate::timeline::blank(tx, ItemId(0), TimelineKind::Message);
            rec.author = Some(from.0);
            rec.text = text;
            rec.group = to_group.map(|g| g.0);
            rec.recipients = recipients.iter().copied().collect();
            let mut audience = recipients;
            audience.insert(from.0);
            rec.audience = audience.into_iter().collect();
            Ok(to_feed(append(tx, rec)?))
        })
    }

    /// Shares a file in a group (members only); also a `file` entry on the group's wall.
    pub fn share_file(
        &self,
        author: UserId,
        group: GroupId,
        name: String,
        content_type: String,
        bytes: Vec<u8>,
    ) -> Result<FileInfo> {
        self.call(move |tx| {
            member_of(tx, author, group)?;
            let name = validate::text_len("name", &name, 1, 255)?;
            if bytes.len() > 8 << 20 {
                return Err(Error::invalid("body", "files are at most 8 MiB"));
            }
            let id = tx.state.alloc(Counter::File);
            let meta = FileRec {
                id,
                group: group.0,
                name: name.clone(),
                size: bytes.len() as u64,
                content_type,
                author: author.0,
                at: tx.now.0,
            };
            tx.batch.put(
                &store::id_key(store::FILE_META, id),
                records::encode(&meta)?,
            );
            tx.batch.put_file(id, &bytes);
            let mut rec = crate::timeline::blank(tx, ItemId(0), TimelineKind::File);
            rec.author = Some(author.0);
            rec.text = name;
            rec.group = Some(group.0);
            rec.file = Some(id);
            append(tx, rec)?;
            let info = FileInfo::from(&meta);
            tx.state.feed.files.insert(id, meta);
            Ok(info)
        })
    }

    /// A group file's metadata and bytes, for members only.
    pub fn file(&self, user: UserId, group: GroupId, file: u64) -> Result<(FileInfo, Vec<u8>)> {
        let info = {
            let st = self.shared.state.read();
            let member = st
                .groups
                .get(&group)
                .is_some_and(|g| g.members.contains(&user.0));
            let f = st
                .feed
                .files
                .get(&file)
                .filter(|f| f.group == group.0 && member);
            f.map(FileInfo::from)
                .ok_or_else(|| Error::not_found("file", file))?
        };
        let bytes = self
            .shared
            .store
            .file_bytes(file, usize::try_from(info.size).unwrap_or(0))?
            .ok_or_else(|| Error::not_found("file", file))?;
        Ok((info, bytes))
    }

    /// Modules switched off in every feed.
    pub fn feed_preferences(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .shared
            .state
            .read()
            .feed
            .disabled
            .iter()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Switches modules off in every feed (the others on). Hidden entries stay stored and
    /// come back when their module is switched on again.
    pub fn set_feed_preferences(&self, disabled_modules: Vec<String>) -> Result<Vec<String>> {
        self.call(move |tx| {
            for (i, m) in disabled_modules.iter().enumerate() {
                if !tx.state.modules.contains_key(m) {
                    return Err(Error::invalid(
                        format!("disabled_modules[{i}]"),
                        format!("unknown module {m:?}"),
                    ));
                }
            }
            let mut v = disabled_modules;
            v.sort();
            v.dedup();
            tx.batch.put(
                store::PREFS,
                records::encode(&PrefsRec {
                    disabled_modules: v.clone(),
                })?,
            );
            tx.state.feed.disabled = v.iter().cloned().collect();
            Ok(v)
        })
    }
}

fn member_of(tx: &Tx<'_>, user: UserId, group: GroupId) -> Result<Vec<u64>> {
    match tx.state.groups.get(&group) {
        Some(g) if g.members.contains(&user.0) => Ok(g.members.clone()),
        _ => Err(Error::not_found("group", group)),
    }
}

/// A shared file's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct FileInfo {
    /// Its id.
    pub id: u64,
    /// The group.
    pub group: GroupId,
    /// The file name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// As uploaded.
    pub content_type: String,
}

impl From<&FileRec> for FileInfo {
    fn from(f: &FileRec) -> FileInfo {
        FileInfo {
            id: f.id,
            group: GroupId(f.group),
            name: f.name.clone(),
            size: f.size,
            content_type: f.content_type.clone(),
        }
    }
}
