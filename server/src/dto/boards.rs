//! Boards and columns.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::wire::CounterModeIo;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ColumnIn {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBoard {
    pub module: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub name: String,
    #[schema(min_items = 1, max_items = 100)]
    pub columns: Vec<ColumnIn>,
    pub focus_enabled: Option<bool>,
    /// 0–10080, default 15.
    #[schema(minimum = 0, maximum = 10080)]
    pub focus_lead_minutes: Option<i64>,
    /// Default `item`.
    pub counter_mode: Option<CounterModeIo>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchBoard {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub name: Option<String>,
    pub focus_enabled: Option<bool>,
    #[schema(minimum = 0, maximum = 10080)]
    pub focus_lead_minutes: Option<i64>,
    /// Switching moves the overdue counts to the other people at once.
    pub counter_mode: Option<CounterModeIo>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ColumnOut {
    pub id: u64,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct BoardOut {
    pub id: u64,
    pub module: String,
    pub name: String,
    pub columns: Vec<ColumnOut>,
    pub focus_enabled: bool,
    pub focus_lead_minutes: u32,
    pub counter_mode: CounterModeIo,
}

impl From<hoist_engine::Board> for BoardOut {
    fn from(b: hoist_engine::Board) -> BoardOut {
        BoardOut {
            id: b.id.0,
            module: b.module,
            name: b.name,
            columns: b
                .columns
                .into_iter()
                .map(|c| ColumnOut {
                    id: c.id.0,
                    name: c.name,
                })
                .collect(),
            focus_enabled: b.focus_enabled,
            focus_lead_minutes: b.focus_lead_minutes,
            counter_mode: b.counter_mode.into(),
        }
    }
}

/// `after`: the column to follow; `0` places the column first; absent: at the end.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateColumn {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub name: String,
    pub after: Option<u64>,
}

/// `after`: the column to follow; `0` moves the column first; absent: stays.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchColumn {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub name: Option<String>,
    pub after: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteColumnQuery {
    pub move_to: Option<u64>,
}
