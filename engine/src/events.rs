//! Incoming events from gateways (telephony, e-mail, chat): matching, idempotency, intake.
//!
//! A batch is one writer command, so it shares one group commit. Per event:
//! 1. Validate; a bad event is its own `Err` and changes nothing.
//! 2. Duplicate check by the event id's 128-bit hash, answered from memory. The hashes an
//!    ingest accepts (or finds unmatched) are appended as one `S` row per command, so the
//!    check costs no sled read and no per-event write, and survives restarts.
//! 3. Match: the named item, or the most recently focused item carrying the contact; else
//!    a new item on the intake board, else `unmatched`.
//! 4. A timeline entry; incoming kinds are a focus (attention +1), made durable by that
//!    entry alone (its focus redo), so an event is one sled write.

use sha2::{Digest, Sha256};

use crate::clock::Millis;
use crate::engine::Pending;
use crate::engine::{Engine, Tx};
use crate::error::{Error, Result};
use crate::ids::{BoardId, ItemId, UserId};
use crate::item::{create_in, Contacts, NewItem};
use crate::records::{self, EventKind, SeenRec, TimelineKind};
use crate::state::Counter;
use crate::store;
use crate::validate;

/// An event from a gateway.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The gateway's id, 1–128 characters; a second event with the same id is a
    /// duplicate for ever.
    pub id: String,
    /// What happened.
    pub kind: EventKind,
    /// The item it names, if any.
    pub item: Option<ItemId>,
    /// A phone number to match, if no item is named.
    pub phone: Option<String>,
    /// An e-mail to match, if no item is named.
    pub email: Option<String>,
    /// When it happened (default: now).
    pub at: Option<Millis>,
    /// A summary for the timeline (up to 20,000 characters).
    pub summary: Option<String>,
}

/// What became of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestStatus {
    /// Applied to an item.
    Accepted,
    /// Seen before: nothing changed.
    Duplicate,
    /// No item matched and no intake board was named.
    Unmatched,
}

/// One event's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestResult {
    /// What became of it.
    pub status: IngestStatus,
    /// The item it was applied to (accepted only).
    pub item: Option<ItemId>,
}

fn hash_id(id: &str) -> u128 {
    let d = Sha256::digest(id.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(d.get(..16).unwrap_or(&[0u8; 16]));
    u128::from_be_bytes(b)
}

struct Checked {
    hash: u128,
    id: String,
    kind: EventKind,
    item: Option<ItemId>,
    /// (is a phone, as given).
    contact: Option<(bool, String)>,
    at: Option<Millis>,
    summary: String,
}

fn check(e: NewEvent) -> Result<Checked> {
    let id = validate::text_len("id", &e.id, 1, 128)?;
    let summary = validate::text_len("summary", e.summary.as_deref().unwrap_or(""), 0, 20_000)?;
    let phone = e
        .phone
        .map(|p| validate::phone("contact.phone", &p))
        .transpose()?;
    let email = e
        .email
        .map(|m| validate::email("contact.email", &m))
        .transpose()?;
    let contact = match (phone, email) {
        (Some(p), _) => Some((true, p)),
        (None, Some(m)) => Some((false, m)),
        (None, None) => None,
    };
    if e.item.is_none() && contact.is_none() {
        return Err(Error::invalid(
            "item",
            "an event names an item or a contact (phone or email)",
        ));
    }
    Ok(Checked {
        hash: hash_id(&id),
        id,
        kind: e.kind,
        item: e.item,
        contact,
        at: e.at,
        summary,
    })
}

fn human(kind: EventKind) -> &'static str {
    match kind {
        EventKind::EmailIn => "E-mail from",
        EventKind::ChatIn => "Chat from",
        EventKind::CallIn => "Call from",
        EventKind::CallMissed => "Missed call from",
        EventKind::EmailOut => "E-mail to",
        EventKind::CallOut => "Call to",
    }
}

