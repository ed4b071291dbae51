//! Online backup through the engine API: a copy taken while another thread writes is the
//! store at one change number (the items it holds are exactly the first ones written, in
//! order, and its change number is that of the last of them), and a restore checks the
//! stream's hash and leaves nothing behind when it does not match.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hoist_engine::{Engine, Error, ItemId};

use crate::support::{id_of, new_item, open, TestEngine};

#[test]
fn a_backup_taken_during_writes_is_the_store_at_one_change_number() {
    let t = TestEngine::new();
    let board = t.board("Backup", &["New", "Won"]);
    for i in 0..300 {
        t.create(&board, i % 2, &format!("before {i}"));
    }
    let engine = Arc::new(t.engine);
    // One writer, one item at a time, each create answered before the next: the items
    // written form a sequence, and a consistent copy holds a prefix of it.
    let written: Arc<Mutex<Vec<(ItemId, u64)>>> = Arc::default();
    // Creates sent so far: one is answered (and may be in the copy) a moment before the
    // thread records it in `written`, so the copy is bounded by what was sent.
    let sent = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (engine, written, sent, stop, board) = (
            Arc::clone(&engine),
            Arc::clone(&written),
            Arc::clone(&sent),
            Arc::clone(&stop),
            board.clone(),
        );
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                sent.fetch_add(1, Ordering::SeqCst);
                let view = engine
                    .create_item(t.admin, new_item(&board, i % 2, &format!("during {i}")))
                    .expect("create during the backup");
                let seq = engine.last_change();
                written.lock().expect("lock").push((id_of(&view), seq));
                i += 1;
            }
        })
    };
    // Two more writers keep the writer's groups busy, so the backup's empty commands
    // often join a group already running (its boundary passed before they were sent).
    let noise: Vec<_> = (0..2)
        .map(|n| {
            let (engine, stop, board) = (Arc::clone(&engine), Arc::clone(&stop), board.clone());
            std::thread::spawn(move || {
                let item = engine
                    .create_item(t.admin, new_item(&board, 1, &format!("noise {n}")))
                    .map(|v| id_of(&v))
                    .expect("noise item");
                while !stop.load(Ordering::Relaxed) {
                    engine
                        .comment(t.admin, item, "noise".into(), Default::default())
                        .expect("comment during the backup");
                }
            })
        })
        .collect();
    // Let some writes happen before and during the copy.
    while written.lock().expect("lock").len() < 50 {
        std::thread::yield_now();
    }
    let before = written.lock().expect("lock").len();
    let mut stream = Vec::new();
    let info = engine.backup(&mut stream).expect("backup");
    let after = sent.load(Ordering::SeqCst);
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer thread");
    for n in noise {
        n.join().expect("noise thread");
    }
    assert!(
        info.bytes == stream.len() as u64,
        "{info:?} vs {}",
        stream.len()
    );

    let restored_dir = tempfile::tempdir().expect("tempdir");
    let dest = restored_dir.path().join("copy");
    let restored = Engine::restore(&mut stream.as_slice(), &dest).expect("restore");
    assert_eq!(restored, info);
    let copy = open(&dest, &t.clock);
    assert_eq!(copy.last_change(), info.change);

    let mut have: Vec<ItemId> = [0, 1]
        .iter()
        .flat_map(|c| crate::support::walk(&copy, board.id, board.columns[*c].id, 500))
        .collect();
    have.sort();
    let written = written.lock().expect("lock").clone();
    // The copy holds the 300 items made before, then exactly the first k written during,
    // where every write acknowledged before the backup began is in and none acknowledged
    // after it ended can be missing from that prefix's end.
    // The two noise items (created first during the copy, or not at all) are not counted.
    let noise_ids: Vec<ItemId> = copy_titles(&copy, &have, "noise");
    have.retain(|i| !noise_ids.contains(i));
    let during: Vec<ItemId> = have.iter().copied().skip(300).collect();
    let k = during.len();
    assert!(
        k >= before,
        "acknowledged before the backup: {before}, copied {k}"
    );
    assert!(k <= after, "copied {k}, sent by the end {after}");
    let prefix: Vec<ItemId> = written.iter().take(k).map(|(id, _)| *id).collect();
    assert_eq!(
        during, prefix,
        "a consistent copy holds a prefix of the writes"
    );
    if k > 0 {
        // The k-th write's change number is the copy's (nothing after it is in).
        assert!(
            written[k - 1].1 <= info.change,
            "{:?} {info:?}",
            written[k - 1]
        );
        if let Some(next) = written.get(k) {
            assert!(
                next.1 > info.change,
                "the next write is after the copy's change"
            );
        }
    }
    // The copy is a working store.
    copy.create_item(t.admin, new_item(&board, 0, "on the copy"))
        .expect("writes on the copy");
}

#[test]
fn a_damaged_stream_is_refused_and_leaves_no_directory() {
    let t = TestEngine::new();
    let board = t.board("Backup", &["New"]);
    for i in 0..20 {
        t.create(&board, 0, &format!("item {i}"));
    }
    let mut stream = Vec::new();
    t.engine.backup(&mut stream).expect("backup");
    let dir = tempfile::tempdir().expect("tempdir");

    let mut flipped = stream.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    let dest = dir.path().join("flipped");
    let err = Engine::restore(&mut flipped.as_slice(), &dest).expect_err("a flipped byte");
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert!(!dest.exists(), "no directory from a damaged stream");

    let cut = &stream[..stream.len() - 40];
    let dest = dir.path().join("cut");
    let err = Engine::restore(&mut &cut[..], &dest).expect_err("a cut stream");
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert!(!dest.exists());

    // Into a directory that holds something: refused, nothing touched.
    let busy = dir.path().join("busy");
    std::fs::create_dir_all(&busy).expect("mkdir");
    std::fs::write(busy.join("keep"), b"x").expect("write");
    let err = Engine::restore(&mut stream.as_slice(), &busy).expect_err("not empty");
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    assert_eq!(std::fs::read(busy.join("keep")).expect("kept"), b"x");

    let dest = dir.path().join("good");
    Engine::restore(&mut stream.as_slice(), &dest).expect("the intact stream restores");

    // Restored compressed: the way to change a store's setting; it reads the same.
    let dest = dir.path().join("compressed");
    Engine::restore_with_compression(&mut stream.as_slice(), &dest, true).expect("restores");
    let conf = std::fs::read(dest.join("db").join("conf")).expect("sled's conf");
    assert!(String::from_utf8_lossy(&conf).contains("use_compression: true"));
    let e = crate::support::open(&dest, &t.clock);
    assert_eq!(
        crate::support::walk(&e, board.id, board.columns[0].id, 7),
        crate::support::walk(&t.engine, board.id, board.columns[0].id, 7)
    );
}

/// The ids among `ids` whose title starts with `prefix`.
fn copy_titles(engine: &Engine, ids: &[ItemId], prefix: &str) -> Vec<ItemId> {
    ids.iter()
        .copied()
        .filter(|i| {
            engine
                .item(*i)
                .ok()
                .and_then(|v| v.to_item().ok())
                .is_some_and(|it| it.title.starts_with(prefix))
        })
        .collect()
}
