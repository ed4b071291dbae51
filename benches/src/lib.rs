//! Shared fixtures for Hoist's benchmarks: an engine on a temporary directory, a board of
//! `N` realistic items in ten columns, a board with one small and one huge column, and a
//! tiny deterministic random generator (benches must not depend on the run's entropy).
//!
//! Fixtures are expensive (a million items by default), so a bench binary builds each one
//! once and shares it between its benchmarks. `N` comes from `HOIST_BENCH_ITEMS`
//! (default 1,000,000); a smoke run uses a small value:
//!
//! ```text
//! HOIST_BENCH_ITEMS=20000 cargo bench -p hoist-benches -- --test
//! ```
//!
//! Every other size scales down the same way: on a *quick* run (criterion's `--test` in
//! argv, or `HOIST_BENCH_ITEMS` below 100,000) each bench uses small sizes so that it
//! finishes in seconds; see [`size`].
//!
//! The global allocator (mimalloc) is set by each bench binary, not here: a library cannot
//! choose the allocator of the program it is linked into.

#![forbid(unsafe_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use hoist_engine::{
    Board, ColumnId, Config, Contacts, Engine, FieldValue, ItemId, NewBoard, NewItem, PageRequest,
    UserId,
};
use tempfile::TempDir;

/// Items per `create_items` command while building fixtures.
pub const BUILD_BATCH: usize = 10_000;

/// Columns of the main board.
pub const COLUMNS: usize = 10;

/// Items of the main board: `HOIST_BENCH_ITEMS`, default 1,000,000.
pub fn item_count() -> usize {
    env_count("HOIST_BENCH_ITEMS").unwrap_or(1_000_000)
}

/// A positive count from environment variable `var` (`_` separators allowed).
pub fn env_count(var: &str) -> Option<usize> {
    std::env::var(var)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .filter(|n| *n > 0)
}

/// Whether criterion runs in `--test` mode (each benchmark once, nothing measured).
pub fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}

/// `HOIST_BENCH_ITEMS` below this makes a run quick.
pub const QUICK_BELOW: usize = 100_000;

/// Whether this is a quick (smoke) run: `--test` in argv, or `HOIST_BENCH_ITEMS` below
/// [`QUICK_BELOW`]. Quick runs use small sizes everywhere.
pub fn quick() -> bool {
    test_mode() || item_count() < QUICK_BELOW
}

/// A fixture size: environment variable `var` if set, else `quick_size` on a
/// [`quick`] run, else `full`.
pub fn size(var: &str, full: usize, quick_size: usize) -> usize {
    env_count(var).unwrap_or(if quick() { quick_size } else { full })
}

/// Whether the benchmark `id` (`group/name`) is selected by the command line, for
/// measurements made outside criterion (one-shot numbers printed by a bench binary).
///
/// Mirrors criterion's filter closely enough for plain names: no filter selects
/// everything, `--exact` compares whole ids, otherwise the filter must occur in the id
/// (criterion reads it as a regex; a plain name means the same). `--list` and `--ignored`
/// select nothing.
pub fn selected(id: &str) -> bool {
    // Criterion's options that take a value (`--opt value`); `--opt=value` needs no skip.
    const WITH_VALUE: [&str; 20] = [
        "-c",
        "--color",
        "--colour",
        "-s",
        "--save-baseline",
        "-b",
        "--baseline",
        "--baseline-lenient",
        "--format",
        "--profile-time",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--plotting-backend",
        "--output-format",
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list" || a == "--ignored") {
        return false;
    }
    let exact = args.iter().any(|a| a == "--exact");
    let mut filter = None;
    let mut skip = false;
    for a in &args {
        if skip {
            skip = false;
        } else if a.starts_with('-') {
            skip = WITH_VALUE.contains(&a.as_str());
        } else if filter.is_none() {
            filter = Some(a.as_str());
        }
    }
    match filter {
        None => true,
        Some(f) if exact => id == f,
        Some(f) => id.contains(f),
    }
}

