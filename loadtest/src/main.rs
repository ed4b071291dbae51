//! `hoist-loadtest`: drives a running Hoist server over HTTP and reports throughput and
//! latency percentiles (HDR histogram). It only talks to the URL it is given (loopback by
//! default), runs for a bounded time, and stops by itself.
//!
//! Scenarios: `page` (top-50 column page), `focus` (an incoming call on a random item:
//! focus-to-top, durable), `create` (one item per request), `ingest` (event batches),
//! `mixed` (80 % pages, 20 % focus), `overload` (a flood of `--batch`-item batches from
//! every connection, to see the server refuse: 503 share, time to refuse, accepted p99,
//! `/healthz` p99 during the flood, and with `--pid` the server's peak RSS). A refused
//! client sleeps for the 503's `Retry-After`, as a well-behaved gateway does.
//! `bump` (a comment on a random item by a user who is not its responsible: a durable
//! focus), `stream` (`bump` while `--subscribers` clients follow the board streams of
//! `--boards` boards, round robin; reports delivery latency from each `item.focused`
//! event's `focused_at`, the commit time, to its arrival, and the resyncs).
//! With `--pid`, the server's CPU per request is reported too.
//! `--json` prints the report as one JSON object.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use serde_json::json;

mod subscribers;

#[derive(Copy, Clone, Debug, ValueEnum)]
enum Scenario {
    Page,
    Focus,
    Create,
    Ingest,
    Mixed,
    Overload,
    Bump,
    Stream,
}

/// Load against a running `hoist`.
#[derive(Parser, Debug)]
#[command(name = "hoist-loadtest", version)]
struct Args {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An admin token (or set HOIST_TOKEN).
    #[arg(long, env = "HOIST_TOKEN")]
    token: String,
    /// What to do.
    #[arg(long, value_enum, default_value = "mixed")]
    scenario: Scenario,
    /// Concurrent connections (one thread each).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Items to create first on a fresh board (10 columns).
    #[arg(long, default_value_t = 100_000)]
    items: usize,
    /// Events per batch for `ingest`, items per batch for `overload`.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// The server's pid, to report its peak RSS (`overload`; read from /proc).
    #[arg(long)]
    pid: Option<u32>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Boards to spread `--items` over (streams subscribe round robin; bumps hit all).
    #[arg(long, default_value_t = 1)]
    boards: usize,
    /// Board-stream subscribers for `stream`.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
}

/// Latencies in µs, 1 µs to 60 s.
fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// A process's resident set in bytes, from /proc (Linux).
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

