//! The engine's in-memory state: everything a hot path reads, kept exact.
//!
//! Records live in sled; memory holds what pages, focus and lookups need without a sled
//! read: per column an ordered map of order keys, per item a slot with its stored bytes
//! (the same reference-counted `IVec` sled holds, read in place), and the small indexes
//! (tokens, contacts). All of it is derived from the records, so it is rebuilt by one scan
//! on open and can never disagree with them after a crash.
//!
//! Only the writer thread mutates the state, under the engine's write lock, one command at
//! a time; readers take the read lock.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use smallvec::SmallVec;

use crate::error::{Error, Result};
use crate::ids::{ActivityId, BoardId, ColumnId, GroupId, ItemId, UserId};
use crate::order::OrderKey;
use crate::records::{
    self, ActivityRec, BoardRec, FocusReason, GroupRec, Meta, ModuleRec, UserRec, DEADLINE_BIT,
};
use crate::store::{self, Batch, Bytes, Store};
use crate::view::ItemView;

/// One item as memory keeps it.
#[derive(Clone)]
pub(crate) struct ItemSlot {
    /// The stored record, shared with sled.
    pub rec: Bytes,
    pub board: BoardId,
    pub column: ColumnId,
    pub key: OrderKey,
    pub responsible: UserId,
    /// The focus state, newer than `rec`'s copy when the last focus was durable in an
    /// entry's redo (see `records::FocusRedo`); `key` likewise.
    pub focus: Focus,
    /// Seqs of the entries about the item, oldest first: its timeline (the rows are `E` +
    /// seq, in write order across all items, so this list is the only per-item index).
    pub entries: SmallVec<[u64; 2]>,
}

/// An item's focus state apart from its position: what memory holds authoritatively
/// (the slot), what a view shows, and what a focus redo restores on open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Focus {
    pub focused_at: i64,
    pub focus_reason: FocusReason,
    /// Unread while above 0.
    pub attention: u32,
}

impl Focus {
    /// Records a focus trigger: when and why, if the item moved for it (a board with focus
    /// off keeps its order and its last focus), and attention for the triggers that raise it.
    pub(crate) fn mark(&mut self, now: i64, reason: FocusReason, moved: bool) {
        if moved {
            self.focused_at = now;
            self.focus_reason = reason;
        }
        if reason.raises_attention() {
            self.attention = self.attention.saturating_add(1);
        }
    }

    pub(crate) fn of(rec: &records::ItemRec) -> Focus {
        Focus {
            focused_at: rec.focused_at,
            focus_reason: rec.focus_reason,
            attention: rec.attention,
        }
    }

    pub(crate) fn of_archived(rec: &records::ArchivedItemRec) -> Focus {
        Focus {
            focused_at: rec.focused_at.to_native(),
            focus_reason: rec.focus_reason.to_native(),
            attention: rec.attention.to_native(),
        }
    }

    /// Copies this state into a record about to be written.
    pub(crate) fn write_to(self, rec: &mut records::ItemRec) {
        rec.focused_at = self.focused_at;
        rec.focus_reason = self.focus_reason;
        rec.attention = self.attention;
    }
}

/// One column: its items by order key (the greatest key is the top).
#[derive(Default)]
pub(crate) struct ColumnState {
    pub board: BoardId,
    pub order: BTreeMap<OrderKey, ItemId>,
    /// Items of this column with `attention > 0`.
    pub unread: u64,
}

/// One activity as memory keeps it.
#[derive(Clone)]
pub(crate) struct ActSlot {
    pub rec: Bytes,
    pub item: ItemId,
    pub responsible: UserId,
    pub deadline: i64,
    pub open: bool,
    /// The deadline fired and the activity is still open.
    pub overdue: bool,
    /// A reminder fired since the deadline was last set.
    pub reminded: bool,
}

