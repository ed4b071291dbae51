//! Reminders and deadlines on a manual clock: they fire on time, once, in order, and
//! across restarts exactly once.

use hoist_engine::{
    ActivityKind, ActivityPatch, ActivityState, BoardPatch, FocusReason, Millis, NewActivity,
    TimelineKind,
};

use crate::support::{TestEngine, T0};

const MIN: i64 = 60_000;

fn activity(deadline: Millis, remind: Option<Vec<i64>>) -> NewActivity {
    NewActivity {
        kind: ActivityKind::Call,
        subject: "Call back".into(),
        deadline,
        responsible: None,
        remind_before_minutes: remind,
    }
}

#[test]
fn reminder_then_deadline_fire_once_each_and_focus_the_item() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New"]);
    let a = t.create(&b, 0, "a");
    let act = t
        .engine
        .create_activity(t.admin, a, activity(T0.plus(60 * MIN), Some(vec![10])))
        .unwrap();
    assert_eq!(act.state, ActivityState::Planned);
    let later = t.create(&b, 0, "later");
    assert_eq!(t.walk(&b, 0), vec![later, a]);
    assert_eq!(t.get(a).next_deadline, Some(T0.plus(60 * MIN)));

    // Nothing is due yet, not even one millisecond early.
    t.clock.set(T0.plus(50 * MIN - 1));
    assert_eq!(t.engine.fire_due_timers().unwrap(), 0);
    assert_eq!(t.get(a).attention, 0);

    t.clock.set(T0.plus(50 * MIN));
    assert_eq!(t.engine.fire_due_timers().unwrap(), 1);
    let item = t.get(a);
    assert_eq!(
        (item.focus_reason, item.attention),
        (FocusReason::Reminder, 1)
    );
    assert_eq!(t.walk(&b, 0), vec![a, later]);
    assert_eq!(
        t.engine.activity(act.id).unwrap().state,
        ActivityState::DueSoon
    );
    assert_eq!(t.engine.counters(t.admin).unwrap().overdue_activities, 0);
    // Polling again at the same time fires nothing.
    assert_eq!(t.engine.fire_due_timers().unwrap(), 0);

    t.clock.set(T0.plus(61 * MIN));
    assert_eq!(t.engine.fire_due_timers().unwrap(), 1);
    let item = t.get(a);
    assert_eq!(
        (item.focus_reason, item.attention),
        (FocusReason::Deadline, 2)
    );
    assert_eq!(
        t.engine.activity(act.id).unwrap().state,
        ActivityState::Overdue
    );
    let c = t.engine.counters(t.admin).unwrap();
    assert_eq!((c.unread_items, c.overdue_activities, c.total), (1, 1, 2));

    let tl = t.engine.timeline(a, &Default::default()).unwrap();
    let kinds: Vec<TimelineKind> = tl.items.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![TimelineKind::Deadline, TimelineKind::Reminder]);

    // Completing leaves overdue; reading clears attention.
    let done = t.engine.complete_activity(act.id).unwrap();
    assert_eq!(done.state, ActivityState::Completed);
    assert_eq!(t.engine.counters(t.admin).unwrap().overdue_activities, 0);
    assert_eq!(t.get(a).next_deadline, None);
    t.engine.read_item(t.admin, a).unwrap();
    assert_eq!(t.engine.counters(t.admin).unwrap().total, 0);
}

#[test]
fn past_deadline_fires_only_the_deadline_and_past_reminder_fires_at_once() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New"]);
    let a = t.create(&b, 0, "a");
    let c = t.create(&b, 0, "c");
    // Deadline already past: only the deadline fires, at once.
    t.engine
        .create_activity(t.admin, a, activity(T0.plus(-MIN), Some(vec![10, 5])))
        .unwrap();
    // Future deadline, reminder already past: the reminder fires at once.
    let act = t
        .engine
        .create_activity(t.admin, c, activity(T0.plus(5 * MIN), Some(vec![30])))
        .unwrap();
    assert_eq!(
        t.engine.fire_due_timers().unwrap(),
        2,
        "a: {:?} c: {:?}",
        t.get(a),
        t.get(c)
    );
    assert_eq!(t.get(a).focus_reason, FocusReason::Deadline);
    assert_eq!(t.get(a).attention, 1);
    assert_eq!(t.get(c).focus_reason, FocusReason::Reminder);
    assert_eq!(
        t.engine.activity(act.id).unwrap().state,
        ActivityState::DueSoon
    );
}

#[test]
fn changing_a_deadline_rearms_and_completing_or_deleting_cancels() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New"]);
    let a = t.create(&b, 0, "a");
    let act = t
        .engine
        .create_activity(t.admin, a, activity(T0.plus(10 * MIN), Some(vec![])))
        .unwrap();
    t.clock.set(T0.plus(11 * MIN));
    assert_eq!(t.engine.fire_due_timers().unwrap(), 1);
    assert_eq!(t.engine.counters(t.admin).unwrap().overdue_activities, 1);
    // Moving the deadline into the future: no longer overdue, fires again later.
    let moved = t
        .engine
        .patch_activity(
            act.id,
            ActivityPatch {
                deadline: Some(T0.plus(30 * MIN)),
                ..ActivityPatch::default()
            },
        )
        .unwrap();
    assert_eq!(moved.state, ActivityState::Planned);
    assert_eq!(t.engine.counters(t.admin).unwrap().overdue_activities, 0);
    t.clock.set(T0.plus(31 * MIN));
    assert_eq!(t.engine.fire_due_timers().unwrap(), 1);
    assert_eq!(t.get(a).attention, 2);

    // Completed and deleted activities never fire.
    let x = t
        .engine
        .create_activity(t.admin, a, activity(T0.plus(40 * MIN), Some(vec![5])))
        .unwrap();
    let y = t
        .engine
        .create_activity(t.admin, a, activity(T0.plus(40 * MIN), Some(vec![5])))
        .unwrap();
    t.engine.complete_activity(x.id).unwrap();
    t.engine.delete_activity(y.id).unwrap();
    t.clock.set(T0.plus(50 * MIN));
    assert_eq!(t.engine.fire_due_timers().unwrap(), 0);
    assert_eq!(t.engine.stats().timers_pending, 0);
}

