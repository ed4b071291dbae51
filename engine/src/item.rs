//! Items: create (on top), patch (old → new per field), delete, move, read, focus.
//!
//! Every change rewrites the item's one record (`I` + id) and updates the in-memory column
//! index and contact index in the same command, so a focus is one sled write at the cost
//! of an O(log n) map update, with no sled read.

use crate::changes::ChangeKind;
use crate::engine::Pending;
use crate::engine::{Engine, Tx};
use crate::entry::{FieldChange, Value};
use crate::error::{Error, Result};
use crate::focus::{focus, load, relocate, store_rec, view_of, with_counts};
use crate::ids::{BoardId, ColumnId, ItemId, UserId};
use crate::item_view::Focus;
use crate::item_view::ItemView;
use crate::order::{self, OrderKey};
use crate::records::{self, FieldRec, FieldValue, FocusReason, ItemRec, TimelineKind};
use crate::state::{Count, ItemSlot};
use crate::store;
use crate::validate;

/// An item's phones and e-mails, as given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contacts {
    /// Phone numbers (compared without spaces, dashes, dots and parentheses).
    pub phones: Vec<String>,
    /// E-mail addresses (compared case-insensitively).
    pub emails: Vec<String>,
}

/// An item to create.
#[derive(Debug, Clone, Default)]
pub struct NewItem {
    /// The board.
    pub board: BoardId,
    /// The column; the board's first column when `None`.
    pub column: Option<ColumnId>,
    /// 1–500 characters.
    pub title: String,
    /// Defaults to the acting user.
    pub responsible: Option<UserId>,
    /// Defaults to 0.
    pub amount: Option<f64>,
    /// Free fields (at most 100).
    pub fields: Vec<(String, FieldValue)>,
    /// Contacts (at most 20 of each).
    pub contacts: Contacts,
}

/// Changes to an item; `None` leaves a part as it is.
#[derive(Debug, Clone, Default)]
pub struct ItemPatch {
    /// New title.
    pub title: Option<String>,
    /// New responsible.
    pub responsible: Option<UserId>,
    /// New amount.
    pub amount: Option<f64>,
    /// Fields to set (`Some`) or remove (`None`); others stay.
    pub fields: Option<Vec<(String, Option<FieldValue>)>>,
    /// Replaces the contacts.
    pub contacts: Option<Contacts>,
}

/// Where a moved item goes in its (new) column, top first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Above every item.
    Top,
    /// Below every item.
    Bottom,
    /// Directly above the given item.
    Before(ItemId),
    /// Directly below the given item.
    After(ItemId),
}

const MAX_FIELDS: usize = 100;
/// The free fields of one item, keys and text values together, in UTF-8 bytes. Bounds an
/// item row (and a `record_updated` entry, which carries old and new values) under
/// `store::MAX_VALUE`: see `store/sync.rs` for why no value may be large.
const MAX_FIELD_BYTES: usize = 32 << 10;
const MAX_CONTACTS: usize = 20;
const MAX_TEXT: usize = 20_000;

fn check_field_value(path: &str, v: FieldValue) -> Result<FieldValue> {
    match v {
        FieldValue::Str(s) => Ok(FieldValue::Str(validate::text_len(path, &s, 0, MAX_TEXT)?)),
        FieldValue::Num(n) => Ok(FieldValue::Num(validate::finite(path, n)?)),
        b @ FieldValue::Bool(_) => Ok(b),
    }
}