impl ActSlot {
    pub(crate) fn from_rec(rec: Bytes, a: &ActivityRec) -> ActSlot {
        ActSlot {
            rec,
            item: ItemId(a.item),
            responsible: UserId(a.responsible),
            deadline: a.deadline,
            open: a.completed_at.is_none(),
            overdue: a.completed_at.is_none() && a.fired & DEADLINE_BIT != 0,
            reminded: a.fired & !DEADLINE_BIT != 0,
        }
    }
}

/// A user's counters in one column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub unread: u64,
    pub overdue: u64,
}

/// One item as an open scan reads it, before it is filed.
pub(crate) struct Loaded {
    id: ItemId,
    slot: ItemSlot,
    contacts: SmallVec<[u64; 4]>,
    updated_at: i64,
    version: u64,
}

/// An item's newest focus redo found by an open scan of the entries.
pub(crate) struct Redo {
    pub seq: u64,
    pub key: OrderKey,
    pub focus: Focus,
}

/// Newest redo per item id.
pub(crate) type Redos = HashMap<u64, Redo>;

/// Keeps the newer of two redos of an item.
pub(crate) fn keep_newest(into: &mut Redos, item: u64, redo: Redo) {
    match into.get(&item) {
        Some(old) if old.seq >= redo.seq => {}
        _ => {
            into.insert(item, redo);
        }
    }
}

/// Overrides the focus state of each scanned item whose newest redo is at or above the
/// version of its row (the row was written before that entry).
fn replay(loaded: &mut [Loaded], redos: Redos) {
    for (item, r) in redos {
        let Ok(i) = loaded.binary_search_by_key(&item, |l| l.id.0) else {
            // The item was deleted after the entry.
            continue;
        };
        let Some(l) = loaded.get_mut(i) else { continue };
        if r.seq >= l.version {
            l.slot.key = r.key;
            l.slot.focus = r.focus;
        }
    }
}

/// Reads and validates the items with ids in `[lo, hi)`.
fn scan_items(
    store: &Store,
    hasher: &std::collections::hash_map::RandomState,
    lo: u64,
    hi: u64,
) -> Result<Vec<Loaded>> {
    let mut out = Vec::new();
    let (from, to) = (
        store::id_key(store::ITEM, lo),
        store::id_key(store::ITEM, hi),
    );
    for kv in store.range(&from, &to) {
        let (_, v) = kv?;
        let r = records::access::<records::ArchivedItemRec>(&v)?;
        let mut contacts = SmallVec::new();
        contacts.extend(
            r.phones
                .iter()
                .filter_map(|p| phone_key(hasher, p.as_str())),
        );
        contacts.extend(r.emails.iter().map(|e| email_key(hasher, e.as_str())));
        out.push(Loaded {
            id: ItemId(r.id.to_native()),
            contacts,
            updated_at: r.updated_at.to_native(),
            version: r.version.to_native(),
            slot: ItemSlot {
                board: BoardId(r.board.to_native()),
                column: ColumnId(r.column.to_native()),
                key: OrderKey::from_slice(&r.order),
                responsible: UserId(r.responsible.to_native()),
                focus: Focus::of_archived(r),
                entries: SmallVec::new(),
                rec: v.clone(),
            },
        });
    }
    Ok(out)
}

/// The index key of a phone number: spaces, dashes, dots and parentheses removed.
/// `None` when nothing else is left.
fn phone_key(hasher: &std::collections::hash_map::RandomState, p: &str) -> Option<u64> {
    use std::hash::{BuildHasher, Hasher};
    let mut h = hasher.build_hasher();
    h.write_u8(b't');
    let mut any = false;
    for c in p
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\t'))
    {
        h.write_u32(u32::from(c));
        any = true;
    }
    any.then(|| h.finish())
}

/// The index key of an e-mail: compared case-insensitively.
fn email_key(hasher: &std::collections::hash_map::RandomState, e: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = hasher.build_hasher();
    h.write_u8(b'm');
    for c in e.trim().chars().flat_map(char::to_lowercase) {
        h.write_u32(u32::from(c));
    }
    h.finish()
}

