//! Live streams (API.md "Live streams", PRODUCT §9): Server-Sent Events fed from the
//! engine's ring of committed changes.
//!
//! Shape, and why:
//! - The engine's writer only appends to its ring and calls one hook per group, which
//!   pokes a channel. A thread of ours (`hoist-streams`) reads the new changes once, at
//!   most every [`TICK`], and wakes the streams of the boards they touch (and the feed
//!   streams). So a write never waits on a stream, however many there are, a burst of
//!   groups wakes each stream once, and a stream of a quiet board is not woken at all.
//! - Each stream keeps its own position in the ring and reads what came after it when
//!   woken (a read lock and a copy of what it keeps). Nothing is queued per client but
//!   the socket's own buffers: actix polls a stream only when its socket can take more, so
//!   a client that stops reading stops being served. When it reads again and its position
//!   has left the ring, it gets `event: resync` and the stream ends. The ring is the
//!   bound, shared by every stream.
//! - A frame (`id`, `event`, `data`) does not depend on who reads it, so it is rendered
//!   once per change into a shared cache and every stream of the same board sends the
//!   same bytes. Who may see a feed entry depends on the reader; that is asked of the
//!   engine ([`Engine::wall_entries`]), which applies the wall's rules.
//! - A stream ends when the token that opened it stops naming the same active user
//!   (checked on every directory change and at least every [`AUTH_EVERY`]), when the
//!   server shuts down, and on `resync`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use hoist_engine::{BoardId, Change, ChangeKind, ChangesAfter, Engine, EntryId, UserId};
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::admission::Admission;
use crate::dto::feeds::FeedEntryOut;
use crate::dto::items::ItemJson;
use crate::error::ApiError;

/// The least time between two wake-ups of the streams: bounds their wake rate at 200/s
/// whatever the write rate, and adds at most this to a change's delivery.
const TICK: Duration = Duration::from_millis(5);

/// A busy stream sends at most once per this interval: what commits meanwhile goes out
/// in the next write. Socket writes, not frames, are what a stream costs the server
/// (1,000 subscribers on 10 boards during `bump`: see BENCHMARKS.md "Live streams"), and
/// this bounds them at 50/s per stream for at most this much added delay.
const SEND_GAP: Duration = Duration::from_millis(20);

/// How often a stream checks that its token still names an active user, at least.
const AUTH_EVERY: Duration = Duration::from_secs(1);

/// The feed stream's counters go out at most this often (API.md).
const COUNTERS_EVERY: Duration = Duration::from_millis(250);

/// How many changes a stream takes from the ring per read: a long replay is sent in
/// pieces of this size, each one a socket write.
const READ_BATCH: usize = 512;

/// Rendered frames kept for reuse by other streams.
const FRAME_CACHE: usize = 16_384;

/// Tickets held at once, at most; past it new ones are refused (503) until some are
/// used or expire.
const MAX_TICKETS: usize = 65_536;

/// Unused tickets one token may hold.
const TICKETS_PER_TOKEN: usize = 16;

/// The live side of the server: the wake-up signals, tickets, and the frame cache.
pub(crate) struct Streams {
    wakes: Arc<Wakes>,
    tickets: Mutex<HashMap<String, Ticket>>,
    frames: Mutex<FrameCache>,
    /// `: keepalive` goes out after this long without a frame.
    pub(crate) keepalive: Duration,
    /// A ticket's life (API.md: 60 s).
    ticket_life: Duration,
    open: AtomicUsize,
    resyncs: AtomicU64,
}

/// Who to wake for what: a board stream is woken only by changes of its board (1,000
/// streams on 1,000 boards woken by every commit cost the bump rate 37 %; BENCHMARKS.md
/// "Live streams"), a feed stream by any change that may add to a wall or move counters.
struct Wakes {
    feed: watch::Sender<u64>,
    /// Per board: the number of the last change that touched it.
    boards: Mutex<HashMap<BoardId, watch::Sender<u64>>>,
    /// How far the wake thread has read. Stored after the boards' values, so a stream that
    /// reads this and then finds its board's last touch at or before its own position
    /// knows that nothing up to here concerns it, and moves on without reading the ring:
    /// a quiet board's stream never falls out of the ring, however busy the others.
    upto: AtomicU64,
}

