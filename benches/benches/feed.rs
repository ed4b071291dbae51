//! Feeds: fan-out on write, wall pages, and the `apply_to_existing` job.
//!
//! - `feed/update_100_followers`, `feed/update_1000_followers`: `patch_item` (a new title,
//!   so each writes one `record_updated` entry whose audience is the item's followers) from
//!   16 threads at once, each on its own item followed by 100 / 1,000 users (plus its
//!   owner); one iteration is one patch per thread. Throughput in updates.
//! - `feed/update_1000_board_followers`: the same on 16 items of a board that the 1,000
//!   users follow whole (no follow row per record; issue 13: within 2× of
//!   `update_1000_followers`).
//! - `feed/fanout_read_100_followers`, `…_1000_followers` (printed): after those, one more
//!   update, then the first wall page of every follower, each of which must show it (the
//!   fan-out is in memory and merged at read, so the read is where its cost could hide).
//! - `feed/wall_page_module_filter`: a 50-entry page of the wall of a user who follows
//!   `HOIST_BENCH_FOLLOWS` (default 10,000) records in a store of `HOIST_BENCH_ENTRIES`
//!   (default 10,000,000) `call_out` entries over `HOIST_BENCH_ITEMS` records (half on a
//!   `deal` board, half on a `lead` board), filtered to `deal`, at a random page cursor:
//!   half of the reads among the first 10 pages, half anywhere in the wall. After the
//!   criterion run, 10,000 more reads go into an HDR histogram, printed as
//!   `feed/wall_page: p50 … p99 … max …`, and 10,000 more while a writer ingests new
//!   entries onto the same records (`feed/wall_page with a writer`).
//! - `feed/apply_to_existing_1m` (printed, not criterion): a rule (`amount >` the median,
//!   about half the records) with `apply_to_existing` over `HOIST_BENCH_ITEMS` records; the time
//!   until its job is `Done` (polled every 10 ms), while another thread creates items one
//!   at a time, whose latency is printed next to the same creates without the job.
//!
//! A quick run (`--test`, or `HOIST_BENCH_ITEMS` below 100,000) scales every size down:
//! `HOIST_BENCH_ITEMS=20000 cargo bench -p hoist-benches --bench feed -- --test`.