/// The id counters of the meta row (`records::Meta`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    User,
    Group,
    Board,
    Column,
    Item,
    Activity,
    /// Timeline entries and seen-event rows share it.
    Entry,
    Rule,
    Job,
    File,
}

#[derive(Default)]
pub(crate) struct State {
    pub meta: Meta,
    pub meta_dirty: bool,
    pub users: BTreeMap<UserId, UserRec>,
    pub tokens: HashMap<[u8; 32], UserId>,
    pub groups: BTreeMap<GroupId, GroupRec>,
    pub modules: BTreeMap<String, ModuleRec>,
    pub boards: BTreeMap<BoardId, BoardRec>,
    pub columns: HashMap<ColumnId, ColumnState>,
    /// Indexed by item id; `None` for ids never used or deleted.
    pub items: Vec<Option<ItemSlot>>,
    pub item_count: u64,
    /// A keyed hash of a normalized phone or e-mail → items carrying it. Keys are hashes,
    /// not strings, so the index costs no allocation per contact; the hasher is seeded at
    /// random per process, so nobody can aim collisions at it.
    pub contacts: BTreeSet<(u64, ItemId)>,
    pub contact_hasher: std::collections::hash_map::RandomState,
    pub activities: HashMap<ActivityId, ActSlot>,
    /// Open activities by deadline (the Activities view).
    pub open_by_deadline: BTreeSet<(i64, ActivityId)>,
    /// Every activity of an item.
    pub item_acts: HashMap<ItemId, SmallVec<[ActivityId; 2]>>,
    /// Durable timers as the `T` rows hold them: timer id → due.
    pub armed: HashMap<u64, i64>,
    /// The due time in the key of each activity's `T` row.
    pub timer_rows: HashMap<ActivityId, i64>,
    /// Per responsible user, per (board, column): exact counters.
    pub counters: HashMap<UserId, BTreeMap<(BoardId, ColumnId), Counts>>,
    /// Hashes of every event id ever accepted or found unmatched.
    pub seen: HashSet<u128>,
    pub feed: crate::feed::FeedState,
}

/// The modules every store has.
pub(crate) const BUILTIN_MODULES: [(&str, &str); 5] = [
    ("deal", "Deals"),
    ("lead", "Leads"),
    ("invoice", "Invoices"),
    ("contact", "Contacts"),
    ("company", "Companies"),
];

