//! The Deadlines view through the engine API: buckets for two UTC offsets, across local
//! midnight, across a fired deadline, by responsible, and paged with cursors.

use hoist_engine::{
    ActivityKind, Board, DeadlineBucket, DeadlineQuery, ItemId, Mentions, Millis, NewActivity,
    PageRequest, UserId,
};

use crate::support::{id_of, TestEngine, T0};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn activity(t: &TestEngine, item: ItemId, deadline: Millis) {
    t.engine
        .create_activity(
            t.admin,
            item,
            NewActivity {
                kind: ActivityKind::Call,
                subject: "call".into(),
                deadline,
                responsible: None,
                remind_before_minutes: Some(vec![]),
            },
        )
        .expect("activity");
}

/// Every bucket's count and item ids, in the view's order.
fn view(t: &TestEngine, b: &Board, tz: i32, who: Option<UserId>) -> Vec<(u64, Vec<ItemId>)> {
    let q = DeadlineQuery {
        tz_offset_minutes: tz,
        responsible: who,
    };
    t.engine
        .deadlines(b.id, &q, 50)
        .expect("deadlines")
        .iter()
        .map(|p| (p.count, p.page.items.iter().map(id_of).collect()))
        .collect()
}

/// One bucket read `limit` at a time by following cursors.
fn walk(t: &TestEngine, b: &Board, bucket: DeadlineBucket, tz: i32, limit: usize) -> Vec<ItemId> {
    let q = DeadlineQuery {
        tz_offset_minutes: tz,
        responsible: None,
    };
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let req = PageRequest {
            limit: Some(limit),
            cursor: cursor.take(),
        };
        let p = t
            .engine
            .deadline_bucket(b.id, bucket, &q, &req)
            .expect("bucket");
        assert!(p.page.items.len() <= limit);
        out.extend(p.page.items.iter().map(id_of));
        match p.page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

#[test]
fn buckets_follow_local_days_a_fired_deadline_and_the_responsible() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New", "Won"]);
    let (ann, _) = t.user("ann");
    // Thursday 2026-01-01, 20:00 UTC (23:00 at +03:00).
    t.clock.set(T0.plus(20 * HOUR));
    let a = t.create(&b, 0, "a"); // today 22:00 UTC: tomorrow 01:00 at +03:00
    let bb = t.create(&b, 1, "b"); // Friday 10:00: tomorrow in both
    let c = t.create(&b, 0, "c"); // Saturday: this week
    let d = t.create(&b, 0, "d"); // next Tuesday
    let e = t.create(&b, 0, "e"); // in three weeks
    let f = t.create(&b, 0, "f"); // no activity
    let g = t.create(&b, 1, "g"); // no activity, unread: today
    let h = t.create_as(ann, &b, 0, "h"); // past deadline: overdue
    activity(&t, a, T0.plus(22 * HOUR));
    activity(&t, bb, T0.plus(DAY + 10 * HOUR));
    activity(&t, c, T0.plus(2 * DAY + 10 * HOUR));
    activity(&t, d, T0.plus(6 * DAY + 10 * HOUR));
    activity(&t, e, T0.plus(21 * DAY));
    activity(&t, h, T0.plus(HOUR));
    t.engine
        .comment(ann, g, "please call".into(), Mentions::default())
        .expect("comment");
    t.engine.fire_due_timers().expect("fire");
    let n = |v: &[ItemId]| (v.len() as u64, v.to_vec());
    assert_eq!(
        view(&t, &b, 0, None),
        vec![
            n(&[h]),
            n(&[a, g]),
            n(&[bb]),
            n(&[c]),
            n(&[d]),
            n(&[e]),
            n(&[f])
        ],
        "UTC"
    );
    assert_eq!(
        view(&t, &b, 180, None),
        vec![
            n(&[h]),
            n(&[g]),
            n(&[a, bb]),
            n(&[c]),
            n(&[d]),
            n(&[e]),
            n(&[f])
        ],
        "+03:00: a is due after local midnight"
    );
    assert_eq!(
        view(&t, &b, 0, Some(ann)),
        vec![n(&[h]), n(&[]), n(&[]), n(&[]), n(&[]), n(&[]), n(&[])],
        "Ann's items only"
    );
    // Past UTC midnight, Friday 00:30: b is due today; a's deadline fired: overdue.
    t.clock.set(T0.plus(DAY + 30 * 60_000));
    t.engine.fire_due_timers().expect("fire");
    assert_eq!(
        view(&t, &b, 0, None),
        vec![
            n(&[h, a]),
            n(&[bb, g]),
            n(&[c]),
            n(&[]),
            n(&[d]),
            n(&[e]),
            n(&[f])
        ],
        "Friday in UTC: Saturday is tomorrow"
    );
    // Completing the overdue activity takes a out of overdue; unread, it sits in today.
    let acts = t
        .engine
        .activities(
            &hoist_engine::ActivityFilter::default(),
            &PageRequest::default(),
        )
        .expect("activities");
    let of_a = acts
        .items
        .iter()
        .find(|x| x.item == a)
        .expect("a's activity");
    t.engine.complete_activity(of_a.id).expect("complete");
    assert_eq!(view(&t, &b, 0, None)[1], n(&[bb, a, g]));
    // Paging, one at a time, merges the unread ones into today's deadlines.
    assert_eq!(walk(&t, &b, DeadlineBucket::Today, 0, 1), vec![bb, a, g]);
    assert_eq!(walk(&t, &b, DeadlineBucket::None, 0, 1), vec![f]);
    // Everything is still there after a restart (the index is rebuilt on open).
    let before = view(&t, &b, 180, None);
    let t = t.reopen();
    assert_eq!(view(&t, &b, 180, None), before);
}

