//! Entries written in packs (format 6, `engine/src/store/packs.rs`): a group's entries share
//! rows, and every read (a timeline, a wall, an open's scans split at any seq, from a
//! checkpoint or not) gives each entry back as it was written.

use std::path::Path;

use hoist_engine::{
    Engine, EventKind, FeedEntry, IngestStatus, ItemId, ManualClock, Mentions, NewBoard, NewEvent,
    PageRequest, TimelineEntry, UserId, WallFilter,
};

use crate::support::{id_of, new_item, open, T0};

/// Every page of a listing, `limit` at a time, by cursor.
fn pages<T>(limit: usize, mut page: impl FnMut(PageRequest) -> hoist_engine::Page<T>) -> Vec<T> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let p = page(PageRequest {
            limit: Some(limit),
            cursor: cursor.take(),
        });
        out.extend(p.items);
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

fn timeline(e: &Engine, item: ItemId) -> Vec<TimelineEntry> {
    pages(7, |req| e.timeline(item, &req).expect("timeline"))
}

fn wall(e: &Engine, user: UserId) -> Vec<(u64, String, Option<ItemId>)> {
    pages(11, |req| {
        e.wall(user, &WallFilter::default(), &req).expect("wall")
    })
    .into_iter()
    .map(|f: FeedEntry| (f.id.0, f.text, f.item))
    .collect()
}

/// How many pack rows and how many rows of single entries the closed store holds.
fn rows(dir: &Path) -> (usize, usize) {
    let db = sled::open(dir.join("db")).expect("open sled");
    (db.scan_prefix(b"K").count(), db.scan_prefix(b"E").count())
}

#[test]
fn entries_in_many_packs_read_back_the_same_after_restarts_from_a_checkpoint_and_without() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let engine = open(dir.path(), &clock);
    let token = engine.bootstrap_admin(None).unwrap().expect("new store");
    let admin = engine.authenticate(&token).expect("admin").user;
    let board = engine
        .create_board(NewBoard {
            module: "deal".into(),
            name: "Sales".into(),
            columns: vec!["New".into()],
            ..NewBoard::default()
        })
        .unwrap();
    let items: Vec<ItemId> = (0..3)
        .map(|i| {
            id_of(
                &engine
                    .create_item(admin, new_item(&board, 0, &format!("item {i}")))
                    .unwrap(),
            )
        })
        .collect();
    // 300 events in one command: packs closed by count (64) and by bytes (every 50th
    // summary is 5,000 characters, a pack of its own past 4 KiB).
    let events = (0..300)
        .map(|i| NewEvent {
            id: format!("ev-{i}"),
            kind: EventKind::CallIn,
            item: Some(items[i % 3]),
            phone: None,
            email: None,
            at: None,
            summary: Some(if i % 50 == 7 {
                "x".repeat(5_000)
            } else {
                format!("call {i}")
            }),
        })
        .collect();
    let results = engine.ingest(admin, events, None).unwrap();
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(x) if x.status == IngestStatus::Accepted)));
    // Then single entries, each a pack of one.
    for (n, item) in items.iter().enumerate() {
        clock.advance(1_000);
        engine
            .comment(admin, *item, format!("comment {n}"), Mentions::default())
            .unwrap();
    }
    let read = |e: &Engine| {
        let timelines: Vec<Vec<TimelineEntry>> = items.iter().map(|i| timeline(e, *i)).collect();
        (timelines, wall(e, admin))
    };
    let before = read(&engine);
    let texts: Vec<usize> = before.0.iter().map(Vec::len).collect();
    // Each timeline: the item's 100 events and its comment.
    assert_eq!(texts, vec![101, 101, 101]);
    assert!(before.0[1]
        .iter()
        .any(|e| e.text.len() == 5_000 && e.event_id.as_deref() == Some("ev-7")));
    assert_eq!(
        before.1.len(),
        306,
        "the admin follows all three as their owner"
    );
    engine.close();
    drop(engine);
    let (packs, singles) = rows(dir.path());
    assert_eq!(singles, 0, "format 6 writes no entry row of its own");
    // 3 creates + the events' packs (at least 300 / 64 by count, plus the 6 big ones) + 3.
    assert!((3 + 5 + 6 + 3..306).contains(&packs), "{packs} packs");

    // From the checkpoint written at the clean close.
    let engine = open(dir.path(), &clock);
    assert!(
        engine.stats().opened_from_checkpoint > 0,
        "opened from the checkpoint"
    );
    assert_eq!(read(&engine), before, "opened from the checkpoint");
    engine.close();
    drop(engine);

    // A full rebuild: the open's two entry scans split the seqs inside a pack.
    std::fs::remove_dir_all(dir.path().join("checkpoint")).expect("remove the checkpoint");
    let engine = open(dir.path(), &clock);
    assert_eq!(engine.stats().opened_from_checkpoint, 0, "a full rebuild");
    assert_eq!(read(&engine), before, "rebuilt from the records");
    // Writing goes on after the last pack.
    let more = engine
        .comment(admin, items[0], "after".into(), Mentions::default())
        .unwrap();
    assert_eq!(timeline(&engine, items[0])[0].id, more.id);
}
