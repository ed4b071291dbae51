//! [`Engine`]: the handle, close, and the single writer with group commit. Opening is in
//! `open.rs`, the layer above every domain module; this one names none of them.
//!
//! Write path, in order:
//! 1. A public method wraps its typed command in a job and puts it on the bounded write
//!    queue, and waits (a full queue: at most `Config::enqueue_timeout`, else
//!    [`Error::Overloaded`]). The `*_async` twins of the hot commands return a [`Pending`]
//!    instead, a future of the answer, for callers that must not block a thread.
//! 2. The writer thread takes a group: the first waiting job and, one by one, more that
//!    are already queued, up to `Config::max_group` jobs and while the group has been
//!    applying for less than `Config::group_time` (50 ms).
//! 3. For each job, under the state's write lock: validate against the current state,
//!    then update memory and add the records to the group's one batch. Each committed
//!    command takes the next change sequence number. A job that fails leaves nothing
//!    behind ([`Tx::attempt`]: its rows are cut from the batch and, if it changed memory,
//!    memory is rebuilt from the records).
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
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, RwLock};

use crate::changes::{Change, ChangeKind, ChangesAfter, Hub, Subscription};
use crate::clock::{Clock, Millis, SystemClock};
use crate::error::{Error, Result};
use crate::ids::{BoardId, EntryId, ItemId};
use crate::state::State;
use crate::store::{Batch, BatchMark, Store};
use crate::timer::{TimerId, Wheel};

/// Engine settings. `Config::default()` suits a server; tests swap the clock.
#[derive(Clone)]
pub struct Config {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) caches: crate::store::Caches,
    pub(crate) queue_capacity: usize,
    pub(crate) max_group: usize,
    pub(crate) enqueue_timeout: Duration,
    pub(crate) timer_thread: bool,
    pub(crate) change_ring: usize,
    pub(crate) group_time: Duration,
    pub(crate) salvage: bool,
    pub(crate) backup_bytes_per_sec: u64,
    pub(crate) checkpoint_every: u64,
    pub(crate) checkpoint_span_bits: u32,
    pub(crate) compress: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            clock: Arc::new(SystemClock),
            caches: crate::store::Caches {
                sled_bytes: 256 << 20,
                pack_bytes: 64 << 20,
            },
            queue_capacity: 8192,
            max_group: 1024,
            enqueue_timeout: Duration::from_secs(2),
            timer_thread: true,
            change_ring: 65_536,
            group_time: Duration::from_millis(50),
            salvage: false,
            backup_bytes_per_sec: 0,
            checkpoint_every: 1 << 20,
            checkpoint_span_bits: crate::checkpoint::SPAN_BITS,
            compress: false,
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
        self.caches.sled_bytes = mb.saturating_mul(1 << 20);
        self
    }

    /// The cache of decompressed entry packs in MiB (default 64; 0 turns it off). A read of
    /// an entry in a compressed pack decompresses the pack (about 1.2 µs for 4 KiB here)
    /// unless the cache holds it; a wall's newest entries and busy items' timelines are
    /// read again and again (docs/format.md, "Entry packs").
    pub fn with_pack_cache_mb(mut self, mb: u64) -> Config {
        self.caches.pack_bytes = mb.saturating_mul(1 << 20);
        self
    }

    /// Whether a store this open creates compresses what it writes (zstd level 1 in
    /// sled's log and snapshots; default off). Measured on this 2-core machine at format 5
    /// (BENCHMARKS.md, "Disk per entry"): an ingested event took 151 bytes on disk
    /// instead of 498, but ingest ran at 0.42× and a durable focus cost 1.7× the CPU,
    /// because sled compresses every page it writes, rewrites included. Since format 7 the
    /// entry packs are compressed anyway (about 175 bytes per event without this). An existing store
    /// keeps the setting it was created with, whatever this says (sled refuses the other);
    /// to change it, restore a backup of it with [`Engine::restore_with_compression`].
    pub fn with_compression(mut self, on: bool) -> Config {
        self.compress = on;
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

    /// How long the writer keeps adding queued commands to a group before it flushes
    /// (default 50 ms; the command that crosses it is the last). Small commands share a
    /// flush by the hundred well inside it; a queue of big batches is answered a batch or
    /// two at a time instead of all together after the last one.
    pub fn with_group_time(mut self, t: Duration) -> Config {
        self.group_time = t;
        self
    }

    /// What [`Engine::open`] does with a record that fails its check: by default it refuses
    /// to open ([`Error::Damaged`], naming the record). Salvaging, it saves the record's
    /// bytes under `salvaged/` in the data directory, removes the record, opens without it
    /// and lists it in [`Engine::salvaged`]. What the record held is lost to the engine (an
    /// item, an entry, a follow…); everything else opens as it was.
    pub fn with_salvage(mut self, on: bool) -> Config {
        self.salvage = on;
        self
    }

    /// The most bytes a second a backup's scan reads (0, the default: as fast as its
    /// output takes them). A scan competes with the writer for the CPU; at 35 MB/s a
    /// 2M-item store's copy took 42 % of a concurrent bump's rate on a 2-core machine
    /// (BENCHMARKS.md), so a server caps it, and a copy takes longer instead.
    pub fn with_backup_mb_per_sec(mut self, mb: u64) -> Config {
        self.backup_bytes_per_sec = mb.saturating_mul(1 << 20);
        self
    }

    /// How many entry seqs are handed out between two checkpoints the writer cuts by
    /// itself (default 2^20, one segment's span; 0: only at close and on
    /// [`Engine::checkpoint`]). Open reads the entries after the last one, so this bounds
    /// the history a restart after a crash replays; each costs the writer a copy of the
    /// focus-redo map (one entry per item an entry focused) and writes at most the new
    /// entries plus one segment in the background (docs/format.md, "Checkpoint").
    pub fn with_checkpoint_every(mut self, seqs: u64) -> Config {
        self.checkpoint_every = seqs;
        self
    }

    /// The seqs one checkpoint segment spans, as a power of two (default 20: 2^20 seqs,
    /// clamped to 1–40). Full segments are never rewritten; the partial last one is, by
    /// each checkpoint. Small spans are for tests (many segments from a short history).
    pub fn with_checkpoint_span_bits(mut self, bits: u32) -> Config {
        self.checkpoint_span_bits = bits;
        self
    }

    /// How many of the last committed changes are kept for [`Engine::changes_after`]
    /// (default 65,536; each costs a few dozen bytes plus a reference on an item's bytes).
    pub fn with_change_ring(mut self, n: usize) -> Config {
        self.change_ring = n.max(1);
        self
    }
}

