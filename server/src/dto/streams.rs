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