fn check_fields(fields: Vec<(String, FieldValue)>) -> Result<Vec<FieldRec>> {
    if fields.len() > MAX_FIELDS {
        return Err(Error::invalid("fields", "at most 100 fields"));
    }
    let mut out = Vec::with_capacity(fields.len());
    for (k, v) in fields {
        let key = validate::field_key(&format!("fields.{k}"), &k)?;
        let value = check_field_value(&format!("fields.{k}"), v)?;
        out.push(FieldRec { key, value });
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out.dedup_by(|a, b| a.key == b.key);
    check_field_bytes(&out)?;
    Ok(out)
}

fn check_field_bytes(fields: &[FieldRec]) -> Result<()> {
    let bytes: usize = fields
        .iter()
        .map(|f| {
            f.key.len()
                + match &f.value {
                    FieldValue::Str(s) => s.len(),
                    FieldValue::Num(_) | FieldValue::Bool(_) => 8,
                }
        })
        .sum();
    if bytes > MAX_FIELD_BYTES {
        return Err(Error::invalid(
            "fields",
            format!("at most {MAX_FIELD_BYTES} bytes of keys and values in all, got {bytes}"),
        ));
    }
    Ok(())
}

fn check_contacts(c: Contacts) -> Result<Contacts> {
    if c.phones.len() > MAX_CONTACTS || c.emails.len() > MAX_CONTACTS {
        return Err(Error::invalid(
            "contacts",
            "at most 20 phones and 20 e-mails",
        ));
    }
    let mut phones = Vec::with_capacity(c.phones.len());
    for (i, p) in c.phones.iter().enumerate() {
        phones.push(validate::phone(&format!("contacts.phones[{i}]"), p)?);
    }
    let mut emails = Vec::with_capacity(c.emails.len());
    for (i, e) in c.emails.iter().enumerate() {
        emails.push(validate::email(&format!("contacts.emails[{i}]"), e)?);
    }
    Ok(Contacts { phones, emails })
}

/// The item's current record, copied out for modification: its stored bytes with the
/// position and focus state memory holds (newer when the last focus was a redo).
pub(crate) fn create_in(tx: &mut Tx<'_>, actor: UserId, new: NewItem) -> Result<ItemView> {
    let board =
        tx.state.boards.get(&new.board).ok_or_else(|| {
            Error::invalid("board", format!("board {} does not exist", new.board))
        })?;
    let column = match new.column {
        Some(c) => {
            if !board.columns.iter().any(|x| x.id == c.0) {
                return Err(Error::invalid(
                    "column",
                    format!("column {c} is not on board {}", new.board),
                ));
            }
            c
        }
        None => ColumnId(
            board
                .columns
                .first()
                .map(|c| c.id)
                .ok_or_else(|| Error::Conflict("the board has no columns".into()))?,
        ),
    };
    let title = validate::title("title", &new.title)?;
    let responsible = new.responsible.unwrap_or(actor);
    tx.state.active_user(responsible, "responsible")?;
    let amount = validate::finite("amount", new.amount.unwrap_or(0.0))?;
    let fields = check_fields(new.fields)?;
    let contacts = check_contacts(new.contacts)?;

    let id = tx.state.alloc_item()?;
    let key = order::top(tx.state.tick());
    let rec = ItemRec {
        id: id.0,
        board: new.board.0,
        column: column.0,
        order: key.to_vec(),
        title,
        responsible: responsible.0,
        amount,
        fields,
        phones: contacts.phones,
        emails: contacts.emails,
        created_at: tx.now.0,
        updated_at: tx.now.0,
        focused_at: tx.now.0,
        focus_reason: FocusReason::Created,
        attention: 0,
        version: tx.state.meta.next_entry,
    };
    let bytes = records::encode(&rec)?;
    tx.batch
        .put(&store::id_key(store::ITEM, id.0), bytes.clone());
    tx.state.index_contacts(id, &rec.phones, &rec.emails);
    if let Some(c) = tx.state.columns.get_mut(&column) {
        c.order.insert(key.clone(), id);
    }
    tx.state.put_slot(
        id,
        ItemSlot {
            rec: bytes,
            board: new.board,
            column,
            key,
            responsible,
            focus: Focus::of(&rec),
            entries: smallvec::SmallVec::new(),
        },
    );
    tx.state.count_item(id, Count::Add);
    crate::follow::owner_changed(tx, id, None);
    crate::follow::apply_rules(tx, id)?;
    let mut entry = crate::entry::blank(tx, Some(id), TimelineKind::Created);
    entry.author = Some(actor.0);
    crate::feed::append(tx, entry)?;
    tx.change(ChangeKind::ItemCreated, Some(new.board), Some(id));
    view_of(tx, id)
}

fn patch_in(
    tx: &mut Tx<'_>,
    actor: UserId,
    id: ItemId,
    patch: ItemPatch,
) -> Result<(ItemView, Vec<FieldChange>)> {
    let mut rec = load(tx, id)?;
    let mut changes = Vec::new();
    // Validate everything before touching anything.
    let title = patch
        .title
        .map(|t| validate::title("title", &t))
        .transpose()?;
    if let Some(r) = patch.responsible {
        tx.state.active_user(r, "responsible")?;
    }
    let amount = patch
        .amount
        .map(|a| validate::finite("amount", a))
        .transpose()?;
    let contacts = patch.contacts.map(check_contacts).transpose()?;
    let mut field_ops = Vec::new();
    if let Some(fs) = patch.fields {
        for (k, v) in fs {
            let key = validate::field_key(&format!("fields.{k}"), &k)?;
            let v = v
                .map(|v| check_field_value(&format!("fields.{k}"), v))
                .transpose()?;
            field_ops.push((key, v));
        }
    }

    if let Some(t) = title.filter(|t| *t != rec.title) {
        changes.push(FieldChange {
            field: "title".into(),
            old: Value::Str(std::mem::replace(&mut rec.title, t.clone())),
            new: Value::Str(t),
        });
    }
    if let Some(r) = patch.responsible.filter(|r| r.0 != rec.responsible) {
        changes.push(FieldChange {
            field: "responsible".into(),
            old: Value::User(UserId(rec.responsible)),
            new: Value::User(r),
        });
        rec.responsible = r.0;
    }
    if let Some(a) = amount.filter(|a| *a != rec.amount) {
        changes.push(FieldChange {
            field: "amount".into(),
            old: Value::Num(rec.amount),
            new: Value::Num(a),
        });
        rec.amount = a;
    }
    for (key, v) in field_ops {
        let pos = rec.fields.binary_search_by(|f| f.key.as_str().cmp(&key));
        let old = pos
            .ok()
            .and_then(|i| rec.fields.get(i))
            .map(|f| Value::from(&f.value));
        match (pos, v) {
            (Ok(i), Some(v)) => {
                if let Some(f) = rec.fields.get_mut(i) {
                    if f.value != v {
                        changes.push(FieldChange {
                            field: format!("fields.{key}"),
                            old: old.unwrap_or(Value::Null),
                            new: Value::from(&v),
                        });
                        f.value = v;
                    }
                }
            }
            (Err(i), Some(v)) => {
                if rec.fields.len() >= MAX_FIELDS {
                    return Err(Error::invalid("fields", "at most 100 fields"));
                }
                changes.push(FieldChange {
                    field: format!("fields.{key}"),
                    old: Value::Null,
                    new: Value::from(&v),
                });
                rec.fields.insert(i, FieldRec { key, value: v });
            }
            (Ok(i), None) => {
                rec.fields.remove(i);
                changes.push(FieldChange {
                    field: format!("fields.{key}"),
                    old: old.unwrap_or(Value::Null),
                    new: Value::Null,
                });
            }
            (Err(_), None) => {}
        }
    }
    check_field_bytes(&rec.fields)?;
    if let Some(c) = contacts {
        if c.phones != rec.phones || c.emails != rec.emails {
            tx.state.unindex_contacts(id, &rec.phones, &rec.emails);
            tx.state.index_contacts(id, &c.phones, &c.emails);
            if c.phones != rec.phones {
                changes.push(FieldChange {
                    field: "contacts.phones".into(),
                    old: Value::List(std::mem::take(&mut rec.phones)),
                    new: Value::List(c.phones.clone()),
                });
                rec.phones = c.phones;
            }
            if c.emails != rec.emails {
                changes.push(FieldChange {
                    field: "contacts.emails".into(),
                    old: Value::List(std::mem::take(&mut rec.emails)),
                    new: Value::List(c.emails.clone()),
                });
                rec.emails = c.emails;
            }
        }
    }
    if changes.is_empty() {
        return Ok((view_of(tx, id)?, changes));
    }
    rec.updated_at = tx.now.0;
    let old_owner = tx.state.slot(id).map(|s| s.responsible);
    with_counts(tx, id, |tx| store_rec(tx, &mut rec))?;
    if old_owner.is_some_and(|o| o.0 != rec.responsible) {
        crate::follow::owner_changed(tx, id, old_owner);
    }
    crate::follow::apply_rules(tx, id)?;
    // A replaced responsible who still followed as owner sees the change that replaced
    // them, though they no longer follow after it.
    let replaced = old_owner
        .filter(|o| o.0 != rec.responsible && !crate::follow::unfollowed(&tx.state, *o, id));
    crate::timeline::append_change(tx, id, actor, &changes, replaced)?;
    tx.change(ChangeKind::ItemUpdated, Some(BoardId(rec.board)), Some(id));
    Ok((view_of(tx, id)?, changes))
}

fn move_in(
    tx: &mut Tx<'_>,
    actor: UserId,
    id: ItemId,
    column: Option<ColumnId>,
    position: Option<Position>,
) -> Result<ItemView> {
    let slot = tx
        .state
        .slot(id)
        .ok_or_else(|| Error::not_found("item", id))?;
    let (board, from, own_key) = (slot.board, slot.column, slot.key.clone());
    let target = column.unwrap_or(from);
    let b = tx
        .state
        .boards
        .get(&board)
        .ok_or_else(|| Error::not_found("board", board))?;
    if !b.columns.iter().any(|c| c.id == target.0) {
        return Err(Error::invalid(
            "column",
            format!("column {target} is not on board {board}"),
        ));
    }
    let focus_enabled = b.focus_enabled;
    let anchor = |tx: &Tx<'_>, other: ItemId, field: &str| -> Result<OrderKey> {
        if other == id {
            return Err(Error::invalid(
                field,
                "an item cannot be placed next to itself",
            ));
        }
        match tx.state.slot(other) {
            Some(s) if s.column == target => Ok(s.key.clone()),
            Some(_) => Err(Error::invalid(
                field,
                format!("item {other} is not in column {target}"),
            )),
            None => Err(Error::invalid(
                field,
                format!("item {other} does not exist"),
            )),
        }
    };
    let col = tx
        .state
        .columns
        .get(&target)
        .ok_or_else(|| Error::not_found("column", target))?;
    // Neighbours are looked up ignoring the moving item itself.
    let skip = |k: &&OrderKey| !(target == from && **k == own_key);
    let key = match position {
        None if target == from => {
            return Err(Error::invalid(
                "position",
                "required when the column does not change",
            ))
        }
        None => {
            let key = order::top(tx.state.tick());
            let reason = focus_enabled.then_some(FocusReason::Moved);
            with_counts(tx, id, |tx| relocate(tx, id, target, key, reason))?;
            moved_column(tx, actor, id, from, target)?;
            tx.change(ChangeKind::ItemMoved, Some(board), Some(id));
            return view_of(tx, id);
        }
        Some(Position::Top) => order::top(tx.state.tick()),
        Some(Position::Bottom) => match col.order.keys().find(skip) {
            Some(bottom) => order::below(bottom),
            None => order::top(tx.state.tick()),
        },
        Some(Position::Before(other)) => {
            let k = anchor(tx, other, "position.before")?;
            let above = col
                .order
                .range::<OrderKey, _>((std::ops::Bound::Excluded(&k), std::ops::Bound::Unbounded))
                .map(|(k, _)| k)
                .find(skip)
                .cloned();
            match above {
                Some(hi) => order::between(Some(&k), Some(&hi)),
                None => order::top(tx.state.tick()),
            }
        }
        Some(Position::After(other)) => {
            let k = anchor(tx, other, "position.after")?;
            let below = col
                .order
                .range::<OrderKey, _>(..&k)
                .rev()
                .map(|(k, _)| k)
                .find(skip)
                .cloned();
            order::between(below.as_deref(), Some(&k))
        }
    };
    with_counts(tx, id, |tx| relocate(tx, id, target, key, None))?;
    moved_column(tx, actor, id, from, target)?;
    tx.change(ChangeKind::ItemMoved, Some(board), Some(id));
    view_of(tx, id)
}