impl State {
    /// Rebuilds the state from the store: one pass over every record.
    pub(crate) fn load(store: &Store) -> Result<State> {
        let mut st = State {
            meta: match store.get(store::META)? {
                Some(b) => records::decode::<Meta>(&b)?,
                None => Meta {
                    next_user: 1,
                    next_group: 1,
                    next_board: 1,
                    next_column: 1,
                    next_item: 1,
                    focus_clock: 0,
                    seq: 0,
                    next_activity: 1,
                    next_entry: 1,
                    next_rule: 1,
                    next_job: 1,
                    next_file: 1,
                },
            },
            ..State::default()
        };
        for kv in store.scan(store::USER) {
            let (_, v) = kv?;
            let u: UserRec = records::decode(&v)?;
            if u.active {
                st.tokens.insert(u.token_hash, UserId(u.id));
            }
            st.users.insert(UserId(u.id), u);
        }
        for kv in store.scan(store::GROUP) {
            let (_, v) = kv?;
            let g: GroupRec = records::decode(&v)?;
            st.groups.insert(GroupId(g.id), g);
        }
        for kv in store.scan(store::MODULE) {
            let (_, v) = kv?;
            let m: ModuleRec = records::decode(&v)?;
            st.modules.insert(m.key.clone(), m);
        }
        for (key, name) in BUILTIN_MODULES {
            st.modules.entry(key.to_string()).or_insert(ModuleRec {
                key: key.to_string(),
                name: name.to_string(),
                builtin: true,
            });
        }
        for kv in store.scan(store::BOARD) {
            let (_, v) = kv?;
            let b: BoardRec = records::decode(&v)?;
            for c in &b.columns {
                st.columns.insert(
                    ColumnId(c.id),
                    ColumnState {
                        board: BoardId(b.id),
                        ..ColumnState::default()
                    },
                );
            }
            st.boards.insert(BoardId(b.id), b);
        }
        // Entries and items are the big scans. Both split at the middle item id; the four
        // parts are read on four threads (the scans are CPU-bound: record validation and
        // sled's own decoding), then merged here.
        let mid = st.meta.next_item / 2 + 1;
        let modules: Vec<String> = st.modules.keys().cloned().collect();
        let [ranges_a, ranges_b] = crate::feed::entry_ranges(st.meta.next_entry / 2 + 1);
        let (feed, low, high, redos) = std::thread::scope(|scope| -> Result<_> {
            let modules = &modules;
            let entries_a =
                scope.spawn(move || crate::feed::load_entries(store, modules, &ranges_a));
            let entries_b =
                scope.spawn(move || crate::feed::load_entries(store, modules, &ranges_b));
            let hasher = st.contact_hasher.clone();
            let high = scope.spawn(move || scan_items(store, &hasher, mid, u64::MAX));
            let low = scan_items(store, &st.contact_hasher, 0, mid)?;
            let panicked = || Error::Corrupt("an open scan panicked".into());
            let high = high.join().map_err(|_| panicked())??;
            let (a, mut redos) = entries_a.join().map_err(|_| panicked())??;
            let (b, redos_b) = entries_b.join().map_err(|_| panicked())??;
            for (item, r) in redos_b {
                keep_newest(&mut redos, item, r);
            }
            Ok((a.merge(b), low, high, redos))
        })?;
        let mut loaded: Vec<Loaded> = low.into_iter().chain(high).collect();
        replay(&mut loaded, redos);
        let ids = st.add_loaded(loaded)?;
        st.feed = feed;
        // Each item's timeline: the seqs of its entries, in order.
        for (seq, meta) in st.feed.entries.iter().enumerate() {
            let (Some(m), Ok(seq)) = (meta, u64::try_from(seq)) else {
                continue;
            };
            let slot = usize::try_from(m.item)
                .ok()
                .filter(|_| m.item != 0)
                .and_then(|i| st.items.get_mut(i))
                .and_then(Option::as_mut);
            if let Some(slot) = slot {
                slot.entries.push(seq);
            }
        }
        for kv in store.scan(store::ACTIVITY) {
            let (_, v) = kv?;
            let a: ActivityRec = records::decode(&v)?;
            st.insert_activity(ActivityId(a.id), ActSlot::from_rec(v, &a));
        }
        for kv in store.scan(store::TIMER) {
            let (k, v) = kv?;
            let id = store::timer_key_activity(&k)
                .ok_or_else(|| Error::Corrupt("malformed timer key".into()))?;
            let row = records::access::<records::ArchivedTimersRec>(&v)?;
            let due = row
                .dues
                .iter()
                .map(|d| d.to_native())
                .min()
                .ok_or_else(|| Error::Corrupt(format!("empty timer row of activity {id}")))?;
            for (slot, at) in row.slots.iter().zip(row.dues.iter()) {
                st.armed.insert(
                    crate::activity::timer_id(ActivityId(id), u64::from(*slot)),
                    at.to_native(),
                );
            }
            st.timer_rows.insert(ActivityId(id), due);
        }
        for kv in store.scan(store::SEEN) {
            let (_, v) = kv?;
            let r = records::access::<records::ArchivedSeenRec>(&v)?;
            st.seen.extend(r.hashes.iter().map(|h| h.to_native()));
        }
        crate::feed::load(&mut st, store, &ids)?;
        for (id, _, _) in ids {
            st.count_item(id, 1);
        }
        Ok(st)
    }

