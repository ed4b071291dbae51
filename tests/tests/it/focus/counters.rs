//! Counters are exact: after random operation sequences they equal what an independent
//! model of the focus rules says (each item's attention, responsible and column; unread items
//! and overdue activities per user, board and column), also after a restart, in both counter
//! modes and across switches between them. Every engine error is surfaced; reads come from
//! every user, not only the responsible.

use std::collections::BTreeMap;

use hoist_engine::{
    ActivityId, ActivityKind, Board, BoardId, BoardPatch, ColumnId, CounterMode, Error, ItemId,
    ItemPatch, Mentions, Millis, NewActivity, Position, UserId,
};
use proptest::prelude::*;

use crate::support::TestEngine;

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
        user: usize,
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
    /// Switch the board's counter mode (`activity`: overdue counts go to the activity's
    /// own responsible; `item`: to the item's).
    Mode {
        activity: bool,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, 0..3usize).prop_map(|(col, user)| Op::Create { col, user }),
        3 => (0..40usize, 0..3usize).prop_map(|(item, user)| Op::Comment { item, user }),
        2 => (0..40usize, 0..3usize).prop_map(|(item, user)| Op::Read { item, user }),
        1 => (0..40usize, 0..3usize).prop_map(|(item, user)| Op::Reassign { item, user }),
        2 => (0..40usize, 0..3usize).prop_map(|(item, col)| Op::Move { item, col }),
        1 => (0..40usize).prop_map(|item| Op::Delete { item }),
        3 => (0..40usize, 0..3usize, -30i64..90).prop_map(|(item, user, minutes)| Op::Activity { item, user, minutes }),
        1 => (0..40usize).prop_map(|act| Op::Complete { act }),
        2 => (1i64..60).prop_map(|minutes| Op::Advance { minutes }),
        1 => any::<bool>().prop_map(|activity| Op::Mode { activity }),
        1 => Just(Op::Reopen),
    ]
}

/// Per user: (board, column) → (unread items, overdue activities).
type Counts = BTreeMap<UserId, BTreeMap<(BoardId, ColumnId), (u64, u64)>>;

/// What an item is in the model.
#[derive(Debug, Clone)]
struct MItem {
    col: usize,
    responsible: usize,
    attention: u64,
}

/// What an activity is in the model.
#[derive(Debug, Clone)]
struct MAct {
    item: ItemId,
    responsible: usize,
    deadline: i64,
    /// The reminder's due time, if it was armed (only when the deadline was ahead).
    reminder: Option<i64>,
    reminder_fired: bool,
    deadline_fired: bool,
    completed: bool,
}

/// The rules of PRODUCT §2 written out on their own, with none of the engine's code or
/// views: the counters are checked against this.
#[derive(Debug, Default)]
struct Model {
    items: BTreeMap<ItemId, MItem>,
    acts: BTreeMap<ActivityId, MAct>,
    /// The board's counter mode is `activity`.
    by_activity: bool,
}

impl Model {
    /// Fires every timer due at `now`: a reminder or a deadline focuses its item
    /// (attention + 1); a fired deadline makes the activity overdue until completed.
    fn fire_due(&mut self, now: i64) {
        for a in self.acts.values_mut().filter(|a| !a.completed) {
            let Some(item) = self.items.get_mut(&a.item) else {
                continue;
            };
            if let Some(due) = a.reminder.filter(|d| *d <= now && !a.reminder_fired) {
                let _ = due;
                a.reminder_fired = true;
                item.attention += 1;
            }
            if a.deadline <= now && !a.deadline_fired {
                a.deadline_fired = true;
                item.attention += 1;
            }
        }
    }

    fn counts(&self, board: &Board, users: &[UserId]) -> Counts {
        let mut out: Counts = BTreeMap::new();
        for it in self.items.values().filter(|it| it.attention > 0) {
            out.entry(users[it.responsible])
                .or_default()
                .entry((board.id, board.columns[it.col].id))
                .or_default()
                .0 += 1;
        }
        for a in self
            .acts
            .values()
            .filter(|a| a.deadline_fired && !a.completed)
        {
            let item = &self.items[&a.item];
            let col = board.columns[item.col].id;
            let who = if self.by_activity {
                a.responsible
            } else {
                item.responsible
            };
            out.entry(users[who])
                .or_default()
                .entry((board.id, col))
                .or_default()
                .1 += 1;
        }
        out
    }
}