/// What a job sees while the writer applies it.
pub(crate) struct Tx<'a> {
    pub state: Staged<'a>,
    pub batch: &'a mut Batch,
    pub now: Millis,
    pub changes: &'a mut Vec<Change>,
    /// Wheel updates, applied after the group is durable.
    pub timers: &'a mut Vec<TimerOp>,
    /// Where a rollback rebuilds memory from.
    store: &'a Store,
    reload: ReloadFn,
    group: &'a mut GroupStatus,
}

/// Rebuilds the state from the records (`open` hands in `State::load`, so the writer
/// names no domain code).
pub(crate) type ReloadFn = fn(&Store) -> Result<State>;

/// What the writer must know about a group beyond its rows.
#[derive(Default)]
pub(crate) struct GroupStatus {
    /// Rollbacks so far: each applied the group's rows before it to sled (unflushed).
    rollbacks: u32,
    /// A failure no rollback can undo; the group fails as a failed flush would.
    fatal: Option<Error>,
}

/// The state as a command holds it. Reads are free; a mutable borrow marks the command
/// as having touched memory, which decides whether its failure needs a rollback.
pub(crate) struct Staged<'a> {
    st: &'a mut State,
    touched: bool,
}

impl std::ops::Deref for Staged<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        self.st
    }
}

impl std::ops::DerefMut for Staged<'_> {
    fn deref_mut(&mut self) -> &mut State {
        self.touched = true;
        self.st
    }
}

/// Where a step began: how much of the group's rows, changes and timer updates were there.
struct Savepoint {
    rows: BatchMark,
    changes: usize,
    timers: usize,
    rollbacks: u32,
    /// The change seq: a rolled-back step's changes give their numbers back, so the
    /// numbers subscribers see stay without gaps.
    seq: u64,
}

