//! Format upgrades: a store written by an older build opens, is upgraded to the current
//! format, and reads the same. `tests/fixtures/store-v2` was written by main at format 2
//! (commit 1f3f9d5) through the server: a `deal` board "Sales" with items 1 "Acme" (phone
//! +1 555 0100, one accepted `call_in` event `ev-1`) and 2 "Globex" (an activity due
//! 2030-01-01T10:00Z), group 1 "Team" with a 300,000-byte file 1 (random bytes, sha256
//! below; sled kept it as a blob) and a 10-byte file 2.

use std::path::Path;

use hoist_engine::{
    Config, Engine, EntryId, EventKind, FeedEntry, FileId, GroupId, IngestStatus, ItemId, JobId,
    ManualClock, NewEvent, PageRequest, TimelineKind, UserId, WallFilter,
};
use sha2::{Digest, Sha256};

use crate::support::T0;

const FILE_1_SHA256: &str = "240fde8f170bebac3ea70a888b0153b86caa54ad2931d3c0c15a368e4739b3ab";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn open(dir: &Path) -> Engine {
    Engine::open(
        dir,
        Config::default()
            .with_clock(ManualClock::new(T0))
            .with_timer_thread(false),
    )
    .expect("open the upgraded store")
}

fn check(engine: &Engine) {
    let acme = engine.item(ItemId(1)).unwrap();
    assert_eq!(acme.get().unwrap().title(), "Acme");
    let globex = engine.item(ItemId(2)).unwrap();
    assert_eq!(globex.get().unwrap().title(), "Globex");
    let (info, bytes) = engine.file(UserId(1), GroupId(1), FileId(1)).unwrap();
    assert_eq!((info.name.as_str(), info.size), ("blob.bin", 300_000));
    assert_eq!(format!("{:x}", Sha256::digest(&bytes)), FILE_1_SHA256);
    let (_, small) = engine.file(UserId(1), GroupId(1), FileId(2)).unwrap();
    assert_eq!(small, b"small file");
    // The seen-event hashes came along: the old event id is a duplicate.
    let again = engine
        .ingest(
            UserId(1),
            vec![NewEvent {
                id: "ev-1".into(),
                kind: EventKind::CallIn,
                item: Some(ItemId(1)),
                phone: None,
                email: None,
                at: None,
                summary: None,
            }],
            None,
        )
        .unwrap();
    assert_eq!(again[0].as_ref().unwrap().status, IngestStatus::Duplicate);
}

#[test]
fn a_format_2_store_is_upgraded_and_reads_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/store-v2"),
        &data,
    );
    let engine = open(&data);
    check(&engine);
    engine.close();
    drop(engine);
    // And it opens again, now in the current format.
    let engine = open(&data);
    check(&engine);
}

/// `tests/fixtures/store-v3` was written by main at format 3 (commit 3d9ec61) with
/// [`write_a_fixture`]: what format 4 changed (rule operators and job states stored as
/// enums) on top of what every store has. Users 1 (admin) and 2 "Ann"; a `deal` board
/// "Sales" with items 1 "Acme" and 2 "Globex"; Ann's rules 1 (title contains "ac",
/// applied to existing records: job 1, done) and 2 (amount ≥ 1000 and responsible in
/// [1, 2]); the admin's rule 3 (title eq "Globex"); a comment on Acme; group 1 with a
/// 10-byte file 1.
fn check_v3(engine: &Engine) {
    use hoist_engine::{JobState, Op, RuleValue};
    let ann = UserId(2);
    assert_eq!(
        engine.item(ItemId(1)).unwrap().get().unwrap().title(),
        "Acme"
    );
    let rules = engine.rules(ann);
    let ops: Vec<Vec<Op>> = rules
        .iter()
        .map(|r| r.criteria.iter().map(|c| c.op).collect())
        .collect();
    assert_eq!(ops, vec![vec![Op::Contains], vec![Op::Gte, Op::In]]);
    assert_eq!(
        rules[1].criteria[1].value,
        RuleValue::List(vec![RuleValue::Num(1.0), RuleValue::Num(2.0)])
    );
    let admin_rules = engine.rules(UserId(1));
    assert_eq!(admin_rules.len(), 1);
    assert_eq!(admin_rules[0].criteria[0].op, Op::Eq);
    let job = engine.job(JobId(1)).unwrap();
    assert_eq!((job.state, job.user), (JobState::Done, ann));
    // Ann follows Acme through her rule.
    let follows = engine
        .follows(ann, None, &hoist_engine::PageRequest::default())
        .unwrap();
    assert!(
        follows.items.iter().any(|f| f.item == ItemId(1)),
        "{follows:?}"
    );
    let (_, small) = engine.file(UserId(1), GroupId(1), FileId(1)).unwrap();
    assert_eq!(small, b"small file");
}

