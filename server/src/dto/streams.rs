//! Live streams: the stream query and tickets.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A stream's query: a ticket instead of the `Authorization` header, and where to resume
/// for a client that cannot send `Last-Event-ID` (the header wins when both are given).
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamQuery {
    /// A ticket from `POST /v1/streams/ticket` (single use, 60 s).
    pub ticket: Option<String>,
    /// Resume after this change number (as the `Last-Event-ID` header).
    pub last_event_id: Option<u64>,
}

/// `{ticket, expires_at}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct TicketOut {
    pub ticket: String,
    pub expires_at: String,
}

/// One server-sent event as a client's parser sees it (the OpenAPI schema of each event of
/// a `text/event-stream` answer; the server writes the text form, never this struct).
/// `data` is the JSON of the event's object; a keepalive carries only `id`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct StreamEvent {
    /// The change number (`id:`).
    pub id: Option<String>,
    /// `item.created`, `item.updated`, `item.focused`, `item.moved`, `item.read`,
    /// `item.deleted`, `entry`, `counters` or `resync`.
    pub event: Option<String>,
    /// The event's JSON.
    pub data: Option<String>,
}
