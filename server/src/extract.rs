//! Request plumbing shared by every handler: the caller from the bearer token, bodies
//! read with a size limit and parsed with the offending field named, and query strings.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use hoist_engine::{Engine, Pending, Principal, UserId};
use serde::de::DeserializeOwned;

use crate::admission::{Admission, Permit};
use crate::error::ApiError;
use crate::metrics::Metrics;

/// What every handler can reach.
pub(crate) struct AppState {
    /// The engine.
    pub(crate) engine: Arc<Engine>,
    pub(crate) metrics: Metrics,
    pub(crate) openapi: String,
    /// Budgets for requests in flight, and whether the server is shutting down.
    pub(crate) admission: Arc<Admission>,
    /// The live streams' wake-up signal, tickets and frames.
    pub(crate) streams: Arc<crate::streams::Streams>,
}

/// Shorthand for the shared state extractor.
pub(crate) type State = web::Data<AppState>;

/// Body size limits: 1 MiB, batches of events or items 16 MiB, files 8 MiB.
pub(crate) const BODY_LIMIT: usize = 1 << 20;
pub(crate) const BATCH_LIMIT: usize = 16 << 20;

/// The authenticated caller.
pub(crate) struct Caller(pub Principal);

/// What a handler takes when being signed in is the whole of its authorization: every
/// active user may read and change items, activities and comments, and read boards, users,
/// modules, feed preferences, the metrics and the OpenAPI document. Extracting it answers
/// 401 to a missing or unknown token; a handler that needs more (an admin, a member, the
/// caller's own id) takes [`Caller`].
pub(crate) type SignedIn = Caller;

impl Caller {
    pub(crate) fn user(&self) -> UserId {
        self.0.user
    }

    /// Runs an engine command as this caller: `f` gets the engine and the caller's id.
    pub(crate) fn run<T, F>(&self, state: &State, f: F) -> Command<T>
    where
        F: FnOnce(&Engine, UserId) -> Result<T, hoist_engine::Error> + Send + 'static,
        T: Send + 'static,
    {
        let actor = self.user();
        run(state, move |engine| f(engine, actor))
    }

    /// Hands a command to the writer as this caller and awaits it on this worker:
    /// [`submit`] with the caller's id.
    pub(crate) fn submit<T, F>(&self, state: &State, f: F) -> Command<T>
    where
        F: FnOnce(&Engine, UserId) -> Pending<T>,
        T: Send + 'static,
    {
        self.submit_batch(state, 0, f)
    }

    /// [`Caller::submit`] for a batch of `elements` elements: [`submit_batch`].
    pub(crate) fn submit_batch<T, F>(&self, state: &State, elements: usize, f: F) -> Command<T>
    where
        F: FnOnce(&Engine, UserId) -> Pending<T>,
        T: Send + 'static,
    {
        let actor = self.user();
        submit_batch(state, elements, move |engine| f(engine, actor))
    }

    /// Runs an engine read as this caller: [`read`] with the caller's id.
    pub(crate) fn read<T, F>(&self, state: &State, f: F) -> Command<T>
    where
        F: FnOnce(&Engine, UserId) -> Result<T, hoist_engine::Error> + Send + 'static,
        T: Send + 'static,
    {
        let actor = self.user();
        read(state, move |engine| f(engine, actor))
    }

    pub(crate) fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("this needs an admin token"))
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    let state = req
        .app_data::<State>()
        .ok_or_else(|| ApiError::internal("server state missing"))?;
    let token = bearer(req)?;
    state
        .engine
        .authenticate(token)
        .map(Caller)
        .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))
}

/// The bearer token of a request (401 when there is none).
pub(crate) fn bearer(req: &HttpRequest) -> Result<&str, ApiError> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("expected Authorization: Bearer <token>"))
}