/// Runs `f(i)` for every `i` below `count` on `threads` threads at once (thread `t` takes
/// `t, t + threads, …`), so that engine commands from the threads share group commits.
pub fn parallel<F: Fn(usize) + Sync>(threads: usize, count: usize, f: F) {
    let threads = threads.clamp(1, count.max(1));
    let f = &f;
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let mut i = t;
                while i < count {
                    f(i);
                    i += threads;
                }
            });
        }
    });
}

/// A small xorshift generator: fast, deterministic, good enough to pick items.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; zero is remapped).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A uniform index below `n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        let n = u64::try_from(n).unwrap_or(u64::MAX).max(1);
        usize::try_from(self.next_u64() % n).unwrap_or(0)
    }

    /// A random element of `items` (non-empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// An engine on its own temporary directory.
pub struct TempEngine {
    /// The engine; `None` only while [`TempEngine::reopen`] swaps it.
    engine: Option<Engine>,
    /// The acting user (the bootstrapped admin).
    pub actor: UserId,
    /// The configuration it was opened with (and is reopened with).
    config: Config,
    dir: TempDir,
}

impl TempEngine {
    /// Opens a fresh engine (system clock, default config) and bootstraps its admin.
    pub fn new() -> TempEngine {
        TempEngine::with_config(Config::default())
    }