/// A change of stage is a change of the record: the rules, then a `record_updated` entry
/// by the mover (as for a PATCH, a rule the move makes match already sees it).
pub(crate) fn moved_column(
    tx: &mut Tx<'_>,
    actor: UserId,
    id: ItemId,
    from: ColumnId,
    to: ColumnId,
) -> Result<()> {
    if from == to {
        return Ok(());
    }
    let change = FieldChange {
        field: "column".into(),
        old: Value::Num(from.0 as f64),
        new: Value::Num(to.0 as f64),
    };
    crate::follow::apply_rules(tx, id)?;
    crate::timeline::append_change(tx, id, actor, &[change], None)
}

fn delete_in(tx: &mut Tx<'_>, actor: UserId, id: ItemId) -> Result<()> {
    let rec = load(tx, id)?;
    let mut entry = crate::entry::blank(tx, Some(id), TimelineKind::Deleted);
    entry.author = Some(actor.0);
    crate::feed::append(tx, entry)?;
    crate::follow::forget_item(tx, id);
    tx.state.count_item(id, Count::Remove);
    crate::activity::delete_all_of_item(tx, id)?;
    let slot = tx
        .state
        .take_slot(id)
        .ok_or_else(|| Error::not_found("item", id))?;
    if let Some(c) = tx.state.columns.get_mut(&slot.column) {
        c.order.remove(&slot.key);
    }
    tx.state.unindex_contacts(id, &rec.phones, &rec.emails);
    tx.batch.delete(&store::id_key(store::ITEM, id.0));
    tx.state.feed.redos.remove(&id.0);
    tx.change(ChangeKind::ItemDeleted, Some(slot.board), Some(id));
    Ok(())
}

