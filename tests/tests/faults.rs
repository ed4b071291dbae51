//! Injected storage faults through the engine API (the `failpoints` feature of
//! hoist-engine, which this crate's build enables). Failpoints are process-wide, so these
//! tests live in their own binary, and every one holds a `fail::FailScenario` (which
//! serializes them), arming failpoints or not.
//!
//! What they show: a failed write or flush fails the commands of its group and every later
//! write with `Poisoned`, reads go on, `Engine::health` says why; reopening recovers every
//! write acknowledged before the fault. A read error on open is an error, not a panic.
//! A damaged record stops the open, naming it, unless salvaging, which sets it aside.

use std::path::Path;

use hoist_engine::{
    Board, Config, Engine, Error, EventKind, Health, IngestStatus, ItemId, ManualClock, Millis,
    NewBoard, NewEvent, NewItem, PageRequest, UserId,
};

const T0: Millis = Millis(1_767_225_600_000);

fn open(dir: &Path, salvage: bool) -> Result<Engine, Error> {
    Engine::open(
        dir,
        Config::default()
            .with_clock(ManualClock::new(T0))
            .with_timer_thread(false)
            .with_salvage(salvage),
    )
}

/// An engine with an admin and a one-column board.
fn setup(dir: &Path) -> (Engine, UserId, Board) {
    let engine = open(dir, false).expect("open");
    engine
        .bootstrap_admin(Some("faults-admin-token-0123456789".into()))
        .expect("admin");
    let admin = engine
        .authenticate("faults-admin-token-0123456789")
        .expect("admin token")
        .user;
    let board = engine
        .create_board(NewBoard {
            module: "deal".into(),
            name: "Faults".into(),
            columns: vec!["New".into()],
            ..NewBoard::default()
        })
        .expect("board");
    (engine, admin, board)
}

fn create(engine: &Engine, admin: UserId, board: &Board, title: &str) -> Result<ItemId, Error> {
    engine
        .create_item(
            admin,
            NewItem {
                board: board.id,
                title: title.into(),
                ..NewItem::default()
            },
        )
        .map(|v| v.get().expect("item decodes").id())
}

/// Every item id of the board's only column.
fn column(engine: &Engine, board: &Board) -> Vec<ItemId> {
    let page = engine
        .column_page(
            board.id,
            board.columns[0].id,
            &PageRequest {
                limit: Some(500),
                cursor: None,
            },
        )
        .expect("page");
    page.items
        .iter()
        .map(|v| v.get().expect("decodes").id())
        .collect()
}

/// Arms `point` with `actions`, then writes: the write fails with `Poisoned`, so does the
/// next, reads go on, and a reopen has exactly the acknowledged items.
fn a_fault_stops_writes_and_reopen_recovers(point: &str, actions: &str, says: &str) {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, admin, board) = setup(dir.path());
    let mut acked: Vec<ItemId> = (0..20)
        .map(|i| create(&engine, admin, &board, &format!("acked {i}")).expect("acked write"))
        .collect();
    assert_eq!(engine.health(), Health::Ok);

    fail::cfg(point, actions).expect("arm");
    let failed = create(&engine, admin, &board, "during the fault");
    match &failed {
        Err(Error::Poisoned(why)) => assert!(why.contains(says), "{why}"),
        other => panic!("expected Poisoned, got {other:?}"),
    }
    fail::remove(point);
    // The writer stays stopped after the disk is fine again: memory may be ahead of disk.
    let later = create(&engine, admin, &board, "after the fault");
    assert!(matches!(later, Err(Error::Poisoned(_))), "{later:?}");
    match engine.health() {
        Health::WritesStopped { reason } => assert!(reason.contains(says), "{reason}"),
        Health::Ok => panic!("health must say the writes stopped"),
    }
    // Reads go on.
    let seen = column(&engine, &board);
    for id in &acked {
        assert!(seen.contains(id), "acknowledged item {id:?} readable");
    }
    engine.close();
    drop(engine);

    let engine = open(dir.path(), false).expect("reopen after the fault");
    assert_eq!(engine.health(), Health::Ok);
    let mut after = column(&engine, &board);
    after.sort();
    acked.sort();
    // Every acknowledged write is there; the failed one may or may not be (a failed flush
    // can leave its group on disk), and nothing else is.
    after.retain(|id| !acked.contains(id));
    assert!(
        after.len() <= 1,
        "only the failed write may be extra: {after:?}"
    );
    create(&engine, admin, &board, "after reopening").expect("writes again after reopening");
    scenario.teardown();
}

#[test]
fn a_failed_flush_fails_its_group_and_every_later_write_and_reopen_recovers() {
    a_fault_stops_writes_and_reopen_recovers("store::flush", "return", "store::flush");
}