impl Tx<'_> {
    /// Runs `f` as one step that either happens whole or leaves nothing behind.
    ///
    /// Every command is run through here by the writer, and each element of a batch
    /// command (an item of `create_items`, an event of `ingest`) by its command. Commands
    /// check their input before they write, so an error almost always comes before the
    /// first write and costs nothing here. If it comes after (a bug, or a record that fails
    /// to encode), the step is rolled back: its rows, changes and timer updates are taken
    /// out of the group, and memory, which it may have changed anywhere, is rebuilt from
    /// the records with the group's earlier rows applied (a full load: seconds on a large
    /// store, on a path that should never run, and logged as an error when it does).
    pub(crate) fn attempt<T>(&mut self, f: impl FnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        let mark = Savepoint {
            rows: self.batch.mark(),
            changes: self.changes.len(),
            timers: self.timers.len(),
            rollbacks: self.group.rollbacks,
            seq: self.state.meta.seq,
        };
        let outer_touched = std::mem::replace(&mut self.state.touched, false);
        let result = f(self);
        let touched =
            std::mem::replace(&mut self.state.touched, outer_touched) || touched_rows(self, &mark);
        let Err(e) = result else {
            self.state.touched |= touched;
            return result;
        };
        if self.group.rollbacks != mark.rollbacks {
            // A step inside `f` was rolled back, which applied what `f` had written before
            // it: that cannot be taken back now.
            self.group.fatal.get_or_insert(Error::Poisoned(format!(
                "a command failed after part of it was applied: {e}"
            )));
            return Err(e);
        }
        if touched {
            tracing::error!(error = %e, "a command failed after it began to write; rolling it back");
            self.batch.truncate(mark.rows);
            self.changes.truncate(mark.changes);
            self.timers.truncate(mark.timers);
            self.state.st.meta.seq = mark.seq;
            if let Err(fail) = self.rebuild() {
                self.group.fatal.get_or_insert(fail);
            }
        }
        Err(e)
    }

    /// How many rollbacks this group has had: a batch command compares it around a step
    /// to learn whether memory was rebuilt under it.
    pub(crate) fn rollbacks(&self) -> u32 {
        self.group.rollbacks
    }

    /// Memory as the records say: the group's rows so far are applied (the group's end
    /// flushes them with the rest, before anyone is answered), then the state is reloaded.
    /// The meta row goes first, so ids the failed step took stay taken.
    fn rebuild(&mut self) -> Result<()> {
        self.state.st.flush_meta(self.batch)?;
        self.store.apply(std::mem::take(self.batch))?;
        *self.state.st = (self.reload)(self.store)?;
        self.group.rollbacks += 1;
        Ok(())
    }
}

/// Whether a step added rows, changes or timer updates since `mark`.
fn touched_rows(tx: &Tx<'_>, mark: &Savepoint) -> bool {
    tx.batch.grew_since(mark.rows)
        || tx.changes.len() > mark.changes
        || tx.timers.len() > mark.timers
}

/// A change to the in-memory wheel that a committed command asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TimerOp {
    Arm(TimerId, i64),
    Cancel(TimerId),
}

type Completion = Box<dyn FnOnce(Option<&Error>) + Send>;
/// A command for the writer, and when it was queued.
pub(crate) struct Job {
    queued: Instant,
    /// Applies the command (`Some`), or refuses it unapplied (`None`: the writer stopped
    /// after a storage failure). The completion answers the caller once the group's
    /// commit is known.
    run: RunFn,
}

