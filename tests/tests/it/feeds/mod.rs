//! Feeds through the engine API: rules against a model on random records, sticky
//! unfollow, walls rebuilt after a restart, the wall cursor under concurrent inserts, and
//! the apply_to_existing job resuming across a restart.

use std::collections::BTreeSet;

use hoist_engine::{
    Criterion, FeedKind, FieldValue, FollowReason, ItemId, ItemPatch, Mentions, NewItem, NewRule,
    Op, PageRequest, RuleId, RuleValue, UserId, WallFilter,
};
use proptest::prelude::*;

use crate::support::TestEngine;

/// A column position the generator wrote as a number (0, 1 or 2).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn position(n: f64) -> usize {
    n as usize
}

/// A column id as a rule's number value (small ids are exact in an `f64`).
#[allow(clippy::cast_precision_loss)]
fn id_number(id: impl Into<u64>) -> f64 {
    id.into() as f64
}

fn wall_ids(t: &TestEngine, user: UserId, filter: &WallFilter, limit: usize) -> Vec<u64> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let p = t
            .engine
            .wall(
                user,
                filter,
                &PageRequest {
                    limit: Some(limit),
                    cursor: cursor.take(),
                },
            )
            .unwrap();
        out.extend(p.items.iter().map(|e| e.id.0));
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

fn follows_of(t: &TestEngine, user: UserId) -> Vec<(ItemId, Vec<FollowReason>)> {
    t.engine
        .follows(
            user,
            None,
            &PageRequest {
                limit: Some(500),
                cursor: None,
            },
        )
        .unwrap()
        .items
        .into_iter()
        .map(|f| (f.item, f.reasons))
        .collect()
}

#[test]
fn unfollow_sticks_across_responsible_changes_and_rules_until_follow() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New"]);
    let (ann, _) = t.user("ann");
    let (rule, _) = t
        .engine
        .create_rule(
            ann,
            NewRule {
                name: "big".into(),
                module: "deal".into(),
                criteria: vec![Criterion {
                    field: "amount".into(),
                    op: Op::Gte,
                    value: RuleValue::Num(100.0),
                }],
                apply_to_existing: false,
            },
        )
        .unwrap();
    let it = t.create_as(ann, &b, 0, "x");
    assert_eq!(follows_of(&t, ann), vec![(it, vec![FollowReason::Owner])]);
    t.engine.unfollow(ann, it).unwrap();
    assert!(follows_of(&t, ann).is_empty());
    // Responsible away and back, and a rule match: still not following.
    let patch = |r: UserId, amount: f64| ItemPatch {
        responsible: Some(r),
        amount: Some(amount),
        ..ItemPatch::default()
    };
    t.engine
        .patch_item(t.admin, it, patch(t.admin, 1.0))
        .unwrap();
    t.engine.patch_item(t.admin, it, patch(ann, 500.0)).unwrap();
    assert!(follows_of(&t, ann).is_empty());
    let before = wall_ids(&t, ann, &WallFilter::default(), 50);
    t.engine
        .comment(t.admin, it, "while unfollowed".into(), Mentions::default())
        .unwrap();
    assert_eq!(wall_ids(&t, ann, &WallFilter::default(), 50), before);
    // Follow again: every reason counts again, and it survives a restart.
    t.engine.follow(ann, it).unwrap();
    let want = vec![(
        it,
        vec![
            FollowReason::Owner,
            FollowReason::Manual,
            FollowReason::Rule(rule.id),
        ],
    )];
    assert_eq!(follows_of(&t, ann), want);
    let t = t.reopen();
    assert_eq!(follows_of(&t, ann), want);
}

#[test]
fn walls_are_rebuilt_exactly_after_a_restart() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New"]);
    let (ann, _) = t.user("ann");
    let (bob, _) = t.user("bob");
    let g = t
        .engine
        .create_group(hoist_engine::NewGroup {
            name: "M".into(),
            members: vec![ann],
        })
        .unwrap();
    for i in 0..30 {
        let it = t.create(&b, 0, &format!("i{i}"));
        if i % 3 == 0 {
            t.engine.follow(ann, it).unwrap();
        }
        t.engine
            .comment(bob, it, format!("c{i}"), Mentions::default())
            .unwrap();
        if i % 5 == 0 {
            t.engine
                .post(ann, format!("p{i}"), Some(g.id), Mentions::default())
                .unwrap();
            t.engine
                .send_message(bob, format!("dm{i}"), vec![ann], None)
                .unwrap();
        }
    }
    let users = [t.admin, ann, bob];
    let before: Vec<Vec<u64>> = users
        .iter()
        .map(|u| wall_ids(&t, *u, &WallFilter::default(), 7))
        .collect();
    assert!(before.iter().all(|w| !w.is_empty()));
    let t = t.reopen();
    let after: Vec<Vec<u64>> = users
        .iter()
        .map(|u| wall_ids(&t, *u, &WallFilter::default(), 7))
        .collect();
    assert_eq!(before, after);
}

