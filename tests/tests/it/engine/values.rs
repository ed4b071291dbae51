//! No value is ever large enough for sled to write it to a blob file (format 3,
//! docs/format.md "Durability"): the largest inputs are split or refused, and the store
//! keeps no blob after them.

use hoist_engine::{EventKind, FieldValue, GroupId, IngestStatus, ItemPatch, NewEvent, NewGroup};

use crate::support::{invalid_field, new_item, TestEngine};

fn blobs(t: &TestEngine) -> usize {
    std::fs::read_dir(t.dir().join("db/blobs"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn an_8_mib_file_and_a_10000_event_ingest_make_no_blob_and_read_back_after_reopen() {
    let t = TestEngine::new();
    let board = t.board("Sales", &["New"]);
    let item = t.create(&board, 0, "Acme");
    let group = t
        .engine
        .create_group(NewGroup {
            name: "Team".into(),
            members: vec![t.admin],
        })
        .unwrap();
    let bytes: Vec<u8> = (0..8u32 << 20)
        .map(|i| i.wrapping_mul(2_654_435_761).to_be_bytes()[1])
        .collect();
    let info = t
        .engine
        .share_file(
            t.admin,
            group.id,
            "big.bin".into(),
            "application/octet-stream".into(),
            bytes.clone(),
        )
        .unwrap();
    let empty = t
        .engine
        .share_file(
            t.admin,
            group.id,
            "empty".into(),
            "text/plain".into(),
            Vec::new(),
        )
        .unwrap();
    let events = |n: usize| -> Vec<NewEvent> {
        (0..n)
            .map(|k| NewEvent {
                id: format!("ev-{k}"),
                kind: EventKind::EmailIn,
                item: Some(item),
                phone: None,
                email: None,
                at: None,
                summary: None,
            })
            .collect()
    };
    let first = t.engine.ingest(t.admin, events(10_000), None).unwrap();
    assert!(first
        .iter()
        .all(|r| r.as_ref().unwrap().status == IngestStatus::Accepted));
    let t = t.reopen();
    assert_eq!(blobs(&t), 0, "a value became a sled blob");
    let (_, got) = t
        .engine
        .file(t.admin, GroupId(group.id.0), info.id)
        .unwrap();
    assert!(got == bytes, "the 8 MiB file came back different");
    let (_, got) = t.engine.file(t.admin, group.id, empty.id).unwrap();
    assert!(got.is_empty());
    // Every hash of the 10,000 (three `S` rows) came back.
    let again = t.engine.ingest(t.admin, events(10_000), None).unwrap();
    assert!(again
        .iter()
        .all(|r| r.as_ref().unwrap().status == IngestStatus::Duplicate));
}

#[test]
fn an_item_over_32_kib_of_fields_is_refused_on_create_and_on_patch_and_nothing_changes() {
    let t = TestEngine::new();
    let board = t.board("Sales", &["New"]);
    let big = |k: usize| (format!("f{k}"), FieldValue::Str("x".repeat(10_000)));
    let mut body = new_item(&board, 0, "Too big");
    body.fields = (0..4).map(big).collect();
    let err = invalid_field(t.engine.create_item(t.admin, body));
    assert!(err.starts_with("fields"), "{err}");

    let item = t.create(&board, 0, "Acme");
    let before = t.get(item);
    let patch = |fields: Vec<(String, Option<FieldValue>)>| ItemPatch {
        fields: Some(fields),
        ..ItemPatch::default()
    };
    t.engine
        .patch_item(
            t.admin,
            item,
            patch((0..3).map(|k| (big(k).0, Some(big(k).1))).collect()),
        )
        .unwrap();
    let three = t.get(item);
    let err = invalid_field(t.engine.patch_item(
        t.admin,
        item,
        patch(vec![(big(3).0, Some(big(3).1))]),
    ));
    assert!(err.starts_with("fields"), "{err}");
    assert_eq!(t.get(item), three, "a refused patch changed the item");
    assert_ne!(before, three);
}
