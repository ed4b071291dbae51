//! The wire names of the engine's enums, spelled once: each engine enum has a serde twin
//! here (snake_case unless a variant says otherwise), used both to parse input and to
//! write output, with conversions both ways. The engine's enums carry no names of their
//! own; API.md's names are the server's business.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A serde twin of the engine enum `hoist_engine::$engine` (unit variants, same names),
/// with `From` both ways, so a variant added to one and not the other fails to compile.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $io:ident <=> $engine:ident {
            $( $(#[$vmeta:meta])* $variant:ident ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Serialize, Deserialize, ToSchema, Clone, Copy, Debug, PartialEq, Eq)]
        #[serde(rename_all = "snake_case")]
        pub(crate) enum $io {
            $( $(#[$vmeta])* $variant ),*
        }

        impl From<$io> for hoist_engine::$engine {
            fn from(v: $io) -> hoist_engine::$engine {
                match v {
                    $( $io::$variant => hoist_engine::$engine::$variant ),*
                }
            }
        }

        impl From<hoist_engine::$engine> for $io {
            fn from(v: hoist_engine::$engine) -> $io {
                match v {
                    $( hoist_engine::$engine::$variant => $io::$variant ),*
                }
            }
        }
    };
}

wire_enum! {
    /// Why an item was last brought to the top of its column.
    FocusReasonIo <=> FocusReason {
        Created, Moved, Reminder, Deadline, Comment, EmailIn, ChatIn, CallIn, CallMissed,
    }
}

wire_enum! {
    /// What a timeline entry records.
    TimelineKindIo <=> TimelineKind {
        Comment, Note, Event, Change, Reminder, Deadline, Created, Deleted, Activity, Status,
        #[serde(rename = "direct_message")]
        Message,
        File,
    }
}

wire_enum! {
    /// What a feed entry is about.
    FeedKindIo <=> FeedKind {
        Status, Comment, Note, RecordCreated, RecordUpdated, RecordDeleted, Event, Activity,
        DirectMessage, File,
    }
}

wire_enum! {
    /// A gateway event's kind.
    EventKindIo <=> EventKind {
        EmailIn, ChatIn, CallIn, CallMissed, EmailOut, CallOut,
    }
}

wire_enum! {
    /// An activity's kind.
    ActivityKindIo <=> ActivityKind {
        Call, Meeting, Task, Email,
    }
}

wire_enum! {
    /// Where an activity stands.
    ActivityStateIo <=> ActivityState {
        Planned, DueSoon, Overdue, Completed,
    }
}

wire_enum! {
    /// A background job's state.
    JobStateIo <=> JobState {
        Running, Done, Failed,
    }
}

wire_enum! {
    /// A rule criterion's operator.
    OpIo <=> Op {
        Eq, Ne, Gt, Gte, Lt, Lte, Contains, In,
    }
}

/// What became of one event of a batch: the engine's outcome, or `rejected` for an event
/// the server or the engine refused (its `error` says why).
#[derive(Serialize, ToSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EventStatus {
    Accepted,
    Duplicate,
    Unmatched,
    Rejected,
}

impl From<hoist_engine::IngestStatus> for EventStatus {
    fn from(s: hoist_engine::IngestStatus) -> EventStatus {
        match s {
            hoist_engine::IngestStatus::Accepted => EventStatus::Accepted,
            hoist_engine::IngestStatus::Duplicate => EventStatus::Duplicate,
            hoist_engine::IngestStatus::Unmatched => EventStatus::Unmatched,
        }
    }
}

/// Why a user follows a record: `owner`, `manual`, `rule:<id>` or `board` (they follow its
/// whole board).
pub(crate) fn follow_reason(r: hoist_engine::FollowReason) -> String {
    match r {
        hoist_engine::FollowReason::Owner => "owner".into(),
        hoist_engine::FollowReason::Manual => "manual".into(),
        hoist_engine::FollowReason::Rule(id) => format!("rule:{id}"),
        hoist_engine::FollowReason::Board(_) => "board".into(),
    }
}

/// Parses a wire name through serde, for names that come in a query string.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(s)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(v: impl Serialize) -> String {
        serde_json::to_string(&v).expect("serializes")
    }

    #[test]
    fn names_are_the_spec_s() {
        assert_eq!(json(FocusReasonIo::CallMissed), "\"call_missed\"");
        assert_eq!(json(TimelineKindIo::Message), "\"direct_message\"");
        assert_eq!(json(FeedKindIo::RecordUpdated), "\"record_updated\"");
        assert_eq!(json(ActivityStateIo::DueSoon), "\"due_soon\"");
        assert_eq!(json(EventStatus::Rejected), "\"rejected\"");
        assert_eq!(
            parse::<FeedKindIo>("direct_message"),
            Some(FeedKindIo::DirectMessage)
        );
        assert_eq!(
            parse::<ActivityStateIo>("overdue"),
            Some(ActivityStateIo::Overdue)
        );
        assert_eq!(parse::<FeedKindIo>("nope"), None);
        assert_eq!(
            follow_reason(hoist_engine::FollowReason::Rule(hoist_engine::RuleId(3))),
            "rule:3"
        );
    }
}

wire_enum! {
    /// Whose counter an overdue activity raises: the item's responsible (`item`) or the
    /// activity's own responsible (`activity`). `unread_items` always goes to the item's.
    CounterModeIo <=> CounterMode {
        Item, Activity,
    }
}

wire_enum! {
    /// The keys of the Deadlines view's buckets, in its order.
    DeadlineKey <=> DeadlineBucket {
        Overdue, Today, Tomorrow, ThisWeek, NextWeek, Later, None,
    }
}