struct Fixture {
    /// The first board and its columns (pages, creates, floods).
    board: u64,
    columns: Vec<u64>,
    /// Every board (streams).
    boards: Vec<u64>,
    first_item: u64,
    items: u64,
    /// A user who is responsible for no item: its comments focus (`bump`).
    bumper: String,
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

fn setup(args: &Args) -> anyhow::Result<Fixture> {
    let a = agent();
    let auth = format!("Bearer {}", args.token);
    let cols: Vec<_> = (0..10)
        .map(|i| json!({"name": format!("stage {i}")}))
        .collect();
    let nboards = args.boards.max(1);
    let mut boards = Vec::with_capacity(nboards);
    let mut first = None;
    let mut first_item = 0;
    for k in 0..nboards {
        let b: serde_json::Value = a
            .post(&format!("{}/v1/boards", args.url))
            .set("Authorization", &auth)
            .send_json(json!({"module": "deal", "name": format!("loadtest {k}"), "columns": cols}))
            .context("creating a board (is the server running, is the token an admin's?)")?
            .into_json()?;
        let board = b["id"].as_u64().context("board id")?;
        let columns: Vec<u64> = b["columns"]
            .as_array()
            .context("columns")?
            .iter()
            .filter_map(|c| c["id"].as_u64())
            .collect();
        // Items are numbered in creation order: boards get consecutive runs of ids.
        let share = args.items / nboards + usize::from(k < args.items % nboards);
        let mut made = 0usize;
        while made < share {
            let n = (share - made).min(10_000);
            let body: String = (0..n)
                .map(|i| {
                    let col = columns[(made + i) % columns.len()];
                    format!(
                        "{{\"board\":{board},\"column\":{col},\"title\":\"item {}\",\"amount\":{}}}\n",
                        made + i,
                        (made + i) % 1000
                    )
                })
                .collect();
            let r: serde_json::Value = a
                .post(&format!("{}/v1/items/batch", args.url))
                .set("Authorization", &auth)
                .set("Content-Type", "application/x-ndjson")
                .send_string(&body)?
                .into_json()?;
            if first_item == 0 {
                first_item = r["results"][0]["id"].as_u64().unwrap_or(1);
            }
            made += n;
        }
        boards.push(board);
        if first.is_none() {
            first = Some((board, columns));
        }
    }
    let u: serde_json::Value = a
        .post(&format!("{}/v1/users", args.url))
        .set("Authorization", &auth)
        .send_json(json!({"name": "loadtest bumper"}))?
        .into_json()?;
    let bumper = u["token"]
        .as_str()
        .context("the bumper's token")?
        .to_string();
    let (board, columns) = first.context("no board")?;
    Ok(Fixture {
        board,
        columns,
        boards,
        first_item,
        items: args.items as u64,
        bumper,
    })
}

/// CPU time (user + system) of a process so far, in clock ticks (Linux /proc).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) closed by ')'.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// What the subscribers of `stream` saw.
#[derive(Default)]
struct Delivered {
    events: u64,
    resyncs: u64,
    ended: u64,
}

/// The `focused_at` of an item event's data, in ms since the epoch.
fn focused_at_ms(data: &str) -> Option<i64> {
    let at = data.split("\"focused_at\":\"").nth(1)?.split('"').next()?;
    chrono::DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A cheap per-thread pseudo-random sequence (xorshift).
struct Rng(u64);
impl Rng {
    /// A position in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.connections == 0 || args.seconds == 0 {
        bail!("--connections and --seconds must be positive");
    }
    let t0 = Instant::now();
    let fx = Arc::new(setup(&args)?);
    eprintln!(
        "setup: board {} with {} items in {:.1}s",
        fx.board,
        fx.items,
        t0.elapsed().as_secs_f64()
    );
    let hist = Arc::new(Mutex::new(histogram()));
    let hist_refused = Arc::new(Mutex::new(histogram()));
    let refused = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let work = Arc::new(AtomicU64::new(0));
    let subscribers = if matches!(args.scenario, Scenario::Stream) {
        args.subscribers
    } else {
        0
    };
    // Subscribers get a second to open their streams before the load starts.
    let deadline = Instant::now() + Duration::from_secs(args.seconds + u64::from(subscribers > 0));
    let subs = (subscribers > 0)
        .then(|| {
            let (url, auth) = (args.url.clone(), format!("Bearer {}", args.token));
            let boards: Vec<u64> = (0..subscribers)
                .map(|k| fx.boards[k % fx.boards.len()])
                .collect();
            std::thread::Builder::new()
                .name("subscribers".into())
                .spawn(move || subscribers::follow_all(&url, &auth, &boards, deadline))
        })
        .transpose()?;
    if subscribers > 0 {
        // Let the streams open before the load starts.
        std::thread::sleep(Duration::from_secs(1));
    }
    let cpu_before = args.pid.and_then(cpu_ticks);
    let started = Instant::now();
    let threads: Vec<_> = (0..args.connections)
        .map(|n| {
            let (fx, hist, ok, failed, work) = (fx.clone(), hist.clone(), ok.clone(), failed.clone(), work.clone());
            let (hist_refused, refused) = (hist_refused.clone(), refused.clone());
            let (url, auth, scenario, batch) = (args.url.clone(), format!("Bearer {}", args.token), args.scenario, args.batch);
            let bumper = format!("Bearer {}", fx.bumper);
            std::thread::spawn(move || {
                let a = agent();
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1));
                let mut local = histogram();
                let mut local_refused = histogram();
                let mut seq = 0u64;
                while Instant::now() < deadline {
                    let pick = match scenario {
                        Scenario::Mixed => if rng.next() % 10 < 8 { Scenario::Page } else { Scenario::Focus },
                        s => s,
                    };
                    let t = Instant::now();
                    seq += 1;
                    let (res, units) = match pick {
                        Scenario::Page => {
                            let col = fx.columns[rng.below(fx.columns.len())];
                            (a.get(&format!("{url}/v1/boards/{}/columns/{col}/items?limit=50", fx.board)).set("Authorization", &auth).call(), 1)
                        }
                        Scenario::Focus => {
                            let item = fx.first_item + rng.next() % fx.items;
                            let ev = json!({"id": format!("lt-{n}-{seq}-{}", rng.next()), "kind": "call_in", "item": item});
                            (a.post(&format!("{url}/v1/events")).set("Authorization", &auth).send_json(ev), 1)
                        }
                        Scenario::Bump | Scenario::Stream => {
                            let item = fx.first_item + rng.next() % fx.items;
                            (a.post(&format!("{url}/v1/items/{item}/comments")).set("Authorization", &bumper).send_json(json!({"text": "hello"})), 1)
                        }
                        Scenario::Create => {
                            let col = fx.columns[rng.below(fx.columns.len())];
                            let body = json!({"board": fx.board, "column": col, "title": format!("new {n}-{seq}")});
                            (a.post(&format!("{url}/v1/items")).set("Authorization", &auth).send_json(body), 1)
                        }
                        Scenario::Overload => {
                            let body: String = (0..batch)
                                .map(|i| {
                                    let col = fx.columns[(i + n) % fx.columns.len()];
                                    format!("{{\"board\":{},\"column\":{col},\"title\":\"flood {n}-{seq}-{i} {}\"}}\n", fx.board, "x".repeat(64))
                                })
                                .collect();
                            (a.post(&format!("{url}/v1/items/batch")).set("Authorization", &auth).set("Content-Type", "application/x-ndjson").send_string(&body), batch as u64)
                        }
                        Scenario::Ingest | Scenario::Mixed => {
                            let body: String = (0..batch)
                                .map(|i| {
                                    let item = fx.first_item + rng.next() % fx.items;
                                    format!("{{\"id\":\"b-{n}-{seq}-{i}-{}\",\"kind\":\"call_in\",\"item\":{item}}}\n", rng.next())
                                })
                                .collect();
                            (a.post(&format!("{url}/v1/events/batch")).set("Authorization", &auth).set("Content-Type", "application/x-ndjson").send_string(&body), batch as u64)
                        }
                    };
                    let us = u64::try_from(t.elapsed().as_micros().max(1)).unwrap_or(u64::MAX);
                    match res {
                        Ok(r) => {
                            let _ = r.into_string();
                            ok.fetch_add(1, Ordering::Relaxed);
                            work.fetch_add(units, Ordering::Relaxed);
                            let _ = local.record(us);
                        }
                        Err(ureq::Error::Status(503, r)) => {
                            // A refused client waits as Retry-After asks, as a well-behaved
                            // gateway would (1 s when the header is missing).
                            let wait = r
                                .header("Retry-After")
                                .and_then(|v| v.trim().parse::<u64>().ok())
                                .unwrap_or(1);
                            let _ = r.into_string();
                            refused.fetch_add(1, Ordering::Relaxed);
                            let _ = local_refused.record(us);
                            std::thread::sleep(Duration::from_secs(wait));
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                if let Ok(mut h) = hist.lock() {
                    let _ = h.add(&local);
                }
                if let Ok(mut h) = hist_refused.lock() {
                    let _ = h.add(&local_refused);
                }
            })
        })
        .collect();
    // Beside the load: `/healthz` every 20 ms, and the server's RSS if its pid is given.
    let rss_before = args.pid.and_then(rss_bytes);
    let prober = {
        let url = args.url.clone();
        std::thread::spawn(move || {
            let a = agent();
            let mut h = histogram();
            let mut peak = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                if a.get(&format!("{url}/healthz")).call().is_ok() {
                    let _ =
                        h.record(u64::try_from(t.elapsed().as_micros().max(1)).unwrap_or(u64::MAX));
                }
                if let Some(r) = args.pid.and_then(rss_bytes) {
                    peak = peak.max(r);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (h, peak)
        })
    };
    for t in threads {
        let _ = t.join();
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu_after = args.pid.and_then(cpu_ticks);
    let (delivered, hd) = match subs {
        Some(t) => t
            .join()
            .map_err(|_| anyhow::anyhow!("the subscribers panicked"))??,
        None => (Delivered::default(), histogram()),
    };
    let (health, rss_peak) = prober
        .join()
        .map_err(|_| anyhow::anyhow!("the prober panicked"))?;
    // Memory after the flood: give the allocator a few seconds to hand pages back.
    let rss_after = args.pid.and_then(|pid| {
        std::thread::sleep(Duration::from_secs(5));
        rss_bytes(pid)
    });
    let h = hist.lock().map_err(|_| anyhow::anyhow!("histogram lock"))?;
    let hr = hist_refused
        .lock()
        .map_err(|_| anyhow::anyhow!("histogram lock"))?;
    let ok = ok.load(Ordering::Relaxed);
    let refused = refused.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);
    let q = |h: &Histogram<u64>, p: f64| {
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(p)
        }
    };
    // Clock ticks are 1/100 s on Linux (USER_HZ).
    let server_cpu_us = match (cpu_before, cpu_after) {
        (Some(b), Some(a)) if ok > 0 => Some((a.saturating_sub(b)) as f64 * 10_000.0 / ok as f64),
        _ => None,
    };
    let within_100ms = if hr.is_empty() {
        0.0
    } else {
        hr.count_between(1, 100_000) as f64 / hr.len() as f64
    };
    let report = json!({
        "scenario": format!("{:?}", args.scenario).to_lowercase(),
        "connections": args.connections,
        "seconds": secs,
        "ok": ok,
        "refused_503": refused,
        "failed": failed,
        "refused_share": if ok + refused == 0 { 0.0 } else { refused as f64 / (ok + refused) as f64 },
        "requests_per_s": ok as f64 / secs,
        "units_per_s": work.load(Ordering::Relaxed) as f64 / secs,
        "latency_us": {"p50": q(&h, 0.5), "p90": q(&h, 0.9), "p99": q(&h, 0.99), "p999": q(&h, 0.999), "max": h.max()},
        "refusal_us": {"p50": q(&hr, 0.5), "p99": q(&hr, 0.99), "max": hr.max(), "share_within_100ms": within_100ms},
        "healthz_us": {"p50": q(&health, 0.5), "p99": q(&health, 0.99), "max": health.max()},
        "rss_bytes": {"before": rss_before, "peak": args.pid.map(|_| rss_peak), "after_5s": rss_after},
        "server_cpu_us_per_request": server_cpu_us,
        "streams": {"subscribers": subscribers, "boards": fx.boards.len(), "focused_events": delivered.events,
                    "resyncs": delivered.resyncs, "ended": delivered.ended,
                    "delivery_us": {"p50": q(&hd, 0.5), "p99": q(&hd, 0.99), "max": hd.max()}},
    });
    if args.json {
        println!("{report}");
        return Ok(());
    }
    println!(
        "scenario {:?}: {} connections, {:.1}s, {} ok, {} refused (503), {} failed",
        args.scenario, args.connections, secs, ok, refused, failed
    );
    println!(
        "requests/s {:.0}   units/s {:.0}",
        ok as f64 / secs,
        work.load(Ordering::Relaxed) as f64 / secs
    );
    println!(
        "latency µs: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        q(&h, 0.5),
        q(&h, 0.9),
        q(&h, 0.99),
        q(&h, 0.999),
        h.max()
    );
    if refused > 0 {
        println!(
            "refusals µs: p50 {}  p99 {}  max {}  ({:.1} % within 100 ms)",
            q(&hr, 0.5),
            q(&hr, 0.99),
            hr.max(),
            within_100ms * 100.0
        );
    }
    println!(
        "/healthz µs during the load: p50 {}  p99 {}  max {}",
        q(&health, 0.5),
        q(&health, 0.99),
        health.max()
    );
    if let Some(c) = server_cpu_us {
        println!("server CPU per request: {c:.0} µs");
    }
    if subscribers > 0 {
        println!(
            "streams: {} subscribers on {} boards, {} item.focused delivered, {} resyncs, {} ended early; delivery µs p50 {}  p99 {}  max {}",
            subscribers,
            fx.boards.len(),
            delivered.events,
            delivered.resyncs,
            delivered.ended,
            q(&hd, 0.5),
            q(&hd, 0.99),
            hd.max()
        );
    }
    if let (Some(b), Some(a)) = (rss_before, rss_after) {
        println!(
            "server RSS MiB: before {}  peak {}  5 s after {}",
            b >> 20,
            rss_peak >> 20,
            a >> 20
        );
    }
    Ok(())
}