fn read_in(tx: &mut Tx<'_>, actor: UserId, id: ItemId) -> Result<ItemView> {
    let slot = tx
        .state
        .slot(id)
        .ok_or_else(|| Error::not_found("item", id))?;
    if slot.responsible != actor || slot.focus.attention == 0 {
        return view_of(tx, id);
    }
    let board = slot.board;
    let mut rec = load(tx, id)?;
    rec.attention = 0;
    with_counts(tx, id, |tx| store_rec(tx, &mut rec))?;
    tx.change(ChangeKind::ItemRead, Some(board), Some(id));
    view_of(tx, id)
}

impl Engine {
    /// Creates an item on top of its column (the board's first column by default).
    pub fn create_item(&self, actor: UserId, new: NewItem) -> Result<ItemView> {
        self.create_item_async(actor, new).wait()
    }

    /// [`Engine::create_item`] without blocking: `.await` the [`Pending`] (or `wait` it).
    pub fn create_item_async(&self, actor: UserId, new: NewItem) -> Pending<ItemView> {
        self.submit(move |tx| create_in(tx, actor, new))
    }

    /// Creates many items as one command and one group commit. Each gets its own result;
    /// a rejected one changes nothing, the others land on top in the order given.
    pub fn create_items(
        &self,
        actor: UserId,
        items: Vec<NewItem>,
    ) -> Result<Vec<Result<ItemView>>> {
        self.create_items_async(actor, items).wait()
    }