impl Wakes {
    /// A board's wake-ups. A board nobody followed yet starts as touched by the engine's
    /// last change, read under the lock the wake thread sends with: touches before it are
    /// unknown, so streams behind it read the ring, and any later touch is sent.
    fn board(&self, board: BoardId, engine: &Engine) -> watch::Receiver<u64> {
        let mut boards = self.boards.lock();
        // Boards nobody follows any more are forgotten as new streams come.
        boards.retain(|_, w| w.receiver_count() > 0);
        boards
            .entry(board)
            .or_insert_with(|| watch::channel(engine.last_change()).0)
            .subscribe()
    }

    /// Wakes the streams `changes` concern; `upto` is the last change read.
    fn wake(&self, changes: &[Change], upto: u64) {
        let mut feed = false;
        let mut touched: Vec<(BoardId, u64)> = Vec::new();
        for c in changes {
            feed |= c.kind != ChangeKind::BoardChanged;
            if let Some(b) = c.board {
                match touched.iter_mut().find(|(x, _)| *x == b) {
                    Some(t) => t.1 = c.seq,
                    None => touched.push((b, c.seq)),
                }
            }
        }
        {
            let boards = self.boards.lock();
            for (b, seq) in touched {
                if let Some(w) = boards.get(&b) {
                    w.send_replace(seq);
                }
            }
        }
        self.upto.store(upto, Ordering::Release);
        if feed {
            self.feed.send_replace(upto);
        }
    }

    /// The wake thread fell behind the ring: every stream reads, and finds out whether it
    /// missed anything.
    fn wake_all(&self, upto: u64) {
        for w in self.boards.lock().values() {
            w.send_replace(upto);
        }
        self.upto.store(upto, Ordering::Release);
        self.feed.send_replace(upto);
    }
}

/// Who a ticket stands for: the token it was issued against, checked again when used.
struct Ticket {
    token: String,
    expires: Instant,
}

impl Streams {
    /// Hooks the streams onto `engine`'s commits and starts the thread that wakes them.
    pub(crate) fn start(
        engine: &Arc<Engine>,
        keepalive: Duration,
        ticket_life: Duration,
    ) -> anyhow::Result<Streams> {
        let start = engine.last_change();
        let wakes = Arc::new(Wakes {
            feed: watch::channel(start).0,
            boards: Mutex::new(HashMap::new()),
            upto: AtomicU64::new(start),
        });
        let (poke_tx, poke_rx) = crossbeam_channel::bounded::<()>(1);
        engine.on_change(move |_| {
            // Full means a wake-up is already due: this change rides on it.
            let _ = poke_tx.try_send(());
        });
        let weak = Arc::downgrade(engine);
        let waker = Arc::clone(&wakes);
        std::thread::Builder::new()
            .name("hoist-streams".into())
            .spawn(move || {
                // Reads each change once, to learn whom to wake. Ends with the engine.
                let mut cursor = start;
                while poke_rx.recv().is_ok() {
                    let Some(engine) = weak.upgrade() else { break };
                    loop {
                        match engine.changes_after(cursor, READ_BATCH, &|_| true) {
                            ChangesAfter::Changes { changes, upto } => {
                                if upto == cursor {
                                    break;
                                }
                                cursor = upto;
                                waker.wake(&changes, upto);
                            }
                            ChangesAfter::Resync => {
                                cursor = engine.last_change();
                                waker.wake_all(cursor);
                            }
                        }
                    }
                    drop(engine);
                    std::thread::sleep(TICK);
                }
            })?;
        Ok(Streams {
            wakes,
            tickets: Mutex::new(HashMap::new()),
            frames: Mutex::new(FrameCache::default()),
            keepalive,
            ticket_life,
            open: AtomicUsize::new(0),
            resyncs: AtomicU64::new(0),
        })
    }

    /// Streams open now.
    pub(crate) fn open_count(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Streams ended with `resync` since start.
    pub(crate) fn resync_count(&self) -> u64 {
        self.resyncs.load(Ordering::Relaxed)
    }

    /// A new single-use ticket for `token`, and when it expires. A token holds at most
    /// [`TICKETS_PER_TOKEN`] unused ones (a new one retires its oldest), so no user can
    /// use up the room of others.
    pub(crate) fn issue_ticket(&self, token: &str) -> Result<(String, Duration), ApiError> {
        let mut raw = [0u8; 24];
        getrandom::fill(&mut raw)
            .map_err(|e| ApiError::internal(format!("no randomness for a ticket: {e}")))?;
        let ticket = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw);
        let now = Instant::now();
        let life = self.ticket_life;
        let mut tickets = self.tickets.lock();
        tickets.retain(|_, t| t.expires > now);
        let mine: Vec<(&String, Instant)> = tickets
            .iter()
            .filter(|(_, t)| t.token == token)
            .map(|(k, t)| (k, t.expires))
            .collect();
        if mine.len() >= TICKETS_PER_TOKEN {
            if let Some(oldest) = mine
                .iter()
                .min_by_key(|(_, e)| *e)
                .map(|(k, _)| (*k).clone())
            {
                tickets.remove(&oldest);
            }
        }
        if tickets.len() >= MAX_TICKETS {
            return Err(ApiError::unavailable(
                "too many stream tickets; retry shortly",
            ));
        }
        tickets.insert(
            ticket.clone(),
            Ticket {
                token: token.to_string(),
                expires: now + life,
            },
        );
        Ok((ticket, life))
    }

