//! Opening a data directory: the state rebuilt from the records (one pass, items and
//! entries on parallel threads), then the engine's threads started over it.
//!
//! This is the top of the engine's layers: it names the domain modules whose records it
//! files and whose work the background threads run (firing timers, stepping jobs), so no
//! module below it has to.

use std::collections::{BTreeMap, BTreeSet};

use smallvec::SmallVec;

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::changes::Hub;
use crate::chunked::Chunked;
use crate::engine::{timer_loop, writer_loop, Config, Engine, Job, Shared};
use crate::error::{DamagedRecord, Error, Result};
use crate::ids::{ActivityId, BoardId, ColumnId, GroupId, ItemId, UserId};
use crate::item_seqs::ItemSeqs;
use crate::item_view::Focus;
use crate::order::OrderKey;
use crate::records::{self, ActivityRec, BoardRec, Checks, GroupRec, Meta, ModuleRec, UserRec};
use crate::state::{email_key, phone_key, ActSlot, ColumnState, ItemSlot, State, BUILTIN_MODULES};
use crate::store::{self, Store};
use crate::timer::{ActivityTimer, TimerSlot, Wheel};
use crate::walls::{keep_newest, EntryCell, Redo, Redos};

impl State {
    /// Rebuilds the state from the store: one pass over every record. A damaged record is
    /// an error naming it.
    pub(crate) fn load(store: &Store) -> Result<State> {
        State::load_with(store, &Checks::strict())
    }

    /// [`State::load`], with `checks` deciding what a damaged record does.
    pub(crate) fn load_with(store: &Store, checks: &Checks) -> Result<State> {
        Ok(State::load_resuming(store, checks, None)?.0)
    }

