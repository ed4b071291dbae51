//! The only module that names sled: the data directory, its lock, the format version,
//! the key layout and atomic batches.
//!
//! Everything lives in sled's default tree, one key prefix per kind of record, so that one
//! `apply_batch` writes a record, its meta row and anything else of one group of commands
//! atomically. Integers in keys are big-endian, so byte order is numeric order.
//!
//! | key                         | value                                   |
//! |-----------------------------|-----------------------------------------|
//! | `F`                         | format version, `u32` big-endian        |
//! | `M`                         | [`Meta`](crate::records::Meta): id counters, focus clock, change seq |
//! | `U` + user id `u64`         | [`UserRec`](crate::records::UserRec)    |
//! | `G` + group id `u64`        | [`GroupRec`](crate::records::GroupRec)  |
//! | `D` + module key (UTF-8)    | [`ModuleRec`](crate::records::ModuleRec)|
//! | `B` + board id `u64`        | [`BoardRec`](crate::records::BoardRec) (columns inside) |
//! | `I` + item id `u64`         | [`ItemRec`](crate::records::ItemRec) (order key, contacts, focus state inside) |
//! | `A` + activity id `u64`     | [`ActivityRec`](crate::records::ActivityRec) (deadline, reminders, which fired) |
//! | `T` + due bucket `u64`* + activity id `u64` | [`TimersRec`](crate::records::TimersRec): the activity's pending timers and their exact due times (* the earliest due, sign bit flipped, `>> 26`: see [`timer_key`]) |
//! | `E` + entry seq `u64`       | [`TimelineRec`](crate::records::TimelineRec): a timeline and feed entry, about a record (its `item`) or not (status, message, file); a focus it caused rides in it ([`FocusRedo`](crate::records::FocusRedo)) |
//! | `S` + entry seq `u64`       | [`SeenRec`](crate::records::SeenRec): event-id hashes one ingest accepted |
//! | `W` + user id + item id     | [`FollowRec`](crate::records::FollowRec): reasons, sticky unfollow |
//! | `R` + rule id `u64`         | [`RuleRec`](crate::records::RuleRec): an auto-follow rule |
//! | `J` + job id `u64`          | [`JobRec`](crate::records::JobRec): an `apply_to_existing` job and its progress |
//! | `Y` + file id `u64`         | [`FileRec`](crate::records::FileRec): a group file's metadata |
//! | `Z` + file id `u64`         | the file's bytes, raw |
//! | `P`                         | [`PrefsRec`](crate::records::PrefsRec): modules switched off in feeds |
//!
//! Values are rkyv archives in the unaligned little-endian format, so they can be read in
//! place from any `IVec` whatever its alignment. `docs/format.md` mirrors this table.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The on-disk format this build reads and writes.
pub(crate) const FORMAT_VERSION: u32 = 2;

/// A value as sled holds it: reference counted, cheap to clone, shared with sled's cache.
pub(crate) type Bytes = sled::IVec;

pub(crate) const FORMAT: &[u8] = b"F";
pub(crate) const META: &[u8] = b"M";
pub(crate) const USER: u8 = b'U';
pub(crate) const GROUP: u8 = b'G';
pub(crate) const MODULE: u8 = b'D';
pub(crate) const BOARD: u8 = b'B';
pub(crate) const ITEM: u8 = b'I';
pub(crate) const ACTIVITY: u8 = b'A';
pub(crate) const TIMER: u8 = b'T';
pub(crate) const SEEN: u8 = b'S';
pub(crate) const FEED: u8 = b'E';
pub(crate) const FOLLOW: u8 = b'W';
pub(crate) const RULE: u8 = b'R';
pub(crate) const JOB: u8 = b'J';
pub(crate) const FILE_META: u8 = b'Y';
pub(crate) const FILE_DATA: u8 = b'Z';
pub(crate) const PREFS: &[u8] = b"P";

/// `W` + user id + item id: one follow.
pub(crate) fn follow_key(user: u64, item: u64) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = FOLLOW;
    k[1..9].copy_from_slice(&user.to_be_bytes());
    k[9..].copy_from_slice(&item.to_be_bytes());
    k
}

/// `E` + entry seq: every feed and timeline entry, in the order written, so that writing
/// one is an append at the right edge of the range (sled's cheapest write); an item's
/// timeline is the list of its seqs kept in memory.
pub(crate) fn entry_key(seq: u64) -> [u8; 9] {
    id_key(FEED, seq)
}

