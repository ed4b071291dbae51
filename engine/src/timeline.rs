//! Per-item timelines: comments, notes, events, changes, reminders and deadlines fired.
//!
//! Entries live in sled in packs (`K` + last seq, appends; `store/packs.rs`); memory keeps
//! each item's list of seqs, so a page is a walk of that list from the cursor plus one seek
//! per entry shown.

use crate::engine::Pending;
use crate::engine::{Engine, Tx};
use crate::entry::{blank, check_mentions, entry, to_rec, FieldChange, Mentions, TimelineEntry};
use crate::error::{Error, Result};
use crate::feed::{append, FeedEntry};
use crate::follow::record_info;
use crate::ids::{ItemId, UserId};
use crate::page::{limit_of, Page, PageRequest};
use crate::records::{self, ChangeRec, FocusReason, TimelineKind, TimelineRec};
use crate::validate;

/// A `record_updated` entry. `also` joins its audience: a responsible who was just
/// replaced still sees the change that replaced them.
pub(crate) fn append_change(
    tx: &mut Tx<'_>,
    item: ItemId,
    author: UserId,
    changes: &[FieldChange],
    also: Option<UserId>,
) -> Result<()> {
    let mut rec = blank(tx, Some(item), TimelineKind::Change);
    rec.author = Some(author.0);
    rec.audience.extend(also.map(|u| u.0));
    rec.changes = changes
        .iter()
        .map(|c| ChangeRec {
            field: c.field.clone(),
            old: to_rec(&c.old),
            new: to_rec(&c.new),
        })
        .collect();
    crate::feed::append(tx, rec).map(|_| ())
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
            let (old, new) = st
                .timeline_seqs(item)
                .ok_or_else(|| Error::not_found("item", item))?;
            let below =
                |list: &[u64]| before.map_or(list.len(), |b| list.partition_point(|s| *s < b));
            let (old, new) = (&old[..below(old)], &new[..below(new)]);
            new.iter()
                .rev()
                .chain(old.iter().rev())
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
        let mut entries = self.shared.store.entries();
        for seq in seqs.into_iter().take(limit) {
            if let Some(v) = entries.read(seq)? {
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
        self.comment_async(actor, item, text, mentions).wait()
    }

    /// [`Engine::comment`] without blocking: `.await` the [`Pending`] (or `wait` it).
    pub fn comment_async(
        &self,
        actor: UserId,
        item: ItemId,
        text: String,
        mentions: Mentions,
    ) -> Pending<TimelineEntry> {
        self.submit(move |tx| {
            let text = validate::text_len("text", &text, 1, 20_000)?;
            let responsible = tx
                .state
                .slot(item)
                .ok_or_else(|| Error::not_found("item", item))?
                .responsible;
            check_mentions(tx, &mentions)?;
            let mut rec = blank(tx, Some(item), TimelineKind::Comment);
            rec.author = Some(actor.0);
            rec.text = text;
            rec.mentions_users = mentions.users.iter().map(|u| u.0).collect();
            rec.mentions_groups = mentions.groups.iter().map(|g| g.0).collect();
            rec.mentions_roles = mentions.roles;
            let rec = if actor != responsible {
                crate::focus::focus_by(tx, item, FocusReason::Comment, rec)?
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
            let mut rec = blank(tx, Some(item), TimelineKind::Note);
            rec.author = Some(actor.0);
            rec.text = text;
            Ok(entry(append(tx, rec)?))
        })
    }

    /// Record peek: the latest entries of one record (hidden if its module is off).
    pub fn record_feed(&self, item: ItemId, req: &PageRequest) -> Result<Page<FeedEntry>> {
        let st = self.shared.state.read();
        let (module, _, _) =
            record_info(&st, item).ok_or_else(|| Error::not_found("item", item))?;
        if st.feed.disabled.contains(&module) {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        drop(st);
        let page = self.entries_of(item, req, false)?;
        let items = page
            .items
            .into_iter()
            .map(|t| FeedEntry {
                id: t.id,
                kind: t.kind.feed_kind(),
                at: t.at,
                author: t.author,
                text: t.text,
                module: Some(module.clone()),
                item: Some(t.item),
                title: None,
                group: None,
                mentions: t.mentions,
                changes: t.changes,
                recipients: Vec::new(),
                file: None,
                detail: t.kind,
            })
            .collect();
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }
}