/// See [`Job::run`].
type RunFn = Box<dyn FnOnce(Option<&mut Tx<'_>>) -> Completion + Send>;

/// Fires one due timer (`activity`'s, handed in by `open`, so the writer names no domain
/// code): whether it still applied.
pub(crate) type FireFn = fn(&mut Tx<'_>, TimerId, i64) -> Result<bool>;

pub(crate) struct Shared {
    pub state: RwLock<State>,
    pub fire: FireFn,
    pub reload: ReloadFn,
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
    /// Steps rolled back since open (`Tx::attempt`).
    pub rollbacks: AtomicU64,
    /// When the oldest command not yet answered was queued, in µs after `epoch` plus one;
    /// 0 when the writer is idle. Set when a group starts, cleared when it is answered.
    pub oldest_queued_us: AtomicU64,
    /// The origin of `oldest_queued_us`.
    pub epoch: Instant,
    /// Wakes the jobs thread when a job is created.
    pub jobs_wake: Sender<()>,
    /// Set once, when a group's commit failed: why the writer stopped (fail-stop).
    pub failure: std::sync::OnceLock<String>,
    /// When the writer cuts a checkpoint, and the hand-over to its thread.
    pub checkpoint: crate::checkpoint::Control,
}

/// An open Hoist data directory. Cheap to share across threads (`Arc` inside); every
/// method is synchronous and thread-safe. Writes block until they are durable.
pub struct Engine {
    pub(crate) shared: Arc<Shared>,
    pub(crate) queue: Mutex<Option<Sender<Job>>>,
    pub(crate) writer: Mutex<Option<JoinHandle<()>>>,
    pub(crate) timer: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
    pub(crate) jobs: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
    pub(crate) checkpointer: Mutex<Option<JoinHandle<()>>>,
    /// The damaged records a salvaging open skipped.
    pub(crate) salvaged: Vec<crate::error::DamagedRecord>,
}

impl Engine {
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
        let Some(writer) = self.writer.lock().take() else {
            // Another caller is closing: it cuts the last checkpoint once the writer is
            // gone, and only it may.
            return;
        };
        // The writer has stopped: memory is what is on disk, unless a storage failure or
        // a panic stopped it in a group (then memory may be ahead: no cut).
        let sound = writer.join().is_ok() && self.shared.failure.get().is_none();
        self.shared.checkpoint.close(&self.shared.state, sound);
        if let Some(h) = self.checkpointer.lock().take() {
            let _ = h.join();
        }
    }

    /// Writes a checkpoint of what every entry acknowledged so far makes, and returns
    /// once it is on disk. The writer cuts one by itself every
    /// [`Config::with_checkpoint_every`] seqs and at close; this one is for tests and
    /// operators (before a planned restart, for example).
    pub fn checkpoint(&self) -> Result<crate::CheckpointInfo> {
        let (tx, rx) = oneshot::channel();
        self.shared.checkpoint.request(tx);
        loop {
            // An empty command: the end of its group is a cut's boundary. While the thread
            // still writes an earlier cut, the writer leaves this one to a later group
            // (it never waits for the thread), so another empty command follows until
            // the cut is taken; then the answer comes once it is written.
            if self.shared.checkpoint.force_pending() {
                self.submit(|_| Ok(())).wait()?;
            }
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(done) => return done,
                Err(oneshot::RecvTimeoutError::Timeout) => {}
                Err(oneshot::RecvTimeoutError::Disconnected) => return Err(Error::ShuttingDown),
            }
        }
    }

    /// How long the oldest command not yet answered has been waiting, now (zero when the
    /// writer is idle). It grows in real time while a long group is applied, so a server
    /// can ask it before every write (one atomic read) and refuse new ones while commands
    /// wait too long, whatever each one costs.
    pub fn queue_wait(&self) -> Duration {
        match self.shared.oldest_queued_us.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            at => self
                .shared
                .epoch
                .elapsed()
                .saturating_sub(Duration::from_micros(at - 1)),
        }
    }

    /// Whether the engine takes writes: [`Health::WritesStopped`] after a storage failure
    /// (fail-stop), until the data directory is opened again. Reads keep working either way.
    pub fn health(&self) -> Health {
        match self.shared.failure.get() {
            None => Health::Ok,
            Some(reason) => Health::WritesStopped {
                reason: reason.clone(),
            },
        }
    }

    /// The damaged records this open skipped ([`Config::with_salvage`]), in key order.
    pub fn salvaged(&self) -> &[crate::error::DamagedRecord] {
        &self.salvaged
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

    /// The committed changes after change number `after` that `keep` accepts, at most
    /// `limit` of them, from the ring of recent changes; [`ChangesAfter::Resync`] if some
    /// change after `after` is no longer held. Takes the ring's read lock only: a reader
    /// never holds up the writer for longer than a copy of what it asked for.
    pub fn changes_after(
        &self,
        after: u64,
        limit: usize,
        keep: &dyn Fn(&Change) -> bool,
    ) -> ChangesAfter {
        self.shared.hub.after(after, limit, keep)
    }

    /// [`Engine::changes_after`] for the changes that name `board` (and that `keep`
    /// accepts): the same changes, found through the ring's index by board, so a reader of
    /// one board does not look at the changes of every other. `upto` is the last change
    /// looked at, of any board.
    pub fn board_changes_after(
        &self,
        board: BoardId,
        after: u64,
        limit: usize,
        keep: &dyn Fn(&Change) -> bool,
    ) -> ChangesAfter {
        self.shared.hub.board_after(board, after, limit, keep)
    }

    /// The number of the last committed change (0 before the first).
    pub fn last_change(&self) -> u64 {
        self.shared.hub.last()
    }

    /// Calls `hook` with the last change number each time the writer publishes committed
    /// changes. It runs on the writer thread before callers are answered, so it must only
    /// signal (a channel send, a notify), never block or call the engine.
    pub fn on_change(&self, hook: impl Fn(u64) + Send + Sync + 'static) {
        self.shared.hub.on_change(Box::new(hook));
    }

    /// Runs `f` on the writer thread as one command and waits until it is durable.
    pub(crate) fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.submit(f).wait()
    }

    /// Hands `f` to the writer as one command, without waiting: see [`Pending`].
    pub(crate) fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    ) -> Pending<T> {
        if let Some(reason) = self.shared.failure.get() {
            return Pending(PendingState::Failed(Error::Poisoned(reason.clone())));
        }
        let Some(sender) = self.queue.lock().clone() else {
            return Pending(PendingState::Failed(Error::ShuttingDown));
        };
        let (job, reply) = job(f);
        Pending(match sender.try_send(job) {
            Ok(()) => PendingState::Queued(reply),
            Err(crossbeam_channel::TrySendError::Full(job)) => PendingState::Full {
                job,
                sender,
                timeout: self.shared.config.enqueue_timeout,
                reply,
            },
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                PendingState::Failed(Error::ShuttingDown)
            }
        })
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
    let run = Box::new(move |tx: Option<&mut Tx<'_>>| -> Completion {
        let result = tx.map(|tx| tx.attempt(f));
        Box::new(move |commit: Option<&Error>| {
            let r = match (commit, result) {
                // The group's commit failed, or the writer had stopped before this command.
                (Some(e), Some(Ok(_)) | None) => Err(Error::Poisoned(e.to_string())),
                (None, None) => Err(Error::ShuttingDown),
                (_, Some(r)) => r,
            };
            let _ = reply_tx.send(r);
        })
    });
    let job = Job {
        queued: Instant::now(),
        run,
    };
    (job, reply_rx)
}

