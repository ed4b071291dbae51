//! Per-item timelines: comments, notes, events, changes, reminders and deadlines fired.
//!
//! Entries live in sled under `E` + entry seq (appends); memory keeps each item's list of
//! seqs, so a page is a walk of that list from the cursor plus one get per entry shown.

use crate::clock::Millis;
use crate::engine::{Engine, Tx};
use crate::error::{Error, Result};
use crate::ids::{ActivityId, EntryId, GroupId, ItemId, UserId};
use crate::item::{FieldChange, Value};
use crate::records::{
    self, ChangeRec, EventKind, FocusReason, TimelineKind, TimelineRec, ValueRec,
};
use crate::store;
use crate::validate;
use crate::view::{limit_of, Page, PageRequest};

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

fn to_rec(v: &Value) -> ValueRec {
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
pub(crate) fn blank(tx: &Tx<'_>, item: ItemId, kind: TimelineKind) -> TimelineRec {
    TimelineRec {
        seq: 0,
        item: item.0,
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

/// Appends an entry; returns it with its id.
pub(crate) fn append(tx: &mut Tx<'_>, rec: TimelineRec) -> Result<TimelineRec> {
    crate::feed::append(tx, rec)
}

/// A `record_updated` entry. `also` joins its audience: a responsible who was just
/// replaced still sees the change that replaced them.
pub(crate) fn append_change(
    tx: &mut Tx<'_>,
    item: ItemId,
    author: Option<UserId>,
    changes: &[FieldChange],
    also: Option<UserId>,
) -> Result<()> {
    let mut rec = blank(tx, item, TimelineKind::Change);
    rec.author = author.map(|a| a.0);
    rec.audience.extend(also.map(|u| u.0));
    rec.changes = changes
        .iter()
        .map(|c| ChangeRec {
            field: c.field.clone(),
            old: to_rec(&c.old),
            new: to_rec(&c.new),
        })
        .collect();
    append(tx, rec).map(|_| ())
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

fn encode_cursor(seq: u64) -> String {
    crate::cursor::encode_u64(b't', seq)
}

fn decode_cursor(s: &str) -> Result<u64> {
    crate::cursor::decode_u64(b't', s)
}

impl Engine {
    /// A page of an item's timeline, newest first: comments, notes, events, changes and
    /// fired reminders and deadlines (ARCHITECTURE.md, "Focus mode"). The record's feed-only entries
    /// (created, activity planned) are in the same list and are skipped here; the record
    /// peek (`record_feed`) shows everything.
    pub fn timeline(&self, item: ItemId, req: &PageRequest) -> Result<Page<TimelineEntry>> {
        self.entries_of(item, req, true)
    }

    pub(crate) fn entries_of(
        &self,
        item: ItemId,
        req: &PageRequest,
        timeline_only: bool,
    ) -> Result<Page<TimelineEntry>> {
        let limit = limit_of(req)?;
        let before = req.cursor.as_deref().map(decode_cursor).transpose()?;
        // The seqs of the page (plus one, to know whether there is more), picked under
        // the read lock from memory; the rows are read after it is released.
        let seqs: Vec<u64> = {
            let st = self.shared.state.read();
            let slot = st
                .slot(item)
                .ok_or_else(|| Error::not_found("item", item))?;
            let end = before.map_or(slot.entries.len(), |b| {
                slot.entries.partition_point(|s| *s < b)
            });
            slot.entries
                .get(..end)
                .unwrap_or_default()
                .iter()
                .rev()
                .copied()
                .filter(|s| {
                    !timeline_only
                        || !st.feed.kind_of(*s).is_some_and(|k| {
                            matches!(
                                k,
                                TimelineKind::Created
                                    | TimelineKind::Deleted
                                    | TimelineKind::Activity
                            )
                        })
                })
                .take(limit + 1)
                .collect()
        };
        let more = seqs.len() > limit;
        let mut items = Vec::with_capacity(limit);
        for seq in seqs.into_iter().take(limit) {
            if let Some(v) = self.shared.store.get(&store::entry_key(seq))? {
                items.push(entry(records::decode::<TimelineRec>(&v)?));
            }
        }
        let next_cursor = if more {
            items.last().map(|e: &TimelineEntry| encode_cursor(e.id.0))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// A comment on an item. By anyone but the item's responsible it is a focus
    /// (`comment`, attention +1).
    pub fn comment(
        &self,
        actor: UserId,
        item: ItemId,
        text: String,
        mentions: Mentions,
    ) -> Result<TimelineEntry> {
        self.call(move |tx| {
            let text = validate::text_len("text", &text, 1, 20_000)?;
            let responsible = tx
                .state
                .slot(item)
                .ok_or_else(|| Error::not_found("item", item))?
                .responsible;
            check_mentions(tx, &mentions)?;
            let mut rec = blank(tx, item, TimelineKind::Comment);
            rec.author = Some(actor.0);
            rec.text = text;
            rec.mentions_users = mentions.users.iter().map(|u| u.0).collect();
            rec.mentions_groups = mentions.groups.iter().map(|g| g.0).collect();
            rec.mentions_roles = mentions.roles;
            let rec = if actor != responsible {
                crate::item::focus_by(tx, item, FocusReason::Comment, rec)?
            } else {
                append(tx, rec)?
            };
            Ok(entry(rec))
        })
    }

    /// A note on an item: timeline only, never a focus.
    pub fn note(&self, actor: UserId, item: ItemId, text: String) -> Result<TimelineEntry> {
        self.call(move |tx| {
            let text = validate::text_len("text", &text, 1, 20_000)?;
            if tx.state.slot(item).is_none() {
                return Err(Error::not_found("item", item));
            }
            let mut rec = blank(tx, item, TimelineKind::Note);
            rec.author = Some(actor.0);
            rec.text = text;
            Ok(entry(append(tx, rec)?))
        })
    }
}