#[test]
fn a_full_disk_on_write_behaves_the_same() {
    a_fault_stops_writes_and_reopen_recovers("store::apply", "return(enospc)", "no space left");
}

#[test]
fn a_read_error_on_open_is_an_error_not_a_panic() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, admin, board) = setup(dir.path());
    let id = create(&engine, admin, &board, "kept").expect("write");
    engine.close();
    drop(engine);
    fail::cfg("store::read", "return").expect("arm");
    match open(dir.path(), false) {
        Err(Error::Storage(e)) => assert!(e.to_string().contains("store::read"), "{e}"),
        Err(other) => panic!("expected a storage error, got {other}"),
        Ok(_) => panic!("the open must fail while reads fail"),
    }
    fail::remove("store::read");
    let engine = open(dir.path(), false).expect("opens once reads work");
    assert_eq!(column(&engine, &board), vec![id]);
    scenario.teardown();
}

/// Overwrites the value at `key` in the store's sled tree with bytes that are no record,
/// and the same for the first pack of timeline entries (`K` row); returns that pack's key.
fn damage(dir: &Path, key: &[u8]) -> Vec<u8> {
    let db = sled::open(dir.join("db")).expect("open sled");
    assert!(db.get(key).expect("get").is_some(), "the record exists");
    db.insert(key, &b"\xffnot a record"[..]).expect("insert");
    let (entry, _) = db
        .scan_prefix(b"K")
        .next()
        .expect("an entry pack")
        .expect("read");
    db.insert(entry.clone(), &b"\xffnot a record"[..])
        .expect("insert");
    db.flush().expect("flush");
    entry.to_vec()
}

fn item_key(id: ItemId) -> Vec<u8> {
    let mut k = vec![b'I'];
    k.extend_from_slice(&id.0.to_be_bytes());
    k
}

#[test]
fn a_damaged_record_stops_the_open_by_name_unless_salvaging_which_sets_it_aside() {
    // Failpoints are process-wide: hold the scenario lock so no other test's armed
    // failpoint fires in this one.
    let _scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, admin, board) = setup(dir.path());
    let ids: Vec<ItemId> = (0..5)
        .map(|i| create(&engine, admin, &board, &format!("item {i}")).expect("write"))
        .collect();
    engine.close();
    drop(engine);
    let victim = ids[2];
    let entry = damage(dir.path(), &item_key(victim));

    // The first damaged record the open meets stops it.
    match open(dir.path(), false) {
        Err(Error::Damaged(d)) => {
            let seq = u64::from_be_bytes(entry[1..9].try_into().expect("8 bytes"));
            assert!(
                d.key.starts_with(&format!("item {} ", victim.0))
                    || d.key.starts_with(&format!("entry pack {seq} ")),
                "names the record: {}",
                d.key
            );
        }
        Err(other) => panic!("expected Damaged, got {other}"),
        Ok(_) => panic!("a damaged record must stop the open"),
    }

    let engine = open(dir.path(), true).expect("a salvaging open");
    let salvaged = engine.salvaged();
    assert_eq!(salvaged.len(), 2, "the item and the pack: {salvaged:?}");
    // In key order: `I` rows before `K` rows.
    assert!(salvaged[0].key.starts_with("item "), "{}", salvaged[0]);
    assert!(
        salvaged[1].key.starts_with("entry pack "),
        "{}",
        salvaged[1]
    );
    for d in salvaged {
        let saved = d.saved_to.clone().expect("bytes saved");
        assert_eq!(std::fs::read(&saved).expect("saved"), b"\xffnot a record");
    }
    let mut left = column(&engine, &board);
    left.sort();
    let expect: Vec<ItemId> = ids.iter().copied().filter(|i| *i != victim).collect();
    assert_eq!(left, expect);
    assert!(matches!(engine.item(victim), Err(Error::NotFound { .. })));
    create(&engine, admin, &board, "after salvage").expect("writes go on");
    engine.close();
    drop(engine);

    // The record is gone from the store: a plain open works again.
    let engine = open(dir.path(), false).expect("a plain open after salvage");
    assert!(engine.salvaged().is_empty());
    assert_eq!(column(&engine, &board).len(), 5);
}

