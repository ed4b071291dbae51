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

use std::collections::{BTreeMap, BTreeSet, HashMap};

use smallvec::SmallVec;

use crate::deadline_index::{Class, DeadlineIndex};
use crate::error::{Error, Result};
use crate::hashing::FastMap;
use crate::ids::{ActivityId, BoardId, ColumnId, GroupId, ItemId, UserId};
use crate::item_view::{Focus, ItemView};
use crate::order::OrderKey;
use crate::records::{
    self, ActivityRec, BoardRec, CounterMode, GroupRec, Meta, ModuleRec, UserRec, DEADLINE_BIT,
};
use crate::store::{self, Batch, Bytes};
use crate::timer::ActivityTimer;

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
    /// Seqs of the entries about the item written since open (or a rollback's reload),
    /// oldest first: the end of
    /// its timeline, whose start is in `State::item_seqs` (entries are stored in packs by
    /// seq, in write order across all items, so these two are the only per-item index).
    pub entries: SmallVec<[u64; 2]>,
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

/// The index key of a phone number: spaces, dashes, dots and parentheses removed.
/// `None` when nothing else is left.
pub(crate) fn phone_key(hasher: &std::collections::hash_map::RandomState, p: &str) -> Option<u64> {
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
pub(crate) fn email_key(hasher: &std::collections::hash_map::RandomState, e: &str) -> u64 {
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
    pub columns: FastMap<ColumnId, ColumnState>,
    /// Indexed by item id; `None` for ids never used or deleted.
    pub items: Vec<Option<ItemSlot>>,
    /// Each item's timeline as open (or a rollback's reload) found it; what came after is
    /// in the item's slot ([`State::timeline_seqs`]).
    pub item_seqs: crate::item_seqs::ItemSeqs,
    pub item_count: u64,
    /// A keyed hash of a normalized phone or e-mail → items carrying it. Keys are hashes,
    /// not strings, so the index costs no allocation per contact; the hasher is seeded at
    /// random per process, so nobody can aim collisions at it.
    pub contacts: BTreeSet<(u64, ItemId)>,
    pub contact_hasher: std::collections::hash_map::RandomState,
    pub activities: FastMap<ActivityId, ActSlot>,
    /// Open activities by deadline (the Activities view).
    pub open_by_deadline: BTreeSet<(i64, ActivityId)>,
    /// Every activity of an item.
    pub item_acts: FastMap<ItemId, SmallVec<[ActivityId; 2]>>,
    /// Durable timers as the `T` rows hold them: timer id → due.
    pub armed: FastMap<ActivityTimer, i64>,
    /// The due time in the key of each activity's `T` row.
    pub timer_rows: FastMap<ActivityId, i64>,
    /// Per responsible user, per (board, column): exact counters.
    pub counters: FastMap<UserId, BTreeMap<(BoardId, ColumnId), Counts>>,
    /// Hashes of every event id ever accepted or found unmatched: those a checkpoint
    /// covered sorted, the rest in a hash set (`seen.rs`).
    pub seen: crate::seen::Seen,
    pub feed: crate::walls::FeedState,
    /// The Deadlines view's index, kept by [`State::count_item`].
    pub deadlines: DeadlineIndex,
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
    /// The item as readers see it: its stored bytes plus what memory derives.
    pub(crate) fn view(&self, id: ItemId) -> Option<ItemView> {
        let s = self.slot(id)?;
        Some(ItemView::new(
            s.rec.clone(),
            crate::item_view::Overlay {
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

    /// What item `id` contributes to the counters and to the Deadlines index, from its
    /// slot and its activities (`None` for an item not there); what
    /// [`State::recount_item`] takes as the item's contribution before a change.
    pub(crate) fn contribution(&self, id: ItemId) -> Option<Contribution> {
        let s = self.slot(id)?;
        let (board, column, responsible, unread) =
            (s.board, s.column, s.responsible, s.focus.attention > 0);
        let by_activity = self
            .boards
            .get(&board)
            .is_some_and(|b| b.counter_mode == CounterMode::Activity);
        let mut deltas: SmallVec<[(UserId, u64, u64); 4]> = SmallVec::new();
        if unread {
            deltas.push((responsible, 1, 0));
        }
        let (mut next, mut overdue) = (None::<i64>, false);
        if let Some(acts) = self.item_acts.get(&id) {
            for x in acts.iter().filter_map(|a| self.activities.get(a)) {
                if x.open {
                    next = Some(next.map_or(x.deadline, |n| n.min(x.deadline)));
                }
                if x.overdue {
                    overdue = true;
                    let who = if by_activity {
                        x.responsible
                    } else {
                        responsible
                    };
                    deltas.push((who, 0, 1));
                }
            }
        }
        let class = match (overdue, unread, next) {
            (true, _, d) => Some((Class::Overdue, d.unwrap_or(i64::MIN))),
            (false, true, d) => Some((Class::Unread, d.unwrap_or(i64::MAX))),
            (false, false, Some(d)) => Some((Class::Planned, d)),
            (false, false, None) => None,
        };
        Some(Contribution {
            board,
            column,
            responsible,
            unread,
            class,
            deltas,
        })
    }

    /// Adds or removes an item's contribution to the column's unread count, to its users'
    /// counters and to the Deadlines index. Every command that changes what an item
    /// contributes removes it first and adds it back after (or, for a change of one item,
    /// [`State::recount_item`] moves it from before to after), so counters stay exact.
    pub(crate) fn count_item(&mut self, id: ItemId, way: Count) {
        let Some(c) = self.contribution(id) else {
            return;
        };
        // The Deadlines view's index moves with the counters (deadline_index.rs).
        match way {
            Count::Add => self.deadlines.add(id, c.board, c.responsible, c.class),
            Count::Remove => self.deadlines.remove(id, c.board, c.responsible),
        }
        self.count_contribution(&c, way);
    }

    /// After a command changed item `id`, which contributed `before`: takes `before` out and
    /// adds what the item contributes now, unless the two are the same. The same answer as
    /// [`State::count_item`] before and after, without touching the Deadlines index when
    /// nothing moved: a comment on an item that is already unread (the common focus) left
    /// its sets as they were, yet removing and re-filing it in a million-entry set cost
    /// about 7 % of a durable comment's CPU (`perf`, 1M items).
    pub(crate) fn recount_item(&mut self, id: ItemId, before: Option<Contribution>) {
        let after = self.contribution(id);
        if before == after {
            return;
        }
        if let Some(c) = before {
            self.deadlines.remove(id, c.board, c.responsible);
            self.count_contribution(&c, Count::Remove);
        }
        if let Some(c) = after {
            self.deadlines.add(id, c.board, c.responsible, c.class);
            self.count_contribution(&c, Count::Add);
        }
    }

    /// [`State::count_item`] (adding) for every item an open filed: the same counters, and
    /// the Deadlines index built in bulk from sorted runs, which cost a fifth of what a
    /// million single filings did.
    pub(crate) fn count_items(&mut self, ids: impl Iterator<Item = ItemId>) {
        let mut filings = Vec::new();
        for id in ids {
            if let Some(c) = self.contribution(id) {
                filings.push((id, c.board, c.responsible, c.class));
                self.count_contribution(&c, Count::Add);
            }
        }
        self.deadlines.add_all(filings);
    }

    /// The counters' part of [`State::count_item`].
    fn count_contribution(&mut self, c: &Contribution, way: Count) {
        if c.unread {
            if let Some(col) = self.columns.get_mut(&c.column) {
                col.unread = way.apply(col.unread, 1);
            }
        }
        for &(user, u, o) in &c.deltas {
            let per_user = self.counters.entry(user).or_default();
            let n = per_user.entry((c.board, c.column)).or_default();
            n.unread = way.apply(n.unread, u);
            n.overdue = way.apply(n.overdue, o);
            if *n == Counts::default() {
                per_user.remove(&(c.board, c.column));
            }
            if per_user.is_empty() {
                self.counters.remove(&user);
            }
        }
    }

    /// An item's timeline, oldest first, in two parts: the seqs open found, then those
    /// written since (every one greater); `None` for an item that is not there.
    pub(crate) fn timeline_seqs(&self, id: ItemId) -> Option<(&[u64], &[u64])> {
        let slot = self.slot(id)?;
        Some((self.item_seqs.of(id.0), &slot.entries))
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

    /// The next item id ([`State::alloc`]), refused once ids reach `walls::MAX_ITEM`
    /// (2^48): the entry index keeps an item id in 48 bits.
    pub(crate) fn alloc_item(&mut self) -> Result<ItemId> {
        if self.meta.next_item >= crate::walls::MAX_ITEM {
            return Err(Error::Conflict(
                "item ids are exhausted (2^48 created)".into(),
            ));
        }
        Ok(ItemId(self.alloc(Counter::Item)))
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

/// Whether an item's contribution to the counters is being added or taken out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Count {
    Add,
    Remove,
}

/// What one item adds to the counters and the Deadlines index ([`State::count_item`]).
#[derive(Debug, PartialEq)]
pub(crate) struct Contribution {
    board: BoardId,
    column: ColumnId,
    responsible: UserId,
    /// Attention > 0: one unread for the column and for the responsible.
    unread: bool,
    class: Option<(Class, i64)>,
    /// (user, unread, overdue) to add to each user's counters of the item's column.
    deltas: SmallVec<[(UserId, u64, u64); 4]>,
}

impl Count {
    fn apply(self, v: u64, d: u64) -> u64 {
        match self {
            Count::Add => v.saturating_add(d),
            Count::Remove => {
                debug_assert!(v >= d, "counter would go negative");
                v.saturating_sub(d)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ids_stop_below_what_the_entry_index_holds() {
        let mut st = State::default();
        st.meta.next_item = crate::walls::MAX_ITEM - 1;
        assert_eq!(
            st.alloc_item().ok(),
            Some(ItemId(crate::walls::MAX_ITEM - 1))
        );
        assert!(matches!(st.alloc_item(), Err(Error::Conflict(_))));
        assert_eq!(
            st.meta.next_item,
            crate::walls::MAX_ITEM,
            "nothing handed out"
        );
    }

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
