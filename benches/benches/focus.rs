//! Focus mode: timers, activities and events.
//!
//! - `wheel/arm_1m`: 1,000,000 timers armed in a fresh [`Wheel`] (pure, no engine), with
//!   engine-shaped timer ids (activity × slot) and due times spread over the next 30 days.
//! - `activity/create_durable`: `create_activity` from 64 threads at once (group commit),
//!   64 per thread per iteration, on random items of the `N`-item board; each arms its
//!   deadline and the board's default reminder (2 timers), durable before it returns.
//! - `events/ingest_batch_1000`: `ingest` of 1,000 fresh events per call (one command, one
//!   flush) on the same board: `call_in`/`email_in` by item id, every fourth by phone.
//! - `timers/fire_100k_same_second`: on a manual clock with the timer thread off, 100,000
//!   activities (deadline only, no reminders) due within one second; the clock moves past
//!   them and `fire_due_timers()` is timed until every focus is durable. A fresh set per
//!   iteration (its creation is not timed).
//! - `timers/lateness` (printed, not criterion): the real timer thread on the system clock
//!   fires 100,000 deadlines that fall in one second, on the `N`-item board, three times
//!   (fresh activities each run); prints how late the first
//!   `ItemFocused` arrives after the earliest deadline and when `timers_pending` reaches 0
//!   after the last one.
//! - `recovery/rearm_open`: opening a store that holds `HOIST_BENCH_TIMERS` (default
//!   1,000,000) pending timers: activities with five reminders and a deadline each (6
//!   timers per activity, so a sixth of the commands to build), on a 10,000-item board.
//!
//! Sizes: `HOIST_BENCH_ITEMS` (board, default 1,000,000), `HOIST_BENCH_TIMERS`; a quick
//! run (`--test`, or `HOIST_BENCH_ITEMS` below 100,000) scales every size down:
//! `HOIST_BENCH_ITEMS=20000 cargo bench -p hoist-benches --bench focus -- --test`.

#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use hoist_benches::{item_count, parallel, quick, selected, size, BoardFixture, Rng};
use hoist_engine::{
    ActivityKind, ChangeKind, Clock, Config, Engine, EventKind, IngestStatus, ItemId, ManualClock,
    Millis, NewActivity, NewEvent, Received, SystemClock, TimerId, UserId, Wheel,
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const WHEEL_TIMERS: usize = 1_000_000;
const CREATE_THREADS: usize = 64;
const CREATE_PER_THREAD: usize = 64;
const INGEST_BATCH: usize = 1_000;
const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// A fixed "now" for the pure wheel bench (June 2025), mid-block for the wheel's 2^36 ms
/// slots, so the 30-day horizon never overflows and runs are comparable.
const WHEEL_NOW: i64 = 1_750_000_000_000;
/// Reminder offsets of the recovery fixture: five reminders plus the deadline.
const REMINDERS: [i64; 5] = [5, 15, 60, 240, 1_440];
/// Runs of the lateness measurement, each with fresh activities on the same board.
const LATENESS_RUNS: usize = 3;
/// The board under the recovery fixture: small, so that the open is about timers.
const REARM_BOARD: usize = 10_000;

fn build_board(n: usize, config: Config, what: &str) -> BoardFixture {
    let start = Instant::now();
    let f = BoardFixture::build_with(n, config);
    eprintln!(
        "fixture: {what}: {n} items built in {:.1?}",
        start.elapsed()
    );
    f
}

/// The wall clock in fractional milliseconds since the epoch (finer than `SystemClock`).
fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
}