    /// [`State::load_with`]; with `checkpoint` (one [`crate::checkpoint::Early`] began to
    /// read), from it if open may trust it (then only the entries after its cut are read),
    /// which is returned.
    pub(crate) fn load_resuming(
        store: &Store,
        checks: &Checks,
        checkpoint: Option<crate::checkpoint::Early>,
    ) -> Result<(State, Option<Resumed>)> {
        let mut st = State {
            meta: match store.get(store::META)? {
                Some(b) => records::decode::<Meta>(&b)?,
                None => Meta {
                    next_user: 1,
                    next_group: 1,
                    next_board: 1,
                    next_column: 1,
                    next_item: 1,
                    focus_clock: 0,
                    seq: 0,
                    next_activity: 1,
                    next_entry: 1,
                    next_rule: 1,
                    next_job: 1,
                    next_file: 1,
                },
            },
            ..State::default()
        };
        for kv in store.scan(store::USER) {
            let (k, v) = kv?;
            let Some(u) = checks.record(&k, &v, records::decode::<UserRec>(&v))? else {
                continue;
            };
            if u.active {
                st.tokens.insert(u.token_hash, UserId(u.id));
            }
            st.users.insert(UserId(u.id), u);
        }
        for kv in store.scan(store::GROUP) {
            let (k, v) = kv?;
            let Some(g) = checks.record(&k, &v, records::decode::<GroupRec>(&v))? else {
                continue;
            };
            st.groups.insert(GroupId(g.id), g);
        }
        for kv in store.scan(store::MODULE) {
            let (k, v) = kv?;
            let Some(m) = checks.record(&k, &v, records::decode::<ModuleRec>(&v))? else {
                continue;
            };
            st.modules.insert(m.key.clone(), m);
        }
        for (key, name) in BUILTIN_MODULES {
            st.modules.entry(key.to_string()).or_insert(ModuleRec {
                key: key.to_string(),
                name: name.to_string(),
                builtin: true,
            });
        }
        for kv in store.scan(store::BOARD) {
            let (k, v) = kv?;
            let Some(b) = checks.record(&k, &v, records::decode::<BoardRec>(&v))? else {
                continue;
            };
            for c in &b.columns {
                st.columns.insert(
                    ColumnId(c.id),
                    ColumnState {
                        board: BoardId(b.id),
                        ..ColumnState::default()
                    },
                );
            }
            st.boards.insert(BoardId(b.id), b);
        }
        // The big scans run at once, each on its own thread (the work is CPU-bound: record
        // validation and sled's own decoding): items, split at the middle item id; the
        // entries, split at the middle seq, from a checkpoint's cut if one is used; the
        // seen-event hashes; and the checkpoint's segments.
        let from = checkpoint.as_ref().map_or(0, |c| c.upto);
        let modules: Vec<String> = st.modules.keys().cloned().collect();
        let mid = st.meta.next_item / 2 + 1;
        let [ranges_a, ranges_b] = crate::walls::entry_ranges(
            from,
            from.saturating_add(st.meta.next_entry.saturating_sub(from) / 2 + 1),
        );
        let format = store.format()?;
        let (next_entry, next_item) = (st.meta.next_entry, st.meta.next_item);
        let mut phases = Phases::start();
        let (feed, low, high, redos, resumed, seen) = std::thread::scope(|scope| -> Result<_> {
            let modules = &modules;
            let checkpoint = scope.spawn(move || {
                timed("checkpoint", || {
                    let read = checkpoint?.finish();
                    crate::checkpoint::check(read, store, format, next_entry, next_item)
                })
            });
            let entries_a = scope.spawn(move || {
                timed("entries a", || {
                    crate::walls::load_entries(store, modules, ranges_a, checks)
                })
            });
            let entries_b = scope.spawn(move || {
                timed("entries b", || {
                    crate::walls::load_entries(store, modules, ranges_b, checks)
                })
            });
            let seen = scope.spawn(move || timed("seen", || scan_seen(store, checks, from)));
            let hasher = st.contact_hasher.clone();
            let high = scope.spawn(move || {
                timed("items b", || {
                    scan_items(store, &hasher, (mid, u64::MAX), next_item, checks)
                })
            });
            let low = timed("items a", || {
                scan_items(store, &st.contact_hasher, (0, mid), next_item, checks)
            })?;
            let panicked = || Error::Corrupt("an open scan panicked".into());
            let high = high.join().map_err(|_| panicked())??;
            let (a, mut redos) = entries_a.join().map_err(|_| panicked())??;
            let (b, redos_b) = entries_b.join().map_err(|_| panicked())??;
            for (item, r) in redos_b {
                keep_newest(&mut redos, item, r);
            }
            let seen = seen.join().map_err(|_| panicked())??;
            // A checkpoint not at the cut the scans started from (replaced in between, or
            // not trusted) is not used: then the scans must have read every entry.
            let resumed = checkpoint
                .join()
                .map_err(|_| panicked())?
                .filter(|c| c.upto == from);
            Ok((a.append(b), low, high, redos, resumed, seen))
        })?;
        let (mut feed, mut redos, resumed, frozen) = match (resumed, from) {
            (None, 0) => (feed, redos, None, crate::seen::Seen::default()),
            (None, _) => {
                // The checkpoint the scans counted on was not used: read it all again.
                return State::load_resuming(store, checks, None);
            }
            (Some(c), _) => {
                let mut all = c.redos;
                for (item, r) in redos {
                    keep_newest(&mut all, item, r);
                }
                let r = Resumed {
                    upto: c.upto,
                    segments: c.segments,
                };
                (c.feed.append(feed), all, Some(r), c.seen)
            }
        };
        phases.mark("scans");
        st.seen = frozen.with_recent(seen);
        // The two halves stay two vectors (in id order, one after the other): joining
        // them would copy every item once more.
        let mut loaded = [low, high];
        replay(loaded.iter_mut().flatten(), &mut redos);
        let ids = st.add_loaded(loaded, &feed.entries, checks)?;
        feed.redos = std::mem::take(&mut redos);
        st.feed = feed;
        phases.mark("items filed");
        for kv in store.scan(store::ACTIVITY) {
            let (k, v) = kv?;
            let Some(a) = checks.record(&k, &v, records::decode::<ActivityRec>(&v))? else {
                continue;
            };
            // Salvaging: an activity whose item was set aside goes with it (its timers
            // would fire on an item that is not there).
            if st.slot(ItemId(a.item)).is_none()
                && checks.set_aside(&k, &v, &format!("its item {} was set aside", a.item))
            {
                continue;
            }
            st.insert_activity(ActivityId(a.id), ActSlot::from_rec(v, &a));
        }
        for kv in store.scan(store::TIMER) {
            let (k, v) = kv?;
            let Some((id, due, timers)) = checks.record(&k, &v, timer_row(&k, &v))? else {
                continue;
            };
            if !st.activities.contains_key(&id)
                && checks.set_aside(&k, &v, &format!("its activity {} was set aside", id.0))
            {
                continue;
            }
            for (timer, at) in timers {
                st.armed.insert(timer, at);
            }
            st.timer_rows.insert(id, due);
        }
        phases.mark("activities and timers");
        crate::feed::load(&mut st, store, &ids, checks)?;
        phases.mark("follows and rules");
        st.count_items(ids.into_iter().map(|(id, _, _)| id));
        phases.mark("counters");
        Ok((st, resumed))
    }

