//! The HTTP application: routes, error bodies, metrics, the OpenAPI document, and the
//! server's life cycle (bootstrap, ready line, graceful shutdown).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::CONTENT_TYPE;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::ResponseError;
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use clap::Parser;
use hoist_engine::{Config, Engine};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_actix_web::AppExt;

use crate::admission::Admission;
use crate::error::ApiError;
use crate::extract::{AppState, State};
use crate::metrics::Metrics;
use crate::routes;
use crate::streams::Streams;

/// `hoist`: the Hoist REST server.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "hoist",
    version,
    about = "Hoist: a Kanban storage engine with focus mode, over REST",
    after_help = "Durability: a 2xx answer means the write is on disk, power cut included: each \
group of writes is flushed by sled, then its log is fdatasync'ed (docs/format.md, \
\"Durability\"). Many concurrent writes share one sync."
)]
pub struct Args {
    /// A command instead of serving (`hoist backup …`).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Where to listen (port 0: any free port, printed on start).
    #[arg(long, env = "HOIST_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The data directory (created if missing).
    #[arg(long, env = "HOIST_DATA", default_value = "./hoist-data")]
    pub data: PathBuf,
    /// A file holding the first-start admin token (else HOIST_ADMIN_TOKEN, else one is
    /// generated and written to `<data>/admin.token`).
    #[arg(long)]
    pub admin_token_file: Option<PathBuf>,
    /// sled's page cache size in MiB (it does not bound the process's memory, and has no
    /// bearing on durability).
    #[arg(long, env = "HOIST_CACHE_MB", default_value_t = 256)]
    pub cache_mb: u64,
    /// The cache of decompressed entry packs in MiB (0: none): a timeline or wall read of
    /// an entry whose pack it holds skips a decompression (docs/format.md, "Entry packs").
    #[arg(long, env = "HOIST_PACK_CACHE_MB", default_value_t = 64)]
    pub pack_cache_mb: u64,
    /// Whether a new data directory has sled compress everything it writes (zstd in its
    /// log), for about twice the CPU per write (BENCHMARKS.md, "Disk per entry"; entry
    /// packs are compressed either way). An existing directory keeps what it was created
    /// with.
    #[arg(long, env = "HOIST_COMPRESSION", default_value_t = false, action = clap::ArgAction::Set)]
    pub compression: bool,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "HOIST_WORKERS")]
    pub workers: Option<usize>,
    /// Writes in flight (each waits for its group's flush) past which new writes are
    /// refused with 503 and `Retry-After` instead of queueing.
    #[arg(long, env = "HOIST_MAX_WRITES_IN_FLIGHT", default_value_t = 1024)]
    pub max_writes_in_flight: usize,
    /// Elements of batches (items, events) admitted and not yet answered, past which new
    /// batches are refused with 503 and `Retry-After`. It bounds the writer's work queued
    /// behind an accepted batch: 40,000 is about one second of it on a 2-core machine.
    /// A batch larger than the whole bound is taken when it is alone.
    #[arg(
        long,
        env = "HOIST_MAX_BATCH_ELEMENTS_IN_FLIGHT",
        default_value_t = 40_000
    )]
    pub max_batch_elements_in_flight: usize,
    /// Request-body bytes held in flight, in MiB: a body counts from before it is read until
    /// its write is answered, so this bounds the work admitted and not yet done. Past it,
    /// new bodies are refused with 503 and `Retry-After`. Keep it above the 16 MiB batch
    /// limit, so that a full batch does not wait for the server to be empty.
    #[arg(long, env = "HOIST_MAX_BODY_MB_IN_FLIGHT", default_value_t = 32)]
    pub max_body_mb_in_flight: usize,
    /// While commands wait longer than this (ms) for the engine's writer, new writes are
    /// refused with 503 and `Retry-After`: it bounds an accepted write's wait whatever
    /// each write costs.
    #[arg(long, env = "HOIST_MAX_QUEUE_WAIT_MS", default_value_t = 500)]
    pub max_queue_wait_ms: u64,
    /// Seconds without an event after which a live stream sends `: keepalive`.
    #[arg(long, env = "HOIST_STREAM_KEEPALIVE_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub stream_keepalive_secs: u64,
    /// Committed changes held for streams to replay (`Last-Event-ID`) and to catch up
    /// from; a stream that falls further behind gets `resync`. Each costs about 100 bytes.
    #[arg(long, env = "HOIST_STREAM_RING", default_value_t = 65_536,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub stream_ring: u64,
    /// How long a stream ticket (`POST /v1/streams/ticket`) stays valid, in seconds.
    #[arg(long, env = "HOIST_STREAM_TICKET_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub stream_ticket_secs: u64,
    /// Open even if records are damaged: each one is skipped, its bytes saved under
    /// `<data>/salvaged/`, and it is removed from the store (logged, and listed on
    /// stderr). Without it a damaged record stops the start, naming the record.
    #[arg(long, env = "HOIST_SALVAGE")]
    pub salvage: bool,
    /// The most MiB a second an online backup (`POST /v1/admin/backup`) reads from the
    /// store: the copy's scan competes with the writes for the CPU, so it is paced (0: no
    /// limit). At 16 a 1M-item store (~0.5 GB) copies in about 30 s.
    #[arg(long, env = "HOIST_BACKUP_MB_PER_SEC", default_value_t = 16)]
    pub backup_mb_per_sec: u64,
    /// Entry seqs between two checkpoints of the derived state (walls, entry index,
    /// focus redos), written in the background and at shutdown. A start reads the
    /// entries after the last one, so this bounds what a restart after a crash replays
    /// (about 1 s per million entries here); 0: only at shutdown.
    #[arg(long, env = "HOIST_CHECKPOINT_EVERY", default_value_t = 1 << 20)]
    pub checkpoint_every: u64,
}

