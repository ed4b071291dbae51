//! Items and the views over them: create on top, batches, manual moves, focus (on and
//! off), attention and reading, patches with old → new values, deletes, column pages with
//! cursors, the Kanban and List views, column deletion, and input validation.

use std::time::Duration;

use hoist_engine::{
    ChangeKind, ColumnPatch, ColumnPosition, Contacts, Error, FieldChange, FieldValue, FocusReason,
    ItemId, ItemPatch, ListFilter, NewBoard, NewItem, NewUser, PageRequest, Position, Received,
    UserId, Value,
};

use crate::support::{ids, invalid_field, new_item, walk, walk_list, TestEngine};

fn page(limit: usize, cursor: Option<String>) -> PageRequest {
    PageRequest {
        limit: Some(limit),
        cursor,
    }
}

fn change<'a>(changes: &'a [FieldChange], field: &str) -> &'a FieldChange {
    changes
        .iter()
        .find(|c| c.field == field)
        .unwrap_or_else(|| panic!("no change for {field} in {changes:?}"))
}

#[test]
fn a_new_item_lands_on_top_of_its_column() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New", "Won"]);
    let a = t.create(&b, 0, "a");
    let bb = t.create(&b, 0, "b");
    let w = t.create(&b, 1, "w");
    let c = t.create(&b, 0, "c");
    assert_eq!(t.walk(&b, 0), vec![c, bb, a]);
    assert_eq!(t.walk(&b, 1), vec![w]);

    // Defaults: the board's first column, the acting user as responsible, amount 0,
    // focused now for reason `created`, nothing unread.
    t.clock.advance(60_000);
    let (ann, _) = t.user("Ann");
    let view = t
        .engine
        .create_item(
            ann,
            NewItem {
                board: b.id,
                title: "defaults".into(),
                ..NewItem::default()
            },
        )
        .unwrap();
    let d = view.to_item().unwrap();
    let now = t.clock_now();
    assert_eq!(now, hoist_engine::Millis(crate::support::T0.0 + 60_000));
    assert_eq!(d.column, b.columns[0].id);
    assert_eq!(d.board, b.id);
    assert_eq!(d.responsible, ann);
    assert_eq!(d.amount, 0.0);
    assert_eq!(d.focus_reason, FocusReason::Created);
    assert_eq!((d.created_at, d.updated_at, d.focused_at), (now, now, now));
    assert_eq!(d.attention, 0);
    assert!(!view.get().unwrap().unread());
    assert_eq!(d.next_deadline, None);
    assert_eq!(t.walk(&b, 0), vec![d.id, c, bb, a]);
    assert_eq!(t.get(d.id), d, "the stored item is the one returned");
}

#[test]
fn a_batch_lands_in_order_given_and_a_bad_element_rejects_only_itself() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New", "Won"]);
    let other = t.board("Other", &["X"]);
    let before = t.engine.stats();
    let results = t
        .engine
        .create_items(
            t.admin,
            vec![
                new_item(&b, 0, "one"),
                new_item(&b, 0, ""),
                new_item(&b, 0, "two"),
                NewItem {
                    column: Some(other.columns[0].id),
                    ..new_item(&b, 0, "wrong column")
                },
                NewItem {
                    responsible: Some(UserId(999)),
                    ..new_item(&b, 0, "nobody")
                },
                new_item(&b, 1, "in won"),
                new_item(&b, 0, "three"),
            ],
        )
        .unwrap();
    assert_eq!(results.len(), 7, "one result per element");
    let mut created = Vec::new();
    let mut rejected = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(v) => created.push((i, crate::support::id_of(&v))),
            Err(e) => rejected.push((i, invalid_field::<()>(Err(e)))),
        }
    }
    assert_eq!(
        rejected,
        vec![
            (1, "title".to_string()),
            (3, "column".to_string()),
            (4, "responsible".to_string())
        ]
    );
    let c: Vec<ItemId> = created.iter().map(|(_, id)| *id).collect();
    assert_eq!(
        created.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        vec![0, 2, 5, 6]
    );
    assert!(c.windows(2).all(|w| w[0] < w[1]), "ids in the order given");
    assert_eq!(
        t.walk(&b, 0),
        vec![c[3], c[1], c[0]],
        "the last one ends on top"
    );
    assert_eq!(t.walk(&b, 1), vec![c[2]]);
    assert_eq!(
        t.walk(&other, 0),
        vec![],
        "the rejected element left no trace"
    );
    let after = t.engine.stats();
    assert_eq!(after.items, before.items + 4);
    assert_eq!(
        after.last_seq,
        before.last_seq + 8,
        "two changes per created item (the item and its record_created entry)"
    );
}

