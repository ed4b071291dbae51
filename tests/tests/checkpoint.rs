//! The checkpoint (engine/src/checkpoint.rs): opening from a checkpoint plus the entries
//! written after it gives the same reads as a full rebuild from the records, and as the
//! engine gave before it closed: items with their focus state, column orders, counters,
//! walls, group feeds, follows, inactive lists, timelines and activities; and every event id
//! ingested before is a duplicate, whichever checkpoint segment (or row after the cut) holds
//! its hash. Including after
//! a checkpoint write that stopped half-way (the `checkpoint::write` failpoint leaves a
//! half-written file and no new head, as `kill -9` in the middle would).
//!
//! Failpoints are process-wide, so this is its own binary, and every test holds a
//! `fail::FailScenario` (which serializes them).

use std::collections::BTreeSet;
use std::path::Path;

use hoist_engine::{
    ActivityFilter, ActivityKind, Board, Clock, Config, Engine, EventKind, FocusReason, GroupId,
    IngestStatus, ItemId, ItemPatch, ManualClock, Mentions, Millis, NewActivity, NewBoard,
    NewEvent, NewGroup, NewItem, NewUser, Page, PageRequest, UserId, WallFilter,
};
use proptest::prelude::*;
use proptest::sample::Index;

const T0: Millis = Millis(1_767_225_600_000);
const MIN: i64 = 60_000;
const FAILPOINT: &str = "checkpoint::write";

fn open(dir: &Path, clock: &ManualClock, every: u64) -> Engine {
    Engine::open(
        dir,
        Config::default()
            .with_clock(clock.clone())
            .with_timer_thread(false)
            .with_checkpoint_every(every)
            .with_checkpoint_span_bits(3),
    )
    .expect("open")
}

/// An incoming call with gateway id `id`, about `item`, or else from a number no item has.
fn call(id: &str, item: Option<ItemId>) -> NewEvent {
    NewEvent {
        id: id.into(),
        kind: EventKind::CallIn,
        item,
        phone: item.is_none().then(|| "+1 555 0100".into()),
        email: None,
        at: None,
        summary: None,
    }
}

/// Every element of a paged list, `limit` at a time.
fn all<T>(limit: usize, mut page: impl FnMut(&PageRequest) -> Option<Page<T>>) -> Vec<T> {
    let mut out = Vec::new();
    let mut req = PageRequest {
        limit: Some(limit),
        cursor: None,
    };
    while let Some(p) = page(&req) {
        out.extend(p.items);
        match p.next_cursor {
            Some(c) => req.cursor = Some(c),
            None => break,
        }
    }
    out
}

struct World {
    clock: ManualClock,
    every: u64,
    engine: Option<Engine>,
    admin: UserId,
    users: Vec<UserId>,
    group: GroupId,
    board: Board,
    leads: Board,
    items: Vec<ItemId>,
    /// The event ids ingested so far (accepted or unmatched): the model of the seen set.
    seen: BTreeSet<u8>,
}

impl World {
    fn new(dir: &Path, every: u64) -> World {
        let clock = ManualClock::new(T0);
        let engine = open(dir, &clock, every);
        engine
            .bootstrap_admin(Some("checkpoint-admin-token-0123456789".into()))
            .expect("admin");
        let admin = engine
            .authenticate("checkpoint-admin-token-0123456789")
            .expect("token")
            .user;
        let mut users = vec![admin];
        for name in ["Ann", "Bob"] {
            let (u, _) = engine
                .create_user(NewUser {
                    name: name.into(),
                    ..NewUser::default()
                })
                .expect("user");
            users.push(u.id);
        }
        let group = engine
            .create_group(NewGroup {
                name: "Sales".into(),
                members: users.clone(),
            })
            .expect("group")
            .id;
        let board = engine
            .create_board(NewBoard {
                module: "deal".into(),
                name: "Deals".into(),
                columns: vec!["New".into(), "Won".into(), "Lost".into()],
                ..NewBoard::default()
            })
            .expect("board");
        // A second module, so that entries name modules the walls filter by.
        let leads = engine
            .create_board(NewBoard {
                module: "lead".into(),
                name: "Leads".into(),
                columns: vec!["In".into()],
                ..NewBoard::default()
            })
            .expect("lead board");
        World {
            clock,
            every,
            engine: Some(engine),
            admin,
            users,
            group,
            board,
            leads,
            items: Vec::new(),
            seen: BTreeSet::new(),
        }
    }

