//! Board hot paths on a board of `HOIST_BENCH_ITEMS` items (default 1,000,000) in ten
//! columns:
//!
//! - `focus/many_1024`: durable focus-to-top of 1,024 random items per command;
//! - `focus/single_64_threads`: single durable focus calls from 64 threads at once, which
//!   is what group commit is for (one flush serves every waiting caller);
//! - `page/top50_fields`: the top 50 of a column with every field of every item read;
//! - `page/json_random_depth`: a page of 50 from a random column at a random depth (from a
//!   cursor taken anywhere in the column), serialized to exactly the JSON bytes the server
//!   answers (`hoist_server::item_page_bytes`);
//! - `recovery/open`: opening the `N`-item store (format check, full scan, index rebuild),
//!   warm: the first open after the store was written is timed apart and printed
//!   (`recovery: first open after writing ...`), since criterion's warm-up discards it;
//! - `create/batch_1000`: item creation, 1,000 per command;
//! - `move/between_neighbours`: a manual drag between two neighbours;
//! - `page_cost/*`: a page of a 10,000-item column against one of an `N`-item column,
//!   from the top and from the middle (the cost should follow the page, not the column).
//!
//! - `deadlines/bucket_page_50`: the first 50 items of a Deadlines bucket (`today`,
//!   `tomorrow`, `this_week`, `next_week`, `later` or `none`, in turn) of the `N`-item board
//!   after `N / 2` activities were planned on every other item, due over the next 30 days;
//!   `deadlines/view_7x20`: the whole view, 20 items a bucket. Throughput in pages.
//!
//! Throughput is in elements (items focused, read, created, moved, recovered) per second.
//! Each fixture is built once per process, lazily, so a filtered run builds only what it
//! needs. Smoke test: `HOIST_BENCH_ITEMS=20000 cargo bench -p hoist-benches -- --test`.