#[test]
fn wall_cursor_is_stable_while_entries_arrive_between_pages() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New"]);
    let it = t.create(&b, 0, "x");
    for i in 0..120 {
        t.engine
            .comment(t.admin, it, format!("old{i}"), Mentions::default())
            .unwrap();
    }
    let snapshot = wall_ids(&t, t.admin, &WallFilter::default(), 500);
    let page = |cursor: Option<String>| {
        t.engine
            .wall(
                t.admin,
                &WallFilter::default(),
                &PageRequest {
                    limit: Some(10),
                    cursor,
                },
            )
            .unwrap()
    };
    // Seven new entries land above the cursor before every page is read, and a writer
    // thread adds more at the same time: each page must continue exactly where the last
    // one ended.
    let mut seen: Vec<u64> = Vec::new();
    let mut cursor = None;
    let mut added = 0;
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            for i in 0..100 {
                t.engine
                    .comment(t.admin, it, format!("thread{i}"), Mentions::default())
                    .unwrap();
            }
        });
        loop {
            let p = page(cursor.take());
            seen.extend(p.items.iter().map(|e| e.id.0));
            for _ in 0..7 {
                t.engine
                    .comment(t.admin, it, format!("between{added}"), Mentions::default())
                    .unwrap();
                added += 1;
            }
            match p.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        writer.join().unwrap();
    });
    assert!(added >= 7 * 12, "entries were inserted between the pages");
    // The first page was read before any new entry but the thread's: everything from
    // the snapshot's top down, each once, in order.
    let start = snapshot[0];
    let from_start: Vec<u64> = seen.iter().copied().skip_while(|id| *id != start).collect();
    assert_eq!(from_start, snapshot, "an entry skipped or shown twice");
    let after = wall_ids(&t, t.admin, &WallFilter::default(), 500);
    assert_eq!(after.len(), snapshot.len() + added + 100);
}

#[test]
fn apply_to_existing_follows_matches_and_reports_progress() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New"]);
    let (ann, _) = t.user("ann");
    let items: Vec<NewItem> = (0..5000)
        .map(|i| {
            let mut n = crate::support::new_item(&b, 0, &format!("i{i}"));
            n.amount = Some(f64::from(i));
            n
        })
        .collect();
    t.engine.create_items(t.admin, items).unwrap();
    let (_, job) = t
        .engine
        .create_rule(
            ann,
            NewRule {
                name: "top".into(),
                module: "deal".into(),
                criteria: vec![Criterion {
                    field: "amount".into(),
                    op: Op::Gte,
                    value: RuleValue::Num(4000.0),
                }],
                apply_to_existing: true,
            },
        )
        .unwrap();
    let job = job.unwrap();
    let mut status = t.engine.job(job).unwrap();
    for _ in 0..500 {
        if status.state == hoist_engine::JobState::Done {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        status = t.engine.job(job).unwrap();
    }
    assert_eq!(status.state, hoist_engine::JobState::Done);
    assert_eq!((status.done, status.total), (5000, 5000));
    let followed = t
        .engine
        .follows(
            ann,
            Some("deal"),
            &PageRequest {
                limit: Some(500),
                cursor: None,
            },
        )
        .unwrap();
    let mut n = followed.items.len();
    let mut cursor = followed.next_cursor;
    while let Some(c) = cursor {
        let p = t
            .engine
            .follows(
                ann,
                Some("deal"),
                &PageRequest {
                    limit: Some(500),
                    cursor: Some(c),
                },
            )
            .unwrap();
        n += p.items.len();
        cursor = p.next_cursor;
    }
    assert_eq!(n, 1000);
}

#[derive(Debug, Clone)]
struct Rec {
    amount: f64,
    title: String,
    column: usize,
    vip: Option<bool>,
    score: Option<f64>,
}

fn rec() -> impl Strategy<Value = Rec> {
    (
        0.0f64..1000.0,
        "[a-cA-C]{0,4}",
        0..3usize,
        proptest::option::of(any::<bool>()),
        proptest::option::of(0.0f64..10.0),
    )
        .prop_map(|(amount, title, column, vip, score)| Rec {
            amount: amount.floor(),
            title: format!("t{title}"),
            column,
            vip,
            score,
        })
}