fn check(t: &TestEngine, board: &Board, users: &[UserId], m: &Model) -> Result<(), TestCaseError> {
    let want = m.counts(board, users);
    for (id, it) in &m.items {
        let got = t.get(*id);
        prop_assert_eq!(
            u64::from(got.attention),
            it.attention,
            "attention of item {}",
            id
        );
        prop_assert_eq!(got.responsible, users[it.responsible]);
        prop_assert_eq!(got.column, board.columns[it.col].id);
    }
    for u in users {
        let c = t.engine.counters(*u).unwrap();
        let mut got: BTreeMap<(BoardId, ColumnId), (u64, u64)> = BTreeMap::new();
        for b in &c.boards {
            let (mut su, mut so) = (0, 0);
            for col in &b.columns {
                if (col.unread_items, col.overdue_activities) != (0, 0) {
                    got.insert(
                        (b.board, col.column),
                        (col.unread_items, col.overdue_activities),
                    );
                }
                su += col.unread_items;
                so += col.overdue_activities;
            }
            prop_assert_eq!((su, so), (b.unread_items, b.overdue_activities));
        }
        let empty = BTreeMap::new();
        prop_assert_eq!(&got, want.get(u).unwrap_or(&empty), "user {}", u);
        prop_assert_eq!(c.total, c.unread_items + c.overdue_activities);
    }
    for col in t.engine.kanban(board.id, 1).unwrap() {
        let unread: u64 = want
            .values()
            .filter_map(|m| m.get(&(board.id, col.id)))
            .map(|x| x.0)
            .sum();
        prop_assert_eq!(col.unread, unread, "column {} unread", col.id);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn counters_equal_an_independent_model(ops in proptest::collection::vec(op(), 1..60)) {
        let mut t = TestEngine::new();
        let b = t.board("Sales", &["A", "B", "C"]);
        let users: Vec<UserId> = vec![t.admin, t.user("ann").0, t.user("bob").0];
        let mut m = Model::default();
        let mut items: Vec<ItemId> = Vec::new();
        let mut acts: Vec<ActivityId> = Vec::new();
        let pick = |v: &Vec<ItemId>, i: usize| v.get(i % v.len().max(1)).copied();
        for op in ops {
            let now = hoist_engine::Clock::now(&t.clock).0;
            match op {
                Op::Create { col, user } => {
                    let id = t.create_as(users[user], &b, col, "x");
                    items.push(id);
                    m.items.insert(id, MItem { col, responsible: user, attention: 0 });
                }
                Op::Comment { item, user } => if let Some(id) = pick(&items, item) {
                    t.engine.comment(users[user], id, "c".into(), Mentions::default()).unwrap();
                    let it = m.items.get_mut(&id).unwrap();
                    if it.responsible != user {
                        it.attention += 1;
                    }
                },
                // Anyone may read; only the responsible's read clears attention.
                Op::Read { item, user } => if let Some(id) = pick(&items, item) {
                    t.engine.read_item(users[user], id).unwrap();
                    let it = m.items.get_mut(&id).unwrap();
                    if it.responsible == user {
                        it.attention = 0;
                    }
                },
                Op::Reassign { item, user } => if let Some(id) = pick(&items, item) {
                    t.engine.patch_item(t.admin, id, ItemPatch { responsible: Some(users[user]), ..ItemPatch::default() }).unwrap();
                    m.items.get_mut(&id).unwrap().responsible = user;
                },
                Op::Move { item, col } => if let Some(id) = pick(&items, item) {
                    t.engine.move_item(t.admin, id, Some(b.columns[col].id), Some(Position::Top)).unwrap();
                    m.items.get_mut(&id).unwrap().col = col;
                },
                Op::Delete { item } => if let Some(id) = pick(&items, item) {
                    t.engine.delete_item(t.admin, id).unwrap();
                    items.retain(|x| *x != id);
                    m.items.remove(&id);
                    m.acts.retain(|_, a| a.item != id);
                },
                Op::Activity { item, user, minutes } => if let Some(id) = pick(&items, item) {
                    let deadline = now + minutes * 60_000;
                    let a = t.engine.create_activity(users[user], id, NewActivity {
                        kind: ActivityKind::Task,
                        subject: "s".into(),
                        deadline: Millis(deadline),
                        responsible: Some(users[user]),
                        remind_before_minutes: Some(vec![5]),
                    }).unwrap();
                    acts.push(a.id);
                    m.acts.insert(a.id, MAct {
                        item: id,
                        responsible: user,
                        deadline,
                        reminder: (deadline > now).then_some(deadline - 5 * 60_000),
                        reminder_fired: false,
                        deadline_fired: false,
                        completed: false,
                    });
                },
                Op::Complete { act } => if let Some(a) = acts.get(act % acts.len().max(1)).copied() {
                    let r = t.engine.complete_activity(a);
                    match m.acts.get_mut(&a) {
                        Some(ma) => {
                            prop_assert!(r.is_ok(), "complete {}: {:?}", a, r);
                            ma.completed = true;
                        }
                        // Gone with its item.
                        None => prop_assert!(matches!(r, Err(Error::NotFound { .. })), "{:?}", r),
                    }
                },
                Op::Advance { minutes } => {
                    t.clock.advance(minutes * 60_000);
                }
                Op::Mode { activity } => {
                    let mode = if activity { CounterMode::Activity } else { CounterMode::Item };
                    let patch = BoardPatch { counter_mode: Some(mode), ..BoardPatch::default() };
                    let got = t.engine.patch_board(b.id, patch).unwrap();
                    prop_assert_eq!(got.counter_mode, mode);
                    m.by_activity = activity;
                }
                Op::Reopen => {
                    t = t.reopen();
                }
            }
            t.engine.fire_due_timers().unwrap();
            m.fire_due(hoist_engine::Clock::now(&t.clock).0);
            check(&t, &b, &users, &m)?;
        }
        t = t.reopen();
        check(&t, &b, &users, &m)?;
    }
}