fn ingest_one(
    tx: &mut Tx<'_>,
    actor: UserId,
    intake: Option<BoardId>,
    fresh: &mut Vec<u128>,
    e: NewEvent,
) -> Result<IngestResult> {
    let c = check(e)?;
    if tx.state.seen.contains(c.hash) {
        return Ok(IngestResult {
            status: IngestStatus::Duplicate,
            item: None,
        });
    }
    let matched = match (&c.item, &c.contact) {
        (Some(id), _) => tx.state.slot(*id).map(|_| *id),
        (None, Some((is_phone, raw))) => {
            let key = if *is_phone {
                tx.state.phone_key(raw)
            } else {
                Some(tx.state.email_key(raw))
            };
            key.and_then(|k| tx.state.items_by_contact(k).first().copied())
        }
        (None, None) => None,
    };
    let item = match (matched, intake, &c.contact) {
        (Some(id), _, _) => id,
        (None, Some(board), Some((is_phone, raw))) if c.item.is_none() => {
            let contacts = if *is_phone {
                Contacts {
                    phones: vec![raw.clone()],
                    emails: Vec::new(),
                }
            } else {
                Contacts {
                    phones: Vec::new(),
                    emails: vec![raw.clone()],
                }
            };
            let view = create_in(
                tx,
                actor,
                NewItem {
                    board,
                    title: format!("{} {raw}", human(c.kind)),
                    contacts,
                    ..NewItem::default()
                },
            )?;
            view.get()?.id()
        }
        _ => {
            tx.state.seen.insert(c.hash);
            fresh.push(c.hash);
            return Ok(IngestResult {
                status: IngestStatus::Unmatched,
                item: None,
            });
        }
    };
    let mut rec = crate::entry::blank(tx, Some(item), TimelineKind::Event);
    rec.author = Some(actor.0);
    rec.at = c.at.map_or(tx.now.0, |a| a.0);
    rec.text = c.summary;
    rec.event_kind = Some(c.kind);
    rec.event_id = Some(c.id);
    match c.kind.focus() {
        Some(reason) => crate::focus::focus_by(tx, item, reason, rec)?,
        None => crate::feed::append(tx, rec)?,
    };
    tx.state.seen.insert(c.hash);
    fresh.push(c.hash);
    Ok(IngestResult {
        status: IngestStatus::Accepted,
        item: Some(item),
    })
}

impl Engine {
    /// Applies a batch of gateway events as one command (one group commit). Each event
    /// gets its own result; a bad one (`Err`) changes nothing and never stops the others.
    /// `intake_board` must exist: unmatched contacts then become new items on it.
    pub fn ingest(
        &self,
        actor: UserId,
        events: Vec<NewEvent>,
        intake_board: Option<BoardId>,
    ) -> Result<Vec<Result<IngestResult>>> {
        self.ingest_async(actor, events, intake_board).wait()
    }

    /// [`Engine::ingest`] without blocking: `.await` the [`Pending`] (or `wait` it).
    pub fn ingest_async(
        &self,
        actor: UserId,
        events: Vec<NewEvent>,
        intake_board: Option<BoardId>,
    ) -> Pending<Vec<Result<IngestResult>>> {
        let shared = std::sync::Arc::clone(&self.shared);
        self.submit(move |tx| {
            if let Some(b) = intake_board {
                if !tx.state.boards.contains_key(&b) {
                    return Err(Error::invalid(
                        "intake_board",
                        format!("board {b} does not exist"),
                    ));
                }
            }
            let mut fresh = Vec::new();
            let results: Vec<Result<IngestResult>> = events
                .into_iter()
                .map(|e| {
                    // A rolled-back event's hash must not be remembered as seen.
                    let seen = fresh.len();
                    let rollbacks = tx.rollbacks();
                    let r = tx.attempt(|tx| ingest_one(tx, actor, intake_board, &mut fresh, e));
                    if r.is_err() {
                        fresh.truncate(seen);
                    }
                    if tx.rollbacks() != rollbacks {
                        // The rollback rebuilt memory from the records, and this batch's
                        // accepted hashes are not written until its end: put them back.
                        tx.state.seen.extend(fresh.iter().copied());
                    }
                    r
                })
                .collect();
            if !fresh.is_empty() {
                let accepted = results
                    .iter()
                    .filter(|r| matches!(r, Ok(x) if x.status == IngestStatus::Accepted))
                    .count();
                shared
                    .events_ingested
                    .fetch_add(accepted as u64, std::sync::atomic::Ordering::Relaxed);
                // One `S` row per 256 hashes (4 KiB): no value may grow past
                // `store::MAX_VALUE` (a 10,000-event batch would be 160 KiB).
                for hashes in fresh.chunks(store::SEEN_PER_ROW) {
                    let seq = tx.state.alloc(Counter::Entry);
                    tx.batch.put(
                        &store::id_key(store::SEEN, seq),
                        records::encode(&SeenRec {
                            hashes: hashes.to_vec(),
                        })?,
                    );
                }
            }
            Ok(results)
        })
    }
}