/// A request body read up to a limit, with its declared content type.
pub(crate) struct Body {
    pub bytes: web::BytesMut,
    pub kind: BodyKind,
    /// The bytes' share of the body budget, given back when the body is dropped.
    _permit: Permit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Json,
    NdJson,
    Other,
}

fn body_kind(req: &HttpRequest) -> BodyKind {
    let ct = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => BodyKind::Json,
        "application/x-ndjson" | "application/ndjson" => BodyKind::NdJson,
        _ => BodyKind::Other,
    }
}

/// Reads the body, refusing more than `limit` bytes with 413.
pub(crate) async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Body, ApiError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::too_large(format!(
            "the body may be at most {limit} bytes"
        )));
    }
    let full = || ApiError::unavailable("too many request bytes in flight; retry shortly");
    let st = state(req)?;
    // Every body is a write's: while the writer is behind, refuse before reading it.
    if st.engine.queue_wait() > st.admission.max_queue_wait {
        return Err(ApiError::unavailable("the writer is behind; retry shortly"));
    }
    let budget = &st.admission.body_bytes;
    // Taken before reading, so a flood of big bodies is refused before it is in memory.
    let mut permit = budget.try_take(declared.unwrap_or(0)).ok_or_else(full)?;
    let mut bytes = web::BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::invalid(format!("could not read the body: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::too_large(format!(
                "the body may be at most {limit} bytes"
            )));
        }
        let beyond = (bytes.len() + chunk.len()).saturating_sub(declared.unwrap_or(0));
        let held = bytes.len().saturating_sub(declared.unwrap_or(0));
        if beyond > held && !permit.grow(beyond - held) {
            return Err(full());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Body {
        bytes,
        kind: body_kind(req),
        _permit: permit,
    })
}

/// Parses one JSON value, naming the field at fault on error.
///
/// A body is read first without keeping the path: `serde_path_to_error` allocates a
/// `String` for each key it passes, for every event line of a batch too. Only a body that
/// fails is read again, with the path, for the error's message; both readings accept the
/// same bodies (the same deserializer, and `from_slice` checks for trailing characters as
/// below).
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body (and every line of a batch) is an object, but serde's derived structs
    // also read an array, field by field in order: `[[]]` was taken as a `Preferences`
    // (schemathesis, "schema-violating request accepted"). Other values serde refuses
    // itself. One look at the first byte.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::invalid(
            "body: invalid type: sequence, expected struct (every body is a JSON object)",
        ));
    }
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        Err(e) => {
            // JSON Schema calls `2.0` an integer; serde does not. Only on this error path,
            // which a well-formed request never takes, the body is read again as a tree
            // with every integral float made an integer, then typed from it.
            if e.inner()
                .to_string()
                .starts_with("invalid type: floating point")
            {
                if let Some(v) = with_integral_floats_as_integers(bytes) {
                    return serde_path_to_error::deserialize(v).map_err(field_error);
                }
            }
            return Err(field_error(e));
        }
    };
    de.end().map_err(|e| {
        ApiError::invalid(format!(
            "body: trailing characters after the JSON value ({e})"
        ))
    })?;
    Ok(value)
}

/// The 400 naming the field a body failed at.
fn field_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if path == "." || path.is_empty() {
        ApiError::invalid(format!("body: {inner}"))
    } else {
        ApiError::invalid(format!("{path}: {inner}"))
    }
}