#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hoist_benches::{
    item_body, item_count, parallel, BoardFixture, ColumnPairFixture, Rng, COLUMNS,
};
use hoist_engine::{
    ActivityKind, Clock, DeadlineBucket, DeadlineQuery, Engine, FieldRef, FocusReason, ItemId,
    ItemView, NewActivity, PageRequest, Position, SystemClock,
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const FOCUS_BATCH: usize = 1_024;
const FOCUS_THREADS: usize = 64;
const CREATE_BATCH: usize = 1_000;
const PAGE: usize = 50;
const SMALL_COLUMN: usize = 10_000;

fn build_main(n: usize) -> BoardFixture {
    let start = Instant::now();
    let f = BoardFixture::build(n);
    eprintln!(
        "fixture: {n} items in {COLUMNS} columns built in {:.1?}",
        start.elapsed()
    );
    f
}

fn build_pair(small: usize, large: usize) -> ColumnPairFixture {
    let start = Instant::now();
    let f = ColumnPairFixture::build(small, large);
    eprintln!(
        "fixture: columns of {small} and {large} items built in {:.1?}",
        start.elapsed()
    );
    f
}

fn top_page(engine: &Engine, f: &BoardFixture, column: usize) -> Vec<ItemView> {
    engine
        .column_page(
            f.board.id,
            f.column(column),
            &PageRequest {
                limit: Some(PAGE),
                cursor: None,
            },
        )
        .expect("page")
        .items
}

/// The cursor of every 50th position of every column (`None` is the top), by walking the
/// pages once.
fn column_cursors(engine: &Engine, f: &BoardFixture) -> Vec<Vec<Option<String>>> {
    let start = Instant::now();
    let out: Vec<Vec<Option<String>>> = (0..COLUMNS)
        .map(|c| {
            let mut at = vec![None];
            let mut cursor = None;
            loop {
                let page = engine
                    .column_page(
                        f.board.id,
                        f.column(c),
                        &PageRequest {
                            limit: Some(PAGE),
                            cursor,
                        },
                    )
                    .expect("page");
                match page.next_cursor {
                    Some(next) => {
                        at.push(Some(next.clone()));
                        cursor = Some(next);
                    }
                    None => return at,
                }
            }
        })
        .collect();
    eprintln!(
        "fixture: {} cursors over {COLUMNS} columns taken in {:.1?}",
        out.iter().map(Vec::len).sum::<usize>(),
        start.elapsed()
    );
    out
}

/// Reads every field of an item in place and folds it into a checksum, so nothing the
/// page hands out is left unread.
fn read_all(view: &ItemView) -> u64 {
    let r = view.get().expect("decode");
    let mut sum = r.id().0 ^ r.board().0 ^ r.column().0 ^ r.responsible().0;
    sum = sum.wrapping_add(r.title().len() as u64);
    sum = sum.wrapping_add(r.amount().to_bits());
    for (k, v) in r.fields() {
        sum = sum.wrapping_add(k.len() as u64);
        sum = sum.wrapping_add(match v {
            FieldRef::Str(s) => s.len() as u64,
            FieldRef::Num(n) => n.to_bits(),
            FieldRef::Bool(b) => u64::from(b),
        });
    }
    for p in r.phones().chain(r.emails()) {
        sum = sum.wrapping_add(p.len() as u64);
    }
    let times = [r.created_at(), r.updated_at(), r.focused_at()];
    for t in times {
        sum = sum.wrapping_add(t.0.cast_unsigned());
    }
    sum = sum.wrapping_add(r.focus_reason() as u64);
    sum = sum.wrapping_add(u64::from(r.attention()) + u64::from(r.unread()));
    sum.wrapping_add(r.next_deadline().map_or(0, |d| d.0.cast_unsigned()))
}

fn board(c: &mut Criterion) {
    let n = item_count();
    let mut main: Option<BoardFixture> = None;

    {
        let mut g = c.benchmark_group("focus");
        g.throughput(Throughput::Elements(FOCUS_BATCH as u64));
        let mut rng = Rng::new(1);
        g.bench_function("many_1024", |b| {
            let f = main.get_or_insert_with(|| build_main(n));
            let engine = f.engine();
            b.iter_batched(
                || {
                    (0..FOCUS_BATCH)
                        .map(|_| (rng.pick(&f.all), FocusReason::CallIn))
                        .collect::<Vec<_>>()
                },
                |batch| {
                    let results = engine.focus_many(batch).expect("focus_many");
                    assert!(results.iter().all(Result::is_ok));
                    black_box(results)
                },
                BatchSize::SmallInput,
            );
        });
        g.throughput(Throughput::Elements(FOCUS_THREADS as u64));
        g.bench_function("single_64_threads", |b| {
            let f = main.get_or_insert_with(|| build_main(n));
            let (engine, all) = (f.engine(), &f.all);
            // One iteration is one focus on each of the 64 threads.
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|s| {
                    for t in 0..FOCUS_THREADS {
                        s.spawn(move || {
                            let mut rng = Rng::new(1_000 + t as u64 + iters);
                            for _ in 0..iters {
                                let id = rng.pick(all);
                                black_box(engine.focus(id, FocusReason::EmailIn).expect("focus"));
                            }
                        });
                    }
                });
                start.elapsed()
            });
        });
        g.finish();
    }

    {
        let mut g = c.benchmark_group("page");
        g.throughput(Throughput::Elements(PAGE as u64));
        let mut column = 0usize;
        g.bench_function("top50_fields", |b| {
            let f = main.get_or_insert_with(|| build_main(n));
            let engine = f.engine();
            b.iter(|| {
                column = (column + 1) % COLUMNS;
                let items = top_page(engine, f, column);
                let sum = items.iter().map(read_all).fold(0u64, u64::wrapping_add);
                black_box(sum)
            });
        });
        // Cursors at every 50th item of every column, taken once; an iteration picks a
        // column and a depth at random, so the pages spread over the whole board instead
        // of re-reading the same 500 records.
        let mut cursors: Option<Vec<Vec<Option<String>>>> = None;
        let mut rng = Rng::new(7);
        g.bench_function("json_random_depth", |b| {
            let f = main.get_or_insert_with(|| build_main(n));
            let engine = f.engine();
            let cursors = cursors.get_or_insert_with(|| column_cursors(engine, f));
            b.iter(|| {
                let column = rng.below(COLUMNS);
                let at = &cursors[column];
                let cursor = at[rng.below(at.len())].clone();
                let page = engine
                    .column_page(
                        f.board.id,
                        f.column(column),
                        &PageRequest {
                            limit: Some(PAGE),
                            cursor,
                        },
                    )
                    .expect("page");
                let bytes = hoist_server::item_page_bytes(&page).expect("render");
                black_box(bytes.len())
            });
        });
        g.finish();
    }

    {
        // Before `create`, so the store holds exactly the fixture's items.
        let mut g = c.benchmark_group("recovery");
        g.measurement_time(Duration::from_secs(10));
        g.throughput(Throughput::Elements(n as u64));
        let mut first_done = false;
        g.bench_function("open", |b| {
            let f = main.get_or_insert_with(|| build_main(n));
            if !first_done {
                // The first open after the store was written: what a restart after a write
                // load costs. Criterion's warm-up would discard it.
                first_done = true;
                let first = f.store.reopen();
                eprintln!("recovery: first open after writing {n} items: {first:.2?}");
            }
            b.iter_custom(|iters| (0..iters).map(|_| f.store.reopen()).sum());
        });
        g.finish();
    }

    {
        let mut g = c.benchmark_group("create");
        g.throughput(Throughput::Elements(CREATE_BATCH as u64));
        let mut next = 0usize;
        let mut rng = Rng::new(2);
        g.bench_function("batch_1000", |b| {
            let f = main.get_or_insert_with(|| build_main(n));
            let (engine, actor) = (f.engine(), f.store.actor);
            b.iter_batched(
                || {
                    let column = f.column(rng.below(COLUMNS));
                    (0..CREATE_BATCH)
                        .map(|_| {
                            next += 1;
                            item_body(&f.board, column, n + next)
                        })
                        .collect::<Vec<_>>()
                },
                |bodies| {
                    let results = engine.create_items(actor, bodies).expect("create_items");
                    assert!(results.iter().all(Result::is_ok));
                    black_box(results)
                },
                BatchSize::SmallInput,
            );
        });
        g.finish();
    }

    {
        let mut g = c.benchmark_group("move");
        g.throughput(Throughput::Elements(1));
        let mut rng = Rng::new(3);
        g.bench_function("between_neighbours", |b| {
            let f = main.get_or_insert_with(|| build_main(n));
            let (engine, actor) = (f.engine(), f.store.actor);
            b.iter_batched(
                || {
                    // Items never leave their column in these benches, so an anchor from
                    // the same column's list is a valid neighbour.
                    let col = &f.items[rng.below(COLUMNS)];
                    if col.len() < 2 {
                        return None;
                    }
                    let item = rng.pick(col);
                    let mut anchor = rng.pick(col);
                    while anchor == item {
                        anchor = rng.pick(col);
                    }
                    Some((item, anchor))
                },
                |pair: Option<(ItemId, ItemId)>| {
                    if let Some((item, anchor)) = pair {
                        let moved =
                            engine.move_item(actor, item, None, Some(Position::After(anchor)));
                        black_box(moved.expect("move"));
                    }
                },
                BatchSize::SmallInput,
            );
        });
        g.finish();
    }

    // The main fixture is done with; free it before building the next one.
    drop(main.take());

    {
        let mut pair: Option<ColumnPairFixture> = None;
        let small = SMALL_COLUMN.min(n);
        let large = n.max(small);
        let mut g = c.benchmark_group("page_cost");
        g.throughput(Throughput::Elements(PAGE as u64));
        for side in 0..2 {
            let count = if side == 0 { small } else { large };
            for from_middle in [false, true] {
                let name = format!(
                    "{}50_of_{count}",
                    if from_middle { "middle" } else { "top" }
                );
                g.bench_function(name, |b| {
                    let f = pair.get_or_insert_with(|| build_pair(small, large));
                    let (column, _) = f.columns[side];
                    let cursor = if from_middle {
                        f.middle[side].clone()
                    } else {
                        None
                    };
                    let engine = f.store.engine();
                    b.iter(|| {
                        let page = engine
                            .column_page(
                                f.board.id,
                                column,
                                &PageRequest {
                                    limit: Some(PAGE),
                                    cursor: cursor.clone(),
                                },
                            )
                            .expect("page");
                        black_box(
                            page.items
                                .iter()
                                .map(read_all)
                                .fold(0u64, u64::wrapping_add),
                        )
                    });
                });
            }
        }
        g.finish();
    }

    // The activities are planned only when a `deadlines/` benchmark runs.
    if ["deadlines/bucket_page_50", "deadlines/view_7x20"]
        .iter()
        .any(|id| hoist_benches::selected(id))
    {
        let f = main.get_or_insert_with(|| build_main(n));
        plan_activities(f);
        deadlines(c, f);
    }
}