    /// Files the scanned items: slots, column indexes, contacts. The indexes are built
    /// from sorted runs (`BTreeMap`'s bulk build), which is several times cheaper than a
    /// million single inserts. Returns (id, last update, responsible) for the feed state.
    fn add_loaded(&mut self, loaded: Vec<Loaded>) -> Result<Vec<(ItemId, i64, UserId)>> {
        let contacts: Vec<(u64, ItemId)> = loaded
            .iter()
            .flat_map(|l| l.contacts.iter().map(move |k| (*k, l.id)))
            .collect();
        let mut order: Vec<(ColumnId, OrderKey, ItemId)> = Vec::with_capacity(loaded.len());
        let mut ids = Vec::with_capacity(loaded.len());
        let max_id = loaded.iter().map(|l| l.id.0).max().unwrap_or(0);
        if let Ok(n) = usize::try_from(max_id) {
            self.items
                .reserve(n.saturating_add(1).saturating_sub(self.items.len()));
        }
        // The contact index builds on a second thread while the slots and columns fill.
        let (contacts, filed) = std::thread::scope(|scope| {
            let contacts = scope.spawn(move || {
                let mut c = contacts;
                c.sort_unstable();
                c.into_iter().collect::<BTreeSet<_>>()
            });
            let filed = (|| -> Result<()> {
                for l in loaded {
                    self.meta.focus_clock = self
                        .meta
                        .focus_clock
                        .max(crate::order::tick_of(&l.slot.key));
                    if !self.columns.contains_key(&l.slot.column) {
                        return Err(Error::Corrupt(format!(
                            "item {} is in unknown column {}",
                            l.id, l.slot.column
                        )));
                    }
                    order.push((l.slot.column, l.slot.key.clone(), l.id));
                    ids.push((l.id, l.updated_at, l.slot.responsible));
                    self.put_slot(l.id, l.slot);
                }
                order.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
                let mut rest = order.as_slice();
                while let Some((col, _, _)) = rest.first() {
                    let n = rest.iter().take_while(|(c, _, _)| c == col).count();
                    let (run, tail) = rest.split_at(n);
                    if run.windows(2).any(|w| w[0].1 == w[1].1) {
                        return Err(Error::Corrupt(format!(
                            "two items share an order key in column {col}"
                        )));
                    }
                    if let Some(c) = self.columns.get_mut(col) {
                        c.order = run.iter().map(|(_, k, id)| (k.clone(), *id)).collect();
                    }
                    rest = tail;
                }
                Ok(())
            })();
            (contacts.join(), filed)
        });
        filed?;
        self.contacts =
            contacts.map_err(|_| Error::Corrupt("the contact index build panicked".into()))?;
        Ok(ids)
    }

    /// The item as readers see it: its stored bytes plus what memory derives.
    pub(crate) fn view(&self, id: ItemId) -> Option<ItemView> {
        let s = self.slot(id)?;
        Some(ItemView::new(
            s.rec.clone(),
            crate::view::Overlay {
                next_deadline: self.next_deadline(id),
                focus: s.focus,
            },
        ))
    }

    /// The earliest deadline among the item's open activities.
    pub(crate) fn next_deadline(&self, id: ItemId) -> Option<crate::clock::Millis> {
        self.item_acts
            .get(&id)?
            .iter()
            .filter_map(|a| self.activities.get(a))
            .filter(|a| a.open)
            .map(|a| a.deadline)
            .min()
            .map(crate::clock::Millis)
    }

    pub(crate) fn insert_activity(&mut self, id: ActivityId, slot: ActSlot) {
        if slot.open {
            self.open_by_deadline.insert((slot.deadline, id));
        }
        let acts = self.item_acts.entry(slot.item).or_default();
        if !acts.contains(&id) {
            acts.push(id);
        }
        self.activities.insert(id, slot);
    }

    pub(crate) fn remove_activity(&mut self, id: ActivityId) -> Option<ActSlot> {
        let slot = self.activities.remove(&id)?;
        self.open_by_deadline.remove(&(slot.deadline, id));
        if let Some(v) = self.item_acts.get_mut(&slot.item) {
            v.retain(|a| *a != id);
            if v.is_empty() {
                self.item_acts.remove(&slot.item);
            }
        }
        Some(slot)
    }