    /// Column 0–2 of the deals board, or (3) the leads board.
    fn create(&mut self, column: usize, by: UserId) -> ItemId {
        let (board, col) = match self.board.columns.get(column) {
            Some(c) => (self.board.id, c.id),
            None => (self.leads.id, self.leads.columns[0].id),
        };
        let view = self
            .e()
            .create_item(
                by,
                NewItem {
                    board,
                    column: Some(col),
                    title: "Deal".into(),
                    ..NewItem::default()
                },
            )
            .expect("create");
        let id = view.get().expect("decodes").id();
        self.items.push(id);
        id
    }

    fn e(&self) -> &Engine {
        self.engine.as_ref().expect("engine open")
    }

    /// `n` new items, each commented on by the second user with `text`.
    fn commented(&mut self, n: usize, text: &str) {
        let (admin, ann) = (self.users[0], self.users[1]);
        for i in 0..n {
            let it = self.create(i % 3, admin);
            self.e()
                .comment(ann, it, text.into(), Mentions::default())
                .expect("comment");
        }
    }

    /// Ingests event `id` (matching no item unless seen): whether it was a duplicate.
    fn is_duplicate(&self, id: &str) -> bool {
        let event = call(id, None);
        let r = self
            .e()
            .ingest(self.admin, vec![event], None)
            .expect("ingest");
        match &r[..] {
            [Ok(x)] => x.status == IngestStatus::Duplicate,
            other => panic!("event {id}: {other:?}"),
        }
    }

    /// Every event id ingested so far is a duplicate now (which changes nothing).
    fn check_seen(&self) {
        for id in &self.seen {
            assert!(
                self.is_duplicate(&format!("gw-{id}")),
                "event gw-{id} was seen"
            );
        }
    }

    fn item(&self, i: &Index) -> Option<ItemId> {
        (!self.items.is_empty()).then(|| self.items[i.index(self.items.len())])
    }

    fn user(&self, i: &Index) -> UserId {
        self.users[i.index(self.users.len())]
    }