/// What `hoist` does instead of serving.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Command {
    /// Copies a store, consistent at one change number, into a new data directory while
    /// its server keeps serving (`--url`, or `--data` of a running server), or from a
    /// directory no server holds (`--data`).
    Backup(crate::cli::BackupArgs),
}

/// After SIGTERM/SIGINT the server keeps its listener and answers every new request 503
/// until the requests in flight are done, for at most this long (PRODUCT §9 wants new
/// requests answered, not cut off)...
const DRAIN_SECS: u64 = 5;

/// ...then stops, giving what is still running this long. The engine's flush follows, and
/// the whole stays under the 10 s PRODUCT §9 allows.
const SHUTDOWN_GRACE_SECS: u64 = 3;

/// The OpenAPI document of exactly the routes the server registers.
pub fn openapi_json() -> String {
    let (_, mut api) = App::new()
        .into_utoipa_app()
        .configure(routes::configure)
        .split_for_parts();
    api.info.title = "Hoist".into();
    api.info.version = env!("CARGO_PKG_VERSION").into();
    api.info.description = Some("CRM Kanban boards with focus mode.".into());
    api.info.contact = None;
    api.info.license = None;
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    declare_common_statuses(&mut api);
    let Ok(mut doc) = serde_json::to_value(&api) else {
        return "{}".into();
    };
    declare_empty_query_values(&mut doc);
    serde_json::to_string(&doc).unwrap_or_else(|_| "{}".into())
}

/// Marks every optional query parameter `allowEmptyValue: true`: the server reads
/// `?responsible=` (what a form sends for a field left blank) as the parameter left out
/// (`extract::query`), and the document says so. utoipa has no attribute for it, so it is
/// set on the JSON, once at start-up.
fn declare_empty_query_values(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for ops in paths.values_mut().filter_map(|o| o.as_object_mut()) {
        for op in ops.values_mut() {
            let Some(params) = op.get_mut("parameters").and_then(|p| p.as_array_mut()) else {
                continue;
            };
            for p in params.iter_mut().filter_map(|p| p.as_object_mut()) {
                let optional_query = p.get("in").and_then(|v| v.as_str()) == Some("query")
                    && p.get("required").and_then(serde_json::Value::as_bool) != Some(true);
                if optional_query {
                    p.insert("allowEmptyValue".into(), serde_json::Value::Bool(true));
                }
            }
        }
    }
}

