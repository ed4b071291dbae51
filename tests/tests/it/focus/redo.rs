//! A focus caused by an entry (an event, a comment, a fired timer) is durable in that
//! entry alone, not in the item row (`records::FocusRedo`). These tests mix such focuses
//! with every write that does rewrite the item row (read, patch, move, the `focus` API,
//! delete) and check that a reopened engine shows exactly what the running one showed:
//! every item's fields, each column's order and each item's timeline.

use hoist_engine::{
    ActivityKind, Board, EventKind, FocusReason, Item, ItemId, ItemPatch, Mentions, NewActivity,
    NewEvent, PageRequest, Position, TimelineEntry, UserId,
};
use proptest::prelude::*;

use crate::support::TestEngine;

#[derive(Debug, Clone)]
enum Op {
    Create { col: usize },
    Event { item: usize, incoming: bool },
    Comment { item: usize, by_other: bool },
    Read { item: usize },
    Patch { item: usize },
    Move { item: usize, col: usize },
    Focus { item: usize },
    Delete { item: usize },
    Deadline { item: usize, minutes: i64 },
    Advance { minutes: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..2usize).prop_map(|col| Op::Create { col }),
        4 => (0..30usize, any::<bool>()).prop_map(|(item, incoming)| Op::Event { item, incoming }),
        2 => (0..30usize, any::<bool>()).prop_map(|(item, by_other)| Op::Comment { item, by_other }),
        2 => (0..30usize).prop_map(|item| Op::Read { item }),
        1 => (0..30usize).prop_map(|item| Op::Patch { item }),
        1 => (0..30usize, 0..2usize).prop_map(|(item, col)| Op::Move { item, col }),
        1 => (0..30usize).prop_map(|item| Op::Focus { item }),
        1 => (0..30usize).prop_map(|item| Op::Delete { item }),
        2 => (0..30usize, 1i64..30).prop_map(|(item, minutes)| Op::Deadline { item, minutes }),
        1 => (1i64..40).prop_map(|minutes| Op::Advance { minutes }),
    ]
}

/// Everything a reader can see of the board's items.
#[derive(Debug, PartialEq)]
struct Snapshot {
    columns: Vec<Vec<ItemId>>,
    items: Vec<Item>,
    timelines: Vec<Vec<TimelineEntry>>,
}

fn snapshot(t: &TestEngine, b: &Board) -> Snapshot {
    let columns: Vec<Vec<ItemId>> = (0..b.columns.len()).map(|c| t.walk(b, c)).collect();
    let mut ids: Vec<ItemId> = columns.iter().flatten().copied().collect();
    ids.sort();
    let items = ids.iter().map(|id| t.get(*id)).collect();
    let timelines = ids
        .iter()
        .map(|id| {
            t.engine
                .timeline(
                    *id,
                    &PageRequest {
                        limit: Some(200),
                        cursor: None,
                    },
                )
                .expect("timeline")
                .items
        })
        .collect();
    Snapshot {
        columns,
        items,
        timelines,
    }
}