#[test]
fn board_lead_applies_without_own_offsets_and_focus_off_keeps_order() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New"]);
    t.engine
        .patch_board(
            b.id,
            BoardPatch {
                focus_lead_minutes: Some(30),
                focus_enabled: Some(false),
                ..BoardPatch::default()
            },
        )
        .unwrap();
    let a = t.create(&b, 0, "a");
    let top = t.create(&b, 0, "top");
    t.engine
        .create_activity(t.admin, a, activity(T0.plus(60 * MIN), None))
        .unwrap();
    t.clock.set(T0.plus(29 * MIN));
    assert_eq!(t.engine.fire_due_timers().unwrap(), 0);
    t.clock.set(T0.plus(30 * MIN));
    assert_eq!(t.engine.fire_due_timers().unwrap(), 1);
    // Focus off: attention rises, the order stays.
    assert_eq!(t.get(a).attention, 1);
    assert_eq!(t.walk(&b, 0), vec![top, a]);
}

#[test]
fn timers_due_while_closed_fire_exactly_once_after_restart() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New"]);
    let items: Vec<_> = (0..20).map(|i| t.create(&b, 0, &format!("i{i}"))).collect();
    for (i, it) in items.iter().enumerate() {
        t.engine
            .create_activity(
                t.admin,
                *it,
                activity(T0.plus((10 + i as i64) * MIN), Some(vec![])),
            )
            .unwrap();
    }
    assert_eq!(t.engine.stats().timers_pending, 20);
    // Down for an hour: everything came due meanwhile.
    let clock = t.clock.clone();
    let t = {
        t.engine.close();
        clock.set(T0.plus(60 * MIN));
        t.reopen()
    };
    assert_eq!(t.engine.stats().timers_pending, 20);
    assert_eq!(t.engine.fire_due_timers().unwrap(), 20);
    assert_eq!(t.engine.stats().timers_pending, 0);
    let t = t.reopen();
    assert_eq!(t.engine.fire_due_timers().unwrap(), 0);
    for it in &items {
        let tl = t.engine.timeline(*it, &Default::default()).unwrap();
        let deadlines = tl
            .items
            .iter()
            .filter(|e| e.kind == TimelineKind::Deadline)
            .count();
        assert_eq!(deadlines, 1, "item {it}");
        assert_eq!(t.get(*it).attention, 1);
    }
    assert_eq!(t.engine.counters(t.admin).unwrap().overdue_activities, 20);
}

#[test]
fn activity_validation_changes_nothing() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New"]);
    let a = t.create(&b, 0, "a");
    let bad = |n: NewActivity| {
        t.engine
            .create_activity(t.admin, a, n)
            .unwrap_err()
            .to_string()
    };
    assert!(bad(activity(T0, Some(vec![1, 2, 3, 4, 5, 6]))).contains("remind_before_minutes"));
    assert!(bad(activity(T0, Some(vec![10081]))).contains("remind_before_minutes[0]"));
    let mut n = activity(T0, None);
    n.subject = String::new();
    assert!(bad(n).contains("subject"));
    let mut n = activity(T0, None);
    n.responsible = Some(hoist_engine::UserId(999));
    assert!(bad(n).contains("responsible"));
    assert_eq!(t.engine.stats().timers_pending, 0);
    assert!(t.get(a).next_deadline.is_none());
}

/// An activity's pending timers share one `T` row that moves to the next due time as
/// each fires. Restarts between the fires of its reminders and deadline re-arm exactly
/// what is left: every timer fires once, none twice, none lost.
#[test]
fn reminders_and_deadline_fire_once_each_across_restarts_between_them() {
    let mut t = TestEngine::new();
    let b = t.board("Sales", &["New"]);
    let items: Vec<_> = (0..5).map(|i| t.create(&b, 0, &format!("i{i}"))).collect();
    for it in &items {
        // Reminders at T0+30 and T0+50, the deadline at T0+60.
        t.engine
            .create_activity(
                t.admin,
                *it,
                activity(T0.plus(60 * MIN), Some(vec![10, 30])),
            )
            .unwrap();
    }
    assert_eq!(t.engine.stats().timers_pending, 15);
    let mut fired = 0;
    for (minute, pending_after) in [(35, 10), (55, 5), (61, 0)] {
        t = t.reopen();
        t.clock.set(T0.plus(minute * MIN));
        fired += t.engine.fire_due_timers().unwrap();
        assert_eq!(
            t.engine.stats().timers_pending,
            pending_after,
            "at +{minute} min"
        );
        t = t.reopen();
        assert_eq!(
            t.engine.stats().timers_pending,
            pending_after,
            "reopened at +{minute}"
        );
        assert_eq!(
            t.engine.fire_due_timers().unwrap(),
            0,
            "nothing fires twice"
        );
    }
    assert_eq!(fired, 15);
    for it in &items {
        let tl = t.engine.timeline(*it, &Default::default()).unwrap();
        let count = |k: TimelineKind| tl.items.iter().filter(|e| e.kind == k).count();
        assert_eq!(count(TimelineKind::Reminder), 2, "item {it}");
        assert_eq!(count(TimelineKind::Deadline), 1, "item {it}");
    }
}