#![forbid(unsafe_code)]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hdrhistogram::Histogram;
use hoist_benches::{
    fill_column, item_body, item_count, parallel, quick, selected, size, BoardFixture, Rng,
    TempEngine,
};
use hoist_engine::{
    Criterion as RuleCriterion, Engine, EventKind, IngestStatus, ItemId, ItemPatch, JobState,
    NewBoard, NewEvent, NewRule, NewUser, Op, PageRequest, RuleValue, UserId, WallFilter,
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Followers per item of the two update benches.
const AUDIENCES: [usize; 2] = [100, 1_000];
/// Threads (and items) patching at once.
const UPDATE_THREADS: usize = 16;
/// Threads issuing `follow` and `create_user` while fixtures are built.
const BUILD_THREADS: usize = 64;
const PAGE: usize = 50;
/// Events per `ingest` while the wall fixture is built.
const ENTRY_BATCH: usize = 10_000;
/// Page reads that go into the wall's latency histogram.
const WALL_READS: usize = 10_000;
/// "Near the top": the first this many pages.
const TOP_PAGES: usize = 10;
/// `item_body` gives item `k` the amount `(k % AMOUNT_CYCLE) * 10`.
const AMOUNT_CYCLE: usize = 100_000;

/// Makes every patched title new, across iterations and threads.
static TITLES: AtomicU64 = AtomicU64::new(0);

fn histogram() -> Histogram<u64> {
    // Nanoseconds, 1 ns to 100 s, 3 significant digits.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("histogram bounds")
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

fn human(ns: u64) -> String {
    let ns = ns as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// `p50 … p99 … max …` of a histogram of nanoseconds.
/// A mean of non-negative nanoseconds, in whole nanoseconds.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn mean_ns(h: &Histogram<u64>) -> u64 {
    h.mean().round().max(0.0) as u64
}

fn summary(h: &Histogram<u64>) -> String {
    format!(
        "p50 {} p99 {} max {} (mean {}, n = {})",
        human(h.value_at_quantile(0.5)),
        human(h.value_at_quantile(0.99)),
        human(h.max()),
        human(mean_ns(h)),
        h.len()
    )
}

/// The update fixture: 1,000 users; per audience size, 16 items each followed by that
/// many of them.
struct UpdateFixture {
    store: TempEngine,
    /// Per entry of [`AUDIENCES`]: its items.
    items: Vec<Vec<ItemId>>,
    /// The users who follow; an item of audience `a` is followed by the first `a`.
    users: Vec<UserId>,
    /// 16 items of a board the first 1,000 users follow whole.
    board_items: Vec<ItemId>,
}

fn build_update() -> UpdateFixture {
    let start = Instant::now();
    let store = TempEngine::new();
    let engine = store.engine();
    let actor = store.actor;
    let board = engine
        .create_board(NewBoard {
            module: "deal".into(),
            name: "Followed deals".into(),
            columns: vec!["Open".into()],
            ..NewBoard::default()
        })
        .expect("create the board");
    let most = AUDIENCES.iter().copied().max().unwrap_or(0);
    parallel(BUILD_THREADS, most, |i| {
        engine
            .create_user(NewUser {
                name: format!("Follower {i}"),
                ..NewUser::default()
            })
            .expect("create a user");
    });
    let users: Vec<UserId> = engine
        .users()
        .into_iter()
        .map(|u| u.id)
        .filter(|u| *u != actor)
        .collect();
    let mut items = Vec::new();
    let mut pairs = Vec::new();
    for (k, audience) in AUDIENCES.iter().enumerate() {
        let ids = fill_column(
            engine,
            actor,
            &board,
            board.columns[0].id,
            UPDATE_THREADS,
            k * UPDATE_THREADS,
        );
        for item in &ids {
            pairs.extend(users.iter().take(*audience).map(|u| (*u, *item)));
        }
        items.push(ids);
    }
    parallel(BUILD_THREADS, pairs.len(), |i| {
        let (user, item) = pairs[i];
        engine.follow(user, item).expect("follow");
    });
    let followed = engine
        .create_board(NewBoard {
            module: "deal".into(),
            name: "A board followed whole".into(),
            columns: vec!["Open".into()],
            ..NewBoard::default()
        })
        .expect("create the followed board");
    let board_items = fill_column(
        engine,
        actor,
        &followed,
        followed.columns[0].id,
        UPDATE_THREADS,
        AUDIENCES.len() * UPDATE_THREADS,
    );
    for user in users.iter().take(1_000) {
        engine
            .follow_board(*user, followed.id)
            .expect("follow the board");
    }
    eprintln!(
        "fixture: feed/update: {} users, {} follows of {} items built in {:.1?}",
        users.len(),
        pairs.len(),
        AUDIENCES.len() * UPDATE_THREADS,
        start.elapsed()
    );
    UpdateFixture {
        store,
        items,
        users,
        board_items,
    }
}

/// The wall fixture (see the module docs).
struct WallFixture {
    store: TempEngine,
    /// The user whose wall is read.
    reader: UserId,
    /// The filtered wall's page cursors from the top (`None`: the first page).
    cursors: Vec<Option<String>>,
    /// Every record of the fixture (the writer during the histogram adds entries to them).
    items: Vec<ItemId>,
}

/// Outgoing call number `j` (timeline only, no focus), round robin over `items`.
fn call_out(prefix: &str, j: usize, items: &[ItemId]) -> NewEvent {
    NewEvent {
        id: format!("{prefix}-{j}"),
        kind: EventKind::CallOut,
        item: Some(items[j % items.len()]),
        phone: None,
        email: None,
        at: None,
        summary: Some(format!("Outbound call #{j}, 4 min")),
    }
}

fn wall_filter() -> WallFilter {
    WallFilter {
        modules: vec!["deal".into()],
        ..WallFilter::default()
    }
}

fn build_wall(n: usize, follows: usize, entries: usize) -> WallFixture {
    let start = Instant::now();
    let store = TempEngine::new();
    let engine = store.engine();
    let actor = store.actor;
    let mut all = Vec::with_capacity(n);
    for (module, share) in [("deal", n / 2), ("lead", n - n / 2)] {
        let board = engine
            .create_board(NewBoard {
                module: module.into(),
                name: format!("Wall {module}s"),
                columns: vec!["New".into()],
                ..NewBoard::default()
            })
            .expect("create a board");
        let made = all.len();
        all.extend(fill_column(
            engine,
            actor,
            &board,
            board.columns[0].id,
            share,
            made,
        ));
    }
    let items_took = start.elapsed();

    let reader = engine
        .create_user(NewUser {
            name: "Wall reader".into(),
            ..NewUser::default()
        })
        .expect("create the reader")
        .0
        .id;
    // `follows` distinct records of both modules, chosen at random (a partial shuffle).
    let follows = follows.min(all.len());
    let mut picked = all.clone();
    let mut rng = Rng::new(17);
    for i in 0..follows {
        let j = i + rng.below(picked.len() - i);
        picked.swap(i, j);
    }
    let t = Instant::now();
    parallel(BUILD_THREADS, follows, |i| {
        engine.follow(reader, picked[i]).expect("follow");
    });
    let follows_took = t.elapsed();

    // Outgoing calls: timeline only (no focus), one row each, round robin over the items.
    let t = Instant::now();
    let mut k = 0;
    while k < entries {
        let batch = (entries - k).min(ENTRY_BATCH);
        let events = (k..k + batch)
            .map(|j| call_out("wall-call", j, &all))
            .collect();
        let results = engine.ingest(actor, events, None).expect("ingest");
        assert!(results
            .iter()
            .all(|r| matches!(r, Ok(x) if x.status == IngestStatus::Accepted)));
        k += batch;
    }
    let entries_took = t.elapsed();

    let filter = wall_filter();
    let mut cursors: Vec<Option<String>> = vec![None];
    let mut shown = 0usize;
    loop {
        let page = engine
            .wall(
                reader,
                &filter,
                &PageRequest {
                    limit: Some(PAGE),
                    cursor: cursors.last().cloned().flatten(),
                },
            )
            .expect("wall");
        shown += page.items.len();
        match page.next_cursor {
            Some(c) => cursors.push(Some(c)),
            None => break,
        }
    }
    println!(
        "feed/wall_page: fixture built in {:.1?}: {n} records (deal + lead) in {:.1?}, \
         {follows} follows in {:.1?}, {entries} call_out entries in {:.1?} ({:.0}/s); the \
         reader's deal wall holds {shown} entries ({} pages)",
        start.elapsed(),
        items_took,
        follows_took,
        entries_took,
        entries as f64 / entries_took.as_secs_f64(),
        cursors.len()
    );
    WallFixture {
        store,
        reader,
        cursors,
        items: all,
    }
}

/// A page cursor: half the time among the first [`TOP_PAGES`] pages, else anywhere.
/// Returns whether it is near the top.
fn pick_cursor(cursors: &[Option<String>], rng: &mut Rng) -> (bool, Option<String>) {
    let top = rng.below(2) == 0;
    let i = if top {
        rng.below(cursors.len().min(TOP_PAGES))
    } else {
        rng.below(cursors.len())
    };
    (top, cursors[i].clone())
}

fn wall_page(
    engine: &Engine,
    f: &WallFixture,
    filter: &WallFilter,
    cursor: Option<String>,
) -> usize {
    engine
        .wall(
            f.reader,
            filter,
            &PageRequest {
                limit: Some(PAGE),
                cursor,
            },
        )
        .expect("wall")
        .items
        .len()
}

/// 10,000 page reads into HDR histograms (all, near the top, anywhere), printed; then the
/// same reads again while a writer ingests outgoing calls on the fixture's records in
/// batches of 100 (new entries land on the reader's wall as it pages), with its rate.
fn wall_histogram(f: &WallFixture) {
    let engine = f.store.engine();
    let filter = wall_filter();
    let mut rng = Rng::new(23);
    let mut read = |label: &str| {
        let (mut all, mut top, mut deep) = (histogram(), histogram(), histogram());
        for _ in 0..WALL_READS {
            let (near_top, cursor) = pick_cursor(&f.cursors, &mut rng);
            let start = Instant::now();
            let shown = wall_page(engine, f, &filter, cursor);
            let ns = nanos(start.elapsed());
            black_box(shown);
            all.saturating_record(ns);
            if near_top {
                top.saturating_record(ns);
            } else {
                deep.saturating_record(ns);
            }
        }
        println!(
            "feed/wall_page{label}: {} over {WALL_READS} reads of {PAGE} entries, modules [deal] \
             (target p99 <= 1 ms)",
            summary(&all)
        );
        println!(
            "feed/wall_page{label}: near the top (first {TOP_PAGES} pages): {}",
            summary(&top)
        );
        println!(
            "feed/wall_page{label}: anywhere ({} pages): {}",
            f.cursors.len(),
            summary(&deep)
        );
    };
    read("");
    let stop = AtomicBool::new(false);
    let written = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut j = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let events = (j..j + 100)
                    .map(|k| call_out("wall-writer", k, &f.items))
                    .collect();
                engine.ingest(f.store.actor, events, None).expect("ingest");
                j += 100;
                written.store(j, Ordering::Relaxed);
            }
        });
        read(" with a writer");
        stop.store(true, Ordering::Relaxed);
    });
    let took = started.elapsed();
    let n = written.load(Ordering::Relaxed);
    println!(
        "feed/wall_page with a writer: the writer added {n} entries meanwhile ({:.0}/s)",
        n as f64 / took.as_secs_f64()
    );
}

