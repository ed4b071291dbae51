//! [`Engine`]: open, close, and the single writer with group commit.
//!
//! Write path, in order:
//! 1. A public method wraps its typed command in a job and puts it on the bounded write
//!    queue (waiting at most `Config::enqueue_timeout`, else [`Error::Overloaded`]).
//! 2. The writer thread takes a group: the first waiting job and up to
//!    `Config::max_group - 1` more that are already queued.
//! 3. For each job, under the state's write lock: validate against the current state
//!    (an error changes nothing), then update memory and add the records to the group's
//!    one sled batch. Each committed command takes the next change sequence number.
//! 4. The meta row joins the batch; `apply_batch` writes the group atomically; one
//!    `flush` makes it durable.
//! 5. Then the wheel learns of armed and cancelled timers, the group's changes are
//!    published in sequence order, and only then is each caller answered.
//!
//! Readers take the read lock and may see a command's effect in the short window between
//! step 3 and its flush; nobody is *answered* before the flush. If the flush fails, the
//! writer stops (fail-stop): every waiting caller gets [`Error::Poisoned`], and the state
//! is rebuilt from disk on the next open.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, RwLock};

use crate::changes::{Change, ChangeKind, Hub, Subscription};
use crate::clock::{Clock, Millis, SystemClock};
use crate::error::{Error, Result};
use crate::ids::{BoardId, ItemId};
use crate::state::State;
use crate::store::{Batch, Store};
use crate::timer::{TimerId, Wheel};

/// Engine settings. `Config::default()` suits a server; tests swap the clock.
#[derive(Clone)]
pub struct Config {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) cache_bytes: u64,
    pub(crate) queue_capacity: usize,
    pub(crate) max_group: usize,
    pub(crate) enqueue_timeout: Duration,
    pub(crate) timer_thread: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            clock: Arc::new(SystemClock),
            cache_bytes: 256 << 20,
            queue_capacity: 8192,
            max_group: 1024,
            enqueue_timeout: Duration::from_secs(2),
            timer_thread: true,
        }
    }
}

impl Config {
    /// Uses `clock` for every timestamp and deadline.
    pub fn with_clock(mut self, clock: impl Clock) -> Config {
        self.clock = Arc::new(clock);
        self
    }

    /// sled's page cache size in MiB (it does not bound the process's memory).
    pub fn with_cache_mb(mut self, mb: u64) -> Config {
        self.cache_bytes = mb.saturating_mul(1 << 20);
        self
    }

    /// How many commands may wait for the writer before callers are refused.
    pub fn with_queue_capacity(mut self, n: usize) -> Config {
        self.queue_capacity = n.max(1);
        self
    }

    /// How long a caller waits for room in a full queue before [`Error::Overloaded`].
    pub fn with_enqueue_timeout(mut self, t: Duration) -> Config {
        self.enqueue_timeout = t;
        self
    }

    /// Whether a background thread fires reminders and deadlines as they come due
    /// (default on). Tests on a manual clock switch it off and call
    /// [`Engine::fire_due_timers`] themselves, so what fires when is deterministic.
    pub fn with_timer_thread(mut self, on: bool) -> Config {
        self.timer_thread = on;
        self
    }

    /// The most commands one flush may serve.
    pub fn with_max_group(mut self, n: usize) -> Config {
        self.max_group = n.max(1);
        self
    }
}

/// What a job sees while the writer applies it.
pub(crate) struct Tx<'a> {
    pub state: &'a mut State,
    pub batch: &'a mut Batch,
    pub now: Millis,
    pub changes: &'a mut Vec<Change>,
    /// Wheel updates, applied after the group is durable.
    pub timers: &'a mut Vec<TimerOp>,
}

/// A change to the in-memory wheel that a committed command asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TimerOp {
    Arm(u64, i64),
    Cancel(u64),
}