fn run(t: &TestEngine, b: &Board, other: UserId, ops: &[Op], items: &mut Vec<ItemId>, n: &mut u64) {
    let pick = |v: &Vec<ItemId>, i: usize| v.get(i % v.len().max(1)).copied();
    for op in ops {
        match op {
            Op::Create { col } => items.push(t.create(b, *col, "x")),
            Op::Event { item, incoming } => {
                if let Some(id) = pick(items, *item) {
                    *n += 1;
                    let kind = if *incoming {
                        EventKind::CallIn
                    } else {
                        EventKind::CallOut
                    };
                    let r = t
                        .engine
                        .ingest(
                            t.admin,
                            vec![NewEvent {
                                id: format!("ev-{n}"),
                                kind,
                                item: Some(id),
                                phone: None,
                                email: None,
                                at: None,
                                summary: Some(format!("event {n}")),
                            }],
                            None,
                        )
                        .expect("ingest");
                    assert!(r[0].is_ok());
                }
            }
            Op::Comment { item, by_other } => {
                if let Some(id) = pick(items, *item) {
                    let who = if *by_other { other } else { t.admin };
                    t.engine
                        .comment(who, id, "c".into(), Mentions::default())
                        .expect("comment");
                }
            }
            Op::Read { item } => {
                if let Some(id) = pick(items, *item) {
                    t.engine.read_item(t.admin, id).expect("read");
                }
            }
            Op::Patch { item } => {
                if let Some(id) = pick(items, *item) {
                    *n += 1;
                    t.engine
                        .patch_item(
                            t.admin,
                            id,
                            ItemPatch {
                                title: Some(format!("t{n}")),
                                ..ItemPatch::default()
                            },
                        )
                        .expect("patch");
                }
            }
            Op::Move { item, col } => {
                if let Some(id) = pick(items, *item) {
                    t.engine
                        .move_item(
                            t.admin,
                            id,
                            Some(b.columns[*col].id),
                            Some(Position::Bottom),
                        )
                        .expect("move");
                }
            }
            Op::Focus { item } => {
                if let Some(id) = pick(items, *item) {
                    t.engine.focus(id, FocusReason::ChatIn).expect("focus");
                }
            }
            Op::Delete { item } => {
                if let Some(id) = pick(items, *item) {
                    t.engine.delete_item(t.admin, id).expect("delete");
                    items.retain(|x| *x != id);
                }
            }
            Op::Deadline { item, minutes } => {
                if let Some(id) = pick(items, *item) {
                    let now = hoist_engine::Clock::now(&t.clock);
                    t.engine
                        .create_activity(
                            t.admin,
                            id,
                            NewActivity {
                                kind: ActivityKind::Call,
                                subject: "call".into(),
                                deadline: now.plus(minutes * 60_000),
                                responsible: None,
                                remind_before_minutes: Some(vec![5]),
                            },
                        )
                        .expect("activity");
                }
            }
            Op::Advance { minutes } => {
                t.clock.advance(minutes * 60_000);
                t.engine.fire_due_timers().expect("fire");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Random writes, a reopen, more writes, another reopen: after each reopen the
    /// engine shows exactly what it showed before closing.
    #[test]
    fn a_reopened_engine_shows_what_the_running_one_showed(
        first in proptest::collection::vec(op(), 1..50),
        second in proptest::collection::vec(op(), 0..30),
    ) {
        let mut t = TestEngine::new();
        let b = t.board("Sales", &["A", "B"]);
        let (other, _) = t.user("ann");
        let (mut items, mut n) = (Vec::new(), 0u64);
        run(&t, &b, other, &first, &mut items, &mut n);
        let before = snapshot(&t, &b);
        t = t.reopen();
        prop_assert_eq!(&snapshot(&t, &b), &before);
        run(&t, &b, other, &second, &mut items, &mut n);
        let before = snapshot(&t, &b);
        t = t.reopen();
        prop_assert_eq!(&snapshot(&t, &b), &before);
    }
}

/// The plain case spelled out: an event focuses an item (one entry row), the item is
/// read (its row is rewritten with attention 0), a second event focuses it again; after
/// a reopen it is on top with attention 1 and the second event's reason and time.
#[test]
fn focus_by_event_survives_reopen_and_a_read_in_between_is_not_undone() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["A"]);
    let first = t.create(&b, 0, "first");
    let second = t.create(&b, 0, "second");
    let event = |id: &str, item: ItemId, kind: EventKind| NewEvent {
        id: id.into(),
        kind,
        item: Some(item),
        phone: None,
        email: None,
        at: None,
        summary: None,
    };
    t.engine
        .ingest(t.admin, vec![event("a", first, EventKind::CallIn)], None)
        .expect("ingest");
    t.engine.read_item(t.admin, first).expect("read");
    t.clock.advance(1_000);
    t.engine
        .ingest(t.admin, vec![event("b", first, EventKind::EmailIn)], None)
        .expect("ingest");
    t.engine
        .ingest(
            t.admin,
            vec![event("c", second, EventKind::CallMissed)],
            None,
        )
        .expect("ingest");
    t.engine.read_item(t.admin, second).expect("read");
    let want_first = t.get(first);
    assert_eq!(want_first.attention, 1);
    assert_eq!(want_first.focus_reason, FocusReason::EmailIn);
    let t = t.reopen();
    assert_eq!(t.walk(&b, 0), vec![second, first]);
    assert_eq!(t.get(first), want_first);
    let s = t.get(second);
    assert_eq!((s.attention, s.focus_reason), (0, FocusReason::CallMissed));
}
