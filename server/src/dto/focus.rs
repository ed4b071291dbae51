//! Activities, counters, timelines, comments and notes.

use super::{time, ChangeOut, MentionsIo};
use crate::wire::{ActivityKindIo, ActivityStateIo, EventKindIo, TimelineKindIo};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateComment {
    #[schema(min_length = 1, max_length = 20000)]
    pub text: String,
    pub mentions: Option<MentionsIo>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateNote {
    #[schema(min_length = 1, max_length = 20000)]
    pub text: String,
}

/// A timeline entry.
#[derive(Serialize, ToSchema)]
pub(crate) struct TimelineEntryOut {
    pub id: u64,
    pub item: u64,
    pub kind: TimelineKindIo,
    pub at: String,
    pub author: Option<u64>,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_kind: Option<EventKindIo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<ChangeOut>,
    pub mentions: MentionsIo,
}

impl From<hoist_engine::TimelineEntry> for TimelineEntryOut {
    fn from(e: hoist_engine::TimelineEntry) -> TimelineEntryOut {
        TimelineEntryOut {
            id: e.id.0,
            item: e.item.0,
            kind: e.kind.into(),
            at: time(e.at),
            author: e.author.map(|a| a.0),
            text: e.text,
            event_kind: e.event_kind.map(EventKindIo::from),
            event_id: e.event_id,
            activity: e.activity.map(|a| a.0),
            changes: e.changes.into_iter().map(ChangeOut::from).collect(),
            mentions: e.mentions.into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TimelinePage {
    pub items: Vec<TimelineEntryOut>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateActivity {
    pub kind: ActivityKindIo,
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub subject: String,
    /// RFC 3339
    #[schema(format = DateTime)]
    pub deadline: String,
    pub responsible: Option<u64>,
    /// Up to 5 offsets, 0–10080 minutes; absent: the board's `focus_lead_minutes`.
    #[schema(max_items = 5, minimum = 0, maximum = 10080)]
    pub remind_before_minutes: Option<Vec<i64>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchActivity {
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub subject: Option<String>,
    #[schema(format = DateTime)]
    pub deadline: Option<String>,
    #[schema(max_items = 5, minimum = 0, maximum = 10080)]
    pub remind_before_minutes: Option<Vec<i64>>,
}

/// An activity.
#[derive(Serialize, ToSchema)]
pub(crate) struct ActivityOut {
    pub id: u64,
    pub item: u64,
    pub kind: ActivityKindIo,
    pub subject: String,
    pub deadline: String,
    pub responsible: u64,
    /// `null`: the board's lead applies.
    pub remind_before_minutes: Option<Vec<u32>>,
    pub state: ActivityStateIo,
    pub completed_at: Option<String>,
    pub created_at: String,
}

impl From<hoist_engine::Activity> for ActivityOut {
    fn from(a: hoist_engine::Activity) -> ActivityOut {
        ActivityOut {
            id: a.id.0,
            item: a.item.0,
            kind: a.kind.into(),
            subject: a.subject,
            deadline: time(a.deadline),
            responsible: a.responsible.0,
            remind_before_minutes: a.remind_before_minutes,
            state: a.state.into(),
            completed_at: a.completed_at.map(time),
            created_at: time(a.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ActivityPage {
    pub items: Vec<ActivityOut>,
    pub next_cursor: Option<String>,
}

/// The open states an activity list filters by.
// The schema of `?state=` only: the route reads that parameter by hand.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum ActivityStateFilter {
    Overdue,
    DueSoon,
    Planned,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActivitiesQuery {
    pub responsible: Option<u64>,
    pub board: Option<u64>,
    pub state: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CountersQuery {
    pub user: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ColumnCountersOut {
    pub column: u64,
    pub unread_items: u64,
    pub overdue_activities: u64,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct BoardCountersOut {
    pub board: u64,
    pub unread_items: u64,
    pub overdue_activities: u64,
    pub columns: Vec<ColumnCountersOut>,
}

/// A user's counters as responsible.
#[derive(Serialize, ToSchema)]
pub(crate) struct CountersOut {
    pub user: u64,
    pub unread_items: u64,
    pub overdue_activities: u64,
    pub total: u64,
    pub boards: Vec<BoardCountersOut>,
}

impl From<hoist_engine::Counters> for CountersOut {
    fn from(c: hoist_engine::Counters) -> CountersOut {
        CountersOut {
            user: c.user.0,
            unread_items: c.unread_items,
            overdue_activities: c.overdue_activities,
            total: c.total,
            boards: c
                .boards
                .into_iter()
                .map(|b| BoardCountersOut {
                    board: b.board.0,
                    unread_items: b.unread_items,
                    overdue_activities: b.overdue_activities,
                    columns: b
                        .columns
                        .into_iter()
                        .map(|x| ColumnCountersOut {
                            column: x.column.0,
                            unread_items: x.unread_items,
                            overdue_activities: x.overdue_activities,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}