#[test]
fn bad_offsets_cursors_and_boards_are_refused() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New"]);
    let q = |tz| DeadlineQuery {
        tz_offset_minutes: tz,
        responsible: None,
    };
    assert!(matches!(
        t.engine.deadlines(b.id, &q(7), 20),
        Err(hoist_engine::Error::Invalid { field, .. }) if field == "tz"
    ));
    assert!(matches!(
        t.engine.deadlines(b.id, &q(0), 0),
        Err(hoist_engine::Error::Invalid { field, .. }) if field == "per_bucket"
    ));
    assert!(matches!(
        t.engine.deadlines(hoist_engine::BoardId(99), &q(0), 20),
        Err(hoist_engine::Error::NotFound { .. })
    ));
    let other = t
        .engine
        .deadline_bucket(b.id, DeadlineBucket::Later, &q(0), &PageRequest::default())
        .expect("empty bucket");
    assert_eq!((other.count, other.page.items.len()), (0, 0));
    let req = PageRequest {
        limit: Some(1),
        cursor: Some("garbage".into()),
    };
    assert!(matches!(
        t.engine.deadline_bucket(b.id, DeadlineBucket::Today, &q(0), &req),
        Err(hoist_engine::Error::Invalid { field, .. }) if field == "cursor"
    ));
}

// ---- the view against its definition, on random histories ----------------------------
//
// A model keeps every activity (item, deadline, open or not) as the commands left it, and
// from it each item's overdue flag (an open activity whose deadline is at or before the
// clock, timers fired) and next open deadline; whether an item is lit (its attention) is
// read from the item. The oracle files each item by the rules of docs/api-notes.md ("The
// Deadlines view") and sorts each bucket by (deadline, id). The view comes from an index
// kept beside the counters: this checks that the index follows activities created,
// re-dated, completed and deleted, fired deadlines, lit and read items, hand-overs,
// moves, items created and deleted, and reopening.

mod model {
    use hoist_engine::{
        ActivityId, ActivityKind, ActivityPatch, Board, DeadlineBucket, DeadlineQuery, ItemId,
        ItemPatch, Mentions, Millis, NewActivity, Position, UserId,
    };
    use proptest::prelude::*;

    use super::{walk, DAY};
    use crate::support::{id_of, TestEngine};

    #[derive(Debug, Clone)]
    enum Op {
        /// An activity on item `item`, due `minutes` from now (negative: already past),
        /// with the board's reminder or none.
        Activity {
            item: usize,
            minutes: i64,
            remind: bool,
        },
        /// A new deadline for an open activity, `minutes` from now.
        Redate {
            pick: usize,
            minutes: i64,
        },
        Complete {
            pick: usize,
        },
        Delete {
            pick: usize,
        },
        /// A comment by someone who is nobody's responsible: the item lights up.
        Comment {
            item: usize,
        },
        /// Read by its responsible: it stops being lit.
        Read {
            item: usize,
        },
        Reassign {
            item: usize,
            to: usize,
        },
        Move {
            item: usize,
        },
        CreateItem {
            to: usize,
        },
        DeleteItem {
            item: usize,
        },
        Advance {
            minutes: i64,
        },
        Reopen,
    }