/// A sound item record stored under another id's key (or under an id the item counter
/// never gave) is damaged: memory is indexed by item id, so such a row must neither size
/// it nor stand in for another item.
/// Every page of `item`'s timeline, 5 at a time, checking that each page but the last is
/// full (an entry filed in memory whose row is gone would leave a page short); the ids.
fn timeline(engine: &Engine, item: ItemId) -> Vec<u64> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = engine
            .timeline(
                item,
                &PageRequest {
                    limit: Some(5),
                    cursor: cursor.take(),
                },
            )
            .expect("timeline");
        let n = page.items.len();
        out.extend(page.items.iter().map(|e| e.id.0));
        match page.next_cursor {
            Some(c) => {
                assert_eq!(n, 5, "a page short of entries before the end");
                cursor = Some(c);
            }
            None => return out,
        }
    }
}

/// A pack of entries (`K` row) whose header is sound but one of whose records is damaged
/// is one damaged record: a salvage lists it once (also when it straddles the two entry
/// scans of an open) and sets the whole pack aside, so none of its entries stays in memory.
#[test]
fn a_damaged_record_inside_a_pack_sets_the_whole_pack_aside_once() {
    let _scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, admin, board) = setup(dir.path());
    let item = create(&engine, admin, &board, "busy").expect("write");
    // One command of 310 events: packs of 22 small entries (4 KiB); every 25th summary is
    // 5,000 characters, a pack of its own. The open's two scans split at seq 160, inside
    // the pack of seqs 156..=177, whose damaged record (157) is in the lower half.
    let events = (0..310)
        .map(|i| NewEvent {
            id: format!("ev-{i}"),
            kind: EventKind::CallIn,
            item: Some(item),
            phone: None,
            email: None,
            at: None,
            summary: Some(if i % 25 == 3 {
                "y".repeat(5_000)
            } else {
                format!("call {i}")
            }),
        })
        .collect();
    let results = engine.ingest(admin, events, None).expect("ingest");
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(x) if x.status == IngestStatus::Accepted)));
    assert_eq!(timeline(&engine, item).len(), 310);
    engine.close();
    drop(engine);
    // No checkpoint: the open reads every entry, in two scans split in the middle.
    std::fs::remove_dir_all(dir.path().join("checkpoint")).expect("no checkpoint");

    // In every pack of more than one entry, the record of its second entry becomes 0xff
    // bytes (docs/format.md, "Entry packs": count, seqs, ends, body), and the pack is
    // written back in its codec, so its header is sound and its record is not.
    let mut damaged = Vec::new();
    let mut kept = 0;
    let mut compressed = 0;
    let mut written = Vec::new();
    {
        let db = sled::open(dir.path().join("db")).expect("open sled");
        for kv in db.scan_prefix(b"K") {
            let (k, v) = kv.expect("read");
            let was_compressed = v[0] == 1;
            let mut v = if was_compressed {
                // Codec 1: the laid-out length, then an LZ4 block.
                compressed += 1;
                let len = u32::from_be_bytes(v[1..5].try_into().expect("length")) as usize;
                lz4_flex::block::decompress(&v[5..], len).expect("an LZ4 block")
            } else {
                v.to_vec()
            };
            let n = u32::from_be_bytes(v[..4].try_into().expect("count")) as usize;
            if n < 2 {
                kept += 1;
                continue;
            }
            let end = |i: usize| {
                let at = 4 + 8 * n + 4 * i;
                u32::from_be_bytes(v[at..at + 4].try_into().expect("end")) as usize
            };
            let body = 4 + 12 * n;
            let (from, to) = (body + end(0), body + end(1));
            v[from..to].fill(0xff);
            // Written back as it was stored: a compressed pack compressed again, so what a
            // salvage saves (the stored bytes) differs from what it reads (the laid-out
            // ones).
            let stored = if was_compressed {
                let mut c = vec![1u8];
                c.extend_from_slice(&u32::try_from(v.len()).expect("length").to_be_bytes());
                c.extend_from_slice(&lz4_flex::block::compress(&v));
                c
            } else {
                v
            };
            db.insert(&k, stored.clone()).expect("insert");
            written.push(stored);
            damaged.push(k.to_vec());
        }
        db.flush().expect("flush");
    }
    assert!(
        damaged.len() >= 4,
        "{} packs of several entries",
        damaged.len()
    );
    assert!(compressed >= damaged.len(), "alike entries compress");
    match open(dir.path(), false) {
        Err(Error::Damaged(d)) => assert!(d.key.starts_with("entry pack "), "{}", d.key),
        Err(other) => panic!("expected Damaged, got {other}"),
        Ok(_) => panic!("a damaged pack must stop the open"),
    }

    let engine = open(dir.path(), true).expect("a salvaging open");
    let listed: Vec<String> = engine.salvaged().iter().map(|d| d.key.clone()).collect();
    for d in engine.salvaged() {
        let saved = std::fs::read(d.saved_to.as_ref().expect("bytes saved")).expect("saved");
        assert!(
            written.contains(&saved),
            "{}: the stored bytes are saved, not the decompressed ones",
            d.key
        );
    }
    assert!(
        written.iter().filter(|w| w[0] == 1).count() >= 4,
        "the damaged packs were stored compressed"
    );
    assert_eq!(listed.len(), damaged.len(), "each pack once: {listed:?}");
    assert!(
        listed.iter().all(|k| k.starts_with("entry pack ")),
        "{listed:?}"
    );
    // What is left on the timeline: the 13 big summaries, each a pack of its own (the
    // item's `record_created`, on walls only, is the other pack of one).
    let left = timeline(&engine, item);
    assert_eq!((left.len(), kept), (13, 14), "{left:?}");
    engine.close();
    drop(engine);
    let engine = open(dir.path(), false).expect("a plain open after salvage");
    assert_eq!(timeline(&engine, item), left);
}