/// The JSON in `bytes` as a tree, each float with no fractional part (within ±2^53, where
/// a float is exact) replaced by the integer it equals.
fn with_integral_floats_as_integers(bytes: &[u8]) -> Option<serde_json::Value> {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => {
                const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
                if let Some(f) = n.as_f64() {
                    if f.fract() == 0.0 && f.abs() <= EXACT {
                        // In range and integral: the cast is exact.
                        #[allow(clippy::cast_possible_truncation)]
                        let i = f as i64;
                        *v = serde_json::Value::from(i);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            serde_json::Value::Object(o) => o.values_mut().for_each(walk),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    walk(&mut v);
    Some(v)
}

/// A JSON body: the content type must be `application/json`.
pub(crate) async fn json_body<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    if body_kind(req) != BodyKind::Json {
        return Err(ApiError::unsupported_media_type(
            "send Content-Type: application/json",
        ));
    }
    let body = read_body(req, payload, BODY_LIMIT).await?;
    parse_json(&body.bytes)
}

/// Parses a query string into `T`, naming the parameter at fault.
///
/// An empty value (`?responsible=`, what a form sends for a field left blank) counts as
/// absent (the document says `allowEmptyValue`), so a query type is plain `Option` fields
/// with no attribute each; any other value is read as sent (` 5` is not a number). The
/// query is re-encoded only when some value is empty.
pub(crate) fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    let pairs = form_urlencoded::parse(req.query_string().as_bytes());
    let tidy;
    let pairs = if pairs.clone().any(|(_, v)| v.is_empty()) {
        tidy = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.filter(|(_, v)| !v.is_empty()))
            .finish();
        form_urlencoded::parse(tidy.as_bytes())
    } else {
        pairs
    };
    let de = serde_urlencoded::Deserializer::new(pairs);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        ApiError::invalid(format!("query {path}: {}", e.into_inner()))
    })
}

/// A path id: a positive integer.
pub(crate) fn id(raw: &str, what: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| ApiError::not_found(format!("{what} {raw:?} not found")))
}

/// An engine command on its way: what [`run`] and [`Caller::run`] give back to await.
pub(crate) type Command<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// Runs an engine command that names no actor (the handler has already checked who may
/// call it). With [`Caller::run`], the one way a handler hands a command to the engine, so
/// how commands travel to the writer is decided here, once.
///
/// Each command holds one unit of the writes-in-flight budget until its answer is durable;
/// with none left, it is refused at once with 503 (`admission.rs`).
pub(crate) fn run<T, F>(state: &State, f: F) -> Command<T>
where
    F: FnOnce(&Engine) -> Result<T, hoist_engine::Error> + Send + 'static,
    T: Send + 'static,
{
    let engine = Arc::clone(&state.engine);
    let admitted = admit(state, 0);
    Box::pin(async move {
        let permits = admitted?;
        // The engine blocks until the write is durable: off the async workers. The permit
        // goes with the command, so it is held until the command is done even if this
        // request is dropped (the client went away) while it runs.
        web::block(move || {
            let _permits = permits;
            f(&engine)
        })
        .await?
        .map_err(ApiError::from)
    })
}

/// What an admitted write holds until it is answered: one unit of the writes budget and,
/// for a batch, its elements' share of the batch-elements budget.
type Admitted = (Permit, Option<Permit>);

/// Admission of a write of `elements` batch elements (0 for a single command): refused
/// while the writer is behind or a budget is spent (`admission.rs`).
fn admit(state: &State, elements: usize) -> Result<Admitted, ApiError> {
    let refuse = |why: &str| ApiError::unavailable(format!("{why}; retry shortly"));
    if state.engine.queue_wait() > state.admission.max_queue_wait {
        return Err(refuse("the writer is behind"));
    }
    let write = state
        .admission
        .writes
        .try_take(1)
        .ok_or_else(|| refuse("too many writes in flight"))?;
    let batch = match elements {
        0 => None,
        n => Some(
            state
                .admission
                .elements
                .try_take(n)
                .ok_or_else(|| refuse("too many batch elements in flight"))?,
        ),
    };
    Ok((write, batch))
}

/// Hands an engine command to the writer and awaits its answer on this worker: no thread
/// between the handler and the writer (the engine's `*_async` commands return a
/// [`Pending`], a future the writer completes after the flush). The hot write routes use
/// this; [`run`] remains for the rest, which the engine offers only blocking.
///
/// Admission as in [`run`]. The permit travels with the command in a task of its own, so
/// it is held until the writer answers even if the request is dropped meanwhile.
pub(crate) fn submit<T, F>(state: &State, f: F) -> Command<T>
where
    F: FnOnce(&Engine) -> Pending<T>,
    T: Send + 'static,
{
    submit_batch(state, 0, f)
}

