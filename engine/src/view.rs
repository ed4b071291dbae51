//! Reads: items in place, column pages, the Kanban and List views.
//!
//! Pages walk the in-memory column index from the cursor and hand out the items' stored
//! bytes (reference counted, no copy); the caller reads them in place through
//! [`ItemRef`]. A page therefore costs O(log n + page) whatever the column's size.
//!
//! A cursor is the order key of the last item shown (plus its id in the List view, where
//! keys of different columns can tie). Items are listed by descending key from there, so
//! an item inserted or focused above the cursor never shifts what the next page shows.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids::{BoardId, ColumnId, ItemId, UserId};
use crate::item_view::ItemView;
use crate::order::OrderKey;
use crate::page::{limit_of, Page, PageRequest, MAX_LIMIT};
use crate::state::State;

/// The List view's filters; all that are set must hold.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this responsible's items.
    pub responsible: Option<UserId>,
    /// Only unread (`true`) or only read (`false`) items.
    pub unread: Option<bool>,
    /// Only this column.
    pub column: Option<ColumnId>,
}

/// One column of the Kanban view.
#[derive(Debug, Clone)]
pub struct KanbanColumn {
    /// The column.
    pub id: ColumnId,
    /// Its name.
    pub name: String,
    /// Items in it.
    pub count: u64,
    /// Unread items in it.
    pub unread: u64,
    /// Its first page.
    pub page: Page<ItemView>,
}

fn encode_cursor(key: &[u8], id: Option<ItemId>) -> String {
    match id {
        Some(id) => crate::cursor::encode(b'l', &[&id.0.to_be_bytes(), key]),
        None => crate::cursor::encode(b'c', &[key]),
    }
}

fn decode_cursor(s: &str, list: bool) -> Result<(OrderKey, ItemId)> {
    if list {
        let rest = crate::cursor::decode(b'l', s)?;
        let (id, key) = crate::cursor::split_u64(&rest)?;
        if key.is_empty() {
            return Err(crate::cursor::bad());
        }
        Ok((OrderKey::from_slice(key), ItemId(id)))
    } else {
        let key = crate::cursor::decode(b'c', s)?;
        if key.is_empty() {
            return Err(crate::cursor::bad());
        }
        Ok((OrderKey::from_slice(&key), ItemId(u64::MAX)))
    }
}

fn column_page_in(
    st: &State,
    board: BoardId,
    column: ColumnId,
    limit: usize,
    cursor: Option<&OrderKey>,
) -> Result<Page<ItemView>> {
    let col = st
        .columns
        .get(&column)
        .filter(|c| c.board == board)
        .ok_or_else(|| Error::not_found("column", column))?;
    let iter: Box<dyn Iterator<Item = (&OrderKey, &ItemId)>> = match cursor {
        None => Box::new(col.order.iter().rev()),
        Some(k) => Box::new(col.order.range::<OrderKey, _>(..k).rev()),
    };
    let mut items = Vec::with_capacity(limit.min(col.order.len()));
    let mut last = None;
    let mut more = false;
    for (k, id) in iter {
        if items.len() == limit {
            more = true;
            break;
        }
        if let Some(v) = st.view(*id) {
            items.push(v);
            last = Some(k);
        }
    }
    Ok(Page {
        items,
        next_cursor: if more {
            last.map(|k| encode_cursor(k, None))
        } else {
            None
        },
    })
}

impl Engine {
    /// One item.
    pub fn item(&self, id: ItemId) -> Result<ItemView> {
        let st = self.shared.state.read();
        st.view(id).ok_or_else(|| Error::not_found("item", id))
    }

    /// A page of one column, top first.
    pub fn column_page(
        &self,
        board: BoardId,
        column: ColumnId,
        req: &PageRequest,
    ) -> Result<Page<ItemView>> {
        let limit = limit_of(req)?;
        let cursor = req
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, false))
            .transpose()?;
        let st = self.shared.state.read();
        if !st.boards.contains_key(&board) {
            return Err(Error::not_found("board", board));
        }
        column_page_in(&st, board, column, limit, cursor.as_ref().map(|(k, _)| k))
    }

    /// The Kanban view: every column with its counts and first `per_column` items.
    pub fn kanban(&self, board: BoardId, per_column: usize) -> Result<Vec<KanbanColumn>> {
        if !(1..=MAX_LIMIT).contains(&per_column) {
            return Err(Error::invalid("per_column", "must be 1–500"));
        }
        let st = self.shared.state.read();
        let b = st
            .boards
            .get(&board)
            .ok_or_else(|| Error::not_found("board", board))?;
        b.columns
            .iter()
            .map(|c| {
                let id = ColumnId(c.id);
                let cs = st.columns.get(&id);
                Ok(KanbanColumn {
                    id,
                    name: c.name.clone(),
                    count: cs.map_or(0, |s| u64::try_from(s.order.len()).unwrap_or(u64::MAX)),
                    unread: cs.map_or(0, |s| s.unread),
                    page: column_page_in(&st, board, id, per_column, None)?,
                })
            })
            .collect()
    }

    /// The List view: the board's items in focus order (descending order key across
    /// columns), filtered. A selective filter costs in proportion to the items it skips.
    pub fn list(
        &self,
        board: BoardId,
        filter: &ListFilter,
        req: &PageRequest,
    ) -> Result<Page<ItemView>> {
        let limit = limit_of(req)?;
        let cursor = req
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, true))
            .transpose()?;
        let st = self.shared.state.read();
        let b = st
            .boards
            .get(&board)
            .ok_or_else(|| Error::not_found("board", board))?;
        if let Some(c) = filter.column {
            if !b.columns.iter().any(|x| x.id == c.0) {
                return Err(Error::invalid(
                    "column",
                    format!("column {c} is not on board {board}"),
                ));
            }
        }
        // One descending iterator per column, merged by (key, id).
        let mut heads: Vec<_> = b
            .columns
            .iter()
            .filter(|c| filter.column.is_none_or(|f| f.0 == c.id))
            .filter_map(|c| st.columns.get(&ColumnId(c.id)))
            .map(|cs| {
                let it: Box<dyn Iterator<Item = (&OrderKey, &ItemId)>> = match &cursor {
                    None => Box::new(cs.order.iter().rev()),
                    Some((k, id)) => {
                        let (k, id) = (k.clone(), *id);
                        Box::new(
                            cs.order
                                .range::<OrderKey, _>(..=&k)
                                .rev()
                                .filter(move |(kk, ii)| **kk < k || **ii < id),
                        )
                    }
                };
                it.peekable()
            })
            .collect();
        let mut items = Vec::with_capacity(limit);
        let mut last: Option<(OrderKey, ItemId)> = None;
        let mut more = false;
        loop {
            let best = heads
                .iter_mut()
                .enumerate()
                .filter_map(|(i, h)| h.peek().map(|(k, id)| (i, (*k).clone(), **id)))
                .max_by(|a, b| (&a.1, a.2).cmp(&(&b.1, b.2)));
            let Some((i, k, id)) = best else { break };
            if let Some(h) = heads.get_mut(i) {
                h.next();
            }
            let Some(s) = st.slot(id) else { continue };
            if filter.responsible.is_some_and(|r| r != s.responsible)
                || filter.unread.is_some_and(|u| u != (s.focus.attention > 0))
            {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            if let Some(v) = st.view(id) {
                items.push(v);
            }
            last = Some((k, id));
        }
        Ok(Page {
            items,
            next_cursor: if more {
                last.map(|(k, id)| encode_cursor(&k, Some(id)))
            } else {
                None
            },
        })
    }
}