/// Adds to every operation the answers the server gives outside its handler, so the
/// document declares every status the server sends: 400 (a query string on a route that
/// takes none, a malformed path id), 503 (overload, shutdown, writes stopped after a
/// storage failure) and, for a route with a body, 413 (over the size limit) and 415 (the
/// wrong `Content-Type`). A handler's own declaration of one of them is kept.
fn declare_common_statuses(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
    let error = |description: &str| -> RefOr<Response> {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    for item in api.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            let with_body = op.request_body.is_some();
            let r = &mut op.responses.responses;
            r.entry("400".into())
                .or_insert_with(|| error("invalid: a malformed request"));
            r.entry("503".into()).or_insert_with(|| {
                error("unavailable: overloaded, shutting down, or writes stopped (Retry-After)")
            });
            if with_body {
                r.entry("413".into())
                    .or_insert_with(|| error("too_large: the body is over the limit"));
                r.entry("415".into())
                    .or_insert_with(|| error("unsupported_media_type: send the declared type"));
            }
        }
    }
}

/// The routes that take query parameters, from the OpenAPI document: every other route
/// answers a query string with 400, so an unknown parameter is never silently ignored
/// (routes that take some refuse the unknown ones themselves, `extract::query`). Built
/// from the document, so what the server enforces is what it declares.
///
/// The same document gives the methods of each path, so a request with a method a path does
/// not have is a 405 with `Allow`, not a 404.
struct QueryRoutes {
    /// The operations that take query parameters, and which of those are integers.
    takes_query: std::collections::HashMap<(String, String), Vec<String>>,
    /// Every documented (method, path template).
    operations: std::collections::HashSet<(String, String)>,
    /// The methods of each path without parameters: such a path wins over a template
    /// that also matches it (`/v1/items/batch` over `/v1/items/{id}`), as in the router.
    literal: std::collections::HashMap<String, String>,
    /// Each path's template split at `/`, and its methods (`GET, POST`).
    paths: Vec<(Vec<String>, String)>,
}

impl QueryRoutes {
    fn from_openapi(doc: &str) -> QueryRoutes {
        let mut takes_query = std::collections::HashMap::new();
        let mut operations = std::collections::HashSet::new();
        let mut literal = std::collections::HashMap::new();
        let mut paths = Vec::new();
        // Once at start-up, from our own document: a `Value` walk is fine here.
        let v: serde_json::Value = serde_json::from_str(doc).unwrap_or_default();
        if let Some(all) = v["paths"].as_object() {
            for (path, ops) in all {
                let Some(ops) = ops.as_object() else { continue };
                let mut methods = Vec::new();
                for (method, op) in ops {
                    let method = method.to_ascii_uppercase();
                    let query: Vec<&serde_json::Value> = op["parameters"]
                        .as_array()
                        .map(|ps| ps.iter().filter(|p| p["in"] == "query").collect())
                        .unwrap_or_default();
                    if !query.is_empty() {
                        let integers = query
                            .iter()
                            .filter(|p| p["schema"]["type"] == "integer")
                            .filter_map(|p| p["name"].as_str().map(str::to_string))
                            .collect();
                        takes_query.insert((method.clone(), path.clone()), integers);
                    }
                    operations.insert((method.clone(), path.clone()));
                    methods.push(method);
                }
                if !path.contains('{') {
                    literal.insert(path.clone(), methods.join(", "));
                }
                let template = path.split('/').map(str::to_string).collect();
                paths.push((template, methods.join(", ")));
            }
        }
        QueryRoutes {
            takes_query,
            operations,
            literal,
            paths,
        }
    }