type Completion = Box<dyn FnOnce(Option<&Error>) + Send>;
pub(crate) type Job = Box<dyn FnOnce(&mut Tx<'_>) -> Completion + Send>;

pub(crate) struct Shared {
    pub state: RwLock<State>,
    pub store: Store,
    pub hub: Hub,
    pub config: Config,
    pub wheel: Mutex<Wheel>,
    /// Held while due timers are taken from the wheel and fired, so that a caller of
    /// `fire_due` returns only after every timer due at its `now` is durable.
    pub firing: Mutex<()>,
    /// Wakes the timer thread when a timer is armed (it may be due sooner).
    pub wake: Sender<()>,
    pub timers_fired: AtomicU64,
    pub events_ingested: AtomicU64,
    pub focus_fired: AtomicU64,
    /// Wakes the jobs thread when a job is created.
    pub jobs_wake: Sender<()>,
}

/// An open Hoist data directory. Cheap to share across threads (`Arc` inside); every
/// method is synchronous and thread-safe. Writes block until they are durable.
pub struct Engine {
    pub(crate) shared: Arc<Shared>,
    queue: Mutex<Option<Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    timer: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
    jobs: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
}

impl Engine {
    /// Opens (or creates) the data directory `dir`: takes its lock, checks its format
    /// version and rebuilds the in-memory indexes from the records.
    pub fn open(dir: impl AsRef<Path>, config: Config) -> Result<Engine> {
        let store = Store::open(dir.as_ref(), config.cache_bytes)?;
        let state = State::load(&store)?;
        // Re-arm every durable timer; those already due fire at the timer thread's
        // first poll.
        let mut wheel = Wheel::with_capacity(config.clock.now().0, state.armed.len());
        for (id, due) in &state.armed {
            wheel.insert(TimerId(*id), *due);
        }
        let (tx, rx) = crossbeam_channel::bounded::<Job>(config.queue_capacity);
        let (wake_tx, wake_rx) = crossbeam_channel::bounded::<()>(1);
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let (jobs_wake_tx, jobs_wake_rx) = crossbeam_channel::bounded::<()>(1);
        let (jobs_stop_tx, jobs_stop_rx) = crossbeam_channel::bounded::<()>(0);
        let shared = Arc::new(Shared {
            state: RwLock::new(state),
            store,
            hub: Hub::default(),
            config,
            wheel: Mutex::new(wheel),
            firing: Mutex::new(()),
            wake: wake_tx,
            timers_fired: AtomicU64::new(0),
            events_ingested: AtomicU64::new(0),
            focus_fired: AtomicU64::new(0),
            jobs_wake: jobs_wake_tx,
        });
        let spawn_err = |source| Error::Io {
            path: dir.as_ref().to_path_buf(),
            source,
        };
        let w = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("hoist-writer".into())
            .spawn(move || writer_loop(&w, &rx))
            .map_err(spawn_err)?;
        let engine = Engine {
            shared,
            queue: Mutex::new(Some(tx.clone())),
            writer: Mutex::new(Some(writer)),
            timer: Mutex::new(None),
            jobs: Mutex::new(None),
        };
        let j = Arc::clone(&engine.shared);
        let jobs_tx = tx.clone();
        let jobs = std::thread::Builder::new()
            .name("hoist-jobs".into())
            .spawn(move || crate::jobs::jobs_loop(&j, &jobs_tx, &jobs_wake_rx, &jobs_stop_rx))
            .map_err(spawn_err)?;
        *engine.jobs.lock() = Some((jobs_stop_tx, jobs));
        if engine.shared.config.timer_thread {
            let t = Arc::clone(&engine.shared);
            let timer = std::thread::Builder::new()
                .name("hoist-timers".into())
                .spawn(move || timer_loop(&t, &tx, &wake_rx, &stop_rx))
                .map_err(spawn_err)?;
            *engine.timer.lock() = Some((stop_tx, timer));
        }
        Ok(engine)
    }

    /// Stops taking writes, lets the writer finish and flush what is queued, and waits
    /// for it. Later writes fail with [`Error::ShuttingDown`]; reads keep working.
    pub fn close(&self) {
        // The timer and jobs threads hold queue senders: stop them first so the writer
        // can drain.
        for slot in [&self.timer, &self.jobs] {
            if let Some((stop, h)) = slot.lock().take() {
                drop(stop);
                let _ = h.join();
            }
        }
        self.queue.lock().take();
        if let Some(h) = self.writer.lock().take() {
            let _ = h.join();
        }
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.shared.store.dir()
    }

    /// Follows committed changes in commit order, from now on. A subscriber that falls
    /// `capacity` changes behind is cut off and told to resync.
    pub fn subscribe(&self, capacity: usize) -> Subscription {
        self.shared.hub.subscribe(capacity)
    }

    /// Runs `f` on the writer thread as one command and waits until it is durable.
    pub(crate) fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let sender = self.queue.lock().clone().ok_or(Error::ShuttingDown)?;
        submit(&sender, self.shared.config.enqueue_timeout, f)
    }

    /// Fires every timer due now through the writer; see `Engine::fire_due_timers`.
    pub(crate) fn fire_due(&self) -> Result<usize> {
        let sender = self.queue.lock().clone().ok_or(Error::ShuttingDown)?;
        fire_due(&self.shared, &sender)
    }
}