#[test]
fn moves_within_a_column_place_exactly_and_touch_only_the_moved_item() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New"]);
    let [a, bb, c, d, e] = ["a", "b", "c", "d", "e"].map(|n| t.create(&b, 0, n));
    assert_eq!(t.walk(&b, 0), vec![e, d, c, bb, a]);
    let sub = t.engine.subscribe(256);
    let before_a = t.get(a);

    let steps = [
        (a, Position::Top, vec![a, e, d, c, bb]),
        (a, Position::Bottom, vec![e, d, c, bb, a]),
        (a, Position::Before(c), vec![e, d, a, c, bb]),
        (a, Position::After(e), vec![e, a, d, c, bb]),
        (e, Position::After(bb), vec![a, d, c, bb, e]),
        (e, Position::Before(a), vec![e, a, d, c, bb]),
        (bb, Position::Before(d), vec![e, a, bb, d, c]),
        (c, Position::After(a), vec![e, a, c, bb, d]),
        (d, Position::Top, vec![d, e, a, c, bb]),
        (d, Position::Top, vec![d, e, a, c, bb]),
        (bb, Position::Bottom, vec![d, e, a, c, bb]),
    ];
    for (item, pos, want) in &steps {
        t.engine
            .move_item(t.admin, *item, None, Some(*pos))
            .unwrap();
        assert_eq!(&t.walk(&b, 0), want, "after moving {item} to {pos:?}");
    }

    // A manual move is not a focus: reason, focus time and attention stay.
    let after_a = t.get(a);
    assert_eq!(after_a.focus_reason, before_a.focus_reason);
    assert_eq!(after_a.focused_at, before_a.focused_at);
    assert_eq!(after_a.attention, 0);

    // No renumbering: each move committed exactly one change, for the moved item only.
    let mut got = Vec::new();
    while let Received::Change(ch) = sub.recv_timeout(Duration::from_millis(300)) {
        if ch.kind != ChangeKind::EntryAdded {
            got.push((ch.kind, ch.item));
        }
    }
    let want: Vec<_> = steps
        .iter()
        .map(|(item, _, _)| (ChangeKind::ItemMoved, Some(*item)))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn dragging_into_the_same_gap_many_times_keeps_an_exact_order() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New"]);
    let lower = t.create(&b, 0, "lower");
    let upper = t.create(&b, 0, "upper");
    let movers: Vec<ItemId> = (0..120)
        .map(|i| t.create(&b, 0, &format!("m{i}")))
        .collect();
    // Each mover goes directly below `upper`, alternating both anchors of the same gap,
    // so the gap between the two neighbours is split 120 times.
    for (i, m) in movers.iter().enumerate() {
        let pos = if i % 2 == 0 {
            Position::After(upper)
        } else {
            Position::Before(movers[i - 1])
        };
        t.engine.move_item(t.admin, *m, None, Some(pos)).unwrap();
    }
    let mut want = vec![upper];
    want.extend(movers.iter().rev());
    want.push(lower);
    assert_eq!(t.walk(&b, 0), want);
    let t = t.reopen();
    assert_eq!(
        t.walk(&b, 0),
        want,
        "the fine-grained keys survive a restart"
    );
}

#[test]
fn moves_to_another_column_honour_the_position() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["A", "B"]);
    let (col_a, col_b) = (b.columns[0].id, b.columns[1].id);
    let [a1, a2, a3] = ["a1", "a2", "a3"].map(|n| t.create(&b, 0, n));
    let [b1, b2, b3] = ["b1", "b2", "b3"].map(|n| t.create(&b, 1, n));

    t.engine
        .move_item(t.admin, a1, Some(col_b), Some(Position::Top))
        .unwrap();
    assert_eq!(t.walk(&b, 1), vec![a1, b3, b2, b1]);
    t.engine
        .move_item(t.admin, a2, Some(col_b), Some(Position::Bottom))
        .unwrap();
    assert_eq!(t.walk(&b, 1), vec![a1, b3, b2, b1, a2]);
    t.engine
        .move_item(t.admin, a3, Some(col_b), Some(Position::Before(b2)))
        .unwrap();
    assert_eq!(t.walk(&b, 1), vec![a1, b3, a3, b2, b1, a2]);
    assert_eq!(t.walk(&b, 0), vec![]);
    t.engine
        .move_item(t.admin, b1, Some(col_a), Some(Position::Bottom))
        .unwrap();
    t.engine
        .move_item(t.admin, b3, Some(col_a), Some(Position::After(b1)))
        .unwrap();
    t.engine
        .move_item(t.admin, b2, Some(col_a), Some(Position::Before(b1)))
        .unwrap();
    assert_eq!(t.walk(&b, 0), vec![b2, b1, b3]);
    assert_eq!(t.walk(&b, 1), vec![a1, a3, a2]);
    let moved = t.get(a3);
    assert_eq!(moved.column, col_b);
    assert_eq!(
        moved.focus_reason,
        FocusReason::Created,
        "a positioned move is not a focus"
    );
}

#[test]
fn a_move_to_another_column_without_position_is_a_focus_with_reason_moved() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["A", "B"]);
    let x = t.create(&b, 0, "x");
    let y = t.create(&b, 0, "y");
    let [b1, b2] = ["b1", "b2"].map(|n| t.create(&b, 1, n));
    t.clock.advance(5_000);
    let moved = t
        .engine
        .move_item(t.admin, x, Some(b.columns[1].id), None)
        .unwrap()
        .to_item()
        .unwrap();
    assert_eq!(moved.column, b.columns[1].id);
    assert_eq!(moved.focus_reason, FocusReason::Moved);
    assert_eq!(moved.focused_at, t.clock_now());
    assert_eq!(moved.attention, 0, "moving raises no attention");
    assert_eq!(t.walk(&b, 1), vec![x, b2, b1]);
    assert_eq!(t.walk(&b, 0), vec![y]);
    // Without a position the column must change.
    assert_eq!(
        invalid_field(t.engine.move_item(t.admin, y, None, None)),
        "position"
    );
    assert_eq!(
        invalid_field(t.engine.move_item(t.admin, y, Some(b.columns[0].id), None)),
        "position"
    );
}