#[test]
fn a_format_3_store_is_upgraded_and_reads_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/store-v3"),
        &data,
    );
    let engine = open(&data);
    check_v3(&engine);
    engine.close();
    drop(engine);
    let engine = open(&data);
    check_v3(&engine);
}

/// `tests/fixtures/store-v4` was written by main at format 4 (commit 77a0eee) with
/// [`write_a_fixture`]: the content of `store-v3` plus an overdue activity on the admin's
/// Acme whose own responsible is Ann. Format 4 counted it for Ann; format 5 gives boards a
/// counter mode, `item` after the upgrade, which counts it for the admin until the board is
/// switched to `activity`.
#[test]
fn a_format_4_store_is_upgraded_with_boards_in_the_item_counter_mode() {
    use hoist_engine::{BoardId, BoardPatch, CounterMode};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/store-v4"),
        &data,
    );
    let (admin, ann) = (UserId(1), UserId(2));
    let overdue = |e: &Engine, u: UserId| e.counters(u).unwrap().overdue_activities;
    let engine = open(&data);
    check_v3(&engine);
    let board = engine.board(BoardId(1)).unwrap();
    assert_eq!(board.counter_mode, CounterMode::Item);
    assert_eq!((overdue(&engine, admin), overdue(&engine, ann)), (1, 0));
    let patch = BoardPatch {
        counter_mode: Some(CounterMode::Activity),
        ..BoardPatch::default()
    };
    engine.patch_board(BoardId(1), patch).unwrap();
    assert_eq!((overdue(&engine, admin), overdue(&engine, ann)), (0, 1));
    engine.close();
    drop(engine);
    let engine = open(&data);
    assert_eq!(
        engine.board(BoardId(1)).unwrap().counter_mode,
        CounterMode::Activity
    );
    assert_eq!((overdue(&engine, admin), overdue(&engine, ann)), (0, 1));
}

/// A copy of `tests/fixtures/<name>` to upgrade: the temporary directory (removed when
/// dropped) and the data directory in it.
fn fixture(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name),
        &data,
    );
    (tmp, data)
}

/// One page of 500: every entry of the fixtures' timelines and walls.
const ALL: PageRequest = PageRequest {
    limit: Some(500),
    cursor: None,
};

/// Every entry of item 1 ("Acme")'s timeline, newest first, as (id, kind, text).
fn acme_timeline(e: &Engine) -> Vec<(EntryId, TimelineKind, String)> {
    e.timeline(ItemId(1), &ALL)
        .unwrap()
        .items
        .into_iter()
        .map(|t| (t.id, t.kind, t.text))
        .collect()
}

/// Every entry of the admin's wall, newest first.
fn admin_wall(e: &Engine) -> Vec<EntryId> {
    e.wall(UserId(1), &WallFilter::default(), &ALL)
        .unwrap()
        .items
        .iter()
        .map(|f: &FeedEntry| f.id)
        .collect()
}

/// `tests/fixtures/store-v5` was written by main at format 5 (commit 4514ab6) with
/// [`write_a_fixture`]: the content of `store-v4`, every entry in an `E` row of its own.
/// Format 6 writes entries in packs (`K` rows) and reads the old rows as they are: an
/// item's timeline and a wall mix both, across restarts.
#[test]
fn a_format_5_store_is_upgraded_and_its_entries_read_beside_packed_ones() {
    use hoist_engine::Mentions;
    let (_tmp, data) = fixture("store-v5");
    let (admin, acme) = (UserId(1), ItemId(1));
    let (timeline, wall) = (acme_timeline, admin_wall);
    let engine = open(&data);
    check_v3(&engine);
    let old = timeline(&engine);
    assert!(
        old.iter()
            .any(|(_, k, t)| *k == TimelineKind::Comment && t == "Call them back"),
        "the old comment is read from its `E` row: {old:?}"
    );
    let old_wall = wall(&engine);
    assert!(!old_wall.is_empty());
    let new = engine
        .comment(admin, acme, "Called back".into(), Mentions::default())
        .unwrap();
    let mut both = vec![(new.id, TimelineKind::Comment, "Called back".to_string())];
    both.extend(old.iter().cloned());
    assert_eq!(timeline(&engine), both);
    engine.close();
    drop(engine);
    let engine = open(&data);
    assert_eq!(timeline(&engine), both, "after a restart");
    let mut walls = vec![new.id];
    walls.extend(old_wall.iter().copied());
    assert_eq!(wall(&engine), walls);
    check_v3(&engine);
}