/// The result of a job: `ShuttingDown` if the writer dropped it unapplied.
fn answer<T>(rx: oneshot::Receiver<Result<T>>) -> Result<T> {
    rx.recv().map_err(|_| Error::ShuttingDown)?
}

/// Runs `f` through the writer from an engine thread (the jobs loop), waiting up to
/// `timeout` for room on the queue, then until it is durable.
pub(crate) fn submit<T: Send + 'static>(
    sender: &Sender<Job>,
    timeout: Duration,
    f: impl FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
) -> Result<T> {
    let (job, reply) = job(f);
    Pending(PendingState::Full {
        job,
        sender: sender.clone(),
        timeout,
        reply,
    })
    .wait()
}

/// A write command handed to the writer. [`Pending::wait`] blocks the calling thread until
/// the command is durable; `.await` waits without blocking one, so a server's handler can
/// hand a command over and be answered on its own worker, with no thread between it and
/// the writer. A command that reached the queue runs whether or not anyone waits for it.
///
/// A command that found the write queue full is not on it: `wait` waits for room (at most
/// `Config::with_enqueue_timeout`), `.await` answers [`Error::Overloaded`] at once (an
/// async caller is better told to come back than parked), and dropping it drops the
/// command. Such a `Pending` holds a handle on the queue, so keep it only to wait on it:
/// while it lives, [`Engine::close`] waits for it.
#[must_use = "a command's result (its error, too) is only known by waiting for it"]
pub struct Pending<T>(PendingState<T>);

enum PendingState<T> {
    /// On the queue: the writer answers after the flush.
    Queued(oneshot::Receiver<Result<T>>),
    /// The queue was full when it was handed over.
    Full {
        job: Job,
        sender: Sender<Job>,
        timeout: Duration,
        reply: oneshot::Receiver<Result<T>>,
    },
    /// Refused before it reached the queue.
    Failed(Error),
    /// Its result was taken.
    Done,
}

impl<T> Pending<T> {
    /// Waits until the command is durable (or failed), blocking this thread.
    pub fn wait(self) -> Result<T> {
        match self.0 {
            PendingState::Queued(reply) => answer(reply),
            PendingState::Full {
                job,
                sender,
                timeout,
                reply,
            } => {
                sender.send_timeout(job, timeout).map_err(|e| match e {
                    crossbeam_channel::SendTimeoutError::Timeout(_) => Error::Overloaded,
                    crossbeam_channel::SendTimeoutError::Disconnected(_) => Error::ShuttingDown,
                })?;
                answer(reply)
            }
            PendingState::Failed(e) => Err(e),
            PendingState::Done => Err(Error::ShuttingDown),
        }
    }
}

