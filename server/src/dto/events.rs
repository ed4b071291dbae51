//! Gateway events, one or a batch.

use super::{parse_time, ErrorInner};
use crate::wire::{EventKindIo, EventStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContactIn {
    #[schema(value_type = Option<super::Phone>)]
    pub phone: Option<String>,
    #[schema(value_type = Option<super::Email>)]
    pub email: Option<String>,
}

/// An event from a gateway.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventIn {
    /// 1–128 characters; a second event with the same id is a duplicate for ever.
    #[schema(min_length = 1, max_length = 128)]
    pub id: String,
    pub kind: EventKindIo,
    pub item: Option<u64>,
    pub contact: Option<ContactIn>,
    /// RFC 3339
    #[schema(format = DateTime)]
    pub at: Option<String>,
    #[schema(max_length = 20000)]
    pub summary: Option<String>,
}

impl EventIn {
    pub(crate) fn into_event(self) -> Result<hoist_engine::NewEvent, crate::error::ApiError> {
        let at = self
            .at
            .as_deref()
            .map(|a| parse_time("at", a))
            .transpose()?;
        // An unknown item leaves an event unmatched, by design; an id no item can have
        // (past the document's `int64`) is a mistake, refused.
        if self.item.is_some_and(|i| i64::try_from(i).is_err()) {
            return Err(crate::error::ApiError::invalid(
                "item: out of range (at most 9223372036854775807)",
            ));
        }
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
