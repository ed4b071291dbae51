//! Format upgrades: a store written by an older build opens, is upgraded to the current
//! format, and reads the same. `tests/fixtures/store-v2` was written by main at format 2
//! (commit 1f3f9d5) through the server: a `deal` board "Sales" with items 1 "Acme" (phone
//! +1 555 0100, one accepted `call_in` event `ev-1`) and 2 "Globex" (an activity due
//! 2030-01-01T10:00Z), group 1 "Team" with a 300,000-byte file 1 (random bytes, sha256
//! below; sled kept it as a blob) and a 10-byte file 2.

use std::path::Path;

use hoist_engine::{
    Config, Engine, EventKind, GroupId, IngestStatus, ItemId, ManualClock, NewEvent, UserId,
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
    let (info, bytes) = engine.file(UserId(1), GroupId(1), 1).unwrap();
    assert_eq!((info.name.as_str(), info.size), ("blob.bin", 300_000));
    assert_eq!(format!("{:x}", Sha256::digest(&bytes)), FILE_1_SHA256);
    let (_, small) = engine.file(UserId(1), GroupId(1), 2).unwrap();
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
fn a_format_2_store_is_upgraded_to_format_3_and_reads_the_same() {
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
    // And it opens again as format 3.
    let engine = open(&data);
    check(&engine);
}
