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

use std::collections::{BTreeMap, HashMap};

use smallvec::SmallVec;

use crate::error::{Error, Result};
use crate::ids::{BoardId, ColumnId, GroupId, ItemId, UserId};
use crate::order::OrderKey;
use crate::records::{self, BoardRec, GroupRec, Meta, ModuleRec, UserRec};
use crate::store::{self, Batch, Bytes, Store};

/// One item as memory keeps it.
#[derive(Clone)]
pub(crate) struct ItemSlot {
    /// The stored record, shared with sled.
    pub rec: Bytes,
    pub board: BoardId,
    pub column: ColumnId,
    pub key: OrderKey,
    pub responsible: UserId,
    pub attention: u32,
}

/// One column: its items by order key (the greatest key is the top).
#[derive(Default)]
pub(crate) struct ColumnState {
    pub board: BoardId,
    pub order: BTreeMap<OrderKey, ItemId>,
    /// Items of this column with `attention > 0`.
    pub unread: u64,
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
    /// Normalized phone or e-mail → items carrying it.
    pub contacts: HashMap<Box<str>, SmallVec<[ItemId; 2]>>,
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
        let mut max_tick = st.meta.focus_clock;
        for kv in store.scan(store::ITEM) {
            let (_, v) = kv?;
            let slot = {
                let r = records::access::<records::ArchivedItemRec>(&v)?;
                let key = OrderKey::from_slice(&r.order);
                max_tick = max_tick.max(crate::order::tick_of(&key));
                for p in r.phones.iter() {
                    if let Some(n) = normalize_phone(p.as_str()) {
                        st.contacts.entry(n.into()).or_default().push(ItemId(r.id.to_native()));
                    }
                }
                for e in r.emails.iter() {
                    st.contacts
                        .entry(normalize_email(e.as_str()).into())
                        .or_default()
                        .push(ItemId(r.id.to_native()));
                }
                ItemSlot {
                    board: BoardId(r.board.to_native()),
                    column: ColumnId(r.column.to_native()),
                    key,
                    responsible: UserId(r.responsible.to_native()),
                    attention: r.attention.to_native(),
                    rec: v.clone(),
                }
            };
            let id = ItemId(records::access::<records::ArchivedItemRec>(&v)?.id.to_native());
            let col = st.columns.get_mut(&slot.column).ok_or_else(|| {
                Error::Corrupt(format!("item {id} is in unknown column {}", slot.column))
            })?;
            if col.order.insert(slot.key.clone(), id).is_some() {
                return Err(Error::Corrupt(format!("two items share an order key in column {}", slot.column)));
            }
            if slot.attention > 0 {
                col.unread += 1;
            }
            st.put_slot(id, slot);
        }
        st.meta.focus_clock = max_tick;
        Ok(st)
    }

    pub(crate) fn slot(&self, id: ItemId) -> Option<&ItemSlot> {
        usize::try_from(id.0).ok().and_then(|i| self.items.get(i)).and_then(Option::as_ref)
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
            _ => Err(Error::invalid(field, format!("user {id} does not exist or is deactivated"))),
        }
    }

    pub(crate) fn index_contacts(&mut self, id: ItemId, phones: &[String], emails: &[String]) {
        for p in phones {
            if let Some(n) = normalize_phone(p) {
                let e = self.contacts.entry(n.into()).or_default();
                if !e.contains(&id) {
                    e.push(id);
                }
            }
        }
        for m in emails {
            let e = self.contacts.entry(normalize_email(m).into()).or_default();
            if !e.contains(&id) {
                e.push(id);
            }
        }
    }

    pub(crate) fn unindex_contacts(&mut self, id: ItemId, phones: &[String], emails: &[String]) {
        let keys = phones
            .iter()
            .filter_map(|p| normalize_phone(p))
            .chain(emails.iter().map(|m| normalize_email(m)));
        for k in keys {
            if let Some(v) = self.contacts.get_mut(k.as_str()) {
                v.retain(|x| *x != id);
                if v.is_empty() {
                    self.contacts.remove(k.as_str());
                }
            }
        }
    }

    /// Items carrying a contact, most recently focused first (event matching).
    #[allow(dead_code)]
    pub(crate) fn items_by_contact(&self, normalized: &str) -> Vec<ItemId> {
        let mut v: Vec<(u64, ItemId)> = self
            .contacts
            .get(normalized)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| {
                        let s = self.slot(*id)?;
                        let r = records::access::<records::ArchivedItemRec>(&s.rec).ok()?;
                        Some((u64::try_from(r.focused_at.to_native()).unwrap_or(0), *id))
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a, b| b.cmp(a));
        v.into_iter().map(|(_, id)| id).collect()
    }
}

/// A phone number as compared: spaces, dashes, dots and parentheses removed. `None` when
/// nothing but those is left.
pub(crate) fn normalize_phone(p: &str) -> Option<String> {
    let n: String = p
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\t'))
        .collect();
    if n.is_empty() {
        None
    } else {
        Some(format!("tel:{n}"))
    }
}

/// An e-mail as compared: case-insensitive.
pub(crate) fn normalize_email(e: &str) -> String {
    format!("mailto:{}", e.trim().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_compare_without_punctuation() {
        assert_eq!(normalize_phone("+1 (555) 010-2030"), normalize_phone("+15550102030"));
        assert_eq!(normalize_phone("555.010.2030"), Some("tel:5550102030".into()));
        assert_eq!(normalize_phone(" - () "), None);
    }

    #[test]
    fn emails_compare_case_insensitively() {
        assert_eq!(normalize_email("Ann@Example.COM"), normalize_email("ann@example.com"));
    }
}