    /// Files the scanned items: slots, column indexes, contacts, and each item's timeline
    /// from `entries`. The indexes are built from sorted runs (`BTreeMap`'s bulk build),
    /// which is several times cheaper than a million single inserts, on threads of their
    /// own while the slots fill. Returns (id, last update, responsible) for the feed state.
    fn add_loaded(
        &mut self,
        mut loaded: [Vec<Loaded>; 2],
        entries: &Chunked<EntryCell>,
        checks: &Checks,
    ) -> Result<Vec<(ItemId, i64, UserId)>> {
        // Salvaging, an item whose board was set aside goes with it.
        for half in &mut loaded {
            let mut err = None;
            half.retain(|l| {
                if err.is_some() || self.columns.contains_key(&l.slot.column) {
                    return true;
                }
                let why = format!("its column {} is on no board", l.slot.column);
                let key = store::id_key(store::ITEM, l.id.0);
                if !checks.set_aside(&key, &l.slot.rec, &why) {
                    err = Some(Error::Corrupt(format!(
                        "item {} is in unknown column {}",
                        l.id, l.slot.column
                    )));
                }
                false
            });
            if let Some(e) = err {
                return Err(e);
            }
        }
        let n = loaded.iter().map(Vec::len).sum();
        let mut order: Vec<(ColumnId, OrderKey, ItemId)> = Vec::with_capacity(n);
        let mut ids = Vec::with_capacity(n);
        let mut contacts: Vec<(u64, ItemId)> = Vec::new();
        for l in loaded.iter().flatten() {
            self.meta.focus_clock = self
                .meta
                .focus_clock
                .max(crate::order::tick_of(&l.slot.key));
            order.push((l.slot.column, l.slot.key.clone(), l.id));
            ids.push((l.id, l.updated_at, l.slot.responsible));
            contacts.extend(l.contacts.iter().map(|k| (*k, l.id)));
        }
        let max_id = ids.iter().map(|i| i.0 .0).max().unwrap_or(0);
        let slots = usize::try_from(max_id).map_or(0, |n| n.saturating_add(1));
        self.items.reserve(slots.saturating_sub(self.items.len()));
        let (contacts, orders, timelines) = std::thread::scope(|scope| {
            let contacts = scope.spawn(move || {
                timed("contact index", || {
                    contacts.sort_unstable();
                    contacts.into_iter().collect::<BTreeSet<_>>()
                })
            });
            let orders = scope.spawn(move || timed("column orders", || column_orders(order)));
            let timelines = scope.spawn(move || timed("timelines", || timelines(entries, slots)));
            timed("item slots", || {
                for l in loaded.into_iter().flatten() {
                    self.put_slot(l.id, l.slot);
                }
            });
            (contacts.join(), orders.join(), timelines.join())
        });
        let panicked = |what: &str| Error::Corrupt(format!("the {what} build panicked"));
        self.contacts = contacts.map_err(|_| panicked("contact index"))?;
        for (col, order) in orders.map_err(|_| panicked("column order"))?? {
            if let Some(c) = self.columns.get_mut(&col) {
                c.order = order;
            }
        }
        self.item_seqs = timelines.map_err(|_| panicked("timeline"))?;
        Ok(ids)
    }
}

/// Each column's order index, from every filed item's (column, key, id): one sort, then a
/// bulk build per column. Two items with one key in a column are a damaged store.
fn column_orders(
    mut order: Vec<(ColumnId, OrderKey, ItemId)>,
) -> Result<Vec<(ColumnId, BTreeMap<OrderKey, ItemId>)>> {
    order.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    if let Some(w) = order
        .windows(2)
        .find(|w| w[0].0 == w[1].0 && w[0].1 == w[1].1)
    {
        return Err(Error::Corrupt(format!(
            "two items share an order key in column {}",
            w[0].0
        )));
    }
    let mut out = Vec::new();
    let mut items = order.into_iter().peekable();
    while let Some((col, key, id)) = items.next() {
        let mut run = vec![(key, id)];
        while let Some((_, key, id)) = items.next_if(|(c, _, _)| *c == col) {
            run.push((key, id));
        }
        out.push((col, run.into_iter().collect()));
    }
    Ok(out)
}