    /// The token a ticket was issued against, if it is known and not expired; the ticket
    /// stays (see [`Streams::redeem`]).
    pub(crate) fn peek(&self, ticket: &str) -> Option<String> {
        let tickets = self.tickets.lock();
        let t = tickets.get(ticket)?;
        (t.expires > Instant::now()).then(|| t.token.clone())
    }

    /// Uses a ticket up: whether it was still there (of two requests racing with one
    /// ticket, one gets it).
    pub(crate) fn redeem(&self, ticket: &str) -> bool {
        self.tickets.lock().remove(ticket).is_some()
    }
}

/// What a stream follows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Topic {
    /// Item changes of one board.
    Board(BoardId),
    /// New entries of a user's wall, and their counters.
    Feed(UserId),
}

impl Topic {
    fn keeps(self, c: &Change) -> bool {
        match self {
            Topic::Board(b) => c.board == Some(b) && event_name(c.kind).is_some(),
            // Entries to filter by audience; item changes and directory changes because
            // counters and the token's validity may follow from them.
            Topic::Feed(_) => c.kind != ChangeKind::BoardChanged,
        }
    }
}

/// The SSE event name of an item change (API.md), if it is one.
fn event_name(kind: ChangeKind) -> Option<&'static str> {
    Some(match kind {
        ChangeKind::ItemCreated => "item.created",
        ChangeKind::ItemUpdated => "item.updated",
        ChangeKind::ItemFocused => "item.focused",
        ChangeKind::ItemMoved => "item.moved",
        ChangeKind::ItemRead => "item.read",
        ChangeKind::ItemDeleted => "item.deleted",
        ChangeKind::BoardChanged | ChangeKind::DirectoryChanged | ChangeKind::EntryAdded => {
            return None
        }
    })
}

/// Frames by change number, oldest evicted first.
#[derive(Default)]
struct FrameCache {
    by_seq: HashMap<u64, Bytes>,
    order: VecDeque<u64>,
}

impl FrameCache {
    fn get(&self, seq: u64) -> Option<Bytes> {
        self.by_seq.get(&seq).cloned()
    }

    fn put(&mut self, seq: u64, frame: Bytes) {
        if self.by_seq.insert(seq, frame).is_none() {
            self.order.push_back(seq);
            while self.order.len() > FRAME_CACHE {
                if let Some(old) = self.order.pop_front() {
                    self.by_seq.remove(&old);
                }
            }
        }
    }
}

fn frame(seq: u64, event: &str, data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + event.len() + 32);
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(seq.to_string().as_bytes());
    out.extend_from_slice(b"\nevent: ");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// `{id, board}`: what an `item.deleted` event carries (the item is gone).
#[derive(serde::Serialize)]
struct Deleted {
    id: u64,
    board: Option<u64>,
}

/// The frame of an item change.
fn item_frame(c: &Change, event: &str) -> Result<Bytes, ApiError> {
    let data = match &c.view {
        Some(view) => {
            let mut data = Vec::with_capacity(512);
            ItemJson(view.get().map_err(ApiError::from)?)
                .write(&mut data)
                .map(|()| data)
        }
        None => serde_json::to_vec(&Deleted {
            id: c.item.map_or(0, |i| i.0),
            board: c.board.map(|b| b.0),
        }),
    }
    .map_err(|e| ApiError::internal(format!("could not render: {e}")))?;
    Ok(frame(c.seq, event, &data))
}

/// The `{unread_items, overdue_activities, total}` of `event: counters`.
#[derive(serde::Serialize, PartialEq, Eq, Clone, Copy)]
struct CountersEvent {
    unread_items: u64,
    overdue_activities: u64,
    total: u64,
}