impl<T> std::future::Future for Pending<T> {
    type Output = Result<T>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<T>> {
        use std::task::Poll;
        if let PendingState::Queued(reply) = &mut self.0 {
            return match std::pin::Pin::new(reply).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(r) => {
                    self.0 = PendingState::Done;
                    // A dropped reply: the writer stopped before applying it.
                    Poll::Ready(r.unwrap_or(Err(Error::ShuttingDown)))
                }
            };
        }
        Poll::Ready(match std::mem::replace(&mut self.0, PendingState::Done) {
            PendingState::Full { .. } => Err(Error::Overloaded),
            PendingState::Failed(e) => Err(e),
            PendingState::Queued(_) | PendingState::Done => Err(Error::ShuttingDown),
        })
    }
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
        let chunk: Vec<(TimerId, i64)> = chunk.to_vec();
        let fire = shared.fire;
        let (job, reply_rx) = job(move |tx| {
            let mut n = 0;
            for (t, d) in chunk {
                // Each timer alone: one that fails is rolled back and goes back into the
                // wheel (it is still armed in memory and on disk) to be tried again,
                // without taking the rest of the chunk with it.
                match tx.attempt(|tx| fire(tx, t, d)) {
                    Ok(true) => n += 1,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(timer = t.0, error = %e, "firing a timer failed");
                        tx.timers.push(TimerOp::Arm(t, d));
                    }
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
pub(crate) fn timer_loop(
    shared: &Shared,
    sender: &Sender<Job>,
    wake: &Receiver<()>,
    stop: &Receiver<()>,
) {
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
        let queue_wait_us = u64::try_from(self.queue_wait().as_micros()).unwrap_or(u64::MAX);
        let (pack_cache_hits, pack_cache_misses, pack_cache_bytes) = self.shared.store.pack_cache();
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
            rollbacks: self.shared.rollbacks.load(Ordering::Relaxed),
            queue_wait_us,
            writes_stopped: self.shared.failure.get().is_some(),
            checkpoint_upto: self.shared.checkpoint.written(),
            opened_from_checkpoint: self.shared.checkpoint.loaded(),
            pack_cache_hits,
            pack_cache_misses,
            pack_cache_bytes,
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.close();
    }
}

/// What [`Engine::health`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Writes are taken.
    Ok,
    /// A group's write or flush failed: that group and every later write was answered
    /// [`Error::Poisoned`]. Memory may hold the failed group's effects, which may or may
    /// not be on disk; opening the directory again shows what is.
    WritesStopped {
        /// The storage failure, for a person.
        reason: String,
    },
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
    /// Commands (or elements of a batch command) that failed after they began to write
    /// and were rolled back, since open. Should stay 0: each is logged as an error.
    pub rollbacks: u64,
    /// [`Engine::queue_wait`], in µs.
    pub queue_wait_us: u64,
    /// Whether a storage failure has stopped the writes ([`Engine::health`]).
    pub writes_stopped: bool,
    /// Entries below this seq are in the newest checkpoint on disk (0: none yet).
    pub checkpoint_upto: u64,
    /// The cut of the checkpoint open started from (0: it rebuilt from every record).
    pub opened_from_checkpoint: u64,
    /// Reads of a compressed entry pack the pack cache answered, since open.
    pub pack_cache_hits: u64,
    /// Reads of a compressed entry pack that decompressed it, since open.
    pub pack_cache_misses: u64,
    /// Bytes of decompressed packs the cache holds.
    pub pack_cache_bytes: u64,
}

pub(crate) fn writer_loop(shared: &Shared, rx: &Receiver<Job>) {
    let mut poisoned: Option<Error> = None;
    let max_group = shared.config.max_group;
    let budget = shared.config.group_time;
    while let Ok(first) = rx.recv() {
        // The queue is FIFO: the group's first command is the oldest not yet answered.
        let at = first.queued.saturating_duration_since(shared.epoch);
        let at = u64::try_from(at.as_micros()).unwrap_or(u64::MAX - 1);
        shared.oldest_queued_us.store(at + 1, Ordering::Relaxed);
        if let Some(e) = &poisoned {
            // Fail-stop: memory may be ahead of disk, so nothing more is applied. What was
            // queued before `Engine::submit` saw the failure is refused with its reason.
            for job in std::iter::once(first).chain(rx.try_iter()) {
                ((job.run)(None))(Some(e));
            }
            shared.oldest_queued_us.store(0, Ordering::Relaxed);
            continue;
        }
        // A group boundary: a backup's tap starts or closes here, never inside a group.
        shared.store.tap_boundary();
        let started = Instant::now();
        let mut batch = Batch::default();
        let mut changes = Vec::new();
        let mut timers = Vec::new();
        let mut status = GroupStatus::default();
        let mut completions = Vec::new();
        let mut next = Some(first);
        let mut taken = 0usize;
        while let Some(job) = next.take() {
            taken += 1;
            let mut st = shared.state.write();
            let now = shared.config.clock.now();
            let mut tx = Tx {
                state: Staged {
                    st: &mut st,
                    touched: false,
                },
                batch: &mut batch,
                now,
                changes: &mut changes,
                timers: &mut timers,
                store: &shared.store,
                reload: shared.reload,
                group: &mut status,
            };
            completions.push((job.run)(Some(&mut tx)));
            drop(st);
            // A group takes what is already queued, up to `max_group` commands and while it
            // has been applying for less than `group_time` (the command that crosses it is
            // the last): one flush serves many small commands, and a run of big batches is
            // answered batch by batch instead of all after the last one.
            // A group that failed whole takes nothing more: the failed commit stops the
            // writer, and what is still queued is answered `ShuttingDown` (fail-stop).
            if status.fatal.is_none() && taken < max_group && started.elapsed() < budget {
                next = rx.try_recv().ok();
            }
        }
        shared
            .rollbacks
            .fetch_add(u64::from(status.rollbacks), Ordering::Relaxed);
        let commit = (|| {
            if let Some(e) = status.fatal.take() {
                return Err(e);
            }
            shared.state.write().flush_meta(&mut batch)?;
            // A rollback applied rows of this group already; they need the flush too.
            if !batch.is_empty() || status.rollbacks > 0 {
                shared.store.apply(batch)?;
                shared.store.flush()?;
            }
            Ok::<(), Error>(())
        })();
        if let Err(e) = &commit {
            tracing::error!(error = %e, "write failed; the engine stops taking writes");
            // Before anyone is answered, so a caller told of the failure finds the engine
            // refusing at once.
            let _ = shared.failure.set(e.to_string());
        }
        // The wheel learns of new timers before anyone is answered, so a caller that
        // fires due timers right after its write sees them.
        if commit.is_ok() && !timers.is_empty() {
            let mut wheel = shared.wheel.lock();
            for op in timers.drain(..) {
                match op {
                    TimerOp::Arm(id, due) => {
                        wheel.insert(id, due);
                    }
                    TimerOp::Cancel(id) => {
                        wheel.cancel(id);
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
        shared.oldest_queued_us.store(0, Ordering::Relaxed);
        if commit.is_ok() {
            shared.checkpoint.after_group(&shared.state);
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
        let view = item.and_then(|i| self.state.view(i));
        self.changes.push(Change {
            seq,
            kind,
            board,
            item,
            view,
            entry: None,
        });
    }

    /// Records that feed entry `entry` was written (about `item` of `board`, if any).
    pub(crate) fn entry_added(
        &mut self,
        entry: EntryId,
        board: Option<BoardId>,
        item: Option<ItemId>,
    ) {
        let seq = self.state.next_seq();
        self.changes.push(Change {
            seq,
            kind: ChangeKind::EntryAdded,
            board,
            item,
            view: None,
            entry: Some(entry),
        });
    }

    pub(crate) fn directory_changed(&mut self) {
        self.change(ChangeKind::DirectoryChanged, None, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::NewBoard;
    use crate::changes::Received;
    use crate::clock::ManualClock;
    use crate::feed::WallFilter;
    use crate::ids::UserId;
    use crate::item::NewItem;
    use crate::page::PageRequest;
    use crate::records::FeedKind;

    fn open(dir: &Path) -> Engine {
        let config = Config::default()
            .with_clock(ManualClock::new(Millis(1_000_000)))
            .with_timer_thread(false);
        Engine::open(dir, config).expect("open")
    }

    fn new_item(board: BoardId, title: &str) -> NewItem {
        NewItem {
            board,
            title: title.into(),
            ..NewItem::default()
        }
    }

    /// The first admin, and a board of one column.
    fn admin_and_board(engine: &Engine) -> (UserId, BoardId) {
        engine.bootstrap_admin(None).expect("admin");
        let me = engine.users()[0].id;
        let board = engine
            .create_board(NewBoard {
                module: "deal".into(),
                name: "Sales".into(),
                columns: vec!["New".into()],
                ..NewBoard::default()
            })
            .expect("board")
            .id;
        (me, board)
    }

    /// Titles of the first column, top first.
    fn titles(engine: &Engine, board: BoardId) -> Vec<String> {
        let b = engine.board(board).expect("board");
        let page = engine
            .column_page(board, b.columns[0].id, &PageRequest::default())
            .expect("page");
        page.items
            .iter()
            .map(|v| v.get().expect("item").title().to_string())
            .collect()
    }

    /// Kinds and item ids on a user's wall, newest first.
    fn wall(engine: &Engine, user: UserId) -> Vec<(FeedKind, Option<ItemId>)> {
        let page = engine
            .wall(user, &WallFilter::default(), &PageRequest::default())
            .expect("wall");
        page.items.iter().map(|e| (e.kind, e.item)).collect()
    }

    #[test]
    fn a_step_that_fails_after_its_first_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = open(dir.path());
        let (me, board) = admin_and_board(&engine);
        engine
            .create_item(me, new_item(board, "before"))
            .expect("item");
        let wall_before = wall(&engine, me);
        let changes = engine.subscribe(64);

        // One command: a step that succeeds, one that creates an item (rows, memory,
        // a change) and then fails, and one more that succeeds.
        let outcome = engine.call(move |tx| {
            let kept = crate::item::create_in(tx, me, new_item(board, "kept"))?;
            let failed = tx.attempt(|tx| {
                crate::item::create_in(tx, me, new_item(board, "failed"))?;
                Err::<(), _>(Error::invalid("test", "fails after its first write"))
            });
            let after = crate::item::create_in(tx, me, new_item(board, "after"))?;
            Ok((kept.get()?.id(), failed, after.get()?.id()))
        });
        let (kept, failed, after) = outcome.expect("the command as a whole succeeds");
        assert!(
            matches!(failed, Err(Error::Invalid { .. })),
            "the step's own error comes back: {failed:?}"
        );
        assert_eq!(titles(&engine, board), ["after", "kept", "before"]);
        assert_eq!(engine.stats().items, 3);
        // The failed step's id stays taken: ids are never handed out twice.
        assert_eq!(after.0, kept.0 + 2, "the failed step's id is skipped");
        let mut created = wall(&engine, me);
        created.truncate(2);
        assert_eq!(
            created,
            [
                (FeedKind::RecordCreated, Some(after)),
                (FeedKind::RecordCreated, Some(kept)),
            ]
        );
        assert_eq!(wall(&engine, me).len(), wall_before.len() + 2);
        // Published: the two steps that happened, nothing of the failed one.
        let mut published = Vec::new();
        while let Received::Change(c) = changes.recv_timeout(Duration::from_millis(50)) {
            if c.kind == ChangeKind::ItemCreated {
                published.push(c.item);
            }
        }
        assert_eq!(published, [Some(kept), Some(after)]);
        assert_eq!(engine.stats().rollbacks, 1);

        // A command that fails as a whole after its first write: nothing of it stays.
        let whole = engine.call(move |tx| {
            crate::item::create_in(tx, me, new_item(board, "whole"))?;
            Err::<(), _>(Error::invalid("test", "fails after its first write"))
        });
        assert!(matches!(whole, Err(Error::Invalid { .. })), "{whole:?}");
        assert_eq!(engine.stats().rollbacks, 2);
        assert_eq!(titles(&engine, board), ["after", "kept", "before"]);

        // Later writes work, and the store says the same after a reopen.
        engine
            .create_item(me, new_item(board, "later"))
            .expect("item");
        let wall_now = wall(&engine, me);
        engine.close();
        drop(engine);
        let engine = open(dir.path());
        assert_eq!(titles(&engine, board), ["later", "after", "kept", "before"]);
        assert_eq!(engine.stats().items, 4);
        assert_eq!(wall(&engine, me), wall_now);
    }

    #[test]
    fn a_step_that_fails_before_writing_costs_no_rollback() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = open(dir.path());
        let r = engine.call(|tx| {
            tx.attempt(|tx| {
                let _ = tx.state.item_count;
                Err::<(), _>(Error::invalid("test", "fails before it writes"))
            })
        });
        assert!(matches!(r, Err(Error::Invalid { .. })), "{r:?}");
        assert_eq!(engine.stats().rollbacks, 0);
    }

    /// Several callers writing at once: every write is answered after its change is
    /// published, the changes come in commit order without gaps, nothing is left waiting
    /// once all are answered, and a reopen finds every acknowledged item.
    #[test]
    fn concurrent_writes_are_published_before_their_answer_in_commit_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Arc::new(open(dir.path()));
        let (me, board) = admin_and_board(&engine);
        let changes = engine.subscribe(1 << 12);
        let from = engine.last_change();
        // The hook runs while the writer publishes, and is slow on purpose: an answer given
        // before the publication would find `published` still short of its own change.
        let published = Arc::new(AtomicU64::new(from));
        let hook = Arc::clone(&published);
        engine.on_change(move |last| {
            std::thread::sleep(Duration::from_millis(2));
            hook.store(last, Ordering::SeqCst);
        });
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let engine = Arc::clone(&engine);
                let published = Arc::clone(&published);
                std::thread::spawn(move || {
                    (0..50)
                        .map(|i| {
                            let title = format!("w{w} i{i}");
                            let view = engine
                                .create_item(me, new_item(board, &title))
                                .expect("create");
                            let id = view.get().expect("item").id();
                            (id, published.load(Ordering::SeqCst))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut acked = Vec::new();
        for w in writers {
            acked.extend(w.join().expect("writer thread"));
        }
        let mut seqs = Vec::new();
        let mut created = std::collections::HashMap::new();
        loop {
            match changes.recv_timeout(Duration::from_millis(50)) {
                Received::Change(c) => {
                    seqs.push(c.seq);
                    if c.kind == ChangeKind::ItemCreated {
                        created.insert(c.item.expect("item"), c.seq);
                    }
                }
                Received::Idle => break,
                other => panic!("the subscription ended: {other:?}"),
            }
        }
        let expected: Vec<u64> = (from + 1..=engine.last_change()).collect();
        assert_eq!(seqs, expected, "in commit order, without gaps");
        assert_eq!(created.len(), 200);
        for (id, published) in &acked {
            let seq = created
                .get(id)
                .expect("every acknowledged item was published");
            assert!(
                seq <= published,
                "answered before published: {seq} > {published}"
            );
        }
        // The writer clears its marker just after the answers: give it a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while engine.queue_wait() != Duration::ZERO {
            assert!(Instant::now() < deadline, "a write is still waiting");
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(changes);
        engine.close();
        drop(engine);
        let engine = open(dir.path());
        assert_eq!(engine.stats().items, 200);
        for (id, _) in &acked {
            assert!(engine.item(*id).is_ok(), "item {id:?} after reopen");
        }
    }
}