    /// [`Engine::create_items`] without blocking: `.await` the [`Pending`] (or `wait` it).
    pub fn create_items_async(
        &self,
        actor: UserId,
        items: Vec<NewItem>,
    ) -> Pending<Vec<Result<ItemView>>> {
        self.submit(move |tx| {
            Ok(items
                .into_iter()
                .map(|n| tx.attempt(|tx| create_in(tx, actor, n)))
                .collect())
        })
    }

    /// Changes an item's fields on behalf of `actor`, who is the author of the
    /// `record_updated` entry; returns the item and what changed (old → new).
    pub fn patch_item(
        &self,
        actor: UserId,
        id: ItemId,
        patch: ItemPatch,
    ) -> Result<(ItemView, Vec<FieldChange>)> {
        self.patch_item_async(actor, id, patch).wait()
    }

    /// [`Engine::patch_item`] without blocking: `.await` the [`Pending`] (or `wait` it).
    pub fn patch_item_async(
        &self,
        actor: UserId,
        id: ItemId,
        patch: ItemPatch,
    ) -> Pending<(ItemView, Vec<FieldChange>)> {
        self.submit(move |tx| patch_in(tx, actor, id, patch))
    }

    /// Deletes an item (and its activities) on behalf of `actor`, the author of the
    /// `record_deleted` entry.
    pub fn delete_item(&self, actor: UserId, id: ItemId) -> Result<()> {
        self.delete_item_async(actor, id).wait()
    }