    /// Applies `op`; what it answers does not matter (an op on a deleted item fails the
    /// same way however the engine was opened), only what the reads show after it.
    fn apply(&mut self, dir: &Path, op: &Op) {
        let e = self.e();
        match op {
            Op::Create { column, by } => {
                let by = self.user(by);
                self.create(*column, by);
            }
            Op::Comment { item, by, mention } => {
                if let Some(it) = self.item(item) {
                    let mentions = match mention {
                        0 => Mentions::default(),
                        1 => Mentions {
                            groups: vec![self.group],
                            ..Mentions::default()
                        },
                        _ => Mentions {
                            roles: vec!["legal".into(), "legal".into()],
                            ..Mentions::default()
                        },
                    };
                    let _ = e.comment(self.user(by), it, "hello".into(), mentions);
                }
            }
            Op::Move { item, column } => {
                if let Some(it) = self.item(item) {
                    let col = Some(self.board.columns[*column].id);
                    let _ = e.move_item(self.admin, it, col, None);
                }
            }
            Op::Focus { item } => {
                if let Some(it) = self.item(item) {
                    let _ = e.focus(it, FocusReason::CallIn);
                }
            }
            Op::Hand { item, to } => {
                if let Some(it) = self.item(item) {
                    let patch = ItemPatch {
                        responsible: Some(self.user(to)),
                        ..ItemPatch::default()
                    };
                    let _ = e.patch_item(self.admin, it, patch);
                }
            }
            Op::Delete { item } => {
                if let Some(it) = self.item(item) {
                    let _ = e.delete_item(self.admin, it);
                }
            }
            Op::Post { by, to_group } => {
                let group = to_group.then_some(self.group);
                let _ = e.post(self.user(by), "news".into(), group, Mentions::default());
            }
            Op::Follow { user, item, on } => {
                if let Some(it) = self.item(item) {
                    let u = self.user(user);
                    let _ = if *on {
                        e.follow(u, it)
                    } else {
                        e.unfollow(u, it)
                    };
                }
            }
            Op::Activity { item, minutes } => {
                if let Some(it) = self.item(item) {
                    let new = NewActivity {
                        kind: ActivityKind::Call,
                        subject: "Call".into(),
                        deadline: self.clock.now().plus(minutes * MIN),
                        responsible: None,
                        remind_before_minutes: Some(vec![5]),
                    };
                    let _ = e.create_activity(self.admin, it, new);
                }
            }
            Op::Events { ids, item } => {
                // A few ids from a small set, so that most batches repeat one seen before,
                // maybe only in a segment of the checkpoint or in a row after its cut.
                let item = self.item(item);
                let events = ids
                    .iter()
                    .map(|id| call(&format!("gw-{id}"), item))
                    .collect();
                let results = e.ingest(self.admin, events, None).expect("ingest");
                let mut batch = BTreeSet::new();
                for (id, r) in ids.iter().zip(results) {
                    let status = r.expect("a valid event").status;
                    let before = self.seen.contains(id) || !batch.insert(*id);
                    assert_eq!(
                        status == IngestStatus::Duplicate,
                        before,
                        "event gw-{id}: {status:?}"
                    );
                }
                self.seen.extend(batch);
            }
            Op::Advance { minutes } => {
                self.clock.advance(minutes * MIN);
                e.fire_due_timers().expect("fire");
            }
            Op::Checkpoint => {
                e.checkpoint().expect("checkpoint");
            }
            Op::Reopen => {
                let before = self.reads();
                self.reopen(dir);
                assert_eq!(self.reads(), before, "reads after a clean reopen");
            }
            Op::CrashInCheckpoint { after_files } => {
                // Every checkpoint write stops half-way through file `after_files` from
                // now, the one at close too: the directory is left as a crash in the
                // middle of a checkpoint leaves it.
                let before = self.reads();
                fail::cfg(FAILPOINT, &format!("{after_files}*off->return")).expect("arm");
                let _ = e.checkpoint();
                self.close();
                fail::remove(FAILPOINT);
                self.engine = Some(open(dir, &self.clock, self.every));
                assert_eq!(self.reads(), before, "reads after a cut-short checkpoint");
            }
        }
    }

    fn close(&mut self) {
        if let Some(e) = self.engine.take() {
            e.close();
        }
    }

    fn reopen(&mut self, dir: &Path) {
        self.close();
        self.engine = Some(open(dir, &self.clock, self.every));
    }

    /// Everything a reader can see that the entries, items, follows and timers make.
    fn reads(&self) -> Vec<String> {
        let e = self.e();
        let mut out = Vec::new();
        let columns = self.board.columns.iter().map(|c| (self.board.id, c.id));
        let columns = columns.chain([(self.leads.id, self.leads.columns[0].id)]);
        for (i, (b, c)) in columns.enumerate() {
            let views = all(4, |r| e.column_page(b, c, r).ok());
            let items: Vec<String> = views
                .iter()
                .map(|v| format!("{:?}", v.to_item().expect("decodes")))
                .collect();
            out.push(format!("column {i}: {items:?}"));
        }
        for u in &self.users {
            out.push(format!("counters {u:?}: {:?}", e.counters(*u)));
            let wall = all(5, |r| e.wall(*u, &WallFilter::default(), r).ok());
            out.push(format!("wall {u:?}: {wall:?}"));
            let leads = WallFilter {
                modules: vec!["lead".into()],
                ..WallFilter::default()
            };
            let wall = all(5, |r| e.wall(*u, &leads, r).ok());
            out.push(format!("lead wall {u:?}: {wall:?}"));
            let follows = all(5, |r| e.follows(*u, None, r).ok());
            out.push(format!("follows {u:?}: {follows:?}"));
            let inactive = all(5, |r| e.inactive(*u, 1, r).ok());
            out.push(format!("inactive {u:?}: {inactive:?}"));
            let group = all(5, |r| e.group_feed(*u, self.group, r).ok());
            out.push(format!("group feed {u:?}: {group:?}"));
        }
        for it in &self.items {
            let timeline = all(6, |r| e.timeline(*it, r).ok());
            out.push(format!("timeline {it:?}: {timeline:?}"));
        }
        let acts = all(7, |r| e.activities(&ActivityFilter::default(), r).ok());
        out.push(format!("activities: {acts:?}"));
        out
    }
}