/// One open stream: its position, and what it must check and when.
pub(crate) struct Follower {
    engine: Arc<Engine>,
    streams: Arc<Streams>,
    admission: Arc<Admission>,
    topic: Topic,
    user: UserId,
    token: String,
    cursor: u64,
    wake: watch::Receiver<u64>,
    last_auth: Instant,
    last_sent: Instant,
    /// When the last frames of changes went out (for [`SEND_GAP`]).
    last_batch: Option<Instant>,
    /// Counters: what was last sent, whether they may have changed since, and when.
    counters: Option<CountersEvent>,
    counters_due: bool,
    counters_at: Option<Instant>,
    /// Set once `resync` went out: the next poll ends the stream.
    ended: bool,
}

/// Why a stream stops.
enum Step {
    Send(Bytes),
    End,
}

impl Follower {
    /// A stream for `user` (authenticated by `token`) from change `after`.
    pub(crate) fn new(
        engine: Arc<Engine>,
        streams: Arc<Streams>,
        admission: Arc<Admission>,
        topic: Topic,
        user: UserId,
        token: String,
        after: u64,
    ) -> Follower {
        let wake = match topic {
            Topic::Board(b) => streams.wakes.board(b, &engine),
            Topic::Feed(_) => streams.wakes.feed.subscribe(),
        };
        streams.open.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        Follower {
            engine,
            streams,
            admission,
            topic,
            user,
            token,
            cursor: after,
            wake,
            last_auth: now,
            last_sent: now,
            last_batch: None,
            counters: None,
            counters_due: matches!(topic, Topic::Feed(_)),
            counters_at: None,
            ended: false,
        }
    }

