//! Event ingestion through the engine: matching, duplicates for ever, intake, results.

use hoist_engine::{Contacts, EventKind, FocusReason, IngestStatus, NewEvent, NewItem};

use crate::support::{new_item, TestEngine};

fn ev(id: &str, kind: EventKind) -> NewEvent {
    NewEvent {
        id: id.into(),
        kind,
        item: None,
        phone: None,
        email: None,
        at: None,
        summary: Some("hello".into()),
    }
}

#[test]
fn matching_duplicates_and_intake() {
    let t = TestEngine::new();
    let b = t.board("Sales", &["New", "Won"]);
    let mut n = new_item(&b, 0, "old");
    n.contacts = Contacts {
        phones: vec!["+1 (555) 010-2030".into()],
        emails: vec![],
    };
    let old = t
        .engine
        .create_item(t.admin, n.clone())
        .unwrap()
        .get()
        .unwrap()
        .id();
    n.title = "recent".into();
    n.contacts.emails = vec!["Ann@Example.com".into()];
    let recent = t
        .engine
        .create_item(t.admin, n)
        .unwrap()
        .get()
        .unwrap()
        .id();
    let other = t.create(&b, 1, "other");

    let mut by_phone = ev("e1", EventKind::CallIn);
    by_phone.phone = Some("+15550102030".into());
    let mut by_mail = ev("e2", EventKind::EmailIn);
    by_mail.email = Some("ann@example.COM".into());
    let mut by_item = ev("e3", EventKind::CallOut);
    by_item.item = Some(old);
    let mut unknown = ev("e4", EventKind::ChatIn);
    unknown.email = Some("nobody@x.io".into());
    // Same id, even naming another item: a duplicate, nothing changes.
    let mut dup = ev("e1", EventKind::CallIn);
    dup.item = Some(old);
    let mut bad = ev("", EventKind::CallIn);
    bad.item = Some(old);
    let neither = ev("e5", EventKind::CallIn);

    let r = t
        .engine
        .ingest(
            t.admin,
            vec![by_phone, by_mail, by_item, unknown, dup, bad, neither],
            None,
        )
        .unwrap();
    let statuses: Vec<Option<IngestStatus>> = r
        .iter()
        .map(|x| x.as_ref().ok().map(|x| x.status))
        .collect();
    use IngestStatus::{Accepted, Duplicate, Unmatched};
    assert_eq!(
        statuses,
        [
            Some(Accepted),
            Some(Accepted),
            Some(Accepted),
            Some(Unmatched),
            Some(Duplicate),
            None,
            None
        ]
    );
    // Both contacts matched the most recently focused item carrying them.
    assert_eq!(r[0].as_ref().unwrap().item, Some(recent));
    assert_eq!(r[1].as_ref().unwrap().item, Some(recent));
    assert_eq!(t.get(recent).attention, 2);
    assert_eq!(t.get(recent).focus_reason, FocusReason::EmailIn);
    // call_out: timeline only.
    assert_eq!(t.get(old).attention, 0);
    assert_eq!(
        t.engine
            .timeline(old, &Default::default())
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(t.walk(&b, 0), vec![recent, old]);
    assert_eq!(t.walk(&b, 1), vec![other]);

    // Duplicates for ever: also after a restart, also the unmatched one.
    let t = t.reopen();
    let mut again = ev("e1", EventKind::CallIn);
    again.item = Some(old);
    let mut again_unmatched = ev("e4", EventKind::ChatIn);
    again_unmatched.email = Some("nobody@x.io".into());
    let r = t
        .engine
        .ingest(t.admin, vec![again, again_unmatched], Some(b.id))
        .unwrap();
    assert!(r
        .iter()
        .all(|x| x.as_ref().unwrap().status == IngestStatus::Duplicate));
    assert_eq!(t.get(old).attention, 0);

    // Intake: an unknown contact becomes a new item on top of the first column.
    let mut fresh = ev("e6", EventKind::CallMissed);
    fresh.phone = Some("+49 30 1234567".into());
    let r = t.engine.ingest(t.admin, vec![fresh], Some(b.id)).unwrap();
    let created = r[0].as_ref().unwrap().item.unwrap();
    let item = t.get(created);
    assert_eq!(
        (item.attention, item.focus_reason),
        (1, FocusReason::CallMissed)
    );
    assert_eq!(item.phones, vec!["+49 30 1234567".to_string()]);
    assert_eq!(t.walk(&b, 0).first(), Some(&created));
    // A second event for that number now matches the new item.
    let mut follow_up = ev("e7", EventKind::CallIn);
    follow_up.phone = Some("+4930 123 4567".into());
    let r = t.engine.ingest(t.admin, vec![follow_up], None).unwrap();
    assert_eq!(r[0].as_ref().unwrap().item, Some(created));

    // An unknown intake board refuses the whole batch.
    assert!(t
        .engine
        .ingest(
            t.admin,
            vec![ev("e8", EventKind::CallIn)],
            Some(hoist_engine::BoardId(99))
        )
        .is_err());
    let _ = NewItem::default();
}