/// Plans an activity on every other item of `f`, due at a random time in the next 30
/// days (64 threads, so group commit batches them).
fn plan_activities(f: &BoardFixture) {
    let start = Instant::now();
    let engine = f.engine();
    let now = SystemClock.now();
    let half: Vec<ItemId> = f.all.iter().step_by(2).copied().collect();
    parallel(64, half.len(), |i| {
        let mut rng = Rng::new(u64::try_from(i).unwrap_or(0) + 1);
        let offset = i64::try_from(rng.next_u64() % (30 * 86_400_000)).unwrap_or(0);
        engine
            .create_activity(
                f.store.actor,
                half[i],
                NewActivity {
                    kind: ActivityKind::Call,
                    subject: "Call back".into(),
                    deadline: now.plus(3_600_000 + offset),
                    responsible: None,
                    remind_before_minutes: Some(vec![]),
                },
            )
            .expect("plan an activity");
    });
    eprintln!(
        "fixture: {} activities planned in {:.1?}",
        half.len(),
        start.elapsed()
    );
}

fn deadlines(c: &mut Criterion, f: &BoardFixture) {
    let engine = f.engine();
    let q = DeadlineQuery {
        tz_offset_minutes: 180,
        responsible: None,
    };
    // Every bucket but `overdue` (nothing is due yet).
    let buckets: Vec<DeadlineBucket> = DeadlineBucket::ALL
        .into_iter()
        .filter(|b| *b != DeadlineBucket::Overdue)
        .collect();
    let mut g = c.benchmark_group("deadlines");
    g.throughput(Throughput::Elements(1));
    let mut k = 0usize;
    g.bench_function("bucket_page_50", |b| {
        b.iter(|| {
            k = (k + 1) % buckets.len();
            let req = PageRequest {
                limit: Some(PAGE),
                cursor: None,
            };
            let p = engine
                .deadline_bucket(f.board.id, buckets[k], &q, &req)
                .expect("bucket");
            black_box(p.page.items.len())
        });
    });
    g.bench_function("view_7x20", |b| {
        b.iter(|| black_box(engine.deadlines(f.board.id, &q, 20).expect("view").len()));
    });
    g.finish();
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
    targets = board
}
criterion_main!(benches);