    /// Adds (`sign = 1`) or removes (`sign = -1`) an item's contribution to the column's
    /// unread count and to its users' counters. Every command that changes what an item
    /// contributes removes it first and adds it back after, so counters stay exact.
    pub(crate) fn count_item(&mut self, id: ItemId, sign: i64) {
        let Some(s) = self.slot(id) else { return };
        let (board, column, responsible, unread) =
            (s.board, s.column, s.responsible, s.focus.attention > 0);
        let mut deltas: SmallVec<[(UserId, u64, u64); 4]> = SmallVec::new();
        if unread {
            deltas.push((responsible, 1, 0));
        }
        if let Some(acts) = self.item_acts.get(&id) {
            for a in acts {
                if let Some(x) = self.activities.get(a).filter(|x| x.overdue) {
                    deltas.push((x.responsible, 0, 1));
                }
            }
        }
        if unread {
            if let Some(c) = self.columns.get_mut(&column) {
                c.unread = apply(c.unread, 1, sign);
            }
        }
        for (user, u, o) in deltas {
            let per_user = self.counters.entry(user).or_default();
            let c = per_user.entry((board, column)).or_default();
            c.unread = apply(c.unread, u, sign);
            c.overdue = apply(c.overdue, o, sign);
            if *c == Counts::default() {
                per_user.remove(&(board, column));
            }
            if per_user.is_empty() {
                self.counters.remove(&user);
            }
        }
    }

    pub(crate) fn slot(&self, id: ItemId) -> Option<&ItemSlot> {
        usize::try_from(id.0)
            .ok()
            .and_then(|i| self.items.get(i))
            .and_then(Option::as_ref)
    }

    pub(crate) fn slot_mut(&mut self, id: ItemId) -> Option<&mut ItemSlot> {
        usize::try_from(id.0)
            .ok()
            .and_then(|i| self.items.get_mut(i))
            .and_then(Option::as_mut)
    }

    pub(crate) fn put_slot(&mut self, id: ItemId, slot: ItemSlot) {
        let Ok(i) = usize::try_from(id.0) else { return };
        if self.items.len() <= i {
            self.items.resize_with(i + 1, || None);
        }
        if let Some(cell) = self.items.get_mut(i) {
            if cell.is_none() {
                self.item_count += 1;
            }
            *cell = Some(slot);
        }
    }

    pub(crate) fn take_slot(&mut self, id: ItemId) -> Option<ItemSlot> {
        let i = usize::try_from(id.0).ok()?;
        let taken = self.items.get_mut(i).and_then(Option::take);
        if taken.is_some() {
            self.item_count -= 1;
        }
        taken
    }

    fn counter(&mut self, c: Counter) -> &mut u64 {
        let m = &mut self.meta;
        match c {
            Counter::User => &mut m.next_user,
            Counter::Group => &mut m.next_group,
            Counter::Board => &mut m.next_board,
            Counter::Column => &mut m.next_column,
            Counter::Item => &mut m.next_item,
            Counter::Activity => &mut m.next_activity,
            Counter::Entry => &mut m.next_entry,
            Counter::Rule => &mut m.next_rule,
            Counter::Job => &mut m.next_job,
            Counter::File => &mut m.next_file,
        }
    }

    /// Hands out the next id of `c` and marks the meta row for writing: the one way ids
    /// are made, so no command can take one without the counter reaching disk.
    pub(crate) fn alloc(&mut self, c: Counter) -> u64 {
        let slot = self.counter(c);
        let id = *slot;
        *slot += 1;
        self.meta_dirty = true;
        id
    }

    /// The next focus-clock tick: a top key above every key in every column.
    pub(crate) fn tick(&mut self) -> u64 {
        self.meta.focus_clock += 1;
        self.meta_dirty = true;
        self.meta.focus_clock
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.meta.seq += 1;
        self.meta_dirty = true;
        self.meta.seq
    }

    /// Writes the meta row into `batch` if anything in it changed.
    pub(crate) fn flush_meta(&mut self, batch: &mut Batch) -> Result<()> {
        if self.meta_dirty {
            batch.put(store::META, records::encode(&self.meta)?);
            self.meta_dirty = false;
        }
        Ok(())
    }