/// `tests/fixtures/store-v6` was written by main at format 6 (commit d116595) with
/// [`write_a_fixture`]: the content of `store-v4`, its entries in packs stored as laid out,
/// and the checkpoint written at its close. Format 7 stores a pack compressed when that is
/// shorter and reads format 6's packs as they are (an item's timeline and a wall mix both,
/// across restarts). That checkpoint is of version 2, which this build ignores (version 3
/// added the seen-event hashes): the first open rebuilds, and reads the same.
#[test]
fn a_format_6_store_is_upgraded_and_its_packs_read_beside_compressed_ones() {
    let (_tmp, data) = fixture("store-v6");
    // How many packs the store holds under each codec (the first byte: 0 as laid out,
    // 1 LZ4), read with sled while no engine has the store open.
    let codecs = |dir: &Path| -> (usize, usize) {
        let db = sled::open(dir.join("db")).expect("open sled");
        let firsts: Vec<u8> = db
            .scan_prefix(b"K")
            .map(|kv| kv.expect("read").1.first().copied().expect("a value"))
            .collect();
        let raw = firsts.iter().filter(|b| **b == 0).count();
        (raw, firsts.len() - raw)
    };
    let (raw, compressed) = codecs(&data);
    assert!(
        raw > 0 && compressed == 0,
        "{raw} raw, {compressed} compressed"
    );
    let (admin, acme) = (UserId(1), ItemId(1));
    let (timeline, wall) = (acme_timeline, admin_wall);
    let engine = open(&data);
    assert_eq!(
        engine.stats().opened_from_checkpoint,
        0,
        "the version-2 checkpoint format 6 wrote is ignored"
    );
    check_v3(&engine);
    let old = timeline(&engine);
    assert!(
        old.iter()
            .any(|(_, k, t)| *k == TimelineKind::Comment && t == "Call them back"),
        "the old comment is read from its format-6 pack: {old:?}"
    );
    let old_wall = wall(&engine);
    assert!(!old_wall.is_empty());
    // Forty alike events in one command: a pack that compresses.
    let events = (0..40)
        .map(|i| NewEvent {
            id: format!("v7-{i}"),
            kind: EventKind::CallIn,
            item: Some(acme),
            phone: None,
            email: None,
            at: None,
            summary: Some(format!("call {i} about the renewal of the contract")),
        })
        .collect();
    let results = engine.ingest(admin, events, None).unwrap();
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(x) if x.status == IngestStatus::Accepted)));
    let both = timeline(&engine);
    assert_eq!(both.len(), old.len() + 40);
    assert_eq!(&both[40..], &old[..], "the old entries after the new ones");
    let both_wall = wall(&engine);
    assert_eq!(&both_wall[40..], &old_wall[..]);
    engine.close();
    drop(engine);
    let (raw, compressed) = codecs(&data);
    assert!(
        raw > 0 && compressed > 0,
        "{raw} raw, {compressed} compressed"
    );
    let engine = open(&data);
    assert!(
        engine.stats().opened_from_checkpoint > 0,
        "opened from the checkpoint written at format 7's close"
    );
    assert_eq!(timeline(&engine), both, "after a restart");
    assert_eq!(wall(&engine), both_wall);
    check_v3(&engine);
    engine.close();
    drop(engine);
    // A full rebuild reads both kinds of pack in its scans.
    std::fs::remove_dir_all(data.join("checkpoint")).unwrap();
    let engine = open(&data);
    assert_eq!(engine.stats().opened_from_checkpoint, 0, "a full rebuild");
    assert_eq!(timeline(&engine), both, "rebuilt from the records");
    assert_eq!(wall(&engine), both_wall);
    check_v3(&engine);
}