    fn op() -> impl Strategy<Value = Op> {
        let minutes = -3 * 1440..16 * 1440i64;
        prop_oneof![
            4 => (any::<usize>(), minutes.clone(), any::<bool>())
                .prop_map(|(item, minutes, remind)| Op::Activity { item, minutes, remind }),
            2 => (any::<usize>(), minutes).prop_map(|(pick, minutes)| Op::Redate { pick, minutes }),
            1 => any::<usize>().prop_map(|pick| Op::Complete { pick }),
            1 => any::<usize>().prop_map(|pick| Op::Delete { pick }),
            2 => any::<usize>().prop_map(|item| Op::Comment { item }),
            2 => any::<usize>().prop_map(|item| Op::Read { item }),
            1 => (any::<usize>(), 0..2usize).prop_map(|(item, to)| Op::Reassign { item, to }),
            1 => any::<usize>().prop_map(|item| Op::Move { item }),
            1 => (0..2usize).prop_map(|to| Op::CreateItem { to }),
            1 => any::<usize>().prop_map(|item| Op::DeleteItem { item }),
            3 => (1..3 * 1440i64).prop_map(|minutes| Op::Advance { minutes }),
            1 => Just(Op::Reopen),
        ]
    }

    /// An activity as the model keeps it.
    #[derive(Debug, Clone, Copy)]
    struct Act {
        id: ActivityId,
        item: ItemId,
        deadline: i64,
    }

    /// The buckets of `ALL`, each with its items in order, as the definition gives them
    /// from the model's open activities.
    fn oracle(
        t: &TestEngine,
        items: &[ItemId],
        open: &[Act],
        tz: i32,
        who: Option<UserId>,
    ) -> Vec<(DeadlineBucket, Vec<ItemId>)> {
        let now = hoist_engine::Clock::now(&t.clock).0;
        let offset = i64::from(tz) * 60_000;
        let day = |ms: i64| (ms + offset).div_euclid(DAY);
        let today = day(now);
        // Monday = 0; 1970-01-01 was a Thursday.
        let next_monday = today - (today + 3).rem_euclid(7) + 7;
        let mut out: Vec<(DeadlineBucket, i64, ItemId)> = Vec::new();
        for id in items {
            let it = t.get(*id);
            if who.is_some_and(|w| w != it.responsible) {
                continue;
            }
            let mine = open.iter().filter(|a| a.item == *id);
            let overdue = mine.clone().any(|a| a.deadline <= now);
            let next = mine.map(|a| a.deadline).min();
            let bucket = if overdue {
                DeadlineBucket::Overdue
            } else if it.attention > 0 {
                DeadlineBucket::Today
            } else if let Some(d) = next {
                let d = day(d);
                if d <= today {
                    DeadlineBucket::Today
                } else if d == today + 1 {
                    DeadlineBucket::Tomorrow
                } else if d < next_monday {
                    DeadlineBucket::ThisWeek
                } else if d < next_monday + 7 {
                    DeadlineBucket::NextWeek
                } else {
                    DeadlineBucket::Later
                }
            } else {
                DeadlineBucket::None
            };
            let key = if bucket == DeadlineBucket::None {
                0
            } else {
                next.unwrap_or(i64::MAX)
            };
            out.push((bucket, key, *id));
        }
        DeadlineBucket::ALL
            .iter()
            .map(|b| {
                let mut v: Vec<(i64, ItemId)> = out
                    .iter()
                    .filter(|(x, _, _)| x == b)
                    .map(|(_, key, id)| (*key, *id))
                    .collect();
                v.sort_unstable();
                (*b, v.into_iter().map(|(_, id)| id).collect())
            })
            .collect()
    }