/// [`submit`] for a batch of `elements` elements: it also holds that many units of the
/// batch-elements budget until it is answered (`admission.rs`).
pub(crate) fn submit_batch<T, F>(state: &State, elements: usize, f: F) -> Command<T>
where
    F: FnOnce(&Engine) -> Pending<T>,
    T: Send + 'static,
{
    let permits = match admit(state, elements) {
        Ok(p) => p,
        Err(e) => return Box::pin(std::future::ready(Err(e))),
    };
    let pending = f(&state.engine);
    let (tx, rx) = tokio::sync::oneshot::channel();
    actix_web::rt::spawn(async move {
        let r = pending.await;
        drop(permits);
        let _ = tx.send(r);
    });
    Box::pin(async move {
        rx.await
            .map_err(|_| ApiError::unavailable("the server is shutting down"))?
            .map_err(ApiError::from)
    })
}

/// Runs an engine read that may touch the disk (entries and files are read from sled) off
/// the async workers. Reads take nothing from the write budgets and are never refused for
/// overload.
pub(crate) fn read<T, F>(state: &State, f: F) -> Command<T>
where
    F: FnOnce(&Engine) -> Result<T, hoist_engine::Error> + Send + 'static,
    T: Send + 'static,
{
    let engine = Arc::clone(&state.engine);
    Box::pin(async move {
        web::block(move || f(&engine))
            .await?
            .map_err(ApiError::from)
    })
}

/// The server's shared state, from a request.
fn state(req: &HttpRequest) -> Result<&AppState, ApiError> {
    req.app_data::<State>()
        .map(|s| s.get_ref())
        .ok_or_else(|| ApiError::internal("the server's state is missing"))
}

#[cfg(test)]
mod tests {
    use super::parse_json;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        n: i64,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        name: String,
        inner: Vec<Inner>,
    }

    fn message(bytes: &[u8]) -> String {
        match parse_json::<Outer>(bytes) {
            Ok(v) => panic!("accepted {v:?}"),
            Err(e) => e.message,
        }
    }

    /// The fast reading (no path kept) and the slow one (path kept, only on failure)
    /// accept the same bodies, and a refusal still names the field.
    #[test]
    fn a_body_parses_once_and_a_bad_one_names_its_field() {
        let ok = parse_json::<Outer>(br#"{"name":"a","inner":[{"n":1},{"n":2}]}"#);
        assert_eq!(
            ok.ok(),
            Some(Outer {
                name: "a".into(),
                inner: vec![Inner { n: 1 }, Inner { n: 2 }]
            })
        );
        let m = message(br#"{"name":"a","inner":[{"n":1},{"n":"x"}]}"#);
        assert!(m.starts_with("inner[1].n: invalid type"), "{m}");
        let m = message(br#"{"name":"a","inner":[],"extra":1}"#);
        assert!(m.starts_with("extra: unknown field"), "{m}");
        let m = message(br#"{"name":"a","inner":[]} x"#);
        assert!(m.starts_with("body: trailing characters"), "{m}");
        let m = message(br#"{"name":"a""#);
        assert!(m.contains("EOF while parsing"), "{m}");
        // serde would read these arrays as an `Outer`, field by field.
        for body in [&br#"["a",[]]"#[..], b" [\"a\", []]"] {
            assert!(
                message(body).starts_with("body: invalid type: sequence"),
                "{body:?}"
            );
        }
        // JSON Schema's integer `2.0` is taken on the slow path, as before.
        let two = parse_json::<Outer>(br#"{"name":"a","inner":[{"n":2.0}]}"#);
        assert_eq!(two.ok().map(|o| o.inner), Some(vec![Inner { n: 2 }]));
    }
}