/// Each item's timeline (the seqs of its entries, in order), by item id below `items`:
/// one flat array (`item_seqs.rs`; a list per item cost 1.0–1.3 s at 12M entries here).
fn timelines(entries: &Chunked<EntryCell>, items: usize) -> ItemSeqs {
    ItemSeqs::build(items, || {
        (0u64..).zip(entries.iter()).filter_map(|(seq, cell)| {
            let item = records::about(cell.item()?)?;
            Some((seq, usize::try_from(item.0).ok()?))
        })
    })
}

/// The wall time of each phase of an open, logged at debug level: where a slow start-up
/// spends its time, without a profiler.
struct Phases {
    at: std::time::Instant,
    /// (phase, milliseconds, resident MiB after it).
    done: Vec<(&'static str, u128, u64)>,
}

impl Phases {
    fn start() -> Phases {
        Phases {
            at: std::time::Instant::now(),
            done: vec![("before", 0, resident_mib())],
        }
    }

    fn mark(&mut self, phase: &'static str) {
        let now = std::time::Instant::now();
        self.done
            .push((phase, (now - self.at).as_millis(), resident_mib()));
        self.at = now;
    }
}

/// Runs one of open's scans and logs (at debug level) how long it took on its thread.
fn timed<T>(what: &'static str, scan: impl FnOnce() -> T) -> T {
    let at = std::time::Instant::now();
    let out = scan();
    tracing::debug!(
        scan = what,
        ms = at.elapsed().as_millis(),
        "open: scan done"
    );
    out
}

/// The process's resident memory in MiB (Linux; 0 elsewhere): on a machine where a fresh
/// page costs a fault and a clearing (0.7 s per GiB here), an open's memory is much of its
/// time.
fn resident_mib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096 / (1 << 20))
}

impl Drop for Phases {
    fn drop(&mut self) {
        tracing::debug!(phases = ?self.done, "open: (phase, milliseconds, resident MiB)");
    }
}

/// The checkpoint an open resumed from.
pub(crate) struct Resumed {
    upto: u64,
    segments: Vec<crate::checkpoint::Named>,
}

/// One item as an open scan reads it, before it is filed.
pub(crate) struct Loaded {
    id: ItemId,
    slot: ItemSlot,
    contacts: SmallVec<[u64; 4]>,
    updated_at: i64,
    version: u64,
}

/// Overrides the focus state of each scanned item whose newest redo is at or above the
/// version of its row (the row was written before that entry).
/// The redos that do not apply (an item deleted, or a row newer than the redo) are
/// dropped from `redos`, as the live engine drops them.
fn replay<'a>(loaded: impl Iterator<Item = &'a mut Loaded>, redos: &mut Redos) {
    // A merge of two sorted runs (the scan reads items in id order): a binary search per
    // redo cost 8 % of a resume at 1.5M items here.
    let mut by_item: Vec<(u64, &Redo)> = redos.iter().map(|(i, r)| (*i, r)).collect();
    by_item.sort_unstable_by_key(|(i, _)| *i);
    let mut items = loaded.peekable();
    let mut dead = Vec::new();
    for (item, r) in by_item {
        while items.next_if(|l| l.id.0 < item).is_some() {}
        // An item not there was deleted after the entry.
        let Some(l) = items.next_if(|l| l.id.0 == item) else {
            dead.push(item);
            continue;
        };
        if r.seq >= l.version {
            l.slot.key = r.key.clone();
            l.slot.focus = r.focus;
        } else {
            dead.push(item);
        }
    }
    for item in dead {
        redos.remove(&item);
    }
}

/// An activity, its earliest due time, and its timers with their due times.
type TimerRow = (ActivityId, i64, Vec<(ActivityTimer, i64)>);

/// A `T` row: its activity, its earliest due time and its timers with their due times.
fn timer_row(k: &[u8], v: &[u8]) -> Result<TimerRow> {
    let id =
        store::timer_key_activity(k).ok_or_else(|| Error::Corrupt("malformed timer key".into()))?;
    let row = records::access::<records::ArchivedTimersRec>(v)?;
    let due = row
        .dues
        .iter()
        .map(|d| d.to_native())
        .min()
        .ok_or_else(|| Error::Corrupt(format!("empty timer row of activity {id}")))?;
    let mut timers = Vec::with_capacity(row.slots.len());
    for (slot, at) in row.slots.iter().zip(row.dues.iter()) {
        let slot = TimerSlot::from_byte(*slot)
            .ok_or_else(|| Error::Corrupt(format!("timer row of activity {id}: slot {slot}")))?;
        let timer = ActivityTimer {
            activity: ActivityId(id),
            slot,
        };
        timers.push((timer, at.to_native()));
    }
    Ok((ActivityId(id), due, timers))
}

