//! Feeds: entries, who sees them, and walls.
//!
//! Every entry is one record in a pack of its group's entries (`K` + last seq, see
//! `store/packs.rs`), about a record (then it is also the record's timeline entry) or not
//! (status messages, direct messages, files), written once, in the same batch as the change
//! it describes. Seqs only grow, so each pack is an append.
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

use std::collections::BTreeSet;

use crate::clock::Millis;
use crate::engine::{Engine, Tx};
use crate::entry::{Mentions, TimelineEntry};
use crate::error::{Error, Result};
use crate::ids::{BoardId, EntryId, FileId, GroupId, ItemId, JobId, RuleId, UserId};
use crate::page::{limit_of, Page, PageRequest};
use crate::records::{self, FeedKind, FileRec, PrefsRec, TimelineKind, TimelineRec};
use crate::state::{Counter, State};
use crate::store::{self, Store};
use crate::walls::EntryMeta;

/// The rest of the feed state, once items and entries are loaded: follows, rules, jobs,
/// files, preferences, and from `items` (id, last update, responsible) the owners'
/// follows and the records' last touch.
pub(crate) fn load(
    st: &mut State,
    store: &Store,
    items: &[(ItemId, i64, UserId)],
    checks: &records::Checks,
) -> Result<()> {
    for kv in store.scan(store::FOLLOW) {
        let (k, v) = kv?;
        let Some((user, item)) = store::key_pair(&k) else {
            return Err(Error::Corrupt("malformed follow key".into()));
        };
        let Some(f) = checks.record(&k, &v, records::decode::<records::FollowRec>(&v))? else {
            continue;
        };
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
    for kv in store.scan(store::BOARD_FOLLOW) {
        let (k, v) = kv?;
        let Some((board, user)) = store::key_pair(&k) else {
            return Err(Error::Corrupt("malformed board follow key".into()));
        };
        let (board, user) = (BoardId(board), UserId(user));
        if checks
            .record(&k, &v, records::access::<records::ArchivedBoardFollowRec>(&v))?
            .is_none()
            // Salvaging: the follow of a board that was set aside goes with it.
            || !st.boards.contains_key(&board)
        {
            continue;
        }
        crate::follow::set_board_follow(st, user, board, true);
    }
    for kv in store.scan(store::RULE) {
        let (k, v) = kv?;
        let Some(r) = checks.record(&k, &v, records::decode::<records::RuleRec>(&v))? else {
            continue;
        };
        st.feed.rules.insert(RuleId(r.id), r);
    }
    for kv in store.scan(store::JOB) {
        let (k, v) = kv?;
        let Some(j) = checks.record(&k, &v, records::decode::<records::JobRec>(&v))? else {
            continue;
        };
        st.feed.jobs.insert(JobId(j.id), j);
    }
    for kv in store.scan(store::FILE_META) {
        let (k, v) = kv?;
        let Some(f) = checks.record(&k, &v, records::decode::<FileRec>(&v))? else {
            continue;
        };
        st.feed.files.insert(FileId(f.id), f);
    }
    if let Some(v) = store.get(store::PREFS)? {
        let checked = records::decode::<PrefsRec>(&v);
        if let Some(p) = checks.record(store::PREFS, &v, checked)? {
            st.feed.disabled = p.disabled_modules.into_iter().collect();
        }
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

/// Writes an entry and files it into memory. For entries about a record, the record's
/// module and title are stamped on it and its current followers join the audience.
pub(crate) fn append(tx: &mut Tx<'_>, mut rec: TimelineRec) -> Result<TimelineRec> {
    rec.seq = tx.state.alloc(Counter::Entry);
    let mut board = None;
    if let Some(item) = rec.about() {
        if let Some(slot) = tx.state.slot(item) {
            board = Some(slot.board);
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
    tx.batch.put_entry(rec.seq, records::encode(&rec)?);
    tx.state.feed.index(&rec);
    if let Some(slot) = tx.state.slot_mut(ItemId(rec.item)) {
        slot.entries.push(rec.seq);
    }
    tx.entry_added(EntryId(rec.seq), board, rec.about());
    Ok(rec)
}

/// A wall's filters (all that are set must hold).
#[derive(Debug, Clone, Default)]
pub struct WallFilter {
    /// Only these modules (any of them).
    pub modules: Vec<String>,
    /// Only these feed kinds (`comment`, `record_updated`, …).
    pub kinds: Vec<FeedKind>,
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
    pub kind: FeedKind,
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
    pub changes: Vec<crate::entry::FieldChange>,
    /// For direct messages: the recipients.
    pub recipients: Vec<UserId>,
    /// For files: the file.
    pub file: Option<FileId>,
    /// The underlying timeline entry kind.
    pub detail: TimelineKind,
}

/// A wall page's cursor: the seq of the last entry shown (walls, group feeds, messages).
pub(crate) fn encode_cursor(seq: u64) -> String {
    crate::cursor::encode_u64(b'w', seq)
}

pub(crate) fn decode_cursor(s: &str) -> Result<u64> {
    crate::cursor::decode_u64(b'w', s)
}

pub(crate) fn to_feed(rec: TimelineRec) -> FeedEntry {
    let kind = rec.kind.feed_kind();
    let module = (!rec.module.is_empty()).then(|| rec.module.clone());
    let title = rec.about().map(|_| rec.title.clone());
    let group = rec.group.map(GroupId);
    let recipients = rec.recipients.iter().map(|u| UserId(*u)).collect();
    let file = rec.file.map(FileId);
    let t: TimelineEntry = crate::entry::entry(rec);
    FeedEntry {
        id: t.id,
        kind,
        at: t.at,
        author: t.author,
        text: t.text,
        module,
        item: records::about(t.item.0),
        title,
        group,
        mentions: t.mentions,
        changes: t.changes,
        recipients,
        file,
        detail: t.kind,
    }
}

/// The entry lists that make up `user`'s wall: their own (audience and mentions), public
/// statuses, their groups' and their roles'. The wall and the feed stream both read this.
fn wall_sources(st: &State, user: UserId) -> Result<Vec<&Vec<u64>>> {
    static EMPTY: Vec<u64> = Vec::new();
    let u = st
        .users
        .get(&user)
        .ok_or_else(|| Error::not_found("user", user))?;
    let mut sources: Vec<&Vec<u64>> =
        vec![st.feed.walls.get(&user).unwrap_or(&EMPTY), &st.feed.public];
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
    Ok(sources)
}

/// The keys of a page, chosen under the state lock.
pub(crate) struct Picked {
    /// Entry seqs, newest first.
    keys: Vec<u64>,
    more: bool,
}

impl Engine {
    /// Merges `sources` (ascending seq lists) newest first below the cursor, keeps what
    /// `keep` accepts, and reads the page's entries from sled.
    pub(crate) fn merge_page(
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
            .map(decode_cursor)
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
            if st.feed.hidden(&meta) {
                continue;
            }
            if !keep(seq, &meta) {
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
    pub(crate) fn fetch(&self, picked: Picked) -> Result<Page<FeedEntry>> {
        let Picked { keys: picked, more } = picked;
        let mut items = Vec::with_capacity(picked.len());
        let mut entries = self.shared.store.entries();
        for seq in &picked {
            if let Some(v) = entries.read(*seq)? {
                items.push(to_feed(records::decode::<TimelineRec>(&v)?));
            }
        }
        let next_cursor = if more {
            picked.last().map(|s| encode_cursor(*s))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Of `entries`, those on `user`'s wall, oldest first, read from the store: the same
    /// audience rules as [`Engine::wall`] (the user's own list, public statuses, their
    /// groups and roles) and the disabled modules. The live feed stream asks this for the
    /// entries of the changes it follows, so a stream never shows what the wall would not.
    pub fn wall_entries(&self, user: UserId, entries: &[EntryId]) -> Result<Vec<FeedEntry>> {
        let st = self.shared.state.read();
        let sources = wall_sources(&st, user)?;
        let mut keys: Vec<u64> = entries
            .iter()
            .map(|e| e.0)
            .filter(|seq| sources.iter().any(|s| s.binary_search(seq).is_ok()))
            .filter(|seq| st.feed.meta(*seq).is_some_and(|m| !st.feed.hidden(&m)))
            .collect();
        drop(st);
        keys.sort_unstable();
        keys.dedup();
        let mut out = Vec::with_capacity(keys.len());
        let mut entries = self.shared.store.entries();
        for seq in keys {
            if let Some(v) = entries.read(seq)? {
                out.push(to_feed(records::decode::<TimelineRec>(&v)?));
            }
        }
        Ok(out)
    }

    /// The wall of `user`, newest first, filtered.
    pub fn wall(
        &self,
        user: UserId,
        filter: &WallFilter,
        req: &PageRequest,
    ) -> Result<Page<FeedEntry>> {
        let st = self.shared.state.read();
        for (i, m) in filter.modules.iter().enumerate() {
            if !st.modules.contains_key(m) {
                return Err(Error::invalid(
                    format!("module[{i}]"),
                    format!("unknown module {m:?}"),
                ));
            }
        }
        let sources = wall_sources(&st, user)?;
        let keep = |_: u64, m: &EntryMeta| {
            (filter.modules.is_empty() || filter.modules.iter().any(|x| x == st.feed.module_of(m)))
                && (filter.kinds.is_empty() || filter.kinds.contains(&m.kind.feed_kind()))
                && filter.since.is_none_or(|s| m.at >= s.0)
                && filter.until.is_none_or(|u| m.at < u.0)
        };
        let picked = self.merge_page(&st, &sources, req, &keep)?;
        drop(st);
        self.fetch(picked)
    }
}