fn criterion() -> impl Strategy<Value = Criterion> {
    let op = prop_oneof![
        Just(Op::Eq),
        Just(Op::Ne),
        Just(Op::Gt),
        Just(Op::Gte),
        Just(Op::Lt),
        Just(Op::Lte)
    ];
    prop_oneof![
        (op.clone(), 0.0f64..1000.0).prop_map(|(op, v)| Criterion {
            field: "amount".into(),
            op,
            value: RuleValue::Num(v.floor())
        }),
        "[a-c]{1,2}".prop_map(|v| Criterion {
            field: "title".into(),
            op: Op::Contains,
            value: RuleValue::Str(v)
        }),
        (op.clone(), 0.0f64..10.0).prop_map(|(op, v)| Criterion {
            field: "score".into(),
            op,
            value: RuleValue::Num(v)
        }),
        any::<bool>().prop_map(|v| Criterion {
            field: "vip".into(),
            op: Op::Eq,
            value: RuleValue::Bool(v)
        }),
        proptest::collection::vec(0..3usize, 1..3).prop_map(|cols| Criterion {
            field: "column".into(),
            op: Op::In,
            value: RuleValue::List(cols.into_iter().map(|c| RuleValue::Num(c as f64)).collect()),
        }),
    ]
}

/// The model: what each criterion means, written independently of the engine.
fn model(c: &Criterion, r: &Rec, column_ids: &[u64]) -> bool {
    let num = |got: f64, want: f64| match c.op {
        Op::Eq => got == want,
        Op::Ne => got != want,
        Op::Gt => got > want,
        Op::Gte => got >= want,
        Op::Lt => got < want,
        Op::Lte => got <= want,
        _ => false,
    };
    match (c.field.as_str(), &c.value) {
        ("amount", RuleValue::Num(v)) => num(r.amount, *v),
        ("title", RuleValue::Str(v)) => r.title.to_lowercase().contains(&v.to_lowercase()),
        ("score", RuleValue::Num(v)) => match r.score {
            Some(s) => num(s, *v),
            None => c.op == Op::Ne,
        },
        ("vip", RuleValue::Bool(v)) => r.vip == Some(*v),
        // The generated list holds column positions; the engine gets their ids.
        ("column", RuleValue::List(l)) => l.iter().any(
            |x| matches!(x, RuleValue::Num(n) if column_ids[position(*n)] == column_ids[r.column]),
        ),
        _ => unreachable!(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn rules_follow_exactly_what_the_model_matches(
        recs in proptest::collection::vec(rec(), 1..25),
        rules in proptest::collection::vec(proptest::collection::vec(criterion(), 1..3), 1..4),
    ) {
        let t = TestEngine::new();
        let b = t.board("Sales", &["A", "B", "C"]);
        let (ann, _) = t.user("ann");
        let col_ids: Vec<u64> = b.columns.iter().map(|c| c.id.0).collect();
        let mut rule_ids = Vec::new();
        for (i, criteria) in rules.iter().enumerate() {
            let (r, _) = t.engine.create_rule(ann, NewRule {
                name: format!("r{i}"),
                module: "deal".into(),
                criteria: criteria.iter().map(|c| match (&c.field[..], &c.value) {
                    ("column", RuleValue::List(l)) => Criterion {
                        field: "column".into(),
                        op: Op::In,
                        value: RuleValue::List(l.iter().map(|x| match x {
                            RuleValue::Num(n) => RuleValue::Num(id_number(col_ids[position(*n)])),
                            other => other.clone(),
                        }).collect()),
                    },
                    _ => c.clone(),
                }).collect(),
                apply_to_existing: false,
            }).unwrap();
            rule_ids.push(r.id);
        }
        let mut want: BTreeSet<(ItemId, RuleId)> = BTreeSet::new();
        for r in &recs {
            let mut n = crate::support::new_item(&b, r.column, &r.title);
            n.amount = Some(r.amount);
            if let Some(v) = r.vip { n.fields.push(("vip".into(), FieldValue::Bool(v))); }
            if let Some(s) = r.score { n.fields.push(("score".into(), FieldValue::Num(s))); }
            let id = t.engine.create_item(t.admin, n).unwrap().get().unwrap().id();
            for (criteria, rid) in rules.iter().zip(&rule_ids) {
                if criteria.iter().all(|c| model(c, r, &col_ids)) {
                    want.insert((id, *rid));
                }
            }
        }
        let got: BTreeSet<(ItemId, RuleId)> = follows_of(&t, ann)
            .into_iter()
            .flat_map(|(item, reasons)| reasons.into_iter().filter_map(move |r| match r {
                FollowReason::Rule(id) => Some((item, id)),
                _ => None,
            }))
            .collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn a_replaced_responsible_sees_the_change_and_unknown_modules_are_refused() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New"]);
    let (ann, _) = t.user("ann");
    let (bob, _) = t.user("bob");
    let it = t.create_as(ann, &b, 0, "x");
    t.engine
        .patch_item(
            t.admin,
            it,
            ItemPatch {
                responsible: Some(bob),
                ..ItemPatch::default()
            },
        )
        .unwrap();
    for user in [ann, bob] {
        let w = t
            .engine
            .wall(user, &WallFilter::default(), &PageRequest::default())
            .unwrap();
        let top = &w.items[0];
        assert_eq!(
            (top.kind, top.item),
            (FeedKind::RecordUpdated, Some(it)),
            "user {user}"
        );
    }
    // Ann no longer follows: later entries do not reach her.
    t.engine
        .comment(t.admin, it, "later".into(), Mentions::default())
        .unwrap();
    let w = t
        .engine
        .wall(ann, &WallFilter::default(), &PageRequest::default())
        .unwrap();
    assert_eq!(w.items[0].kind, FeedKind::RecordUpdated);
    let bad = WallFilter {
        modules: vec!["nope".into()],
        ..WallFilter::default()
    };
    assert!(t
        .engine
        .wall(ann, &bad, &PageRequest::default())
        .unwrap_err()
        .to_string()
        .contains("module"));
}

/// The records whose entries are on `user`'s wall.
fn wall_items(t: &TestEngine, user: UserId) -> BTreeSet<ItemId> {
    let page = t
        .engine
        .wall(
            user,
            &WallFilter::default(),
            &PageRequest {
                limit: Some(500),
                cursor: None,
            },
        )
        .unwrap();
    page.items.iter().filter_map(|e| e.item).collect()
}

#[test]
fn following_a_board_follows_its_records_present_and_future_and_a_record_unfollow_sticks() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["A", "B"]);
    let other = t.board("Other", &["A"]);
    let (ann, _) = t.user("ann");
    let x = t.create(&b, 0, "x");
    let y = t.create(&b, 1, "y");
    let z = t.create(&other, 0, "z");
    t.engine.follow_board(ann, b.id).unwrap();
    // Twice is once.
    t.engine.follow_board(ann, b.id).unwrap();
    t.engine.unfollow(ann, y).unwrap();
    let w = t.create(&b, 0, "w");
    for it in [x, y, z, w] {
        t.engine
            .comment(t.admin, it, "news".into(), Mentions::default())
            .unwrap();
    }
    assert_eq!(wall_items(&t, ann), BTreeSet::from([x, w]));
    let board = FollowReason::Board(b.id);
    assert_eq!(
        follows_of(&t, ann),
        vec![(x, vec![board]), (w, vec![board])]
    );
    // Board-followed records count among the inactive ones.
    t.clock.advance(2 * 86_400_000);
    let inactive: Vec<ItemId> = t
        .engine
        .inactive(ann, 1, &PageRequest::default())
        .unwrap()
        .items
        .iter()
        .map(|f| f.item)
        .collect();
    assert_eq!(inactive, vec![x, w]);
    // Follow again ends the sticky unfollow; both reasons show.
    t.engine.follow(ann, y).unwrap();
    assert_eq!(
        follows_of(&t, ann),
        vec![
            (x, vec![board]),
            (y, vec![FollowReason::Manual, board]),
            (w, vec![board])
        ]
    );
    // It survives a restart (one row, not one per record).
    let t = t.reopen();
    assert_eq!(follows_of(&t, ann).len(), 3);
    // Unfollowing the board ends the rest: what Ann follows for another reason stays.
    t.engine.unfollow_board(ann, b.id).unwrap();
    assert_eq!(follows_of(&t, ann), vec![(y, vec![FollowReason::Manual])]);
    let before = wall_ids(&t, ann, &WallFilter::default(), 50).len();
    t.engine
        .comment(t.admin, x, "unseen".into(), Mentions::default())
        .unwrap();
    assert_eq!(wall_ids(&t, ann, &WallFilter::default(), 50).len(), before);
    assert!(matches!(
        t.engine.follow_board(ann, hoist_engine::BoardId(999)),
        Err(hoist_engine::Error::NotFound { .. })
    ));
    let t = t.reopen();
    assert_eq!(follows_of(&t, ann), vec![(y, vec![FollowReason::Manual])]);
}
