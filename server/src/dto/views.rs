//! Column pages, the Kanban and List views.

use super::items::{Item, ItemsJson};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
