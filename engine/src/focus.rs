//! Where an item sits and why: its row read and written, its place in a column, and a
//! focus trigger (to the top of its column, attention raised), with the counters kept
//! exact around every change. Commands on items, activities, events and comments build on
//! these.

use crate::changes::ChangeKind;
use crate::engine::Tx;
use crate::error::{Error, Result};
use crate::ids::{ColumnId, ItemId, UserId};
use crate::item_view::{Focus, ItemView};
use crate::order::{self, OrderKey};
use crate::records::{self, FocusReason, FocusRedo, ItemRec, TimelineRec};
use crate::store;

pub(crate) fn load(tx: &Tx<'_>, id: ItemId) -> Result<ItemRec> {
    let slot = tx
        .state
        .slot(id)
        .ok_or_else(|| Error::not_found("item", id))?;
    let mut rec = records::decode::<ItemRec>(&slot.rec)?;
    rec.column = slot.column.0;
    rec.order = slot.key.to_vec();
    slot.focus.write_to(&mut rec);
    Ok(rec)
}

/// Writes `rec` as the item's record and refreshes its slot (not its column position).
/// Counters are the caller's business (see [`with_counts`]).
pub(crate) fn store_rec(tx: &mut Tx<'_>, rec: &mut ItemRec) -> Result<()> {
    // Every redo written so far is older than this row: none of them can apply on open
    // any more, so memory (and the next checkpoint) forgets the item's.
    rec.version = tx.state.meta.next_entry;
    tx.state.feed.redos.remove(&rec.id);
    let bytes = records::encode(rec)?;
    tx.batch
        .put(&store::id_key(store::ITEM, rec.id), bytes.clone());
    let Some(cell) = usize::try_from(rec.id)
        .ok()
        .and_then(|i| tx.state.items.get_mut(i))
        .and_then(Option::as_mut)
    else {
        return Err(Error::not_found("item", ItemId(rec.id)));
    };
    cell.rec = bytes;
    cell.responsible = UserId(rec.responsible);
    cell.focus = Focus::of(rec);
    Ok(())
}

/// Runs `f`, which changes what item `id` contributes to counters, and moves the item's
/// contribution from what it was before `f` to what it is after (nothing when the two are
/// equal), so counters stay exact.
pub(crate) fn with_counts<T>(
    tx: &mut Tx<'_>,
    id: ItemId,
    f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
) -> Result<T> {
    let before = tx.state.contribution(id);
    let r = f(tx);
    tx.state.recount_item(id, before);
    r
}

/// The item as readers see it now.
pub(crate) fn view_of(tx: &Tx<'_>, id: ItemId) -> Result<ItemView> {
    tx.state
        .view(id)
        .ok_or_else(|| Error::not_found("item", id))
}

/// Moves an item to `key` in `column` (same board) and rewrites its record, optionally
/// as a focus with `reason` (a move to another column). Used by moves and column deletion.
pub(crate) fn relocate(
    tx: &mut Tx<'_>,
    id: ItemId,
    column: ColumnId,
    key: OrderKey,
    focus: Option<FocusReason>,
) -> Result<()> {
    place(tx, id, column, key)?;
    let now = tx.now.0;
    if let (Some(reason), Some(cell)) = (focus, tx.state.slot_mut(id)) {
        cell.focus.mark(now, reason, true);
    }
    let mut rec = load(tx, id)?;
    store_rec(tx, &mut rec)
}

/// Moves an item to `key` in `column` in memory only (slot and column index).
pub(crate) fn place(tx: &mut Tx<'_>, id: ItemId, column: ColumnId, key: OrderKey) -> Result<()> {
    let slot = tx
        .state
        .slot(id)
        .ok_or_else(|| Error::not_found("item", id))?;
    let (old_col, old_key) = (slot.column, slot.key.clone());
    if !tx.state.columns.contains_key(&column) {
        return Err(Error::not_found("column", column));
    }
    if let Some(c) = tx.state.columns.get_mut(&old_col) {
        c.order.remove(&old_key);
    }
    if let Some(c) = tx.state.columns.get_mut(&column) {
        c.order.insert(key.clone(), id);
    }
    if let Some(cell) = tx.state.slot_mut(id) {
        cell.column = column;
        cell.key = key;
    }
    Ok(())
}

/// Applies a focus trigger in memory: on a board with focus on, the item goes to the top
/// of its column; attention rises for the triggers that raise it either way. Counters
/// included. The caller makes it durable: [`focus`] rewrites the item row, [`focus_by`]
/// puts the new state in the entry that caused it.
pub(crate) fn focus_in_memory(tx: &mut Tx<'_>, id: ItemId, reason: FocusReason) -> Result<()> {
    let slot = tx
        .state
        .slot(id)
        .ok_or_else(|| Error::not_found("item", id))?;
    let (board, column) = (slot.board, slot.column);
    let enabled = tx.state.boards.get(&board).is_some_and(|b| b.focus_enabled);
    let now = tx.now.0;
    with_counts(tx, id, |tx| {
        if enabled {
            let key = order::top(tx.state.tick());
            place(tx, id, column, key)?;
        }
        if let Some(cell) = tx.state.slot_mut(id) {
            cell.focus.mark(now, reason, enabled);
        }
        Ok(())
    })?;
    tx.change(ChangeKind::ItemFocused, Some(board), Some(id));
    Ok(())
}

/// A focus trigger with no entry of its own (the `focus` API): the item row is rewritten.
pub(crate) fn focus(tx: &mut Tx<'_>, id: ItemId, reason: FocusReason) -> Result<ItemView> {
    focus_in_memory(tx, id, reason)?;
    let mut rec = load(tx, id)?;
    store_rec(tx, &mut rec)?;
    view_of(tx, id)
}

/// A focus trigger recorded by `entry` (an event, a comment, a fired timer) about item
/// `id`: the entry is appended carrying the item's new focus state, and the item row is
/// not rewritten, so the whole trigger is one sled write. Returns the appended entry.
pub(crate) fn focus_by(
    tx: &mut Tx<'_>,
    id: ItemId,
    reason: FocusReason,
    mut entry: TimelineRec,
) -> Result<TimelineRec> {
    focus_in_memory(tx, id, reason)?;
    let slot = tx
        .state
        .slot(id)
        .ok_or_else(|| Error::not_found("item", id))?;
    entry.redo = Some(FocusRedo {
        order: slot.key.to_vec(),
        focused_at: slot.focus.focused_at,
        focus_reason: slot.focus.focus_reason,
        attention: slot.focus.attention,
    });
    crate::feed::append(tx, entry)
}
