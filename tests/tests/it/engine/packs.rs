//! Entries written in packs (format 6, `engine/src/store/packs.rs`; compressed since format
//! 7): a group's entries share rows, and every read (a timeline, a wall, an open's scans split at any seq, from a
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

/// How many pack rows, how many of them compressed (their first byte is the LZ4 codec's,
/// 1), and how many rows of single entries the closed store holds.
fn rows(dir: &Path) -> (usize, usize, usize) {
    let db = sled::open(dir.join("db")).expect("open sled");
    let packs: Vec<u8> = db
        .scan_prefix(b"K")
        .map(|kv| kv.expect("read").1.first().copied().expect("a value"))
        .collect();
    let compressed = packs.iter().filter(|b| **b == 1).count();
    (packs.len(), compressed, db.scan_prefix(b"E").count())
}

/// A new store with its admin and a board "Sales" of one column.
fn sales(dir: &Path, clock: &ManualClock) -> (Engine, UserId, hoist_engine::Board) {
    let engine = open(dir, clock);
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
    (engine, admin, board)
}

#[test]
fn entries_in_many_packs_read_back_the_same_after_restarts_from_a_checkpoint_and_without() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let (engine, admin, board) = sales(dir.path(), &clock);
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
    let (packs, compressed, singles) = rows(dir.path());
    assert_eq!(singles, 0, "format 6 writes no entry row of its own");
    // 3 creates + the events' packs (at least 300 / 64 by count, plus the 6 big ones) + 3.
    assert!((3 + 5 + 6 + 3..306).contains(&packs), "{packs} packs");
    // The events' packs are alike entries, and the big ones one letter: all compress.
    assert!(
        compressed >= 5 + 6,
        "{compressed} of {packs} packs compressed"
    );

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

/// A compressed pack is decompressed once and then read from the pack cache; with the
/// cache off (`with_pack_cache_mb(0)`) every read decompresses, and reads the same.
#[test]
fn compressed_packs_are_read_again_from_the_pack_cache_and_the_same_without_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let (engine, admin, board) = sales(dir.path(), &clock);
    let item = id_of(
        &engine
            .create_item(admin, new_item(&board, 0, "busy"))
            .unwrap(),
    );
    // Five commands of 40 alike events, about 8 KiB each: ten packs or more, each
    // compressed (a 4 KiB pack of alike entries compresses to about a quarter).
    for round in 0..5 {
        let events = (0..40)
            .map(|i| NewEvent {
                id: format!("ev-{round}-{i}"),
                kind: EventKind::CallIn,
                item: Some(item),
                phone: None,
                email: None,
                at: None,
                summary: Some(format!("call {round}/{i} about the renewal")),
            })
            .collect();
        engine.ingest(admin, events, None).unwrap();
    }
    engine.close();
    drop(engine);
    let (_, compressed, _) = rows(dir.path());
    assert!(compressed >= 10, "{compressed} compressed packs");

    let page = |e: &Engine| -> Vec<TimelineEntry> {
        let req = PageRequest {
            limit: Some(500),
            cursor: None,
        };
        e.timeline(item, &req).expect("timeline").items
    };
    let cache = |e: &Engine| {
        let s = e.stats();
        (s.pack_cache_hits, s.pack_cache_misses, s.pack_cache_bytes)
    };
    let engine = open(dir.path(), &clock);
    let (hits0, misses0, _) = cache(&engine);
    let first = page(&engine);
    assert_eq!(first.len(), 200);
    let (hits1, misses1, bytes1) = cache(&engine);
    // The open's checkpoint check may have read (and cached) the newest pack already.
    assert!(
        misses1 - misses0 + 1 >= 10,
        "each compressed pack decompressed"
    );
    assert!(bytes1 > 0, "and kept");
    assert_eq!(page(&engine), first);
    let (hits2, misses2, _) = cache(&engine);
    assert_eq!(misses2, misses1, "the second read decompresses nothing");
    assert!(
        hits2 - hits1 >= misses1 - misses0,
        "every pack from the cache: hits {hits0} → {hits1} → {hits2}"
    );
    engine.close();
    drop(engine);

    let engine = Engine::open(
        dir.path(),
        hoist_engine::Config::default()
            .with_clock(clock.clone())
            .with_timer_thread(false)
            .with_pack_cache_mb(0),
    )
    .expect("open without a pack cache");
    assert_eq!(page(&engine), first);
    assert_eq!(page(&engine), first);
    let (hits, misses, bytes) = cache(&engine);
    assert_eq!((hits, bytes), (0, 0), "nothing cached");
    assert!(misses >= 10, "every read decompressed: {misses}");
}