/// The hashes of the `S` rows from seq `from` on (a checkpoint's cut: its segments hold
/// the hashes below it; 0 without one): every event id accepted or found unmatched since.
fn scan_seen(store: &Store, checks: &Checks, from: u64) -> Result<crate::hashing::FastSet<u128>> {
    let mut seen = crate::hashing::FastSet::default();
    for kv in store.seen_rows(from, None) {
        let (k, v) = kv?;
        let Some(r) = checks.record(&k, &v, records::access::<records::ArchivedSeenRec>(&v))?
        else {
            continue;
        };
        seen.extend(r.hashes.iter().map(|h| h.to_native()));
    }
    Ok(seen)
}

/// Reads and validates the items with ids in `[lo, hi)`; `next_item` is the store's item
/// counter. The vector is sized at once for the ids the range can hold: growing it by
/// doubling cost a copy of each item and fresh pages for each copy (the kernel's page
/// clearing was a fifth of a start-up's CPU here).
fn scan_items(
    store: &Store,
    hasher: &std::collections::hash_map::RandomState,
    (lo, hi): (u64, u64),
    next_item: u64,
    checks: &Checks,
) -> Result<Vec<Loaded>> {
    let ids = next_item.min(hi).saturating_sub(lo);
    // Capped: ids of deleted items are never reused, so a store that deleted most of what
    // it ever held has far fewer rows than ids (capacity is address space, never touched).
    // Where even that is refused (strict overcommit), the vector grows as it goes.
    let mut out = Vec::new();
    let _ = out.try_reserve_exact(usize::try_from(ids.min(1 << 23)).unwrap_or(0));
    let (from, to) = (
        store::id_key(store::ITEM, lo),
        store::id_key(store::ITEM, hi),
    );
    for kv in store.range(&from, &to) {
        let (k, v) = kv?;
        // A row whose id is not its key's, or not below the counter, is damaged: memory is
        // indexed by item id, so such an id must never size it.
        let checked = records::access::<records::ArchivedItemRec>(&v).and_then(|r| {
            let id = r.id.to_native();
            if store::key_id(&k) != Some(id) || id >= next_item {
                return Err(Error::Corrupt(format!(
                    "item id {id} is not its key's or is not below the item counter \
                     ({next_item})"
                )));
            }
            Ok(r)
        });
        let Some(r) = checks.record(&k, &v, checked)? else {
            continue;
        };
        let mut contacts = SmallVec::new();
        contacts.extend(
            r.phones
                .iter()
                .filter_map(|p| phone_key(hasher, p.as_str())),
        );
        contacts.extend(r.emails.iter().map(|e| email_key(hasher, e.as_str())));
        out.push(Loaded {
            id: ItemId(r.id.to_native()),
            contacts,
            updated_at: r.updated_at.to_native(),
            version: r.version.to_native(),
            slot: ItemSlot {
                board: BoardId(r.board.to_native()),
                column: ColumnId(r.column.to_native()),
                key: OrderKey::from_slice(&r.order),
                responsible: UserId(r.responsible.to_native()),
                focus: Focus::of_archived(r),
                entries: SmallVec::new(),
                rec: v.clone(),
            },
        });
    }
    Ok(out)
}

