//! Entries as callers see them (`TimelineEntry`, `FieldChange`, `Value`, `Mentions`), and
//! the blank record every kind of entry starts from. Writing one is `feed::append`.

use crate::clock::Millis;
use crate::engine::Tx;
use crate::error::{Error, Result};
use crate::ids::{ActivityId, EntryId, GroupId, ItemId, UserId};
use crate::records::{EventKind, FieldValue, TimelineKind, TimelineRec, ValueRec};
use crate::validate;

/// A value before or after a change, for `record_updated` feed entries.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Absent.
    Null,
    /// Text.
    Str(String),
    /// Number.
    Num(f64),
    /// Boolean.
    Bool(bool),
    /// A user id.
    User(UserId),
    /// A list of strings (contacts).
    List(Vec<String>),
}

/// One changed part of an item.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    /// `title`, `responsible`, `amount`, `contacts.phones`, `contacts.emails` or
    /// `fields.<key>`.
    pub field: String,
    /// Before.
    pub old: Value,
    /// After.
    pub new: Value,
}

impl From<&FieldValue> for Value {
    fn from(v: &FieldValue) -> Value {
        match v {
            FieldValue::Str(s) => Value::Str(s.clone()),
            FieldValue::Num(n) => Value::Num(*n),
            FieldValue::Bool(b) => Value::Bool(*b),
        }
    }
}

/// Who or what an entry mentions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mentions {
    /// Users.
    pub users: Vec<UserId>,
    /// Groups (their members).
    pub groups: Vec<GroupId>,
    /// Role names (every user holding one).
    pub roles: Vec<String>,
}

/// One timeline entry.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    /// Its id, increasing in time across the store.
    pub id: EntryId,
    /// The item.
    pub item: ItemId,
    /// When it happened.
    pub at: Millis,
    /// What it records.
    pub kind: TimelineKind,
    /// Who wrote it (none for system entries).
    pub author: Option<UserId>,
    /// Comment or note text, event summary, or activity subject.
    pub text: String,
    /// For events: the kind.
    pub event_kind: Option<EventKind>,
    /// For events: the gateway's id.
    pub event_id: Option<String>,
    /// For reminders and deadlines: the activity.
    pub activity: Option<ActivityId>,
    /// For changes: each changed field.
    pub changes: Vec<FieldChange>,
    /// Mentions (comments).
    pub mentions: Mentions,
}

pub(crate) fn to_rec(v: &Value) -> ValueRec {
    match v {
        Value::Null => ValueRec::Null,
        Value::Str(s) => ValueRec::Str(s.clone()),
        Value::Num(n) => ValueRec::Num(*n),
        Value::Bool(b) => ValueRec::Bool(*b),
        Value::User(u) => ValueRec::User(u.0),
        Value::List(l) => ValueRec::List(l.clone()),
    }
}

fn from_rec(v: ValueRec) -> Value {
    match v {
        ValueRec::Null => Value::Null,
        ValueRec::Str(s) => Value::Str(s),
        ValueRec::Num(n) => Value::Num(n),
        ValueRec::Bool(b) => Value::Bool(b),
        ValueRec::User(u) => Value::User(UserId(u)),
        ValueRec::List(l) => Value::List(l),
    }
}

pub(crate) fn entry(r: TimelineRec) -> TimelineEntry {
    TimelineEntry {
        id: EntryId(r.seq),
        item: ItemId(r.item),
        at: Millis(r.at),
        kind: r.kind,
        author: r.author.map(UserId),
        text: r.text,
        event_kind: r.event_kind,
        event_id: r.event_id,
        activity: r.activity.map(ActivityId),
        changes: r
            .changes
            .into_iter()
            .map(|c| FieldChange {
                field: c.field,
                old: from_rec(c.old),
                new: from_rec(c.new),
            })
            .collect(),
        mentions: Mentions {
            users: r.mentions_users.into_iter().map(UserId).collect(),
            groups: r.mentions_groups.into_iter().map(GroupId).collect(),
            roles: r.mentions_roles,
        },
    }
}

/// A blank entry of `kind` on `item`, now, to fill in.
pub(crate) fn blank(tx: &Tx<'_>, item: Option<ItemId>, kind: TimelineKind) -> TimelineRec {
    TimelineRec {
        seq: 0,
        item: item.map_or(0, |i| i.0),
        at: tx.now.0,
        kind,
        author: None,
        text: String::new(),
        event_kind: None,
        event_id: None,
        activity: None,
        changes: Vec::new(),
        mentions_users: Vec::new(),
        mentions_groups: Vec::new(),
        mentions_roles: Vec::new(),
        module: String::new(),
        title: String::new(),
        group: None,
        recipients: Vec::new(),
        file: None,
        audience: Vec::new(),
        redo: None,
    }
}

pub(crate) fn check_mentions(tx: &Tx<'_>, m: &Mentions) -> Result<()> {
    for (i, u) in m.users.iter().enumerate() {
        if !tx.state.users.contains_key(u) {
            return Err(Error::invalid(
                format!("mentions.users[{i}]"),
                format!("user {u} does not exist"),
            ));
        }
    }
    for (i, g) in m.groups.iter().enumerate() {
        if !tx.state.groups.contains_key(g) {
            return Err(Error::invalid(
                format!("mentions.groups[{i}]"),
                format!("group {g} does not exist"),
            ));
        }
    }
    for (i, r) in m.roles.iter().enumerate() {
        validate::text_len(&format!("mentions.roles[{i}]"), r, 1, 64)?;
    }
    Ok(())
}