    pub(crate) fn active_user(&self, id: UserId, field: &str) -> Result<&UserRec> {
        match self.users.get(&id) {
            Some(u) if u.active => Ok(u),
            _ => Err(Error::invalid(
                field,
                format!("user {id} does not exist or is deactivated"),
            )),
        }
    }

    pub(crate) fn phone_key(&self, p: &str) -> Option<u64> {
        phone_key(&self.contact_hasher, p)
    }

    pub(crate) fn email_key(&self, e: &str) -> u64 {
        email_key(&self.contact_hasher, e)
    }

    fn contact_keys(&self, phones: &[String], emails: &[String]) -> Vec<u64> {
        phones
            .iter()
            .filter_map(|p| self.phone_key(p))
            .chain(emails.iter().map(|m| self.email_key(m)))
            .collect()
    }

    pub(crate) fn index_contacts(&mut self, id: ItemId, phones: &[String], emails: &[String]) {
        for k in self.contact_keys(phones, emails) {
            self.contacts.insert((k, id));
        }
    }

    pub(crate) fn unindex_contacts(&mut self, id: ItemId, phones: &[String], emails: &[String]) {
        for k in self.contact_keys(phones, emails) {
            self.contacts.remove(&(k, id));
        }
    }

    /// Items carrying a contact, most recently focused first (event matching). Focuses
    /// within the same millisecond (one batch, or fast requests) are told apart by the
    /// focus-clock tick of the item's order key, which grows with every focus; the id
    /// alone would prefer the newer item over the one focused last.
    pub(crate) fn items_by_contact(&self, key: u64) -> Vec<ItemId> {
        let mut v: Vec<(u64, u64, ItemId)> = self
            .contacts
            .range((key, ItemId(0))..=(key, ItemId(u64::MAX)))
            .filter_map(|(_, id)| {
                let s = self.slot(*id)?;
                Some((
                    u64::try_from(s.focus.focused_at).unwrap_or(0),
                    crate::order::tick_of(&s.key),
                    *id,
                ))
            })
            .collect();
        v.sort_by(|a, b| b.cmp(a));
        v.into_iter().map(|(_, _, id)| id).collect()
    }
}

fn apply(v: u64, d: u64, sign: i64) -> u64 {
    if sign >= 0 {
        v.saturating_add(d)
    } else {
        debug_assert!(v >= d, "counter would go negative");
        v.saturating_sub(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_handed_out_in_order_and_the_meta_row_is_marked() {
        let mut st = State::default();
        let a = st.alloc(Counter::Item);
        assert!(st.meta_dirty, "a new id must reach disk with its command");
        st.meta_dirty = false;
        let b = st.alloc(Counter::Item);
        assert_eq!((a + 1, st.meta.next_item), (b, b + 1));
        assert!(st.meta_dirty);
        // Each counter is its own.
        assert_eq!(st.alloc(Counter::Entry), 0);
        assert_eq!(st.meta.next_item, 2);
    }

    #[test]
    fn phones_compare_without_punctuation() {
        let st = State::default();
        assert_eq!(
            st.phone_key("+1 (555) 010-2030"),
            st.phone_key("+15550102030")
        );
        assert_eq!(st.phone_key("555.010.2030"), st.phone_key("5550102030"));
        assert_ne!(st.phone_key("5550102030"), st.phone_key("5550102031"));
        assert_eq!(st.phone_key(" - () "), None);
    }

    #[test]
    fn emails_compare_case_insensitively() {
        let st = State::default();
        assert_eq!(
            st.email_key("Ann@Example.COM"),
            st.email_key(" ann@example.com")
        );
        assert_ne!(
            st.email_key("ann@example.com"),
            st.email_key("anne@example.com")
        );
        // A phone and an e-mail with the same characters are different contacts.
        assert_ne!(st.phone_key("12345"), Some(st.email_key("12345")));
    }
}