#[test]
fn an_item_row_under_a_foreign_or_too_high_id_is_damaged() {
    let _scenario = fail::FailScenario::setup();
    for foreign in [1_000u64, u64::MAX >> 1] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (engine, admin, board) = setup(dir.path());
        let ids: Vec<ItemId> = (0..3)
            .map(|i| create(&engine, admin, &board, &format!("item {i}")).expect("write"))
            .collect();
        engine.close();
        drop(engine);
        {
            let db = sled::open(dir.path().join("db")).expect("open sled");
            let sound = db.get(item_key(ids[1])).expect("get").expect("the row");
            db.insert(item_key(ItemId(foreign)), sound).expect("insert");
            db.flush().expect("flush");
        }
        match open(dir.path(), false) {
            Err(Error::Damaged(d)) => assert!(
                d.key.starts_with(&format!("item {foreign} ")),
                "names the row: {}",
                d.key
            ),
            Err(other) => panic!("expected Damaged, got {other}"),
            Ok(_) => panic!("a row under a foreign id must stop the open"),
        }
        let engine = open(dir.path(), true).expect("a salvaging open");
        assert_eq!(engine.salvaged().len(), 1, "{:?}", engine.salvaged());
        let mut left = column(&engine, &board);
        left.sort();
        assert_eq!(left, ids, "the sound items, each once");
        engine.close();
    }
}

#[test]
fn salvaging_a_damaged_board_sets_aside_its_items_and_their_activities_and_timers() {
    // Failpoints are process-wide: hold the scenario lock so no other test's armed
    // failpoint fires in this one.
    let _scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, admin, board) = setup(dir.path());
    let other = engine
        .create_board(NewBoard {
            module: "deal".into(),
            name: "Other".into(),
            columns: vec!["New".into()],
            ..NewBoard::default()
        })
        .expect("board");
    let lost: Vec<ItemId> = (0..3)
        .map(|i| create(&engine, admin, &board, &format!("lost {i}")).expect("write"))
        .collect();
    let kept = create(&engine, admin, &other, "kept").expect("write");
    engine
        .create_activity(
            admin,
            lost[0],
            hoist_engine::NewActivity {
                kind: hoist_engine::ActivityKind::Call,
                subject: "call back".into(),
                deadline: Millis(T0.0 + 3_600_000),
                responsible: None,
                remind_before_minutes: Some(vec![10]),
            },
        )
        .expect("activity");
    engine.close();
    drop(engine);
    let mut key = vec![b'B'];
    key.extend_from_slice(&board.id.0.to_be_bytes());
    {
        let db = sled::open(dir.path().join("db")).expect("open sled");
        db.insert(key, &b"\xffnot a board"[..]).expect("damage");
        db.flush().expect("flush");
    }
    assert!(matches!(open(dir.path(), false), Err(Error::Damaged(_))));

    let clock = ManualClock::new(T0);
    let engine = Engine::open(
        dir.path(),
        Config::default()
            .with_clock(clock.clone())
            .with_timer_thread(false)
            .with_salvage(true),
    )
    .expect("a salvaging open");
    let kinds: Vec<&str> = engine
        .salvaged()
        .iter()
        .map(|d| d.key.split(' ').next().unwrap_or(""))
        .collect();
    // The board, its three items, the activity and its timer row.
    assert_eq!(
        kinds,
        ["activity", "board", "item", "item", "item", "timer"],
        "{:?}",
        engine.salvaged()
    );
    assert_eq!(column(&engine, &other), vec![kept]);
    // The activity's timers went with it: nothing fires on an item that is not there.
    clock.advance(7_200_000);
    assert_eq!(engine.fire_due_timers().expect("fire"), 0);
    engine.close();
    drop(engine);
    let engine = open(dir.path(), false).expect("a plain open after salvage");
    assert_eq!(column(&engine, &other), vec![kept]);
}