/// Writes the fixture's content in the current format and checks it reads back as
/// [`check_v3`] expects. It runs in CI on a temporary directory; with `HOIST_FIXTURE_OUT`
/// set it writes there instead, which is how `store-v3` and `store-v4` were made.
#[test]
fn write_a_fixture() {
    use hoist_engine::{
        ActivityKind, Criterion, Mentions, NewActivity, NewBoard, NewGroup, NewItem, NewRule,
        NewUser, Op, RuleValue,
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = std::env::var_os("HOIST_FIXTURE_OUT")
        .map_or_else(|| tmp.path().join("data"), std::path::PathBuf::from);
    let engine = open(&out);
    engine
        .bootstrap_admin(Some("fixture-admin-token".into()))
        .unwrap();
    let admin = UserId(1);
    let (ann, _) = engine
        .create_user(NewUser {
            name: "Ann".into(),
            ..NewUser::default()
        })
        .unwrap();
    let board = engine
        .create_board(NewBoard {
            module: "deal".into(),
            name: "Sales".into(),
            columns: vec!["New".into(), "Won".into()],
            ..NewBoard::default()
        })
        .unwrap();
    for title in ["Acme", "Globex"] {
        engine
            .create_item(
                admin,
                NewItem {
                    board: board.id,
                    title: title.into(),
                    ..NewItem::default()
                },
            )
            .unwrap();
    }
    let criterion = |field: &str, op, value| Criterion {
        field: field.into(),
        op,
        value,
    };
    let (_, job) = engine
        .create_rule(
            ann.id,
            NewRule {
                name: "Acme-like".into(),
                module: "deal".into(),
                criteria: vec![criterion(
                    "title",
                    Op::Contains,
                    RuleValue::Str("ac".into()),
                )],
                apply_to_existing: true,
            },
        )
        .unwrap();
    assert_eq!(job, Some(JobId(1)));
    engine
        .create_rule(
            ann.id,
            NewRule {
                name: "Big".into(),
                module: "deal".into(),
                criteria: vec![
                    criterion("amount", Op::Gte, RuleValue::Num(1000.0)),
                    criterion(
                        "responsible",
                        Op::In,
                        RuleValue::List(vec![RuleValue::Num(1.0), RuleValue::Num(2.0)]),
                    ),
                ],
                apply_to_existing: false,
            },
        )
        .unwrap();
    engine
        .create_rule(
            admin,
            NewRule {
                name: "Globex".into(),
                module: "deal".into(),
                criteria: vec![criterion("title", Op::Eq, RuleValue::Str("Globex".into()))],
                apply_to_existing: false,
            },
        )
        .unwrap();
    engine
        .comment(
            admin,
            ItemId(1),
            "Call them back".into(),
            Mentions::default(),
        )
        .unwrap();
    engine
        .create_activity(
            admin,
            ItemId(2),
            NewActivity {
                kind: ActivityKind::Call,
                subject: "Renewal".into(),
                deadline: hoist_engine::Millis(1_893_492_000_000),
                responsible: None,
                remind_before_minutes: None,
            },
        )
        .unwrap();
    // What format 5 changed (boards' counter modes): an overdue activity on the admin's
    // Acme whose own responsible is Ann.
    engine
        .create_activity(
            admin,
            ItemId(1),
            NewActivity {
                kind: ActivityKind::Call,
                subject: "Overdue".into(),
                deadline: T0.plus(-3_600_000),
                responsible: Some(ann.id),
                remind_before_minutes: Some(vec![]),
            },
        )
        .unwrap();
    engine.fire_due_timers().unwrap();
    let group = engine
        .create_group(NewGroup {
            name: "Team".into(),
            members: vec![admin, ann.id],
        })
        .unwrap();
    engine
        .share_file(
            admin,
            group.id,
            "small.txt".into(),
            "text/plain".into(),
            b"small file".to_vec(),
        )
        .unwrap();
    // The job runs on the jobs thread: wait until it is done.
    for _ in 0..200 {
        if engine.job(JobId(1)).unwrap().state == hoist_engine::JobState::Done {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    check_v3(&engine);
}