fn ms(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn activity(deadline: i64, reminders: Option<Vec<i64>>) -> NewActivity {
    NewActivity {
        kind: ActivityKind::Call,
        subject: "Call back about the renewal".into(),
        deadline: Millis(deadline),
        responsible: None,
        remind_before_minutes: reminders,
    }
}

/// Creates `count` activities from [`CREATE_THREADS`] threads; activity `i` is on item
/// `items[(first + i) % len]` with the deadline `deadline(i)`.
fn create_activities(
    engine: &Engine,
    actor: UserId,
    items: &[ItemId],
    first: usize,
    count: usize,
    deadline: impl Fn(usize) -> i64 + Sync,
    reminders: Option<Vec<i64>>,
) {
    parallel(CREATE_THREADS, count, |i| {
        let item = items[(first + i) % items.len()];
        engine
            .create_activity(actor, item, activity(deadline(i), reminders.clone()))
            .expect("create an activity");
    });
}

/// Engine-shaped timer ids and due times: per activity a deadline (slot 7) and one
/// reminder (slot 0) 15 minutes before it, deadlines over the next 30 days.
fn wheel_input() -> Vec<(TimerId, i64)> {
    let mut rng = Rng::new(11);
    let span = usize::try_from(30 * DAY).unwrap_or(1);
    let mut out = Vec::with_capacity(WHEEL_TIMERS);
    for activity in 1..=(WHEEL_TIMERS / 2) as u64 {
        let deadline = WHEEL_NOW + HOUR + ms(rng.below(span));
        out.push((TimerId(activity << 3 | 7), deadline));
        out.push((TimerId(activity << 3), deadline - 15 * MINUTE));
    }
    out
}

fn new_events(all: &[ItemId], next: &mut u64, rng: &mut Rng) -> Vec<NewEvent> {
    (0..INGEST_BATCH)
        .map(|_| {
            *next += 1;
            let k = *next;
            let i = rng.below(all.len());
            let kind = if i.is_multiple_of(2) {
                EventKind::CallIn
            } else {
                EventKind::EmailIn
            };
            // The fixture's item number i carries phone "+1 555 {i:07}" (see item_body).
            let by_phone = k.is_multiple_of(4);
            NewEvent {
                id: format!("bench-event-{k}"),
                kind,
                item: (!by_phone).then(|| all[i]),
                phone: by_phone.then(|| format!("+1 555 {:07}", i % 10_000_000)),
                email: None,
                at: None,
                summary: Some(format!("Inbound contact #{k}")),
            }
        })
        .collect()
}

/// The lateness of the real timer thread (printed; see the module docs), measured
/// [`LATENESS_RUNS`] times on the `n`-item board.
fn lateness(n: usize) {
    let count = if quick() { 2_000 } else { 100_000 };
    let f = build_board(n, Config::default(), "timers/lateness");
    for run in 0..LATENESS_RUNS {
        println!("timers/lateness: run {} of {LATENESS_RUNS}", run + 1);
        lateness_run(&f, count, run);
    }
}

fn lateness_run(f: &BoardFixture, count: usize, run: usize) {
    let (engine, actor) = (f.engine(), f.store.actor);
    // One whole second, far enough ahead for the creation to finish first (it would have
    // to run below 10,000 activities/s to miss it).
    let margin = 3 * SECOND + ms(count) / 10;
    let earliest = (SystemClock.now().0 + margin) / SECOND * SECOND + SECOND;
    let deadline = |i: usize| earliest + ms(i * 1_000 / count);
    let last = deadline(count - 1);
    let start = Instant::now();
    create_activities(
        engine,
        actor,
        &f.all,
        run * count,
        count,
        deadline,
        Some(vec![]),
    );
    let created = start.elapsed();
    let ahead = earliest as f64 - wall_ms();
    let pending = engine.stats().timers_pending;
    let sub = engine.subscribe(2 * count + 1_024);
    let give_up = Duration::from_millis(u64::try_from(last - SystemClock.now().0).unwrap_or(0))
        + Duration::from_secs(60);
    let deadline_end = Instant::now() + give_up;
    let ((first_focus, last_focus, focused), zero_at) = std::thread::scope(|s| {
        let listener = s.spawn(|| {
            let (mut first, mut last, mut n) = (None, None, 0usize);
            while n < count && Instant::now() < deadline_end {
                match sub.recv_timeout(Duration::from_millis(100)) {
                    Received::Change(c) if c.kind == ChangeKind::ItemFocused => {
                        let t = wall_ms();
                        first.get_or_insert(t);
                        n += 1;
                        last = Some(t);
                    }
                    Received::Change(_) | Received::Idle => {}
                    Received::Resync | Received::Closed => break,
                }
            }
            (first, last, n)
        });
        // `timers_pending` cannot reach 0 before the last deadline: poll from just before
        // it, so the polling (a read lock each) stays out of the first-focus measurement.
        let until_last = last as f64 - 5.0 - wall_ms();
        if until_last > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(until_last / 1_000.0));
        }
        let mut zero_at = None;
        while Instant::now() < deadline_end {
            if engine.stats().timers_pending == 0 {
                zero_at = Some(wall_ms());
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        (listener.join().expect("the listener"), zero_at)
    });
    let after = |t: Option<f64>, base: i64| {
        t.map_or_else(
            || "never (gave up)".to_string(),
            |t| format!("{:+.1} ms", t - base as f64),
        )
    };
    println!(
        "timers/lateness: {count} deadline timers in one second (timer thread, system clock, \
         {}-item board); created in {:.2} s ({:.0}/s), {:.0} ms before the earliest deadline; \
         {pending} pending",
        f.all.len(),
        created.as_secs_f64(),
        count as f64 / created.as_secs_f64(),
        ahead,
    );
    if ahead <= 0.0 {
        println!(
            "timers/lateness: WARNING: creation ran past the earliest deadline; the first-focus \
             number below is not valid"
        );
    }
    println!(
        "timers/lateness: first ItemFocused {} after the earliest deadline (target <= 10 ms)",
        after(first_focus, earliest)
    );
    println!(
        "timers/lateness: timers_pending == 0 {} after the last deadline (target <= 3000 ms)",
        after(zero_at, last)
    );
    println!(
        "timers/lateness: last ItemFocused ({focused}/{count} received) {} after the last deadline",
        after(last_focus, last)
    );
}

fn focus(c: &mut Criterion) {
    let n = item_count();

    {
        let mut g = c.benchmark_group("wheel");
        g.throughput(Throughput::Elements(WHEEL_TIMERS as u64));
        let mut input: Option<Vec<(TimerId, i64)>> = None;
        g.bench_function("arm_1m", |b| {
            let timers = input.get_or_insert_with(wheel_input);
            b.iter_batched(
                || Wheel::new(WHEEL_NOW),
                |mut wheel| {
                    for (id, due) in timers.iter() {
                        wheel.insert(*id, *due);
                    }
                    // Returned, so its drop is not timed.
                    wheel
                },
                BatchSize::PerIteration,
            );
        });
        g.finish();
    }

    let mut main: Option<BoardFixture> = None;
    let build_main = || build_board(n, Config::default(), "main board");

    {
        let mut g = c.benchmark_group("activity");
        let per_iter = CREATE_THREADS * CREATE_PER_THREAD;
        g.throughput(Throughput::Elements(per_iter as u64));
        g.bench_function("create_durable", |b| {
            let f = main.get_or_insert_with(build_main);
            let (engine, actor, all) = (f.engine(), f.store.actor, &f.all);
            b.iter_custom(|iters| {
                let now = SystemClock.now().0;
                let start = Instant::now();
                std::thread::scope(|s| {
                    for t in 0..CREATE_THREADS {
                        s.spawn(move || {
                            let mut rng = Rng::new(5_000 + t as u64 + iters);
                            for _ in 0..iters * CREATE_PER_THREAD as u64 {
                                // Deadlines 1–30 days ahead: nothing fires during the run.
                                let deadline = now
                                    + DAY
                                    + ms(rng.below(usize::try_from(29 * DAY).unwrap_or(1)));
                                let a = engine
                                    .create_activity(actor, rng.pick(all), activity(deadline, None))
                                    .expect("create an activity");
                                black_box(a);
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
        let mut g = c.benchmark_group("events");
        g.throughput(Throughput::Elements(INGEST_BATCH as u64));
        let mut next = 0u64;
        let mut rng = Rng::new(13);
        g.bench_function("ingest_batch_1000", |b| {
            let f = main.get_or_insert_with(build_main);
            let (engine, actor, all) = (f.engine(), f.store.actor, &f.all);
            b.iter_batched(
                || new_events(all, &mut next, &mut rng),
                |events| {
                    let results = engine.ingest(actor, events, None).expect("ingest");
                    assert!(results
                        .iter()
                        .all(|r| matches!(r, Ok(x) if x.status == IngestStatus::Accepted)));
                    black_box(results)
                },
                BatchSize::SmallInput,
            );
        });
        g.finish();
    }

    drop(main.take());

    {
        let count = if quick() { 5_000 } else { 100_000 };
        let clock = ManualClock::new(Millis(WHEEL_NOW));
        let mut manual: Option<BoardFixture> = None;
        let mut round = 0usize;
        let mut g = c.benchmark_group("timers");
        // Seconds per iteration (most of it the untimed set-up): one iteration per sample.
        g.sampling_mode(SamplingMode::Flat);
        g.throughput(Throughput::Elements(count as u64));
        g.bench_function("fire_100k_same_second", |b| {
            let f = manual.get_or_insert_with(|| {
                let config = Config::default()
                    .with_clock(clock.clone())
                    .with_timer_thread(false);
                build_board(n, config, "timers/fire (manual clock)")
            });
            let (engine, actor, all) = (f.engine(), f.store.actor, &f.all);
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    // A whole second an hour ahead of the clock; deadlines spread over it.
                    let second = (clock.now().0 / SECOND + 3_600) * SECOND;
                    let deadline = |i: usize| second + ms(i * 1_000 / count);
                    create_activities(
                        engine,
                        actor,
                        all,
                        round * count,
                        count,
                        deadline,
                        Some(vec![]),
                    );
                    round += 1;
                    clock.set(Millis(second + SECOND));
                    let start = Instant::now();
                    let fired = engine.fire_due_timers().expect("fire due timers");
                    timed += start.elapsed();
                    assert_eq!(fired, count, "every deadline of the set fires");
                }
                timed
            });
        });
        g.finish();
    }

    if selected("timers/lateness") {
        lateness(n);
    }

    {
        let timers = size("HOIST_BENCH_TIMERS", 1_000_000, 5_000);
        let activities = timers.div_ceil(REMINDERS.len() + 1);
        let armed = activities * (REMINDERS.len() + 1);
        let mut store: Option<BoardFixture> = None;
        let mut g = c.benchmark_group("recovery");
        // About a second per open: one open per sample.
        g.sampling_mode(SamplingMode::Flat);
        g.throughput(Throughput::Elements(armed as u64));
        g.bench_function("rearm_open", |b| {
            let f = store.get_or_insert_with(|| {
                let f = build_board(n.min(REARM_BOARD), Config::default(), "recovery/rearm_open");
                let start = Instant::now();
                let now = SystemClock.now().0;
                // Deadlines 2–30 days ahead, so even the 1-day reminder is in the future.
                let span = usize::try_from(28 * DAY).unwrap_or(1);
                let deadline = |i: usize| now + 2 * DAY + ms(i.wrapping_mul(7_919_993) % span);
                create_activities(
                    f.engine(),
                    f.store.actor,
                    &f.all,
                    0,
                    activities,
                    deadline,
                    Some(REMINDERS.to_vec()),
                );
                let pending = f.engine().stats().timers_pending;
                assert_eq!(pending, armed as u64, "every timer is armed");
                eprintln!(
                    "fixture: recovery/rearm_open: {activities} activities x {} timers = \
                     {pending} pending timers built in {:.1?}",
                    REMINDERS.len() + 1,
                    start.elapsed()
                );
                f
            });
            b.iter_custom(|iters| (0..iters).map(|_| f.store.reopen()).sum());
            assert_eq!(f.engine().stats().timers_pending, armed as u64);
        });
        g.finish();
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
    targets = focus
}
criterion_main!(benches);