    /// The body: frames until the stream ends.
    pub(crate) fn into_body(
        self,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> {
        futures_util::stream::unfold(self, |mut f| async move {
            match f.next().await {
                Step::Send(b) => Some((Ok(b), f)),
                Step::End => None,
            }
        })
    }

    async fn next(&mut self) -> Step {
        loop {
            if self.ended || self.admission.is_closing() {
                return Step::End;
            }
            if self.last_auth.elapsed() >= AUTH_EVERY && !self.still_valid() {
                return Step::End;
            }
            if let Some(at) = self.last_batch {
                let wait = SEND_GAP.saturating_sub(at.elapsed());
                if !wait.is_zero() {
                    actix_web::rt::time::sleep(wait).await;
                }
            }
            match self.read().await {
                Ok(Some(step)) => return step,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "a stream could not render a change; ending it");
                    return Step::End;
                }
            }
            if let Some(b) = self.counters_frame() {
                return Step::Send(b);
            }
            // Nothing to send: sleep until a commit, the keepalive, the next token check,
            // or the counters' next slot.
            let mut until =
                (self.last_sent + self.streams.keepalive).min(self.last_auth + AUTH_EVERY);
            if self.counters_due {
                if let Some(at) = self.counters_at {
                    until = until.min(at + COUNTERS_EVERY);
                }
            }
            let now = Instant::now();
            if self.last_sent + self.streams.keepalive <= now {
                self.last_sent = now;
                // With the position read up to: an `id:` with no data moves a client's
                // Last-Event-ID without an event, so a stream of a quiet board resumes
                // from here, not from its last event long out of the ring.
                return Step::Send(Bytes::from(format!(": keepalive\nid: {}\n\n", self.cursor)));
            }
            let sleep = until.saturating_duration_since(now);
            match actix_web::rt::time::timeout(sleep, self.wake.changed()).await {
                Ok(Ok(())) | Err(_) => {}
                // The server is stopping.
                Ok(Err(_)) => return Step::End,
            }
        }
    }

    /// Whether the stream's token still names its user, active.
    fn still_valid(&mut self) -> bool {
        self.last_auth = Instant::now();
        self.engine
            .authenticate(&self.token)
            .is_some_and(|p| p.user == self.user)
    }

    /// Reads what came after the position; the frames to send, if any.
    async fn read(&mut self) -> Result<Option<Step>, ApiError> {
        let topic = self.topic;
        if let Topic::Board(_) = topic {
            // `upto` first, then the board's last touch (see `Wakes::upto`).
            let upto = self.streams.wakes.upto.load(Ordering::Acquire);
            let touched = *self.wake.borrow();
            if touched <= self.cursor && upto > self.cursor {
                self.cursor = upto;
            }
        }
        loop {
            let got = match topic {
                Topic::Board(b) => {
                    self.engine
                        .board_changes_after(b, self.cursor, READ_BATCH, &|c| topic.keeps(c))
                }
                Topic::Feed(_) => self
                    .engine
                    .changes_after(self.cursor, READ_BATCH, &|c| topic.keeps(c)),
            };
            let (changes, upto) = match got {
                ChangesAfter::Resync => {
                    self.ended = true;
                    self.streams.resyncs.fetch_add(1, Ordering::Relaxed);
                    return Ok(Some(Step::Send(Bytes::from_static(
                        b"event: resync\ndata: {}\n\n",
                    ))));
                }
                ChangesAfter::Changes { changes, upto } => (changes, upto),
            };
            if upto == self.cursor {
                return Ok(None);
            }
            self.cursor = upto;
            let out = match topic {
                Topic::Board(_) => self.board_frames(&changes)?,
                Topic::Feed(user) => {
                    if changes
                        .iter()
                        .any(|c| c.kind == ChangeKind::DirectoryChanged)
                        && !self.still_valid()
                    {
                        return Ok(Some(Step::End));
                    }
                    if changes.iter().any(|c| c.item.is_some()) {
                        self.counters_due = true;
                    }
                    self.feed_frames(user, &changes).await?
                }
            };
            if !out.is_empty() {
                let now = Instant::now();
                self.last_sent = now;
                self.last_batch = Some(now);
                return Ok(Some(Step::Send(out)));
            }
        }
    }

    /// The frame of change `seq`, from the cache, else rendered once and kept there.
    fn frame(
        &self,
        seq: u64,
        render: impl FnOnce() -> Result<Bytes, ApiError>,
    ) -> Result<Bytes, ApiError> {
        if let Some(f) = self.streams.frames.lock().get(seq) {
            return Ok(f);
        }
        let f = render()?;
        self.streams.frames.lock().put(seq, f.clone());
        Ok(f)
    }

    fn board_frames(&self, changes: &[Change]) -> Result<Bytes, ApiError> {
        let mut out = Vec::new();
        for c in changes {
            let Some(event) = event_name(c.kind) else {
                continue;
            };
            out.extend_from_slice(&self.frame(c.seq, || item_frame(c, event))?);
        }
        Ok(Bytes::from(out))
    }

    async fn feed_frames(&self, user: UserId, changes: &[Change]) -> Result<Bytes, ApiError> {
        // Entry numbers and change numbers both grow in commit order.
        let entries: Vec<(EntryId, u64)> = changes
            .iter()
            .filter_map(|c| c.entry.map(|e| (e, c.seq)))
            .collect();
        if entries.is_empty() {
            return Ok(Bytes::new());
        }
        let ids: Vec<EntryId> = entries.iter().map(|(e, _)| *e).collect();
        // Entries are read from disk: off the async workers, as the wall's reads are.
        let engine = Arc::clone(&self.engine);
        let visible = actix_web::web::block(move || engine.wall_entries(user, &ids)).await??;
        let mut out = Vec::new();
        for e in visible {
            let Some(seq) = entries
                .binary_search_by_key(&e.id, |(id, _)| *id)
                .ok()
                .and_then(|i| entries.get(i))
                .map(|(_, s)| *s)
            else {
                continue;
            };
            let f = self.frame(seq, || {
                let data = serde_json::to_vec(&FeedEntryOut::from(e))
                    .map_err(|e| ApiError::internal(format!("could not render: {e}")))?;
                Ok(frame(seq, "entry", &data))
            })?;
            out.extend_from_slice(&f);
        }
        Ok(Bytes::from(out))
    }

    /// `event: counters` when they may have changed, differ from the last sent, and the
    /// last went out at least [`COUNTERS_EVERY`] ago.
    fn counters_frame(&mut self) -> Option<Bytes> {
        if !self.counters_due
            || self
                .counters_at
                .is_some_and(|t| t.elapsed() < COUNTERS_EVERY)
        {
            return None;
        }
        self.counters_due = false;
        let c = self.engine.counters(self.user).ok()?;
        let now = CountersEvent {
            unread_items: c.unread_items,
            overdue_activities: c.overdue_activities,
            total: c.total,
        };
        if self.counters == Some(now) {
            return None;
        }
        self.counters = Some(now);
        self.counters_at = Some(Instant::now());
        self.last_sent = Instant::now();
        let data = serde_json::to_vec(&now).ok()?;
        let mut out = Vec::with_capacity(data.len() + 24);
        out.extend_from_slice(b"event: counters\ndata: ");
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\n\n");
        Some(Bytes::from(out))
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.streams.open.fetch_sub(1, Ordering::Relaxed);
    }
}