/// After the fan-out benches: one more update of an item, then the first wall page of each
/// of its followers, every one of which must show it; the page reads are timed.
fn fanout_read(f: &UpdateFixture) {
    let engine = f.store.engine();
    for (k, audience) in AUDIENCES.iter().enumerate() {
        let item = f.items[k][0];
        let v = TITLES.fetch_add(1, Ordering::Relaxed);
        let title = format!("Renewal, revision {v}");
        engine
            .patch_item(
                f.store.actor,
                item,
                ItemPatch {
                    title: Some(title.clone()),
                    ..ItemPatch::default()
                },
            )
            .expect("patch");
        let followers = &f.users[..*audience];
        let mut h = histogram();
        for user in followers {
            let start = Instant::now();
            let page = engine
                .wall(
                    *user,
                    &WallFilter::default(),
                    &PageRequest {
                        limit: Some(PAGE),
                        cursor: None,
                    },
                )
                .expect("wall");
            h.saturating_record(nanos(start.elapsed()));
            assert!(
                page.items.iter().any(|e| e.item == Some(item)
                    && e.changes
                        .iter()
                        .any(|c| c.new == hoist_engine::Value::Str(title.clone()))),
                "follower {user} does not see the update"
            );
        }
        println!(
            "feed/fanout_read_{audience}_followers: each of the {} followers' first wall page \
             shows the update; page {}",
            followers.len(),
            summary(&h)
        );
    }
}