    /// Opens a fresh engine with `config` (e.g. a manual clock) and bootstraps its admin.
    pub fn with_config(config: Config) -> TempEngine {
        let dir = tempfile::Builder::new()
            .prefix("hoist-bench-")
            .tempdir()
            .expect("create a temporary directory");
        let engine = Engine::open(dir.path(), config.clone()).expect("open the engine");
        let token = engine
            .bootstrap_admin(None)
            .expect("bootstrap the admin")
            .expect("a fresh store bootstraps");
        let actor = engine
            .authenticate(&token)
            .expect("the admin token works")
            .user;
        TempEngine {
            engine: Some(engine),
            actor,
            config,
            dir,
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        self.engine.as_ref().expect("the engine is open")
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Closes and drops the engine (releasing the directory), then opens it again with the
    /// same configuration and returns how long the open (recovery: format check, full
    /// scan, index rebuild, timers re-armed) took.
    pub fn reopen(&mut self) -> Duration {
        if let Some(old) = self.engine.take() {
            old.close();
            drop(old);
        }
        let start = Instant::now();
        let engine = Engine::open(self.dir.path(), self.config.clone()).expect("reopen the engine");
        let took = start.elapsed();
        self.engine = Some(engine);
        took
    }
}

impl Default for TempEngine {
    fn default() -> TempEngine {
        TempEngine::new()
    }
}

/// A realistic item body: a title, an amount, three free fields and one contact of each
/// kind, so pages and recovery read records of a typical size.
pub fn item_body(board: &Board, column: ColumnId, n: usize) -> NewItem {
    NewItem {
        board: board.id,
        column: Some(column),
        title: format!("Deal #{n}: renewal for customer {}", n % 9973),
        amount: Some(f64::from(u32::try_from(n % 100_000).unwrap_or(0)) * 10.0),
        fields: vec![
            ("stage".into(), FieldValue::Str("qualified".into())),
            ("probability".into(), FieldValue::Num(0.25)),
            ("hot".into(), FieldValue::Bool(n.is_multiple_of(7))),
        ],
        contacts: Contacts {
            phones: vec![format!("+1 555 {:07}", n % 10_000_000)],
            emails: vec![format!("buyer{n}@example.com")],
        },
        ..NewItem::default()
    }
}

/// Creates `count` items in `column`, `BUILD_BATCH` per command; returns their ids.
pub fn fill_column(
    engine: &Engine,
    actor: UserId,
    board: &Board,
    column: ColumnId,
    count: usize,
    first_n: usize,
) -> Vec<ItemId> {
    let mut ids = Vec::with_capacity(count);
    let mut n = first_n;
    while ids.len() < count {
        let batch = (count - ids.len()).min(BUILD_BATCH);
        let bodies = (0..batch)
            .map(|i| item_body(board, column, n + i))
            .collect();
        n += batch;
        let results = engine.create_items(actor, bodies).expect("create a batch");
        for r in results {
            let view = r.expect("every fixture item is valid");
            ids.push(view.get().expect("decode").id());
        }
    }
    ids
}

/// The main fixture: one board of `items` items spread evenly over [`COLUMNS`] columns.
pub struct BoardFixture {
    /// The engine and its directory.
    pub store: TempEngine,
    /// The board.
    pub board: Board,
    /// Every item, per column (index = column number), in creation order.
    pub items: Vec<Vec<ItemId>>,
    /// Every item of the fixture, all columns.
    pub all: Vec<ItemId>,
}

impl BoardFixture {
    /// Builds the board: each column gets an equal share (the first ones one more when
    /// `items` does not divide evenly), created in batches of up to [`BUILD_BATCH`].
    pub fn build(items: usize) -> BoardFixture {
        BoardFixture::build_with(items, Config::default())
    }

    /// [`BoardFixture::build`] on an engine opened with `config`.
    pub fn build_with(items: usize, config: Config) -> BoardFixture {
        let store = TempEngine::with_config(config);
        let engine = store.engine();
        let board = engine
            .create_board(NewBoard {
                module: "deal".into(),
                name: "Bench".into(),
                columns: (0..COLUMNS).map(|c| format!("Stage {c}")).collect(),
                ..NewBoard::default()
            })
            .expect("create the board");
        let mut per_column: Vec<Vec<ItemId>> = Vec::with_capacity(COLUMNS);
        let mut made = 0usize;
        for (c, column) in board.columns.iter().enumerate() {
            let share = items / COLUMNS + usize::from(c < items % COLUMNS);
            per_column.push(fill_column(
                engine,
                store.actor,
                &board,
                column.id,
                share,
                made,
            ));
            made += share;
        }
        let all = per_column.iter().flatten().copied().collect();
        BoardFixture {
            store,
            board,
            items: per_column,
            all,
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        self.store.engine()
    }

    /// Column number `c`.
    pub fn column(&self, c: usize) -> ColumnId {
        self.board.columns[c].id
    }
}

/// The page-cost fixture: one board with a small and a large column, so a page of each
/// can be compared (the cost should follow the page, not the column).
pub struct ColumnPairFixture {
    /// The engine and its directory.
    pub store: TempEngine,
    /// The board.
    pub board: Board,
    /// (column, its item count): the small one first.
    pub columns: [(ColumnId, usize); 2],
    /// Per column, a cursor that points at its middle (`None` below two items).
    pub middle: [Option<String>; 2],
}

impl ColumnPairFixture {
    /// Builds columns of `small` and `large` items.
    pub fn build(small: usize, large: usize) -> ColumnPairFixture {
        let store = TempEngine::new();
        let engine = store.engine();
        let board = engine
            .create_board(NewBoard {
                module: "deal".into(),
                name: "Page cost".into(),
                columns: vec!["Small".into(), "Large".into()],
                ..NewBoard::default()
            })
            .expect("create the board");
        let (s, l) = (board.columns[0].id, board.columns[1].id);
        fill_column(engine, store.actor, &board, s, small, 0);
        fill_column(engine, store.actor, &board, l, large, small);
        let middle = [
            cursor_at(engine, &board, s, small / 2),
            cursor_at(engine, &board, l, large / 2),
        ];
        ColumnPairFixture {
            store,
            board,
            columns: [(s, small), (l, large)],
            middle,
        }
    }
}

/// A cursor after the first `skip` items of a column (walked 500 at a time); `None` when
/// the column has no items after them.
fn cursor_at(engine: &Engine, board: &Board, column: ColumnId, skip: usize) -> Option<String> {
    let skip = skip.max(1);
    let mut cursor = None;
    let mut walked = 0usize;
    let mut last = None;
    while walked < skip {
        let limit = (skip - walked).min(500);
        let page = engine
            .column_page(
                board.id,
                column,
                &PageRequest {
                    limit: Some(limit),
                    cursor: cursor.take(),
                },
            )
            .expect("page");
        walked += page.items.len();
        match page.next_cursor {
            Some(c) => {
                last = Some(c.clone());
                cursor = Some(c);
            }
            None => return None,
        }
    }
    last
}
