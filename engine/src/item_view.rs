//! An item as readers see it: the stored record read in place, plus the focus state and
//! next deadline that memory holds newer than the row.

use crate::clock::Millis;
use crate::error::Result;
use crate::ids::{BoardId, ColumnId, ItemId, UserId};
use crate::records::{self, ArchivedFieldValue, ArchivedItemRec, FieldValue, FocusReason};
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