/// Creates items one at a time until `stop`, each timed into the histogram.
fn create_loop(f: &BoardFixture, next: &AtomicUsize, stop: &AtomicBool) -> Histogram<u64> {
    let engine = f.engine();
    let column = f.column(0);
    let mut h = histogram();
    while !stop.load(Ordering::Relaxed) {
        let body = item_body(&f.board, column, next.fetch_add(1, Ordering::Relaxed));
        let start = Instant::now();
        let view = engine
            .create_item(f.store.actor, body)
            .expect("create an item");
        h.saturating_record(nanos(start.elapsed()));
        black_box(view);
    }
    h
}

/// The `apply_to_existing` job over `n` records with creates going on (printed).
fn apply_to_existing(n: usize) {
    let start = Instant::now();
    let f = BoardFixture::build(n);
    eprintln!(
        "fixture: feed/apply_to_existing: {n} records built in {:.1?}",
        start.elapsed()
    );
    let engine = f.engine();
    let owner = engine
        .create_user(NewUser {
            name: "Rule owner".into(),
            ..NewUser::default()
        })
        .expect("create the rule owner")
        .0
        .id;
    let next = AtomicUsize::new(n);
    // The median amount of the fixture's records: the rule matches about half of them.
    let threshold = (n.min(AMOUNT_CYCLE) * 5) as f64;

    // The same creates without the job, for comparison.
    let alone = {
        let stop = AtomicBool::new(false);
        let window = if quick() {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(2)
        };
        std::thread::scope(|s| {
            let creator = s.spawn(|| create_loop(&f, &next, &stop));
            std::thread::sleep(window);
            stop.store(true, Ordering::Relaxed);
            creator.join().expect("the creator")
        })
    };

    let stop = AtomicBool::new(false);
    let (took, rule_took, status, during, creates_for) = std::thread::scope(|s| {
        let creator = s.spawn(|| {
            let t = Instant::now();
            let h = create_loop(&f, &next, &stop);
            (h, t.elapsed())
        });
        let start = Instant::now();
        let (_, job) = engine
            .create_rule(
                owner,
                NewRule {
                    name: "Big deals".into(),
                    module: "deal".into(),
                    criteria: vec![RuleCriterion {
                        field: "amount".into(),
                        op: Op::Gt,
                        value: RuleValue::Num(threshold),
                    }],
                    apply_to_existing: true,
                },
            )
            .expect("create the rule");
        let rule_took = start.elapsed();
        let job = job.expect("apply_to_existing makes a job");
        let give_up = Duration::from_secs(3_600);
        let status = loop {
            let status = engine.job(job).expect("the job");
            if status.state != JobState::Running || start.elapsed() > give_up {
                break status;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        let (during, creates_for) = creator.join().expect("the creator");
        (took, rule_took, status, during, creates_for)
    });
    assert_eq!(status.state, JobState::Done, "the job finishes");
    // What the job did: the records the owner follows now (not timed).
    let mut followed = 0usize;
    let mut cursor = None;
    loop {
        let page = engine
            .follows(
                owner,
                Some("deal"),
                &PageRequest {
                    limit: Some(500),
                    cursor,
                },
            )
            .expect("follows");
        followed += page.items.len();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert!(followed > 0, "the job made the owner follow");
    println!(
        "feed/apply_to_existing_1m: job over {} records ({} examined) done in {:.2} s \
         (create_rule itself {:.1} ms; the owner follows {followed} records after it) \
         (target <= 60 s)",
        status.total,
        status.done,
        took.as_secs_f64(),
        rule_took.as_secs_f64() * 1e3
    );
    println!(
        "feed/apply_to_existing_1m: concurrent single creates during the job: {} ({:.0}/s): {}",
        during.len(),
        during.len() as f64 / creates_for.as_secs_f64(),
        summary(&during)
    );
    println!(
        "feed/apply_to_existing_1m: the same creates without the job: {}",
        summary(&alone)
    );
}

/// `iters` title patches on each of `items`, one thread per item; the time they took.
fn patch_each(f: &UpdateFixture, items: &[ItemId], iters: u64) -> Duration {
    let (engine, actor) = (f.store.engine(), f.store.actor);
    let start = Instant::now();
    std::thread::scope(|s| {
        for item in items.iter().copied() {
            s.spawn(move || {
                for _ in 0..iters {
                    let v = TITLES.fetch_add(1, Ordering::Relaxed);
                    let patch = ItemPatch {
                        title: Some(format!("Renewal, revision {v}")),
                        ..ItemPatch::default()
                    };
                    let (_, changes) = engine.patch_item(actor, item, patch).expect("patch");
                    black_box(changes);
                }
            });
        }
    });
    start.elapsed()
}

fn feed(c: &mut Criterion) {
    let n = item_count();

    {
        let mut upd: Option<UpdateFixture> = None;
        let mut g = c.benchmark_group("feed");
        g.throughput(Throughput::Elements(UPDATE_THREADS as u64));
        for (k, audience) in AUDIENCES.iter().enumerate() {
            g.bench_function(format!("update_{audience}_followers"), |b| {
                let f = upd.get_or_insert_with(build_update);
                b.iter_custom(|iters| patch_each(f, &f.items[k], iters));
            });
        }
        g.bench_function("update_1000_board_followers", |b| {
            let f = upd.get_or_insert_with(build_update);
            b.iter_custom(|iters| patch_each(f, &f.board_items, iters));
        });
        g.finish();
        if let Some(f) = upd.take() {
            fanout_read(&f);
        }
    }

    {
        let follows = size("HOIST_BENCH_FOLLOWS", 10_000, 1_000);
        let entries = size("HOIST_BENCH_ENTRIES", 10_000_000, 20_000);
        let mut wall: Option<WallFixture> = None;
        let filter = wall_filter();
        let mut rng = Rng::new(19);
        let mut g = c.benchmark_group("feed");
        g.throughput(Throughput::Elements(PAGE as u64));
        g.bench_function("wall_page_module_filter", |b| {
            let f = wall.get_or_insert_with(|| build_wall(n, follows, entries));
            let engine = f.store.engine();
            b.iter_batched(
                || pick_cursor(&f.cursors, &mut rng).1,
                |cursor| wall_page(engine, f, &filter, cursor),
                BatchSize::SmallInput,
            );
        });
        g.finish();
        // Only when the criterion bench ran (the filter selected it).
        if let Some(f) = wall.take() {
            wall_histogram(&f);
        }
    }

    if selected("feed/apply_to_existing_1m") {
        apply_to_existing(n);
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = feed
}
criterion_main!(benches);