    /// [`Engine::delete_item`] without blocking: `.await` the [`Pending`] (or `wait` it).
    pub fn delete_item_async(&self, actor: UserId, id: ItemId) -> Pending<()> {
        self.submit(move |tx| delete_in(tx, actor, id))
    }

    /// Moves an item by hand on behalf of `actor` (the author of the `record_updated`
    /// entry when the column changes): to `column` (same board) and/or to `position` in
    /// it. Without a position, a move to another column is a focus (`moved`) on a board
    /// with focus on.
    pub fn move_item(
        &self,
        actor: UserId,
        id: ItemId,
        column: Option<ColumnId>,
        position: Option<Position>,
    ) -> Result<ItemView> {
        self.move_item_async(actor, id, column, position).wait()
    }

    /// [`Engine::move_item`] without blocking: `.await` the [`Pending`] (or `wait` it).
    pub fn move_item_async(
        &self,
        actor: UserId,
        id: ItemId,
        column: Option<ColumnId>,
        position: Option<Position>,
    ) -> Pending<ItemView> {
        self.submit(move |tx| move_in(tx, actor, id, column, position))
    }

    /// The item read by `actor`: if `actor` is its responsible, attention drops to 0
    /// (the order does not change).
    pub fn read_item(&self, actor: UserId, id: ItemId) -> Result<ItemView> {
        self.read_item_async(actor, id).wait()
    }

    /// [`Engine::read_item`] without blocking: `.await` the [`Pending`] (or `wait` it).
    pub fn read_item_async(&self, actor: UserId, id: ItemId) -> Pending<ItemView> {
        self.submit(move |tx| read_in(tx, actor, id))
    }

    /// Applies a focus trigger to an item (see [`FocusReason`]).
    pub fn focus(&self, id: ItemId, reason: FocusReason) -> Result<ItemView> {
        self.focus_async(id, reason).wait()
    }

    /// [`Engine::focus`] without blocking: `.await` the [`Pending`] (or `wait` it).
    pub fn focus_async(&self, id: ItemId, reason: FocusReason) -> Pending<ItemView> {
        self.submit(move |tx| focus(tx, id, reason))
    }

    /// Applies many focus triggers as one command (one group commit).
    pub fn focus_many(
        &self,
        triggers: Vec<(ItemId, FocusReason)>,
    ) -> Result<Vec<Result<ItemView>>> {
        self.call(move |tx| {
            Ok(triggers
                .into_iter()
                .map(|(id, r)| tx.attempt(|tx| focus(tx, id, r)))
                .collect())
        })
    }
}