    /// The methods of `path` when it is a documented path without parameters that does not
    /// take `method`: the request is a 405 whatever template it also matches.
    fn literal_refuses(&self, method: &str, path: &str) -> Option<&str> {
        let methods = self.literal.get(path)?;
        (!methods.split(", ").any(|m| m == method)).then_some(methods.as_str())
    }

    /// The methods of the documented path `path` matches (`GET, POST`), if any.
    fn allowed(&self, path: &str) -> Option<&str> {
        if let Some(methods) = self.literal.get(path) {
            return Some(methods);
        }
        let segments: Vec<&str> = path.split('/').collect();
        self.paths.iter().find_map(|(template, methods)| {
            let fits = template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| {
                    t == s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty())
                });
            fits.then_some(methods.as_str())
        })
    }

    /// The 400 for a query string on a route that takes none.
    fn refuse(&self, method: &str, route: &str, query: &str) -> Option<ApiError> {
        let (name, _) = form_urlencoded::parse(query.as_bytes()).next()?;
        let op = (method.to_string(), route.to_string());
        if let Some(integers) = self.takes_query.get(&op) {
            // Its integers are the document's `int64`: a longer number is refused here,
            // not read as a `u64` that matches nothing.
            let too_big = form_urlencoded::parse(query.as_bytes()).find(|(k, v)| {
                !v.is_empty()
                    && v.bytes().all(|b| b.is_ascii_digit())
                    && v.parse::<i64>().is_err()
                    && integers.iter().any(|i| i == k)
            });
            return too_big.map(|(k, _)| {
                ApiError::invalid(format!(
                    "query {k}: out of range (at most 9223372036854775807)"
                ))
            });
        }
        // A method the route does not have is the router's 405, whatever the query.
        if !self.operations.contains(&op) {
            return None;
        }
        Some(ApiError::invalid(format!(
            "query {name}: unknown parameter ({method} {route} takes none)"
        )))
    }
}

/// Replaces any error answer that is not already our JSON shape (actix's own plain-text
/// errors) with `{"error": {...}}`, so a client never sees another body.
fn json_errors<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let err = ApiError::for_status(res.status());
    let (req, _) = res.into_parts();
    let resp = err.error_response();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, resp).map_into_right_body(),
    ))
}

/// A request no route took: 405 with `Allow` if its path is a route's with another
/// method, else 404.
fn not_routed(routes: &QueryRoutes, req: &actix_web::HttpRequest) -> HttpResponse {
    match routes.allowed(req.path()) {
        Some(methods) => {
            let mut res = ApiError::new(
                actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!(
                    "{} {} is not a route; it takes {methods}",
                    req.method(),
                    req.path()
                ),
            )
            .error_response();
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(methods) {
                res.headers_mut().insert(actix_web::http::header::ALLOW, v);
            }
            res
        }
        None => ApiError::not_found("no such route").error_response(),
    }
}

