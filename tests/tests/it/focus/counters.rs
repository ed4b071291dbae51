//! Counters are exact: after random operation sequences they equal a recount from the
//! items and activities, also after a restart.

use std::collections::BTreeMap;

use hoist_engine::{
    ActivityFilter, ActivityKind, ActivityState, BoardId, ColumnId, ItemId, ItemPatch, ListFilter,
    Mentions, NewActivity, PageRequest, Position, UserId,
};
use proptest::prelude::*;

use crate::support::{TestEngine, T0};

#[derive(Debug, Clone)]
enum Op {
    Create {
        col: usize,
        user: usize,
    },
    Comment {
        item: usize,
        user: usize,
    },
    Read {
        item: usize,
    },
    Reassign {
        item: usize,
        user: usize,
    },
    Move {
        item: usize,
        col: usize,
    },
    Delete {
        item: usize,
    },
    Activity {
        item: usize,
        user: usize,
        minutes: i64,
    },
    Complete {
        act: usize,
    },
    Advance {
        minutes: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, 0..3usize).prop_map(|(col, user)| Op::Create { col, user }),
        3 => (0..40usize, 0..3usize).prop_map(|(item, user)| Op::Comment { item, user }),
        2 => (0..40usize).prop_map(|item| Op::Read { item }),
        1 => (0..40usize, 0..3usize).prop_map(|(item, user)| Op::Reassign { item, user }),
        2 => (0..40usize, 0..3usize).prop_map(|(item, col)| Op::Move { item, col }),
        1 => (0..40usize).prop_map(|item| Op::Delete { item }),
        3 => (0..40usize, 0..3usize, -30i64..90).prop_map(|(item, user, minutes)| Op::Activity { item, user, minutes }),
        1 => (0..40usize).prop_map(|act| Op::Complete { act }),
        2 => (1i64..60).prop_map(|minutes| Op::Advance { minutes }),
    ]
}

type Recount = BTreeMap<UserId, BTreeMap<(BoardId, ColumnId), (u64, u64)>>;

/// Counts from what the views show, independently of the engine's counters.
fn recount(t: &TestEngine, board: BoardId, users: &[UserId]) -> Recount {
    let mut out: Recount = BTreeMap::new();
    let all = t
        .engine
        .list(
            board,
            &ListFilter::default(),
            &PageRequest {
                limit: Some(500),
                cursor: None,
            },
        )
        .unwrap();
    let mut column_of = BTreeMap::new();
    for v in &all.items {
        let r = v.get().unwrap();
        column_of.insert(r.id(), r.column());
        if r.unread() {
            out.entry(r.responsible())
                .or_default()
                .entry((board, r.column()))
                .or_default()
                .0 += 1;
        }
    }
    for u in users {
        let overdue = t
            .engine
            .activities(
                &ActivityFilter {
                    responsible: Some(*u),
                    board: None,
                    state: Some(ActivityState::Overdue),
                },
                &PageRequest {
                    limit: Some(500),
                    cursor: None,
                },
            )
            .unwrap();
        for a in overdue.items {
            let col = column_of[&a.item];
            out.entry(*u)
                .or_default()
                .entry((board, col))
                .or_default()
                .1 += 1;
        }
    }
    out
}

fn check(t: &TestEngine, board: BoardId, users: &[UserId]) -> Result<(), TestCaseError> {
    let want = recount(t, board, users);
    for u in users {
        let c = t.engine.counters(*u).unwrap();
        let mut got: BTreeMap<(BoardId, ColumnId), (u64, u64)> = BTreeMap::new();
        for b in &c.boards {
            let (mut su, mut so) = (0, 0);
            for col in &b.columns {
                got.insert(
                    (b.board, col.column),
                    (col.unread_items, col.overdue_activities),
                );
                su += col.unread_items;
                so += col.overdue_activities;
            }
            prop_assert_eq!((su, so), (b.unread_items, b.overdue_activities));
        }
        let empty = BTreeMap::new();
        prop_assert_eq!(&got, want.get(u).unwrap_or(&empty), "user {}", u);
        prop_assert_eq!(c.total, c.unread_items + c.overdue_activities);
        let k = t.engine.kanban(board, 1).unwrap();
        for col in k {
            let unread: u64 = want
                .values()
                .filter_map(|m| m.get(&(board, col.id)))
                .map(|x| x.0)
                .sum();
            prop_assert_eq!(col.unread, unread, "column {} unread", col.id);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn counters_equal_a_recount(ops in proptest::collection::vec(op(), 1..60)) {
        let mut t = TestEngine::new();
        let b = t.board("Sales", &["A", "B", "C"]);
        let users: Vec<UserId> = vec![t.admin, t.user("ann").0, t.user("bob").0];
        let mut items: Vec<ItemId> = Vec::new();
        let mut acts = Vec::new();
        let pick = |v: &Vec<ItemId>, i: usize| v.get(i % v.len().max(1)).copied();
        for op in ops {
            match op {
                Op::Create { col, user } => items.push(t.create_as(users[user], &b, col, "x")),
                Op::Comment { item, user } => if let Some(id) = pick(&items, item) {
                    t.engine.comment(users[user], id, "c".into(), Mentions::default()).unwrap();
                },
                Op::Read { item } => if let Some(id) = pick(&items, item) {
                    let resp = t.get(id).responsible;
                    t.engine.read_item(resp, id).unwrap();
                },
                Op::Reassign { item, user } => if let Some(id) = pick(&items, item) {
                    t.engine.patch_item(id, ItemPatch { responsible: Some(users[user]), ..ItemPatch::default() }).unwrap();
                },
                Op::Move { item, col } => if let Some(id) = pick(&items, item) {
                    t.engine.move_item(id, Some(b.columns[col].id), Some(Position::Top)).unwrap();
                },
                Op::Delete { item } => if let Some(id) = pick(&items, item) {
                    t.engine.delete_item(id).unwrap();
                    items.retain(|x| *x != id);
                },
                Op::Activity { item, user, minutes } => if let Some(id) = pick(&items, item) {
                    let now = hoist_engine::Clock::now(&t.clock);
                    let a = t.engine.create_activity(users[user], id, NewActivity {
                        kind: ActivityKind::Task,
                        subject: "s".into(),
                        deadline: now.plus(minutes * 60_000),
                        responsible: Some(users[user]),
                        remind_before_minutes: Some(vec![5]),
                    }).unwrap();
                    acts.push(a.id);
                },
                Op::Complete { act } => if let Some(a) = acts.get(act % acts.len().max(1)).copied() {
                    // The activity may have gone with its item.
                    let _ = t.engine.complete_activity(a);
                },
                Op::Advance { minutes } => {
                    t.clock.advance(minutes * 60_000);
                    t.engine.fire_due_timers().unwrap();
                }
            }
            t.engine.fire_due_timers().unwrap();
            check(&t, b.id, &users)?;
        }
        t = t.reopen();
        check(&t, b.id, &users)?;
        let _ = T0;
    }
}