/// Wraps a command in a job for the writer, and the receiver its result comes back on
/// once the group is durable (or with `Poisoned` if the group's write failed).
fn job<T: Send + 'static>(
    f: impl FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
) -> (Job, oneshot::Receiver<Result<T>>) {
    // A oneshot parks the waiting caller at once; a crossbeam channel spins and calls
    // `sched_yield` first, and with 64 callers waiting on two cores that spinning took a
    // third of all CPU time in the activity benchmark (18 % with the oneshot).
    let (reply_tx, reply_rx) = oneshot::channel::<Result<T>>();
    let job: Job = Box::new(move |tx| {
        let result = f(tx);
        Box::new(move |commit: Option<&Error>| {
            let r = match (commit, result) {
                (Some(e), Ok(_)) => Err(Error::Poisoned(e.to_string())),
                (_, r) => r,
            };
            let _ = reply_tx.send(r);
        })
    });
    (job, reply_rx)
}

/// The result of a job: `ShuttingDown` if the writer dropped it unapplied.
fn answer<T>(rx: oneshot::Receiver<Result<T>>) -> Result<T> {
    rx.recv().map_err(|_| Error::ShuttingDown)?
}

pub(crate) fn submit<T: Send + 'static>(
    sender: &Sender<Job>,
    timeout: Duration,
    f: impl FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
) -> Result<T> {
    let (job, reply) = job(f);
    sender.send_timeout(job, timeout).map_err(|e| match e {
        crossbeam_channel::SendTimeoutError::Timeout(_) => Error::Overloaded,
        crossbeam_channel::SendTimeoutError::Disconnected(_) => Error::ShuttingDown,
    })?;
    answer(reply)
}

/// How many due timers one writer command fires: big enough to share a flush, small
/// enough not to hold the state lock for long.
const FIRE_CHUNK: usize = 512;

/// How many of a burst of due timers fire first, on their own flush.
const FIRST_FIRE: usize = 16;

/// Takes every timer due now from the wheel and fires them through the writer, waiting
/// until they are durable.
fn fire_due(shared: &Shared, sender: &Sender<Job>) -> Result<usize> {
    let _firing = shared.firing.lock();
    let now = shared.config.clock.now().0;
    let due = shared.wheel.lock().poll(now);
    let mut fired = 0;
    let mut pending = Vec::new();
    // The earliest few go alone and are waited for, so the first focus is durable (and
    // published) after one small flush instead of after the whole burst's group; the rest
    // follow in big chunks that share group commits.
    let (first, rest) = due.split_at(due.len().min(FIRST_FIRE));
    let chunks = std::iter::once(first)
        .filter(|c| !c.is_empty())
        .chain(rest.chunks(FIRE_CHUNK));
    for (i, chunk) in chunks.enumerate() {
        let chunk: Vec<(u64, i64)> = chunk.iter().map(|(t, d)| (t.0, *d)).collect();
        let (job, reply_rx) = job(move |tx| {
            let mut n = 0;
            for (t, d) in chunk {
                if crate::activity::fire(tx, t, d)? {
                    n += 1;
                }
            }
            Ok(n)
        });
        // Timers are never refused for overload: they wait for room.
        sender.send(job).map_err(|_| Error::ShuttingDown)?;
        if i == 0 && !rest.is_empty() {
            fired += answer(reply_rx)?;
        } else {
            pending.push(reply_rx);
        }
    }
    for rx in pending {
        fired += answer(rx)?;
    }
    shared
        .timers_fired
        .fetch_add(fired as u64, Ordering::Relaxed);
    Ok(fired)
}

/// The timer thread: sleeps until the wheel's next due time (or a wake-up when a sooner
/// timer is armed, or at most `MAX_SLEEP`), then fires what is due.
fn timer_loop(shared: &Shared, sender: &Sender<Job>, wake: &Receiver<()>, stop: &Receiver<()>) {
    const MAX_SLEEP: i64 = 50;
    loop {
        if let Err(e) = fire_due(shared, sender) {
            tracing::warn!(error = %e, "firing timers failed");
            if matches!(e, Error::ShuttingDown | Error::Poisoned(_)) {
                return;
            }
        }
        let now = shared.config.clock.now().0;
        let wait = shared
            .wheel
            .lock()
            .next_due()
            .map_or(MAX_SLEEP, |d| (d - now).clamp(0, MAX_SLEEP));
        let wait = Duration::from_millis(u64::try_from(wait).unwrap_or(0));
        crossbeam_channel::select! {
            recv(stop) -> _ => return,
            recv(wake) -> _ => {}
            default(wait) => {}
        }
    }
}