fn read_admin_token(args: &Args) -> anyhow::Result<Option<String>> {
    if let Some(f) = &args.admin_token_file {
        let t = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        return Ok(Some(t.trim().to_string()));
    }
    Ok(std::env::var("HOIST_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty()))
}

fn write_token_file(dir: &Path, token: &str) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("admin.token");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(f, "{token}")?;
    f.sync_all()?;
    // The file's name is durable only once its directory is synced (a power cut could
    // otherwise keep the admin user and lose the only copy of its token).
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(path)
}

/// Opens the engine, bootstraps the admin, serves until SIGINT/SIGTERM, then lets
/// in-flight requests finish and closes the engine (flushing the write queue).
pub async fn serve(args: Args) -> anyhow::Result<()> {
    let config = Config::default()
        .with_cache_mb(args.cache_mb)
        .with_pack_cache_mb(args.pack_cache_mb)
        .with_compression(args.compression)
        .with_change_ring(usize::try_from(args.stream_ring).unwrap_or(usize::MAX))
        .with_salvage(args.salvage)
        .with_backup_mb_per_sec(args.backup_mb_per_sec)
        .with_checkpoint_every(args.checkpoint_every);
    let engine = Engine::open(&args.data, config).with_context(|| {
        format!(
            "cannot open data directory {} (a damaged record can be skipped with --salvage)",
            args.data.display()
        )
    })?;
    for d in engine.salvaged() {
        eprintln!("salvage: skipped and removed {d}");
    }
    let engine = Arc::new(engine);
    let given = read_admin_token(&args)?;
    let from_env = given.is_some();
    if let Some(token) = engine.bootstrap_admin(given)? {
        if from_env {
            tracing::info!("created the admin user with the given token");
        } else {
            let path = write_token_file(&args.data, &token)?;
            tracing::info!(path = %path.display(), "created the admin user; its token is in this file");
            eprintln!("admin token written to {}", path.display());
        }
    }
    let admission = Arc::new(Admission::new(
        args.max_writes_in_flight,
        args.max_batch_elements_in_flight,
        args.max_body_mb_in_flight.saturating_mul(1 << 20),
        Duration::from_millis(args.max_queue_wait_ms),
    ));
    let streams = Arc::new(Streams::start(
        &engine,
        Duration::from_secs(args.stream_keepalive_secs),
        Duration::from_secs(args.stream_ticket_secs),
    )?);
    let openapi = openapi_json();
    let queries = Arc::new(QueryRoutes::from_openapi(&openapi));
    let state = web::Data::new(AppState {
        engine: Arc::clone(&engine),
        metrics: Metrics::new()?,
        openapi,
        admission: Arc::clone(&admission),
        streams,
    });
    let mut server = HttpServer::new(move || {
        let queries = Arc::clone(&queries);
        let app = App::new();
        // Before the `/v1` scope, which would otherwise take these paths first.
        #[cfg(feature = "failpoints")]
        let app = app.configure(routes::failpoints::configure);
        let app = app
            .into_utoipa_app()
            .app_data(state.clone())
            .configure(routes::configure)
            .into_app();
        let routes = Arc::clone(&queries);
        app.default_service(web::to(move |req: actix_web::HttpRequest| {
            let res = not_routed(&routes, &req);
            async move { res }
        }))
        .wrap(ErrorHandlers::new().default_handler(json_errors))
        .wrap_fn(move |req, srv| {
            let start = Instant::now();
            let method = req.method().clone();
            let st = req.app_data::<State>().cloned();
            // Shutting down: every new request is refused; those already in are
            // finished.
            let closing = st.as_ref().is_some_and(|s| s.admission.is_closing());
            let refusal = if closing {
                Some(ApiError::unavailable("the server is shutting down").error_response())
            } else if queries
                .literal_refuses(method.as_str(), req.path())
                .is_some()
            {
                Some(not_routed(&queries, req.request()))
            } else if req.query_string().is_empty() {
                None
            } else {
                // Before routing, the pattern costs a match of its own: only a request
                // with a query string needs it here.
                req.match_pattern()
                    .and_then(|p| queries.refuse(method.as_str(), &p, req.query_string()))
                    .map(|e| e.error_response())
            };
            let call = match refusal {
                Some(res) => Err((req, res)),
                None => Ok(srv.call(req)),
            };
            async move {
                let res = match call {
                    Ok(fut) => fut.await?.map_into_left_body(),
                    Err((req, res)) => req.into_response(res).map_into_right_body(),
                };
                if let Some(st) = st {
                    // After routing, the pattern is looked up by the matched resource.
                    let route = res.request().match_pattern();
                    let route = route.as_deref().unwrap_or("unmatched");
                    st.metrics.observe(
                        method.as_str(),
                        route,
                        res.status().as_u16(),
                        start.elapsed(),
                    );
                }
                Ok(res)
            }
        })
    })
    // Signals are ours (below): the server must refuse new requests before it stops.
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_GRACE_SECS);
    if let Some(w) = args.workers {
        server = server.workers(w.max(1));
    }
    let server = server
        .bind(&args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addrs = server.addrs();
    let data_dir = args.data.clone();
    // The handlers are installed before the ready line: a SIGTERM right after it is ours.
    let signals = Signals::install()?;
    let running = server.run();
    let handle = running.handle();
    let signalled = std::sync::Arc::new(std::sync::OnceLock::<Instant>::new());
    let signalled_at = std::sync::Arc::clone(&signalled);
    actix_web::rt::spawn(async move {
        let signal = signals.wait().await;
        let _ = signalled_at.set(Instant::now());
        tracing::info!(
            signal,
            "shutting down: refusing new requests, finishing those in flight"
        );
        admission.close();
        let until = Instant::now() + Duration::from_secs(DRAIN_SECS);
        while !admission.is_idle() && Instant::now() < until {
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        }
        handle.stop(true).await;
    });
    {
        let mut out = std::io::stdout().lock();
        for a in &addrs {
            writeln!(out, "hoist listening on http://{a}")?;
        }
        out.flush()?;
    }
    // For `hoist backup --data <this directory>`, which cannot open a directory a server
    // holds and goes through the server instead.
    if let Some(a) = addrs.first() {
        let path = data_dir.join(crate::cli::URL_FILE);
        if let Err(e) = std::fs::write(&path, format!("http://{a}\n")) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the server's address");
        }
    }
    running.await?;
    tracing::info!("HTTP server stopped; flushing the engine");
    // The writer drains and flushes what is queued; past the 10 s budget the process exits
    // anyway (nothing still queued was acknowledged, so nothing promised is lost).
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        engine.close();
        let _ = done_tx.send(());
    });
    // What is left of the 10 s since the signal, and at least CLOSE_SECS: the flush, then
    // the last checkpoint (the entries since the previous one and the redo map, about a
    // second at 1M items; if it is cut off, the next start reads more entries, nothing
    // else).
    let budget = signalled
        .get()
        .map_or(Duration::from_secs(CLOSE_SECS), |t| {
            (*t + Duration::from_millis(STOP_MS))
                .saturating_duration_since(Instant::now())
                .max(Duration::from_secs(CLOSE_SECS))
        });
    if done_rx.recv_timeout(budget).is_err() {
        tracing::error!(
            secs = budget.as_secs_f64(),
            "the engine did not finish flushing and checkpointing in time; exiting"
        );
    }
    // Nobody listens there any more: `hoist backup --data` must not find this address.
    let _ = std::fs::remove_file(data_dir.join(crate::cli::URL_FILE));
    Ok(())
}

/// What `Engine::close` gets at least after the HTTP server stops.
const CLOSE_SECS: u64 = 2;

/// From the signal to the exit, at most (PRODUCT §9: 10 s), with a margin.
const STOP_MS: u64 = 9_500;

/// SIGTERM and SIGINT, caught from the moment they are installed.
struct Signals {
    term: actix_web::rt::signal::unix::Signal,
    int: actix_web::rt::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use actix_web::rt::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    /// Waits for either; names the one that came.
    async fn wait(mut self) -> &'static str {
        let term = std::pin::pin!(self.term.recv());
        let int = std::pin::pin!(self.int.recv());
        match futures_util::future::select(term, int).await {
            futures_util::future::Either::Left(_) => "SIGTERM",
            futures_util::future::Either::Right(_) => "SIGINT",
        }
    }
}

/// The `hoist` binary's whole life: parse flags, log to stderr, serve.
pub fn main_entry() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Command::Backup(b)) = &args.command {
        return crate::cli::backup(b);
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HOIST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    actix_web::rt::System::new().block_on(serve(args))
}
