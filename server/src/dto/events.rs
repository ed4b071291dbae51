//! Gateway events, one or a batch.

use super::{parse_time, ErrorInner};
use crate::wire::{EventKindIo, EventStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContactIn {
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// An event from a gateway.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventIn {
    /// 1–128 characters; a second event with the same id is a duplicate for ever.
    pub id: String,
    pub kind: EventKindIo,
    pub item: Option<u64>,
    pub contact: Option<ContactIn>,
    /// RFC 3339
    pub at: Option<String>,
    pub summary: Option<String>,
}

impl EventIn {
    pub(crate) fn into_event(self) -> Result<hoist_engine::NewEvent, crate::error::ApiError> {
        let at = self
            .at
            .as_deref()
            .map(|a| parse_time("at", a))
            .transpose()?;
        let (phone, email) = match self.contact {
            Some(c) => (c.phone, c.email),
            None => (None, None),
        };
        Ok(hoist_engine::NewEvent {
            id: self.id,
            kind: self.kind.into(),
            item: self.item.map(hoist_engine::ItemId),
            phone,
            email,
            at,
            summary: self.summary,
        })
    }
}

/// One event's outcome.
#[derive(Serialize, ToSchema)]
pub(crate) struct EventResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub status: EventStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInner>,
}

/// The answer to a batch of events.
#[derive(Serialize, ToSchema)]
pub(crate) struct EventBatchOut {
    pub accepted: usize,
    pub duplicates: usize,
    pub unmatched: usize,
    pub rejected: usize,
    pub results: Vec<EventResult>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventBatchQuery {
    pub intake_board: Option<u64>,
}