    fn check(
        t: &TestEngine,
        b: &Board,
        items: &[ItemId],
        open: &[Act],
        users: &[UserId],
    ) -> Result<(), TestCaseError> {
        for tz in [0, 180, -300, 345] {
            for who in [None, Some(users[1])] {
                let want = oracle(t, items, open, tz, who);
                let q = DeadlineQuery {
                    tz_offset_minutes: tz,
                    responsible: who,
                };
                let got = t.engine.deadlines(b.id, &q, 50).expect("deadlines");
                prop_assert_eq!(got.len(), want.len());
                for (page, (bucket, ids)) in got.iter().zip(&want) {
                    let shown: Vec<ItemId> = page.page.items.iter().map(id_of).collect();
                    prop_assert_eq!(&shown, ids, "{:?} at {} for {:?}", bucket, tz, who);
                    prop_assert_eq!(page.count, ids.len() as u64, "{:?} count", bucket);
                }
            }
            // Paging one at a time follows the same order.
            for (bucket, ids) in oracle(t, items, open, tz, None) {
                prop_assert_eq!(&walk(t, b, bucket, tz, 1), &ids, "{:?} paged", bucket);
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn the_view_equals_its_definition(ops in proptest::collection::vec(op(), 1..40)) {
            let mut t = TestEngine::new();
            let b = t.board("Sales", &["A", "B"]);
            let users = [t.admin, t.user("ann").0];
            let (caller, _) = t.user("carl");
            let mut items: Vec<ItemId> = (0..6)
                .map(|i| t.create_as(users[i % 2], &b, i % 2, "x"))
                .collect();
            let mut open: Vec<Act> = Vec::new();
            for op in ops {
                let now = hoist_engine::Clock::now(&t.clock).0;
                let item = |i: usize| items.get(i % items.len().max(1)).copied();
                match op {
                    Op::Activity { item: i, minutes, remind } => if let Some(id) = item(i) {
                        let deadline = now + minutes * 60_000;
                        let a = t.engine.create_activity(t.admin, id, NewActivity {
                            kind: ActivityKind::Call,
                            subject: "call".into(),
                            deadline: Millis(deadline),
                            responsible: None,
                            remind_before_minutes: if remind { None } else { Some(vec![]) },
                        }).expect("activity");
                        open.push(Act { id: a.id, item: id, deadline });
                    },
                    Op::Redate { pick, minutes } => if !open.is_empty() {
                        let k = pick % open.len();
                        let deadline = now + minutes * 60_000;
                        t.engine.patch_activity(open[k].id, ActivityPatch {
                            deadline: Some(Millis(deadline)),
                            ..ActivityPatch::default()
                        }).expect("re-date");
                        open[k].deadline = deadline;
                    },
                    Op::Complete { pick } => if !open.is_empty() {
                        let a = open.remove(pick % open.len());
                        t.engine.complete_activity(a.id).expect("complete");
                    },
                    Op::Delete { pick } => if !open.is_empty() {
                        let a = open.remove(pick % open.len());
                        t.engine.delete_activity(a.id).expect("delete");
                    },
                    Op::Comment { item: i } => if let Some(id) = item(i) {
                        t.engine.comment(caller, id, "c".into(), Mentions::default())
                            .expect("comment");
                    },
                    Op::Read { item: i } => if let Some(id) = item(i) {
                        let who = t.get(id).responsible;
                        t.engine.read_item(who, id).expect("read");
                    },
                    Op::Reassign { item: i, to } => if let Some(id) = item(i) {
                        t.engine.patch_item(t.admin, id, ItemPatch {
                            responsible: Some(users[to]),
                            ..ItemPatch::default()
                        }).expect("reassign");
                    },
                    Op::Move { item: i } => if let Some(id) = item(i) {
                        let to = 1 - b.columns.iter()
                            .position(|c| c.id == t.get(id).column)
                            .expect("its column");
                        t.engine.move_item(t.admin, id, Some(b.columns[to].id),
                            Some(Position::Top)).expect("move");
                    },
                    Op::CreateItem { to } => items.push(t.create_as(users[to], &b, to, "y")),
                    Op::DeleteItem { item: i } => if let Some(id) = item(i) {
                        t.engine.delete_item(t.admin, id).expect("delete item");
                        items.retain(|x| *x != id);
                        open.retain(|a| a.item != id);
                    },
                    Op::Advance { minutes } => t.clock.advance(minutes * 60_000),
                    Op::Reopen => t = t.reopen(),
                }
                t.engine.fire_due_timers().expect("fire");
                check(&t, &b, &items, &open, &users)?;
            }
        }
    }
}