#[test]
fn bad_moves_are_rejected_and_change_nothing() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["A", "B"]);
    let other = t.board("Other", &["X"]);
    let [a1, a2] = ["a1", "a2"].map(|n| t.create(&b, 0, n));
    let b1 = t.create(&b, 1, "b1");
    let seq = t.engine.stats().last_seq;
    let bad = [
        (a1, None, Some(Position::Before(a1)), "position.before"),
        (a1, None, Some(Position::After(a1)), "position.after"),
        (a1, None, Some(Position::Before(b1)), "position.before"),
        (
            a1,
            Some(b.columns[1].id),
            Some(Position::After(a2)),
            "position.after",
        ),
        (
            a1,
            None,
            Some(Position::After(ItemId(9_999))),
            "position.after",
        ),
        (a1, Some(other.columns[0].id), Some(Position::Top), "column"),
    ];
    for (item, column, pos, field) in bad {
        assert_eq!(
            invalid_field(t.engine.move_item(t.admin, item, column, pos)),
            field
        );
    }
    assert!(matches!(
        t.engine
            .move_item(t.admin, ItemId(9_999), None, Some(Position::Top)),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(t.walk(&b, 0), vec![a2, a1]);
    assert_eq!(t.walk(&b, 1), vec![b1]);
    assert_eq!(t.engine.stats().last_seq, seq);
}

#[test]
fn focus_raises_an_item_to_the_top_and_counts_attention() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["A", "B"]);
    let [a, bb, c] = ["a", "b", "c"].map(|n| t.create(&b, 0, n));
    let other = t.create(&b, 1, "other column");
    t.clock.advance(1_000);

    let f = t
        .engine
        .focus(a, FocusReason::CallIn)
        .unwrap()
        .to_item()
        .unwrap();
    assert_eq!(t.walk(&b, 0), vec![a, c, bb]);
    assert_eq!(
        (f.focus_reason, f.focused_at, f.attention),
        (FocusReason::CallIn, t.clock_now(), 1)
    );
    assert_eq!(t.walk(&b, 1), vec![other], "other columns are untouched");

    t.engine.focus(bb, FocusReason::EmailIn).unwrap();
    t.engine.focus(a, FocusReason::CallMissed).unwrap();
    assert_eq!(t.walk(&b, 0), vec![a, bb, c]);
    assert_eq!(t.get(a).attention, 2);

    // A batch of triggers: the last ends on top; a missing item fails alone.
    let results = t
        .engine
        .focus_many(vec![
            (c, FocusReason::ChatIn),
            (ItemId(9_999), FocusReason::ChatIn),
            (bb, FocusReason::Comment),
        ])
        .unwrap();
    assert!(results[0].is_ok() && results[2].is_ok());
    assert!(matches!(results[1], Err(Error::NotFound { .. })));
    assert_eq!(t.walk(&b, 0), vec![bb, c, a]);
    assert_eq!(t.get(bb).attention, 2);
    assert_eq!(t.get(bb).focus_reason, FocusReason::Comment);
    assert!(matches!(
        t.engine.focus(ItemId(9_999), FocusReason::CallIn),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn with_focus_off_triggers_raise_attention_but_keep_the_order() {
    let t = TestEngine::new();
    let b = t.board("Quiet", &["A", "B"]);
    let [a, bb, c] = ["a", "b", "c"].map(|n| t.create(&b, 0, n));
    let patched = t
        .engine
        .patch_board(
            b.id,
            hoist_engine::BoardPatch {
                focus_enabled: Some(false),
                ..hoist_engine::BoardPatch::default()
            },
        )
        .unwrap();
    assert!(!patched.focus_enabled);
    assert!(!t.engine.board(b.id).unwrap().focus_enabled);

    t.engine.focus(a, FocusReason::CallMissed).unwrap();
    t.engine.focus(a, FocusReason::Deadline).unwrap();
    t.engine
        .focus_many(vec![(bb, FocusReason::EmailIn), (a, FocusReason::Moved)])
        .unwrap();
    assert_eq!(t.walk(&b, 0), vec![c, bb, a], "the order does not change");
    assert_eq!(t.get(a).attention, 2);
    assert_eq!(t.get(bb).attention, 1);
    let k = t.engine.kanban(b.id, 10).unwrap();
    assert_eq!((k[0].count, k[0].unread), (3, 2));

    // Manual moves still reorder; a move to another column is not a focus.
    t.engine
        .move_item(t.admin, a, None, Some(Position::Top))
        .unwrap();
    assert_eq!(t.walk(&b, 0), vec![a, c, bb]);
    let moved = t
        .engine
        .move_item(t.admin, c, Some(b.columns[1].id), None)
        .unwrap();
    assert_eq!(moved.get().unwrap().column(), b.columns[1].id);
    assert_ne!(moved.get().unwrap().focus_reason(), FocusReason::Moved);
    assert_eq!(t.walk(&b, 1), vec![c]);

    // Switched back on, triggers reorder again.
    t.engine
        .patch_board(
            b.id,
            hoist_engine::BoardPatch {
                focus_enabled: Some(true),
                ..hoist_engine::BoardPatch::default()
            },
        )
        .unwrap();
    t.engine.focus(bb, FocusReason::CallIn).unwrap();
    assert_eq!(t.walk(&b, 0), vec![bb, a]);
}

#[test]
fn reading_by_the_responsible_clears_attention_and_by_others_does_not() {
    let t = TestEngine::new();
    let (ann, _) = t.user("Ann");
    let (bob, _) = t.user("Bob");
    let b = t.board("Sales", &["A"]);
    let item = t.create_as(ann, &b, 0, "ann's deal");
    t.engine.focus(item, FocusReason::CallIn).unwrap();
    t.engine.focus(item, FocusReason::EmailIn).unwrap();
    let later = t.create(&b, 0, "later");
    assert_eq!(t.walk(&b, 0), vec![later, item]);

    for reader in [bob, t.admin] {
        let seen = t.engine.read_item(reader, item).unwrap();
        assert_eq!(seen.get().unwrap().attention(), 2, "read by {reader}");
        assert!(seen.get().unwrap().unread());
    }
    assert_eq!(t.engine.kanban(b.id, 5).unwrap()[0].unread, 1);

    let read = t.engine.read_item(ann, item).unwrap();
    assert_eq!(read.get().unwrap().attention(), 0);
    assert!(!read.get().unwrap().unread());
    assert_eq!(t.get(item).attention, 0);
    assert_eq!(
        t.walk(&b, 0),
        vec![later, item],
        "reading does not change the order"
    );
    assert_eq!(t.engine.kanban(b.id, 5).unwrap()[0].unread, 0);
    // Reading again is harmless.
    assert_eq!(
        t.engine
            .read_item(ann, item)
            .unwrap()
            .get()
            .unwrap()
            .attention(),
        0
    );
    assert!(matches!(
        t.engine.read_item(ann, ItemId(9_999)),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn patch_reports_old_and_new_for_each_changed_field() {
    let t = TestEngine::new();
    let (ann, _) = t.user("Ann");
    let b = t.board("Sales", &["A"]);
    let item = t
        .engine
        .create_item(
            t.admin,
            NewItem {
                amount: Some(100.0),
                fields: vec![
                    ("stage".into(), FieldValue::Str("qualified".into())),
                    ("p".into(), FieldValue::Num(0.2)),
                ],
                contacts: Contacts {
                    phones: vec!["+1 555 0100".into()],
                    emails: vec!["a@example.com".into()],
                },
                ..new_item(&b, 0, "Deal")
            },
        )
        .unwrap();
    let item = crate::support::id_of(&item);
    let above = t.create(&b, 0, "above");
    let created_at = t.get(item).created_at;
    t.clock.advance(30_000);

    let (view, changes) = t
        .engine
        .patch_item(
            t.admin,
            item,
            ItemPatch {
                title: Some("New title".into()),
                amount: Some(250.0),
                fields: Some(vec![
                    ("x".into(), Some(FieldValue::Bool(true))),
                    ("stage".into(), Some(FieldValue::Str("won".into()))),
                    ("p".into(), None),
                    ("absent".into(), None),
                ]),
                contacts: Some(Contacts {
                    phones: vec!["+1 555 0199".into()],
                    emails: vec!["a@example.com".into()],
                }),
                ..ItemPatch::default()
            },
        )
        .unwrap();
    assert_eq!(changes.len(), 6, "{changes:?}");
    let expect = [
        (
            "title",
            Value::Str("Deal".into()),
            Value::Str("New title".into()),
        ),
        ("amount", Value::Num(100.0), Value::Num(250.0)),
        ("fields.x", Value::Null, Value::Bool(true)),
        (
            "fields.stage",
            Value::Str("qualified".into()),
            Value::Str("won".into()),
        ),
        ("fields.p", Value::Num(0.2), Value::Null),
        (
            "contacts.phones",
            Value::List(vec!["+1 555 0100".into()]),
            Value::List(vec!["+1 555 0199".into()]),
        ),
    ];
    for (field, old, new) in expect {
        let c = change(&changes, field);
        assert_eq!((&c.old, &c.new), (&old, &new), "{field}");
    }

    let got = view.to_item().unwrap();
    assert_eq!(got, t.get(item), "the answer is the stored item");
    assert_eq!(got.title, "New title");
    assert_eq!(got.amount, 250.0);
    assert_eq!(
        got.fields,
        vec![
            ("stage".to_string(), FieldValue::Str("won".into())),
            ("x".to_string(), FieldValue::Bool(true)),
        ]
    );
    assert_eq!(got.phones, vec!["+1 555 0199".to_string()]);
    assert_eq!(got.emails, vec!["a@example.com".to_string()]);
    assert_eq!(got.updated_at, t.clock_now());
    assert_eq!(got.created_at, created_at);
    assert_eq!(t.walk(&b, 0), vec![above, item], "an edit is not a focus");

    // The responsible and the e-mails.
    let (_, changes) = t
        .engine
        .patch_item(
            t.admin,
            item,
            ItemPatch {
                responsible: Some(ann),
                contacts: Some(Contacts {
                    phones: vec!["+1 555 0199".into()],
                    emails: vec![],
                }),
                ..ItemPatch::default()
            },
        )
        .unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    let r = change(&changes, "responsible");
    assert_eq!((&r.old, &r.new), (&Value::User(t.admin), &Value::User(ann)));
    let e = change(&changes, "contacts.emails");
    assert_eq!(
        (&e.old, &e.new),
        (
            &Value::List(vec!["a@example.com".into()]),
            &Value::List(vec![])
        )
    );
    assert_eq!(t.get(item).responsible, ann);

    // Setting what is already there changes nothing, not even `updated_at`.
    let stamp = t.get(item).updated_at;
    t.clock.advance(30_000);
    let (_, changes) = t
        .engine
        .patch_item(
            t.admin,
            item,
            ItemPatch {
                title: Some("New title".into()),
                amount: Some(250.0),
                fields: Some(vec![("x".into(), Some(FieldValue::Bool(true)))]),
                ..ItemPatch::default()
            },
        )
        .unwrap();
    assert_eq!(changes, vec![]);
    assert_eq!(t.get(item).updated_at, stamp);
    assert!(matches!(
        t.engine
            .patch_item(t.admin, ItemId(9_999), ItemPatch::default()),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn delete_removes_the_item_from_every_view() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["A"]);
    let [a, bb, c] = ["a", "b", "c"].map(|n| t.create(&b, 0, n));
    t.engine.focus(bb, FocusReason::CallIn).unwrap();
    let items = t.engine.stats().items;
    assert_eq!(t.engine.kanban(b.id, 10).unwrap()[0].unread, 1);

    t.engine.delete_item(t.admin, bb).unwrap();
    assert_eq!(t.walk(&b, 0), vec![c, a]);
    assert_eq!(
        walk_list(&t.engine, b.id, &ListFilter::default(), 2),
        vec![c, a]
    );
    assert!(matches!(t.engine.item(bb), Err(Error::NotFound { .. })));
    assert!(matches!(
        t.engine.delete_item(t.admin, bb),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        t.engine.focus(bb, FocusReason::CallIn),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        invalid_field(
            t.engine
                .move_item(t.admin, a, None, Some(Position::Before(bb)))
        ),
        "position.before"
    );
    assert_eq!(t.engine.stats().items, items - 1);
    let k = t.engine.kanban(b.id, 10).unwrap();
    assert_eq!(
        (k[0].count, k[0].unread),
        (2, 0),
        "the unread count drops with it"
    );
}

#[test]
fn column_cursors_skip_nothing_and_repeat_nothing_while_items_rise_above_them() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["A", "B"]);
    let items = t
        .engine
        .create_items(
            t.admin,
            (0..30).map(|i| new_item(&b, 0, &format!("i{i}"))).collect(),
        )
        .unwrap();
    assert!(items.iter().all(Result::is_ok));
    let expected = t.walk(&b, 0);
    assert_eq!(expected.len(), 30);

    let (board, col) = (b.id, b.columns[0].id);
    let mut seen: Vec<ItemId> = Vec::new();
    let mut cursor = None;
    let mut round = 0usize;
    loop {
        let p = t
            .engine
            .column_page(board, col, &page(4, cursor.take()))
            .unwrap();
        seen.extend(ids(&p));
        // Disturb everything above the cursor: a new item on top, a focus of an item
        // already shown (sometimes the cursor's own item), a manual move of another.
        t.create(&b, 0, &format!("new {round}"));
        let shown = seen[round * 7 % seen.len()];
        t.engine.focus(shown, FocusReason::CallIn).unwrap();
        t.engine
            .focus(*seen.last().unwrap(), FocusReason::ChatIn)
            .unwrap();
        let other = seen[round * 3 % seen.len()];
        if round.is_multiple_of(2) || t.get(other).column == b.columns[1].id {
            t.engine
                .move_item(t.admin, other, None, Some(Position::Top))
                .unwrap();
        } else {
            t.engine
                .move_item(t.admin, other, Some(b.columns[1].id), None)
                .unwrap();
        }
        round += 1;
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        seen, expected,
        "every original item once, in the original order"
    );
    assert_eq!(round, 8);
}

#[test]
fn page_requests_are_validated() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["A"]);
    for i in 0..3 {
        t.create(&b, 0, &format!("{i}"));
    }
    let (board, col) = (b.id, b.columns[0].id);
    assert_eq!(
        invalid_field(t.engine.column_page(board, col, &page(0, None))),
        "limit"
    );
    assert_eq!(
        invalid_field(t.engine.column_page(board, col, &page(501, None))),
        "limit"
    );
    assert_eq!(
        t.engine
            .column_page(board, col, &page(500, None))
            .unwrap()
            .items
            .len(),
        3
    );
    let default = t
        .engine
        .column_page(board, col, &PageRequest::default())
        .unwrap();
    assert_eq!((default.items.len(), default.next_cursor), (3, None));
    assert_eq!(
        invalid_field(
            t.engine
                .column_page(board, col, &page(2, Some("%%%".into())))
        ),
        "cursor"
    );
    // A List cursor is not a column cursor, and the other way round.
    let list = t
        .engine
        .list(board, &ListFilter::default(), &page(1, None))
        .unwrap();
    let list_cursor = list.next_cursor.unwrap();
    assert_eq!(
        invalid_field(
            t.engine
                .column_page(board, col, &page(2, Some(list_cursor)))
        ),
        "cursor"
    );
    let col_cursor = t
        .engine
        .column_page(board, col, &page(1, None))
        .unwrap()
        .next_cursor;
    assert_eq!(
        invalid_field(
            t.engine
                .list(board, &ListFilter::default(), &page(2, col_cursor))
        ),
        "cursor"
    );
    let other = t.board("Other", &["X"]);
    assert!(matches!(
        t.engine
            .column_page(board, other.columns[0].id, &page(2, None)),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        t.engine
            .column_page(hoist_engine::BoardId(999), col, &page(2, None)),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn kanban_shows_counts_unread_and_the_first_page_of_every_column() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New", "Doing", "Done"]);
    let col0: Vec<ItemId> = (0..5).map(|i| t.create(&b, 0, &format!("n{i}"))).collect();
    let col1: Vec<ItemId> = (0..2).map(|i| t.create(&b, 1, &format!("d{i}"))).collect();
    t.engine.focus(col0[0], FocusReason::CallIn).unwrap();
    t.engine.focus(col0[2], FocusReason::EmailIn).unwrap();

    let k = t.engine.kanban(b.id, 3).unwrap();
    let names: Vec<_> = k.iter().map(|c| (c.id, c.name.as_str())).collect();
    assert_eq!(
        names,
        b.columns
            .iter()
            .map(|c| (c.id, c.name.as_str()))
            .collect::<Vec<_>>()
    );
    assert_eq!((k[0].count, k[0].unread), (5, 2));
    assert_eq!(ids(&k[0].page), vec![col0[2], col0[0], col0[4]]);
    let rest = t
        .engine
        .column_page(
            b.id,
            b.columns[0].id,
            &page(3, k[0].page.next_cursor.clone()),
        )
        .unwrap();
    assert_eq!(ids(&rest), vec![col0[3], col0[1]]);
    assert_eq!(rest.next_cursor, None);
    assert_eq!((k[1].count, k[1].unread), (2, 0));
    assert_eq!(ids(&k[1].page), vec![col1[1], col1[0]]);
    assert_eq!(k[1].page.next_cursor, None);
    assert_eq!((k[2].count, k[2].unread, k[2].page.items.len()), (0, 0, 0));

    // Unread follows the item across columns, reads and deletes.
    t.engine
        .move_item(t.admin, col0[0], Some(b.columns[2].id), Some(Position::Top))
        .unwrap();
    let k = t.engine.kanban(b.id, 3).unwrap();
    let counts: Vec<_> = k.iter().map(|c| (c.count, c.unread)).collect();
    assert_eq!(counts, vec![(4, 1), (2, 0), (1, 1)]);
    t.engine.read_item(t.admin, col0[0]).unwrap();
    t.engine.delete_item(t.admin, col0[2]).unwrap();
    t.engine.focus(col1[0], FocusReason::CallMissed).unwrap();
    let k = t.engine.kanban(b.id, 3).unwrap();
    let counts: Vec<_> = k.iter().map(|c| (c.count, c.unread)).collect();
    assert_eq!(counts, vec![(3, 0), (2, 1), (1, 0)]);

    assert_eq!(invalid_field(t.engine.kanban(b.id, 0)), "per_column");
    assert_eq!(invalid_field(t.engine.kanban(b.id, 501)), "per_column");
    assert!(matches!(
        t.engine.kanban(hoist_engine::BoardId(999), 3),
        Err(Error::NotFound { .. })
    ));
}

/// One item of the List test's hand-kept model.
#[derive(Debug, Clone, Copy)]
struct Row {
    id: ItemId,
    column: usize,
    responsible: UserId,
    unread: bool,
}

#[test]
fn list_view_filters_by_responsible_unread_and_column_and_pages_with_cursors() {
    let t = TestEngine::new();
    let (ann, _) = t.user("Ann");
    let (bob, _) = t.user("Bob");
    let b = t.board("Sales", &["A", "B", "C"]);
    // Every item, kept in focus order (top first) by hand; `created[n]` is the n-th made.
    let mut rows: Vec<Row> = Vec::new();
    let mut created = Vec::new();
    for i in 0..12usize {
        let (column, responsible) = (i % 3, if i % 4 == 0 { ann } else { bob });
        let id = t.create_as(responsible, &b, column, &format!("i{i}"));
        created.push(id);
        rows.insert(
            0,
            Row {
                id,
                column,
                responsible,
                unread: false,
            },
        );
    }
    for pick in [7, 2, 9] {
        let at = rows.iter().position(|r| r.id == created[pick]).unwrap();
        let mut r = rows.remove(at);
        t.engine.focus(r.id, FocusReason::CallIn).unwrap();
        r.unread = true;
        rows.insert(0, r);
    }
    // A manual move to the top of another column also leads the List view.
    let mut moved = rows.remove(5);
    moved.column = (moved.column + 1) % 3;
    t.engine
        .move_item(
            t.admin,
            moved.id,
            Some(b.columns[moved.column].id),
            Some(Position::Top),
        )
        .unwrap();
    rows.insert(0, moved);

    let expect = |keep: &dyn Fn(&Row) -> bool| -> Vec<ItemId> {
        rows.iter().filter(|r| keep(r)).map(|r| r.id).collect()
    };
    let filters: Vec<(ListFilter, Vec<ItemId>)> = vec![
        (ListFilter::default(), expect(&|_| true)),
        (
            ListFilter {
                responsible: Some(ann),
                ..ListFilter::default()
            },
            expect(&|r| r.responsible == ann),
        ),
        (
            ListFilter {
                unread: Some(true),
                ..ListFilter::default()
            },
            expect(&|r| r.unread),
        ),
        (
            ListFilter {
                unread: Some(false),
                ..ListFilter::default()
            },
            expect(&|r| !r.unread),
        ),
        (
            ListFilter {
                column: Some(b.columns[1].id),
                ..ListFilter::default()
            },
            expect(&|r| r.column == 1),
        ),
        (
            ListFilter {
                responsible: Some(bob),
                unread: Some(true),
                column: Some(b.columns[0].id),
            },
            expect(&|r| r.responsible == bob && r.unread && r.column == 0),
        ),
    ];
    for (filter, want) in &filters {
        assert!(
            !want.is_empty(),
            "every filter selects something: {filter:?}"
        );
        for limit in [1, 2, 5, 50] {
            assert_eq!(
                &walk_list(&t.engine, b.id, filter, limit),
                want,
                "{filter:?}, limit {limit}"
            );
        }
    }
    // A column filter must name a column of the board.
    let other = t.board("Other", &["X"]);
    let bad = ListFilter {
        column: Some(other.columns[0].id),
        ..ListFilter::default()
    };
    assert_eq!(
        invalid_field(t.engine.list(b.id, &bad, &page(5, None))),
        "column"
    );
    assert!(matches!(
        t.engine.list(
            hoist_engine::BoardId(999),
            &ListFilter::default(),
            &page(5, None)
        ),
        Err(Error::NotFound { .. })
    ));

    // A List cursor stays correct while items are focused above it.
    let all = expect(&|_| true);
    let first = t
        .engine
        .list(b.id, &ListFilter::default(), &page(5, None))
        .unwrap();
    let mut seen = ids(&first);
    for id in &seen {
        t.engine.focus(*id, FocusReason::ChatIn).unwrap();
    }
    t.create(&b, 2, "newest");
    let mut cursor = first.next_cursor;
    while let Some(c) = cursor.take() {
        let p = t
            .engine
            .list(b.id, &ListFilter::default(), &page(5, Some(c)))
            .unwrap();
        seen.extend(ids(&p));
        cursor = p.next_cursor;
    }
    assert_eq!(seen, all);
}

#[test]
fn columns_can_be_added_renamed_and_reordered() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["A", "B"]);
    let lost = t
        .engine
        .add_column(
            b.id,
            "Lost".into(),
            Some(ColumnPosition::After(b.columns[0].id)),
        )
        .unwrap();
    let first = t
        .engine
        .add_column(b.id, "Inbox".into(), Some(ColumnPosition::First))
        .unwrap();
    let last = t.engine.add_column(b.id, "Archive".into(), None).unwrap();
    let order = |t: &TestEngine| -> Vec<String> {
        t.engine
            .board(b.id)
            .unwrap()
            .columns
            .into_iter()
            .map(|c| c.name)
            .collect()
    };
    assert_eq!(order(&t), vec!["Inbox", "A", "Lost", "B", "Archive"]);
    t.engine
        .patch_column(
            b.id,
            lost.id,
            ColumnPatch {
                name: Some("Lost deals".into()),
                position: Some(ColumnPosition::After(last.id)),
            },
        )
        .unwrap();
    assert_eq!(order(&t), vec!["Inbox", "A", "B", "Archive", "Lost deals"]);
    // A new column takes items like any other, and an item without a column goes to
    // whichever column is first now.
    let x = t.create(&t.engine.board(b.id).unwrap(), 4, "x");
    assert_eq!(t.get(x).column, lost.id);
    let y = t
        .engine
        .create_item(
            t.admin,
            NewItem {
                board: b.id,
                title: "y".into(),
                ..NewItem::default()
            },
        )
        .unwrap();
    assert_eq!(y.get().unwrap().column(), first.id);
    assert_eq!(
        invalid_field(t.engine.patch_column(
            b.id,
            lost.id,
            ColumnPatch {
                position: Some(ColumnPosition::After(lost.id)),
                ..ColumnPatch::default()
            }
        )),
        "after"
    );
    assert_eq!(order(&t), vec!["Inbox", "A", "B", "Archive", "Lost deals"]);
}

#[test]
fn deleting_a_column_is_refused_while_it_holds_items_unless_they_move_below_the_target() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["A", "B", "C"]);
    let other = t.board("Other", &["X"]);
    let [a1, a2, a3] = ["a1", "a2", "a3"].map(|n| t.create(&b, 0, n));
    t.engine.focus(a1, FocusReason::CallIn).unwrap();
    let [b1, b2] = ["b1", "b2"].map(|n| t.create(&b, 1, n));
    let moving = vec![a1, a3, a2];
    assert_eq!(t.walk(&b, 0), moving);
    let (col_a, col_b, col_c) = (b.columns[0].id, b.columns[1].id, b.columns[2].id);
    let seq = t.engine.stats().last_seq;

    assert!(matches!(
        t.engine.delete_column(t.admin, b.id, col_a, None),
        Err(Error::Conflict(_))
    ));
    assert_eq!(
        invalid_field(t.engine.delete_column(t.admin, b.id, col_a, Some(col_a))),
        "move_to"
    );
    assert_eq!(
        invalid_field(
            t.engine
                .delete_column(t.admin, b.id, col_a, Some(other.columns[0].id))
        ),
        "move_to"
    );
    assert_eq!(
        t.engine.board(b.id).unwrap().columns.len(),
        3,
        "nothing changed"
    );
    assert_eq!(t.walk(&b, 0), moving);
    assert_eq!(t.engine.stats().last_seq, seq);

    t.engine
        .delete_column(t.admin, b.id, col_a, Some(col_b))
        .unwrap();
    let board = t.engine.board(b.id).unwrap();
    assert_eq!(
        board.columns.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![col_b, col_c]
    );
    let want = vec![b2, b1, a1, a3, a2];
    assert_eq!(
        walk(&t.engine, b.id, col_b, 2),
        want,
        "moved items go below, in order"
    );
    assert!(moving.iter().all(|id| t.get(*id).column == col_b));
    let k = t.engine.kanban(b.id, 10).unwrap();
    assert_eq!((k[0].id, k[0].count, k[0].unread), (col_b, 5, 1));
    assert!(matches!(
        t.engine.column_page(b.id, col_a, &page(5, None)),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        invalid_field(
            t.engine
                .move_item(t.admin, b1, Some(col_a), Some(Position::Top))
        ),
        "column"
    );
    assert_eq!(
        invalid_field(t.engine.create_item(
            t.admin,
            NewItem {
                column: Some(col_a),
                ..new_item(&board, 0, "gone")
            }
        )),
        "column"
    );
    // The moved items take part in everything as before.
    t.engine.focus(a2, FocusReason::CallIn).unwrap();
    t.engine
        .move_item(t.admin, b2, None, Some(Position::After(a3)))
        .unwrap();
    let want = vec![a2, b1, a1, a3, b2];
    assert_eq!(walk(&t.engine, b.id, col_b, 2), want);

    // An empty column goes without `move_to`; the last column never goes.
    t.engine.delete_column(t.admin, b.id, col_c, None).unwrap();
    assert!(matches!(
        t.engine.delete_column(t.admin, b.id, col_b, None),
        Err(Error::Conflict(_))
    ));
    let t = t.reopen();
    assert_eq!(walk(&t.engine, b.id, col_b, 2), want);
    assert_eq!(t.engine.board(b.id).unwrap().columns.len(), 1);
}

#[test]
fn invalid_input_is_rejected_with_its_field_and_changes_nothing() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["A"]);
    let other = t.board("Other", &["X"]);
    let (gone, _) = t.user("Gone");
    t.engine.deactivate_user(gone).unwrap();
    let x = t
        .engine
        .create_item(
            t.admin,
            NewItem {
                amount: Some(10.0),
                fields: vec![("keep".into(), FieldValue::Num(1.0))],
                ..new_item(&b, 0, "x")
            },
        )
        .unwrap();
    let x = crate::support::id_of(&x);
    let snapshot = |t: &TestEngine| {
        let s = t.engine.stats();
        (
            s.items,
            s.last_seq,
            t.get(x),
            t.walk(&b, 0),
            t.engine.boards(),
            t.engine.users(),
        )
    };
    let before = snapshot(&t);

    let item = |f: &dyn Fn(&mut NewItem)| {
        let mut n = new_item(&b, 0, "ok");
        f(&mut n);
        invalid_field(t.engine.create_item(t.admin, n))
    };
    assert_eq!(item(&|n| n.title = String::new()), "title");
    assert_eq!(item(&|n| n.title = "   ".into()), "title");
    assert_eq!(item(&|n| n.title = "x".repeat(501)), "title");
    assert_eq!(item(&|n| n.board = hoist_engine::BoardId(999)), "board");
    assert_eq!(item(&|n| n.column = Some(other.columns[0].id)), "column");
    assert_eq!(item(&|n| n.responsible = Some(UserId(999))), "responsible");
    assert_eq!(item(&|n| n.responsible = Some(gone)), "responsible");
    assert_eq!(item(&|n| n.amount = Some(f64::NAN)), "amount");
    assert_eq!(item(&|n| n.amount = Some(f64::INFINITY)), "amount");
    assert_eq!(
        item(&|n| n.fields = vec![("bad key".into(), FieldValue::Bool(true))]),
        "fields.bad key"
    );
    assert_eq!(
        item(&|n| n.fields = vec![("note".into(), FieldValue::Str("y".repeat(20_001)))]),
        "fields.note"
    );
    assert_eq!(
        item(&|n| n.fields = vec![("n".into(), FieldValue::Num(f64::NAN))]),
        "fields.n"
    );
    assert_eq!(
        item(&|n| {
            n.fields = (0..101)
                .map(|i| (format!("f{i}"), FieldValue::Num(1.0)))
                .collect();
        }),
        "fields"
    );
    assert_eq!(
        item(&|n| n.contacts.phones = vec!["call me".into()]),
        "contacts.phones[0]"
    );
    assert_eq!(
        item(&|n| n.contacts.emails = vec!["a@b.c".into(), "not-an-email".into()]),
        "contacts.emails[1]"
    );
    assert_eq!(
        item(&|n| n.contacts.phones = (0..21).map(|i| format!("555 01{i:02}")).collect()),
        "contacts"
    );

    // A patch with one bad part applies none of its parts.
    let patch = |p: ItemPatch| invalid_field(t.engine.patch_item(t.admin, x, p));
    assert_eq!(
        patch(ItemPatch {
            title: Some(String::new()),
            amount: Some(5.0),
            ..ItemPatch::default()
        }),
        "title"
    );
    assert_eq!(
        patch(ItemPatch {
            amount: Some(7.0),
            fields: Some(vec![
                ("ok".into(), Some(FieldValue::Num(2.0))),
                ("keep".into(), None),
                ("bad key!".into(), Some(FieldValue::Num(3.0))),
            ]),
            ..ItemPatch::default()
        }),
        "fields.bad key!"
    );
    assert_eq!(
        patch(ItemPatch {
            title: Some("fine".into()),
            responsible: Some(UserId(999)),
            ..ItemPatch::default()
        }),
        "responsible"
    );
    assert_eq!(
        patch(ItemPatch {
            amount: Some(9.0),
            contacts: Some(Contacts {
                phones: vec![],
                emails: vec!["nope".into()],
            }),
            ..ItemPatch::default()
        }),
        "contacts.emails[0]"
    );

    // Boards and users.
    let board = |f: &dyn Fn(&mut NewBoard)| {
        let mut n = NewBoard {
            module: "deal".into(),
            name: "ok".into(),
            columns: vec!["A".into()],
            ..NewBoard::default()
        };
        f(&mut n);
        invalid_field(t.engine.create_board(n))
    };
    assert_eq!(board(&|n| n.module = "nope".into()), "module");
    assert_eq!(board(&|n| n.name = " ".into()), "name");
    assert_eq!(
        board(&|n| n.columns = vec!["A".into(), String::new()]),
        "columns[1].name"
    );
    assert_eq!(board(&|n| n.columns = vec![]), "columns");
    assert_eq!(
        board(&|n| n.focus_lead_minutes = Some(10_081)),
        "focus_lead_minutes"
    );
    assert_eq!(
        board(&|n| n.focus_lead_minutes = Some(-1)),
        "focus_lead_minutes"
    );
    assert_eq!(
        invalid_field(t.engine.patch_board(
            b.id,
            hoist_engine::BoardPatch {
                name: Some("renamed".into()),
                focus_lead_minutes: Some(-1),
                ..hoist_engine::BoardPatch::default()
            }
        )),
        "focus_lead_minutes"
    );
    assert_eq!(
        invalid_field(t.engine.create_user(NewUser {
            name: String::new(),
            ..NewUser::default()
        })),
        "name"
    );
    assert_eq!(
        invalid_field(t.engine.create_user(NewUser {
            name: "Eve".into(),
            email: Some("eve".into()),
            ..NewUser::default()
        })),
        "email"
    );

    assert_eq!(snapshot(&t), before, "no rejected command changed anything");
    let t = t.reopen();
    assert_eq!(snapshot(&t), before, "nor anything on disk");
}

impl TestEngine {
    fn clock_now(&self) -> hoist_engine::Millis {
        use hoist_engine::Clock as _;
        self.clock.now()
    }
}