impl Engine {
    /// Numbers for metrics: items, write-queue depth, bytes on disk, last change seq.
    pub fn stats(&self) -> Stats {
        // File-system calls, so not under the state lock.
        let disk_bytes = self.shared.store.size_on_disk();
        let st = self.shared.state.read();
        Stats {
            items: st.item_count,
            boards: u64::try_from(st.boards.len()).unwrap_or(u64::MAX),
            users: u64::try_from(st.users.len()).unwrap_or(u64::MAX),
            last_seq: st.meta.seq,
            queue_depth: self
                .queue
                .lock()
                .as_ref()
                .map(|q| u64::try_from(q.len()).unwrap_or(u64::MAX))
                .unwrap_or(0),
            disk_bytes,
            timers_pending: u64::try_from(st.armed.len()).unwrap_or(u64::MAX),
            timers_fired: self.shared.timers_fired.load(Ordering::Relaxed),
            events_ingested: self.shared.events_ingested.load(Ordering::Relaxed),
            focus_fired: self.shared.focus_fired.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.close();
    }
}

/// A snapshot of engine-wide numbers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Live items.
    pub items: u64,
    /// Boards.
    pub boards: u64,
    /// Users, active or not.
    pub users: u64,
    /// The sequence number of the last committed change.
    pub last_seq: u64,
    /// Commands waiting for the writer.
    pub queue_depth: u64,
    /// Bytes sled occupies on disk.
    pub disk_bytes: u64,
    /// Durable timers armed.
    pub timers_pending: u64,
    /// Timers fired since open.
    pub timers_fired: u64,
    /// Events accepted since open.
    pub events_ingested: u64,
    /// Focus triggers applied since open.
    pub focus_fired: u64,
}

fn writer_loop(shared: &Shared, rx: &Receiver<Job>) {
    let mut poisoned: Option<Error> = None;
    let max_group = shared.config.max_group;
    let mut group: Vec<Job> = Vec::with_capacity(max_group);
    while let Ok(first) = rx.recv() {
        group.push(first);
        while group.len() < max_group {
            match rx.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        if poisoned.is_some() {
            // Fail-stop: memory may be ahead of disk, so nothing more is applied. Dropping
            // a job drops its reply channel: its caller gets `ShuttingDown`.
            group.clear();
            continue;
        }
        let mut batch = Batch::default();
        let mut changes = Vec::new();
        let mut timers = Vec::new();
        let mut completions = Vec::with_capacity(group.len());
        for job in group.drain(..) {
            let mut st = shared.state.write();
            let now = shared.config.clock.now();
            let mut tx = Tx {
                state: &mut st,
                batch: &mut batch,
                now,
                changes: &mut changes,
                timers: &mut timers,
            };
            completions.push(job(&mut tx));
        }
        let commit = (|| {
            shared.state.write().flush_meta(&mut batch)?;
            if !batch.is_empty() {
                shared.store.apply(batch)?;
                shared.store.flush()?;
            }
            Ok::<(), Error>(())
        })();
        if let Err(e) = &commit {
            tracing::error!(error = %e, "write failed; the engine stops taking writes");
        }
        // The wheel learns of new timers before anyone is answered, so a caller that
        // fires due timers right after its write sees them.
        if commit.is_ok() && !timers.is_empty() {
            let mut wheel = shared.wheel.lock();
            for op in timers.drain(..) {
                match op {
                    TimerOp::Arm(id, due) => {
                        wheel.insert(TimerId(id), due);
                    }
                    TimerOp::Cancel(id) => {
                        wheel.cancel(TimerId(id));
                    }
                }
            }
            drop(wheel);
            let _ = shared.wake.try_send(());
        }
        // Changes are published before the callers are answered, so a subscription
        // taken after a write returned never receives that write.
        if commit.is_ok() {
            let focused = changes
                .iter()
                .filter(|c| c.kind == ChangeKind::ItemFocused)
                .count();
            shared
                .focus_fired
                .fetch_add(focused as u64, Ordering::Relaxed);
            shared.hub.publish(std::mem::take(&mut changes));
        }
        for c in completions {
            c(commit.as_ref().err());
        }
        if let Err(e) = commit {
            poisoned = Some(e);
        }
    }
}

impl Tx<'_> {
    /// Records a committed change; it is published after the group's flush.
    pub(crate) fn change(
        &mut self,
        kind: ChangeKind,
        board: Option<BoardId>,
        item: Option<ItemId>,
    ) {
        let seq = self.state.next_seq();
        self.changes.push(Change {
            seq,
            kind,
            board,
            item,
        });
    }

    pub(crate) fn directory_changed(&mut self) {
        self.change(ChangeKind::DirectoryChanged, None, None);
    }
}