/// Due times in a `T` key are coarsened to buckets of 2^26 ms (about 18.6 hours): within a
/// bucket rows are ordered by activity id, so a new activity's row lands at the right
/// edge of its bucket (an append, sled's cheapest write) instead of at a random place
/// among all pending timers. The exact due times are in the row.
pub(crate) const TIMER_BUCKET_BITS: u32 = 26;

/// `T` + due bucket (`u64`: the due time with its sign bit flipped, so byte order is time
/// order, shifted right by [`TIMER_BUCKET_BITS`]) + activity id: one row per activity with
/// pending timers, in the bucket of its earliest.
pub(crate) fn timer_key(due: i64, activity: u64) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = TIMER;
    k[1..9].copy_from_slice(&(((due as u64) ^ (1 << 63)) >> TIMER_BUCKET_BITS).to_be_bytes());
    k[9..].copy_from_slice(&activity.to_be_bytes());
    k
}

/// The activity id of a `T` key.
pub(crate) fn timer_key_activity(k: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(k.get(9..17)?.try_into().ok()?))
}

/// `prefix` + big-endian `id`.
pub(crate) fn id_key(prefix: u8, id: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = prefix;
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// `prefix` + raw bytes.
pub(crate) fn str_key(prefix: u8, s: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + s.len());
    k.push(prefix);
    k.extend_from_slice(s.as_bytes());
    k
}

/// The open data directory.
pub(crate) struct Store {
    db: sled::Db,
    dir: PathBuf,
    // Held for the life of the store; the OS releases it if the process dies.
    _lock: File,
}

/// One atomic write.
#[derive(Default)]
pub(crate) struct Batch {
    inner: sled::Batch,
    len: usize,
}

impl Batch {
    pub(crate) fn put(&mut self, key: &[u8], value: Bytes) {
        self.inner.insert(key, value);
        self.len += 1;
    }

    pub(crate) fn delete(&mut self, key: &[u8]) {
        self.inner.remove(key);
        self.len += 1;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn storage(e: sled::Error) -> Error {
    Error::Storage(e.to_string())
}

impl Store {
    /// Opens (creating if needed) the data directory: takes its lock, opens sled and checks
    /// or writes the format version.
    pub(crate) fn open(dir: &Path, cache_bytes: u64) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(Error::Locked(dir.to_path_buf())),
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        // Our `LOCK` is held, so no other process has the directory. sled keeps its own
        // file lock until its background I/O threads let go of the file, which can take a
        // few milliseconds after a previous `Engine` in this process was dropped: wait for
        // that instead of failing a close-then-reopen.
        let started = std::time::Instant::now();
        let db = loop {
            let opened = sled::Config::new()
                .path(dir.join("db"))
                .cache_capacity(cache_bytes)
                .mode(sled::Mode::HighThroughput)
                .open();
            match opened {
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && started.elapsed() < std::time::Duration::from_secs(5) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                other => break other.map_err(storage)?,
            }
        };
        match db.get(FORMAT).map_err(storage)? {
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .unwrap_or(u32::MAX);
                if found != FORMAT_VERSION {
                    return Err(Error::UnknownFormat {
                        found,
                        expected: FORMAT_VERSION,
                    });
                }
            }
            None => {
                if db.first().map_err(storage)?.is_some() {
                    return Err(Error::UnknownFormat {
                        found: 0,
                        expected: FORMAT_VERSION,
                    });
                }
                db.insert(FORMAT, &FORMAT_VERSION.to_be_bytes())
                    .map_err(storage)?;
                db.flush().map_err(storage)?;
            }
        }
        Ok(Store {
            db,
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.db.get(key).map_err(storage)
    }

    /// Every `(key, value)` whose key starts with `prefix`, in key order.
    pub(crate) fn scan(&self, prefix: u8) -> impl Iterator<Item = Result<(Bytes, Bytes)>> + '_ {
        self.db.scan_prefix([prefix]).map(|r| r.map_err(storage))
    }

    /// Values with keys in `[lo, hi)`, in key order.
    pub(crate) fn range(
        &self,
        lo: &[u8],
        hi: &[u8],
    ) -> impl Iterator<Item = Result<(Bytes, Bytes)>> + '_ {
        self.db
            .range(lo.to_vec()..hi.to_vec())
            .map(|r| r.map_err(storage))
    }

    /// Applies `batch` atomically. Not yet durable: see [`Store::flush`].
    pub(crate) fn apply(&self, batch: Batch) -> Result<()> {
        self.db.apply_batch(batch.inner).map_err(storage)
    }

    /// Makes everything applied so far durable (fsync). One flush serves a whole group.
    pub(crate) fn flush(&self) -> Result<()> {
        self.db.flush().map(|_| ()).map_err(storage)
    }

    /// Bytes sled uses on disk.
    pub(crate) fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}
