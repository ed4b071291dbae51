//! Engine tests through the public API. This file holds the engine's life cycle: reopen
//! keeps everything, a held directory is refused, closed engines refuse writes, and the
//! change stream is complete and in commit order. Items and views are in `items`; the
//! model-based property test is in `model`.

mod backup;
mod items;
mod model;
mod packs;
mod upgrade;
mod values;

use std::collections::HashSet;
use std::time::Duration;

use hoist_engine::{
    BoardPatch, ChangeKind, Config, Contacts, Engine, Error, FieldValue, FocusReason, ItemId,
    ItemPatch, NewBoard, NewItem, NewModule, Position, Principal, Received, Subscription,
};

use crate::support::{id_of, new_item, TestEngine, ADMIN_TOKEN};

/// Reads changes until none arrives for a moment.
fn drain(sub: &Subscription) -> Vec<hoist_engine::Change> {
    let mut out = Vec::new();
    loop {
        match sub.recv_timeout(Duration::from_millis(300)) {
            Received::Change(c) => out.push(c),
            Received::Idle => return out,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The next change, waiting up to five seconds.
fn next_change(sub: &Subscription) -> hoist_engine::Change {
    match sub.recv_timeout(Duration::from_secs(5)) {
        Received::Change(c) => c,
        other => panic!("expected a change, got {other:?}"),
    }
}

#[test]
fn reopen_keeps_items_order_users_tokens_boards_and_modules() {
    let t = TestEngine::new();
    let (ann, ann_token) = t.user("Ann");
    let sales = t.board("Sales", &["New", "Won", "Lost"]);
    let quiet = t
        .engine
        .create_board(NewBoard {
            module: "lead".into(),
            name: "Quiet".into(),
            columns: vec!["Inbox".into()],
            focus_enabled: Some(false),
            focus_lead_minutes: Some(30),
            counter_mode: None,
        })
        .unwrap();
    let module = t
        .engine
        .create_module(NewModule {
            key: "smart_x".into(),
            name: "Smart X".into(),
        })
        .unwrap();

    let rich = t
        .engine
        .create_item(
            ann,
            NewItem {
                amount: Some(1250.5),
                fields: vec![
                    ("stage".into(), FieldValue::Str("qualified".into())),
                    ("probability".into(), FieldValue::Num(0.4)),
                    ("hot".into(), FieldValue::Bool(true)),
                ],
                contacts: Contacts {
                    phones: vec!["+1 (555) 010-2030".into()],
                    emails: vec!["Buyer@Example.com".into()],
                },
                ..new_item(&sales, 0, "ACME renewal")
            },
        )
        .unwrap();
    let rich = id_of(&rich);
    let mut created = vec![rich];
    for i in 0..12 {
        t.clock.advance(1000);
        created.push(t.create(&sales, i % 3, &format!("item {i}")));
    }
    // Keys of every kind: top (focus), between neighbours, below the bottom.
    t.engine.focus(rich, FocusReason::CallIn).unwrap();
    t.engine
        .move_item(
            t.admin,
            created[4],
            None,
            Some(Position::Before(created[1])),
        )
        .unwrap();
    t.engine
        .move_item(
            t.admin,
            created[7],
            Some(sales.columns[0].id),
            Some(Position::After(created[4])),
        )
        .unwrap();
    t.engine
        .move_item(t.admin, created[10], None, Some(Position::Bottom))
        .unwrap();
    t.engine.delete_item(t.admin, created[2]).unwrap();
    let q = t.create(&quiet, 0, "quiet one");
    t.engine.focus(q, FocusReason::EmailIn).unwrap();

    let walks = |t: &TestEngine| {
        [&sales, &quiet]
            .iter()
            .flat_map(|b| {
                (0..b.columns.len())
                    .map(|c| t.walk(b, c))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    let before_walks = walks(&t);
    let live: Vec<ItemId> = before_walks.iter().flatten().copied().collect();
    let before_items: Vec<_> = live.iter().map(|id| t.get(*id)).collect();
    let before_boards = t.engine.boards();
    let before_users = t.engine.users();
    let before_stats = t.engine.stats();
    assert_eq!(
        before_stats.items, 13,
        "12 + 1 created, 1 deleted, 1 on the quiet board"
    );

    let t = t.reopen();

    assert_eq!(walks(&t), before_walks, "every column keeps its order");
    let after_items: Vec<_> = live.iter().map(|id| t.get(*id)).collect();
    assert_eq!(after_items, before_items, "every item keeps every field");
    assert!(matches!(
        t.engine.item(created[2]),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(t.engine.boards(), before_boards);
    assert_eq!(t.engine.users(), before_users);
    assert!(t.engine.modules().contains(&module));
    let after_stats = t.engine.stats();
    assert_eq!(after_stats.items, before_stats.items);
    assert_eq!(
        after_stats.last_seq, before_stats.last_seq,
        "the change seq survives"
    );
    assert_eq!(
        t.engine.authenticate(&ann_token),
        Some(Principal {
            user: ann,
            admin: false
        })
    );
    assert_eq!(
        t.engine.authenticate(ADMIN_TOKEN),
        Some(Principal {
            user: t.admin,
            admin: true
        })
    );
    assert_eq!(t.engine.authenticate("hst_not-a-token"), None);
    assert_eq!(
        t.engine.bootstrap_admin(None).unwrap(),
        None,
        "a store with users is not bootstrapped again"
    );

    // The focus clock and the id counters continue above everything stored.
    let newest = t.create(&sales, 0, "after restart");
    assert!(
        created.iter().all(|old| newest > *old),
        "ids are never reused"
    );
    assert_eq!(
        t.walk(&sales, 0)[0],
        newest,
        "a new item lands above pre-restart items"
    );
    let bottom = *t.walk(&sales, 0).last().unwrap();
    t.engine.focus(bottom, FocusReason::ChatIn).unwrap();
    assert_eq!(
        t.walk(&sales, 0)[0],
        bottom,
        "a focus after restart reaches the top"
    );
    // The create (item and entry) and the focus: change numbers go on from the store's.
    assert_eq!(t.engine.stats().last_seq, before_stats.last_seq + 3);
}

#[test]
fn a_second_open_of_a_held_directory_is_refused_with_locked() {
    let t = TestEngine::new();
    let board = t.board("B", &["A"]);
    match Engine::open(t.dir(), Config::default()) {
        Err(Error::Locked(path)) => assert_eq!(path, t.dir()),
        Err(other) => panic!("expected Error::Locked, got {other:?}"),
        Ok(_) => panic!("a second engine opened a held directory"),
    }
    // The refused open disturbed nothing: the first engine still writes and reads.
    let id = t.create(&board, 0, "still fine");
    assert_eq!(t.walk(&board, 0), vec![id]);
    // Once the first engine is gone, the directory opens again.
    let t = t.reopen();
    assert_eq!(t.walk(&board, 0), vec![id]);
}

#[test]
fn a_closed_engine_refuses_writes_and_still_reads() {
    let t = TestEngine::new();
    let board = t.board("B", &["A"]);
    let id = t.create(&board, 0, "kept");
    t.engine.close();
    assert!(matches!(
        t.engine.create_item(t.admin, new_item(&board, 0, "late")),
        Err(Error::ShuttingDown)
    ));
    assert!(matches!(
        t.engine.focus(id, FocusReason::CallIn),
        Err(Error::ShuttingDown)
    ));
    assert_eq!(t.get(id).title, "kept");
    assert_eq!(t.walk(&board, 0), vec![id]);
    // A second close is harmless.
    t.engine.close();
}

#[test]
fn subscription_yields_every_committed_change_in_seq_order() {
    let t = TestEngine::new();
    let board = t.board("B", &["A", "B"]);
    let sub = t.engine.subscribe(1024);
    let start = t.engine.stats().last_seq;

    let a = t.create(&board, 0, "a");
    let b = t.create(&board, 0, "b");
    t.engine
        .patch_item(
            t.admin,
            a,
            ItemPatch {
                title: Some("a2".into()),
                ..ItemPatch::default()
            },
        )
        .unwrap();
    t.engine.focus(a, FocusReason::CallIn).unwrap();
    t.engine
        .move_item(t.admin, b, Some(board.columns[1].id), Some(Position::Top))
        .unwrap();
    t.engine.read_item(t.admin, a).unwrap();
    t.engine.delete_item(t.admin, b).unwrap();
    t.engine
        .patch_board(
            board.id,
            BoardPatch {
                name: Some("Renamed".into()),
                ..BoardPatch::default()
            },
        )
        .unwrap();
    // A rejected command commits nothing, so it publishes nothing.
    assert!(t
        .engine
        .create_item(t.admin, new_item(&board, 0, ""))
        .is_err());
    t.user("Ann");

    let all = drain(&sub);
    let seqs: Vec<u64> = all.iter().map(|c| c.seq).collect();
    let expected: Vec<u64> = (start + 1..=t.engine.stats().last_seq).collect();
    assert_eq!(seqs, expected, "seqs are consecutive, in commit order");
    // Feed entries are changes too (the feed stream follows them); here, the rest.
    let got: Vec<_> = all
        .into_iter()
        .filter(|c| c.kind != ChangeKind::EntryAdded)
        .collect();
    let kinds: Vec<_> = got.iter().map(|c| (c.kind, c.item)).collect();
    assert_eq!(
        kinds,
        vec![
            (ChangeKind::ItemCreated, Some(a)),
            (ChangeKind::ItemCreated, Some(b)),
            (ChangeKind::ItemUpdated, Some(a)),
            (ChangeKind::ItemFocused, Some(a)),
            (ChangeKind::ItemMoved, Some(b)),
            (ChangeKind::ItemRead, Some(a)),
            (ChangeKind::ItemDeleted, Some(b)),
            (ChangeKind::BoardChanged, None),
            (ChangeKind::DirectoryChanged, None),
        ]
    );
    assert!(got[..8].iter().all(|c| c.board == Some(board.id)));
    // Every item change but the deletion carries the item as the change left it.
    assert_eq!(
        got[2].view.as_ref().map(|v| v.to_item().unwrap().title),
        Some("a2".to_string())
    );
    assert!(got[6].view.is_none());
}

#[test]
fn concurrent_writers_publish_consecutive_seqs() {
    let t = TestEngine::new();
    let board = t.board("B", &["A"]);
    let sub = t.engine.subscribe(4096);
    let start = t.engine.stats().last_seq;
    let created: Vec<ItemId> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|w| {
                let t = &t;
                let board = &board;
                s.spawn(move || {
                    (0..25)
                        .map(|i| t.create(board, 0, &format!("w{w} i{i}")))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    // Each create commits two changes: the item and its `record_created` entry.
    let all: Vec<_> = (0..2 * created.len()).map(|_| next_change(&sub)).collect();
    let seqs: Vec<u64> = all.iter().map(|c| c.seq).collect();
    let expected: Vec<u64> = (start + 1..=start + 400).collect();
    assert_eq!(seqs, expected);
    let got: Vec<_> = all
        .into_iter()
        .filter(|c| c.kind != ChangeKind::EntryAdded)
        .collect();
    assert_eq!(got.len(), 200);
    assert!(got.iter().all(|c| c.kind == ChangeKind::ItemCreated));
    let published: HashSet<_> = got.iter().filter_map(|c| c.item).collect();
    let made: HashSet<_> = created.iter().copied().collect();
    assert_eq!(published, made);
    // Commit order is also the column's order: the last committed create is on top.
    let mut by_seq: Vec<ItemId> = got.iter().filter_map(|c| c.item).collect();
    by_seq.reverse();
    assert_eq!(t.walk(&board, 0), by_seq);
}

#[test]
fn a_lagging_subscriber_is_cut_off_with_resync_and_a_dropped_engine_closes_streams() {
    let t = TestEngine::new();
    let board = t.board("B", &["A"]);
    let slow = t.engine.subscribe(2);
    let fine = t.engine.subscribe(64);
    let ids: Vec<ItemId> = (0..5)
        .map(|i| t.create(&board, 0, &format!("{i}")))
        .collect();
    // The slow subscriber gets what fit in its buffer (the first item's entry, then the
    // item), then is told to resync.
    assert_eq!(next_change(&slow).kind, ChangeKind::EntryAdded);
    let first = next_change(&slow);
    assert_eq!(
        (first.kind, first.item),
        (ChangeKind::ItemCreated, Some(ids[0]))
    );
    assert!(matches!(
        slow.recv_timeout(Duration::from_secs(5)),
        Received::Resync
    ));
    // Others are not affected.
    let got: Vec<_> = (0..10)
        .map(|_| next_change(&fine))
        .filter(|c| c.kind == ChangeKind::ItemCreated)
        .map(|c| c.item)
        .collect();
    assert_eq!(got, ids.iter().map(|i| Some(*i)).collect::<Vec<_>>());
    drop(t);
    assert!(matches!(
        fine.recv_timeout(Duration::from_secs(5)),
        Received::Closed
    ));
}

#[test]
fn the_change_ring_replays_after_a_position_and_says_resync_once_it_has_moved_on() {
    use hoist_engine::ChangesAfter;
    let dir = tempfile::tempdir().unwrap();
    let clock = hoist_engine::ManualClock::new(crate::support::T0);
    let engine = Engine::open(
        dir.path(),
        Config::default()
            .with_clock(clock.clone())
            .with_timer_thread(false)
            .with_change_ring(16),
    )
    .unwrap();
    engine.bootstrap_admin(Some(ADMIN_TOKEN.into())).unwrap();
    let admin = engine.authenticate(ADMIN_TOKEN).unwrap().user;
    let board = engine
        .create_board(NewBoard {
            module: "deal".into(),
            name: "B".into(),
            columns: vec!["A".into()],
            ..NewBoard::default()
        })
        .unwrap();
    let start = engine.last_change();
    let items = |after: u64, limit: usize| match engine
        .changes_after(after, limit, &|c| c.kind == ChangeKind::ItemCreated)
    {
        ChangesAfter::Changes { changes, upto } => {
            Some((changes.iter().map(|c| c.item).collect::<Vec<_>>(), upto))
        }
        ChangesAfter::Resync => None,
    };
    let a = id_of(&engine.create_item(admin, new_item(&board, 0, "a")).unwrap());
    let b = id_of(&engine.create_item(admin, new_item(&board, 0, "b")).unwrap());
    // Two changes per create (its entry, then the item); the filter keeps the items.
    assert_eq!(engine.last_change(), start + 4);
    assert_eq!(items(start, 100), Some((vec![Some(a), Some(b)], start + 4)));
    assert_eq!(items(start + 2, 100), Some((vec![Some(b)], start + 4)));
    // The limit counts what is kept; the position stops at the last change returned.
    assert_eq!(items(start, 1), Some((vec![Some(a)], start + 2)));
    assert_eq!(items(start + 4, 100), Some((vec![], start + 4)));
    // A position ahead of every change cannot be followed.
    assert_eq!(items(start + 5, 100), None);
    // Past 16 changes, the first ones are gone: resync, while recent positions still work.
    for i in 0..10 {
        engine
            .create_item(admin, new_item(&board, 0, &format!("{i}")))
            .unwrap();
    }
    assert_eq!(items(start, 100), None);
    let last = engine.last_change();
    assert_eq!(items(last - 16, 100).map(|(v, _)| v.len()), Some(8));
    assert_eq!(items(last - 17, 100), None);
    engine.close();
}

/// Drives a future to its end on this thread (parks between polls).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

#[test]
fn an_async_command_is_a_future_answered_after_its_flush_with_the_same_errors() {
    let t = TestEngine::new();
    let board = t.board("B", &["A"]);
    let pending = t
        .engine
        .create_item_async(t.admin, new_item(&board, 0, "async"));
    let view = block_on(pending).expect("created");
    let id = id_of(&view);
    assert_eq!(t.get(id).title, "async");
    // `wait` is the same command, blocking.
    let moved = t
        .engine
        .move_item_async(t.admin, id, None, Some(Position::Top))
        .wait()
        .expect("moved");
    assert_eq!(id_of(&moved), id);
    // Errors travel through the future, and a refused command changes nothing.
    let missing = block_on(t.engine.comment_async(
        t.admin,
        ItemId(999_999),
        "x".into(),
        hoist_engine::Mentions::default(),
    ));
    assert!(
        matches!(missing, Err(Error::NotFound { .. })),
        "{missing:?}"
    );
    let (bob, _) = t.user("Bob");
    let before = t.engine.stats().last_seq;
    let entry = block_on(t.engine.comment_async(
        bob,
        id,
        "hello".into(),
        hoist_engine::Mentions::default(),
    ))
    .expect("comment");
    assert_eq!(entry.text, "hello");
    assert!(t.engine.stats().last_seq > before);
    assert_eq!(t.get(id).attention, 1, "a foreign comment focused it");
    // A closed engine answers at once.
    t.engine.close();
    let closed = block_on(t.engine.read_item_async(t.admin, id));
    assert!(matches!(closed, Err(Error::ShuttingDown)), "{closed:?}");
}

/// A store keeps the compression it was created with: reopened with the other setting it
/// opens as it was (sled would refuse a change), and reads the same; a store created
/// without it stays without it.
#[test]
fn a_store_keeps_the_compression_it_was_created_with() {
    for created_with in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let open = |compress: bool| {
            Engine::open(
                dir.path(),
                Config::default()
                    .with_timer_thread(false)
                    .with_compression(compress),
            )
            .expect("open")
        };
        let e = open(created_with);
        let admin_token = e.bootstrap_admin(None).unwrap().expect("a new store");
        let admin = e.authenticate(&admin_token).expect("admin").user;
        let b = e
            .create_board(NewBoard {
                module: "deal".into(),
                name: "Sales".into(),
                columns: vec!["New".into()],
                focus_enabled: None,
                focus_lead_minutes: None,
                counter_mode: None,
            })
            .unwrap();
        let id = id_of(&e.create_item(admin, new_item(&b, 0, "kept")).unwrap());
        e.close();
        drop(e);
        // sled's own record of it (text lines, then a checksum).
        let conf = std::fs::read(dir.path().join("db").join("conf")).expect("sled's conf");
        let conf = String::from_utf8_lossy(&conf);
        assert!(
            conf.contains(&format!("use_compression: {created_with}")),
            "{conf}"
        );
        for reopen_with in [!created_with, created_with] {
            let e = open(reopen_with);
            assert_eq!(e.item(id).unwrap().to_item().unwrap().title, "kept");
            e.close();
        }
        // The data directory's own record stands when sled's is lost (sled, given the
        // other setting then, would record it and fail on every page for good).
        let ours = std::fs::read(dir.path().join("compression")).expect("the record");
        assert_eq!(
            ours,
            if created_with {
                b"on\n".to_vec()
            } else {
                b"off\n".to_vec()
            }
        );
        std::fs::remove_file(dir.path().join("db").join("conf")).expect("remove conf");
        let e = open(!created_with);
        assert_eq!(e.item(id).unwrap().to_item().unwrap().title, "kept");
        e.close();
    }
}
