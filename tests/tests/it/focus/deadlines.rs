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
