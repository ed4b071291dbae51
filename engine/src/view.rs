//! Reads: items in place, column pages, the Kanban and List views.
//!
//! Pages walk the in-memory column index from the cursor and hand out the items' stored
//! bytes (reference counted, no copy); the caller reads them in place through
//! [`ItemRef`]. A page therefore costs O(log n + page) whatever the column's size.
//!
//! A cursor is the order key of the last item shown (plus its id in the List view, where
//! keys of different columns can tie). Items are listed by descending key from there, so
//! an item inserted or focused above the cursor never shifts what the next page shows.

use crate::clock::Millis;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids::{BoardId, ColumnId, ItemId, UserId};
use crate::order::OrderKey;
use crate::records::{self, ArchivedFieldValue, ArchivedItemRec, FieldValue, FocusReason};
use crate::state::{Focus, State};
use crate::store::Bytes;

/// A stored item, shared with the store and read in place, plus what memory holds newer
/// than its bytes: the next deadline (derived from its activities, so that arming an
/// activity does not rewrite the item) and the focus state (a focus caused by an entry
/// is durable in that entry, not in the item row; see `records::FocusRedo`).
#[derive(Clone)]
pub struct ItemView(Bytes, Overlay);

/// The fields of an item that memory holds authoritatively.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Overlay {
    pub next_deadline: Option<Millis>,
    pub focus: Focus,
}

impl std::fmt::Debug for ItemView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.get() {
            Ok(r) => write!(f, "ItemView({}, {:?})", r.id(), r.title()),
            Err(_) => write!(f, "ItemView(<corrupt>)"),
        }
    }
}

impl ItemView {
    pub(crate) fn new(bytes: Bytes, overlay: Overlay) -> ItemView {
        ItemView(bytes, overlay)
    }

    /// Checked access to the stored record.
    pub fn get(&self) -> Result<ItemRef<'_>> {
        records::access::<ArchivedItemRec>(&self.0).map(|r| ItemRef(r, self.1))
    }

    /// An owned copy of the item.
    pub fn to_item(&self) -> Result<Item> {
        let r = self.get()?;
        Ok(Item {
            id: r.id(),
            board: r.board(),
            column: r.column(),
            title: r.title().to_string(),
            responsible: r.responsible(),
            amount: r.amount(),
            fields: r
                .fields()
                .map(|(k, v)| {
                    let v = match v {
                        FieldRef::Str(s) => FieldValue::Str(s.to_string()),
                        FieldRef::Num(n) => FieldValue::Num(n),
                        FieldRef::Bool(b) => FieldValue::Bool(b),
                    };
                    (k.to_string(), v)
                })
                .collect(),
            phones: r.phones().map(str::to_string).collect(),
            emails: r.emails().map(str::to_string).collect(),
            created_at: r.created_at(),
            updated_at: r.updated_at(),
            focused_at: r.focused_at(),
            focus_reason: r.focus_reason(),
            attention: r.attention(),
            next_deadline: r.next_deadline(),
        })
    }
}

/// An owned item (convenient for embedded users and tests; pages use [`ItemRef`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Its id.
    pub id: ItemId,
    /// Its board.
    pub board: BoardId,
    /// Its column.
    pub column: ColumnId,
    /// Title.
    pub title: String,
    /// Responsible user.
    pub responsible: UserId,
    /// Amount.
    pub amount: f64,
    /// Free fields, by key.
    pub fields: Vec<(String, FieldValue)>,
    /// Phones as given.
    pub phones: Vec<String>,
    /// E-mails as given.
    pub emails: Vec<String>,
    /// Created.
    pub created_at: Millis,
    /// Last changed.
    pub updated_at: Millis,
    /// Last focused.
    pub focused_at: Millis,
    /// Why it was last focused.
    pub focus_reason: FocusReason,
    /// Attention count; unread while above 0.
    pub attention: u32,
    /// The next deadline of its open activities.
    pub next_deadline: Option<Millis>,
}

/// A free field's value, borrowed from the stored record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldRef<'a> {
    /// Text.
    Str(&'a str),
    /// Number.
    Num(f64),
    /// Boolean.
    Bool(bool),
}

/// A zero-copy view of a stored item.
#[derive(Clone, Copy)]
pub struct ItemRef<'a>(&'a ArchivedItemRec, Overlay);

impl<'a> ItemRef<'a> {
    /// Its id.
    pub fn id(&self) -> ItemId {
        ItemId(self.0.id.to_native())
    }
    /// Its board.
    pub fn board(&self) -> BoardId {
        BoardId(self.0.board.to_native())
    }
    /// Its column.
    pub fn column(&self) -> ColumnId {
        ColumnId(self.0.column.to_native())
    }
    /// Title.
    pub fn title(&self) -> &'a str {
        self.0.title.as_str()
    }
    /// Responsible user.
    pub fn responsible(&self) -> UserId {
        UserId(self.0.responsible.to_native())
    }
    /// Amount.
    pub fn amount(&self) -> f64 {
        self.0.amount.to_native()
    }
    /// Free fields, sorted by key.
    pub fn fields(&self) -> impl Iterator<Item = (&'a str, FieldRef<'a>)> + 'a {
        self.0.fields.iter().map(|f| {
            let v = match &f.value {
                ArchivedFieldValue::Str(s) => FieldRef::Str(s.as_str()),
                ArchivedFieldValue::Num(n) => FieldRef::Num(n.to_native()),
                ArchivedFieldValue::Bool(b) => FieldRef::Bool(*b),
            };
            (f.key.as_str(), v)
        })
    }
    /// Phones as given.
    pub fn phones(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.0.phones.iter().map(|s| s.as_str())
    }
    /// E-mails as given.
    pub fn emails(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.0.emails.iter().map(|s| s.as_str())
    }
    /// Created.
    pub fn created_at(&self) -> Millis {
        Millis(self.0.created_at.to_native())
    }
    /// Last changed.
    pub fn updated_at(&self) -> Millis {
        Millis(self.0.updated_at.to_native())
    }
    /// Last focused.
    pub fn focused_at(&self) -> Millis {
        Millis(self.1.focus.focused_at)
    }
    /// Why it was last focused.
    pub fn focus_reason(&self) -> FocusReason {
        self.1.focus.focus_reason
    }
    /// Attention count.
    pub fn attention(&self) -> u32 {
        self.1.focus.attention
    }
    /// Whether the card is lit (`attention > 0`).
    pub fn unread(&self) -> bool {
        self.attention() > 0
    }
    /// The next deadline of its open activities.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.1.next_deadline
    }
}

/// A page of a list, with the cursor of the next page (`None` at the end).
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The entries, in list order.
    pub items: Vec<T>,
    /// Pass back to get the next page.
    pub next_cursor: Option<String>,
}

/// The page size and where to start.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// 1–500; 50 when `None`.
    pub limit: Option<usize>,
    /// A cursor from an earlier page.
    pub cursor: Option<String>,
}

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

const DEFAULT_LIMIT: usize = 50;
pub(crate) const MAX_LIMIT: usize = 500;

pub(crate) fn limit_of(req: &PageRequest) -> Result<usize> {
    match req.limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid("limit", "must be 1–500")),
    }
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