/// Saves the bytes of each damaged record a salvaging open skipped under
/// `salvaged/<unix time>/<key in hex>.bin` in the data directory, then removes the records
/// in one durable batch, so the next open (salvaging or not) finds a store without them.
fn set_aside(store: &Store, mut damaged: Vec<DamagedRecord>) -> Result<Vec<DamagedRecord>> {
    if damaged.is_empty() {
        return Ok(damaged);
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let dir = store.dir().join("salvaged").join(stamp.to_string());
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let mut batch = store::Batch::default();
    for d in &mut damaged {
        let path = dir.join(format!("{}.bin", store::hex(&d.raw_key)));
        std::fs::write(&path, &d.value).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        tracing::warn!(record = %d.key, reason = %d.reason, saved_to = %path.display(),
            "salvage: a damaged record is skipped and removed");
        d.saved_to = Some(path);
        batch.delete(&d.raw_key);
    }
    store.apply(batch)?;
    store.flush()?;
    Ok(damaged)
}

impl Engine {
    /// Opens (or creates) the data directory `dir`: takes its lock, checks its format
    /// version and rebuilds the in-memory indexes from the records.
    pub fn open(dir: impl AsRef<Path>, config: Config) -> Result<Engine> {
        let opening = std::time::Instant::now();
        let lock = store::DirLock::take(dir.as_ref())?;
        // The checkpoint is read while sled opens (salvage does not use one).
        let checkpoint = if config.salvage {
            None
        } else {
            crate::checkpoint::Early::start(dir.as_ref())
        };
        let store = Store::open_locked(lock, config.caches, config.compress)?;
        tracing::debug!(
            ms = u64::try_from(opening.elapsed().as_millis()).unwrap_or(u64::MAX),
            "open: store opened"
        );
        crate::upgrade::run(&store)?;
        let checks = if config.salvage {
            Checks::salvaging()
        } else {
            Checks::strict()
        };
        if config.salvage {
            // Before any row is set aside: a checkpoint may cover an entry salvage removes,
            // and a crash in between must not leave it to be trusted.
            crate::checkpoint::discard(store.dir())?;
        }
        let started = std::time::Instant::now();
        let (state, resumed) = State::load_resuming(&store, &checks, checkpoint)?;
        tracing::info!(
            ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            items = state.item_count,
            entries_from = resumed.as_ref().map_or(0, |r| r.upto),
            entries_to = state.meta.next_entry,
            seen_events = state.seen.len(),
            seen_read_from_rows = state.seen.recent_len(),
            "state loaded"
        );
        let salvaged = set_aside(&store, checks.into_damaged())?;
        let (upto, segments) = resumed.map_or((0, Vec::new()), |r| (r.upto, r.segments));
        let (cut_tx, cut_rx) = crossbeam_channel::bounded::<crate::checkpoint::Cut>(1);
        let format = store.format()?;
        let (every, span) = (config.checkpoint_every, config.checkpoint_span_bits);
        // Re-arm every durable timer; those already due fire at the timer thread's
        // first poll.
        let mut wheel = Wheel::with_capacity(config.clock.now().0, state.armed.len());
        for (t, due) in &state.armed {
            wheel.insert(t.id(), *due);
        }
        let (tx, rx) = crossbeam_channel::bounded::<Job>(config.queue_capacity);
        let (wake_tx, wake_rx) = crossbeam_channel::bounded::<()>(1);
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let (jobs_wake_tx, jobs_wake_rx) = crossbeam_channel::bounded::<()>(1);
        let (jobs_stop_tx, jobs_stop_rx) = crossbeam_channel::bounded::<()>(0);
        let hub = Hub::new(config.change_ring, state.meta.seq);
        let shared = Arc::new(Shared {
            state: RwLock::new(state),
            fire: crate::activity::fire,
            reload: State::load,
            store,
            hub,
            config,
            wheel: Mutex::new(wheel),
            firing: Mutex::new(()),
            wake: wake_tx,
            timers_fired: AtomicU64::new(0),
            events_ingested: AtomicU64::new(0),
            focus_fired: AtomicU64::new(0),
            rollbacks: AtomicU64::new(0),
            oldest_queued_us: AtomicU64::new(0),
            epoch: std::time::Instant::now(),
            jobs_wake: jobs_wake_tx,
            failure: std::sync::OnceLock::new(),
            checkpoint: crate::checkpoint::Control::new(every, span, upto, cut_tx),
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
            checkpointer: Mutex::new(None),
            salvaged,
        };
        let c = Arc::clone(&engine.shared);
        let checkpointer = std::thread::Builder::new()
            .name("hoist-checkpoint".into())
            .spawn(move || {
                crate::checkpoint::thread_loop(
                    &c.store,
                    format,
                    &c.state,
                    &c.checkpoint,
                    &cut_rx,
                    segments,
                );
            })
            .map_err(spawn_err)?;
        *engine.checkpointer.lock() = Some(checkpointer);
        // Rebuilt from the records (no checkpoint, or one not trusted): write one now, in
        // the background, so the next start is quick even after a crash. The cut waits for
        // the end of a group, so an empty command makes one.
        if upto == 0 && every > 0 && engine.shared.state.read().meta.next_entry > 1 {
            engine.shared.checkpoint.force();
            // Dropped unawaited: a command on the queue runs whether or not anyone waits.
            drop(engine.submit(|_| Ok(())));
        }
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
}