#[derive(Debug, Clone)]
enum Op {
    Create { column: usize, by: Index },
    Comment { item: Index, by: Index, mention: u8 },
    Move { item: Index, column: usize },
    Focus { item: Index },
    Hand { item: Index, to: Index },
    Delete { item: Index },
    Post { by: Index, to_group: bool },
    Follow { user: Index, item: Index, on: bool },
    Activity { item: Index, minutes: i64 },
    Events { ids: Vec<u8>, item: Index },
    Advance { minutes: i64 },
    Checkpoint,
    Reopen,
    CrashInCheckpoint { after_files: u32 },
}

fn op() -> impl Strategy<Value = Op> {
    let i = any::<Index>;
    prop_oneof![
        4 => (0..4usize, i()).prop_map(|(column, by)| Op::Create { column, by }),
        5 => (i(), i(), 0..3u8).prop_map(|(item, by, mention)| Op::Comment { item, by, mention }),
        2 => (i(), 0..3usize).prop_map(|(item, column)| Op::Move { item, column }),
        2 => i().prop_map(|item| Op::Focus { item }),
        2 => (i(), i()).prop_map(|(item, to)| Op::Hand { item, to }),
        1 => i().prop_map(|item| Op::Delete { item }),
        2 => (i(), any::<bool>()).prop_map(|(by, to_group)| Op::Post { by, to_group }),
        2 => (i(), i(), any::<bool>()).prop_map(|(user, item, on)| Op::Follow { user, item, on }),
        2 => (i(), 1..90i64).prop_map(|(item, minutes)| Op::Activity { item, minutes }),
        3 => (proptest::collection::vec(0..16u8, 1..4), i())
            .prop_map(|(ids, item)| Op::Events { ids, item }),
        1 => (1..3000i64).prop_map(|minutes| Op::Advance { minutes }),
        2 => Just(Op::Checkpoint),
        1 => Just(Op::Reopen),
        1 => (0..4u32).prop_map(|after_files| Op::CrashInCheckpoint { after_files }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Random histories with checkpoints (forced, automatic every few seqs, at close, and
    /// cut short), reopened along the way: every reopen reads as before it, and at the end
    /// the store opened from its checkpoint reads exactly as a full rebuild of it does.
    #[test]
    fn a_checkpoint_plus_later_entries_reads_as_a_full_rebuild(
        every in prop_oneof![Just(0u64), 3u64..40],
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let scenario = fail::FailScenario::setup();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut w = World::new(dir.path(), every);
        for op in &ops {
            w.apply(dir.path(), op);
        }
        let live = w.reads();
        w.reopen(dir.path());
        let resumed = w.e().stats().opened_from_checkpoint;
        prop_assert!(resumed > 0, "the close wrote a checkpoint and open used it");
        prop_assert_eq!(&w.reads(), &live);
        w.check_seen();
        w.close();
        std::fs::remove_dir_all(dir.path().join("checkpoint")).expect("remove checkpoint");
        w.engine = Some(open(dir.path(), &w.clock, every));
        prop_assert_eq!(w.e().stats().opened_from_checkpoint, 0, "no checkpoint: a full rebuild");
        prop_assert_eq!(&w.reads(), &live);
        w.check_seen();
        prop_assert!(!w.is_duplicate("gw-never"), "an id never ingested is not a duplicate");
        w.close();
        scenario.teardown();
    }
}

/// A damaged checkpoint (a flipped byte in its head or a segment, a segment gone) is
/// ignored: open rebuilds from the records and reads the same.
#[test]
fn a_damaged_checkpoint_is_ignored_and_everything_is_rebuilt() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut w = World::new(dir.path(), 0);
    let (admin, ann) = (w.users[0], w.users[1]);
    for i in 0..30usize {
        let it = w.create(i % 3, admin);
        w.e()
            .comment(ann, it, "hello".into(), Mentions::default())
            .expect("comment");
    }
    let live = w.reads();
    w.close();
    let ck = dir.path().join("checkpoint");
    let files: Vec<_> = std::fs::read_dir(&ck)
        .expect("checkpoint dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(files.len() >= 2, "a head and a segment: {files:?}");
    for f in &files {
        let good = std::fs::read(f).expect("read");
        let mut bad = good.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x40;
        std::fs::write(f, &bad).expect("damage");
        w.engine = Some(open(dir.path(), &w.clock, 0));
        assert_eq!(
            w.e().stats().opened_from_checkpoint,
            0,
            "{f:?} damaged: not used"
        );
        assert_eq!(w.reads(), live, "{f:?} damaged: rebuilt");
        // The close wrote a new, sound checkpoint; the next open uses it.
        w.reopen(dir.path());
        assert!(w.e().stats().opened_from_checkpoint > 0);
        assert_eq!(w.reads(), live);
        w.close();
    }
    scenario.teardown();
}

/// A checkpoint copied from another store with as many entries is not this store's: its
/// anchor (the newest covered entry's checksum) differs, so it is ignored and removed.
#[test]
fn a_checkpoint_of_another_history_is_ignored() {
    refuses_a_copied_checkpoint(&|w, text| w.commented(5, text));
}

/// Two stores that differ only in their last event, which matched no item (an `S` row and
/// no entry): the anchor is that row, so the other's checkpoint is refused and each store
/// keeps its own seen set.
#[test]
fn a_checkpoint_whose_newest_seen_row_differs_is_ignored() {
    refuses_a_copied_checkpoint(&|w, text| {
        w.commented(3, "same");
        let admin = w.users[0];
        let event = call(&format!("gw-{text}"), None);
        let r = w.e().ingest(admin, vec![event], None).expect("ingest");
        assert!(matches!(&r[..], [Ok(x)] if x.status == IngestStatus::Unmatched));
    });
}

/// Builds stores a and b with `history` (given "on a" and "on b"), then opens b with a's
/// checkpoint: it must be refused, and b read as itself.
fn refuses_a_copied_checkpoint(history: &dyn Fn(&mut World, &str)) {
    let scenario = fail::FailScenario::setup();
    let (a, b) = (
        tempfile::tempdir().expect("dir a"),
        tempfile::tempdir().expect("dir b"),
    );
    let mut wa = World::new(a.path(), 0);
    let mut wb = World::new(b.path(), 0);
    history(&mut wa, "on a");
    history(&mut wb, "on b");
    let live = wb.reads();
    wa.close();
    wb.close();
    let (from, to) = (a.path().join("checkpoint"), b.path().join("checkpoint"));
    std::fs::remove_dir_all(&to).expect("remove b's checkpoint");
    std::fs::create_dir(&to).expect("dir");
    for f in std::fs::read_dir(&from).expect("a's checkpoint") {
        let f = f.expect("entry");
        std::fs::copy(f.path(), to.join(f.file_name())).expect("copy");
    }
    wb.engine = Some(open(b.path(), &wb.clock, 0));
    assert_eq!(wb.e().stats().opened_from_checkpoint, 0, "not this store's");
    assert_eq!(wb.reads(), live);
    assert!(
        !wb.is_duplicate("gw-on a"),
        "a's event is not one b has seen"
    );
    wb.close();
    scenario.teardown();
}
