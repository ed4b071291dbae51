//! Column pages, the Kanban and List views.

use super::items::{Item, ItemsJson};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::wire::DeadlineKey;

#[derive(Serialize)]
pub(crate) struct KanbanColumnJson<'a> {
    pub id: u64,
    pub name: &'a str,
    pub count: u64,
    pub unread: u64,
    pub items: ItemsJson<'a>,
    pub next_cursor: Option<&'a str>,
}

#[derive(Serialize)]
pub(crate) struct KanbanJson<'a> {
    pub columns: Vec<KanbanColumnJson<'a>>,
}

/// One column of the Kanban view (schema).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct KanbanColumn {
    pub id: u64,
    pub name: String,
    pub count: u64,
    pub unread: u64,
    pub items: Vec<Item>,
    pub next_cursor: Option<String>,
}

/// The Kanban view (schema).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Kanban {
    pub columns: Vec<KanbanColumn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KanbanQuery {
    pub per_column: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    pub limit: Option<usize>,
    pub cursor: Option<String>,
    pub responsible: Option<u64>,
    pub unread: Option<bool>,
    pub column: Option<u64>,
}

#[derive(Serialize)]
pub(crate) struct DeadlineBucketJson<'a> {
    pub key: DeadlineKey,
    pub count: u64,
    pub items: ItemsJson<'a>,
    pub next_cursor: Option<&'a str>,
}

#[derive(Serialize)]
pub(crate) struct DeadlinesJson<'a> {
    pub buckets: Vec<DeadlineBucketJson<'a>>,
}

/// One bucket of the Deadlines view (schema).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct DeadlineBucket {
    pub key: DeadlineKey,
    pub count: u64,
    pub items: Vec<Item>,
    pub next_cursor: Option<String>,
}

/// The Deadlines view (schema).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Deadlines {
    pub buckets: Vec<DeadlineBucket>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeadlinesQuery {
    pub tz: Option<String>,
    pub responsible: Option<u64>,
    pub per_bucket: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeadlineBucketQuery {
    pub tz: Option<String>,
    pub responsible: Option<u64>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// A UTC offset `±HH:MM` in minutes (`Z` is +00:00). A `+` that a query string decoded to
/// a space is taken as `+`.
pub(crate) fn tz_minutes(s: &str) -> Option<i32> {
    if s == "Z" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' | b' ' => (1, s.get(1..)?),
        b'-' => (-1, s.get(1..)?),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60).then_some(sign * (h * 60 + m))
}
