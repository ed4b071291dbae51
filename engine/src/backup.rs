//! Online backup: a copy of the store consistent at one change number, taken while writes
//! go on, as a byte stream; and the restore that makes a data directory from the stream.
//!
//! How the copy is consistent without stopping the writer:
//! 1. A *tap* starts at a group boundary (the writer's, `Store::tap_boundary`): from then
//!    on every row the writer applies is also kept, in order. It starts and ends at group
//!    boundaries; a rolled-back step's rows (applied mid-group by `Tx::rebuild`) are kept
//!    in order with the rest, and the `M` row goes first in them, so even a group cut by
//!    the tap's end leaves the copy consistent with its change number.
//! 2. Every row of the store is scanned, in key order, and streamed. sled's iterator is not
//!    a snapshot: a row may be read before or after a write of the group being applied.
//! 3. The tap closes at a later group boundary, and its rows are streamed after the scan.
//!
//! Restoring applies the stream in order, so each row ends as the last write of it in the
//! tap if there was one (the state after the last tapped group), else as scanned, which is
//! what it was through the whole tap since nothing wrote it. The copy is therefore the
//! store exactly as the last tapped group's flush left it: every write acknowledged up to
//! that group's change number, and nothing after it. The copy's change number is the `M`
//! row's `seq`, read from the stream.
//!
//! Cost to the live store: one scan (reads, no lock held: the writer goes on), the tapped
//! rows in memory (at most `store::TAP_LIMIT` bytes, else the backup fails), and two empty
//! commands through the writer to mark the boundaries.
//!
//! The stream's bytes are in docs/format.md ("Backup stream").

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::engine::{Config, Engine};
use crate::error::{io, Error, Result};
use crate::records::{self, Meta};
use crate::store::{self, Batch, Bytes, Store};

/// The first bytes of a backup stream.
const MAGIC: &[u8; 8] = b"HOISTBAK";
/// The stream layout this build writes and reads.
const STREAM_VERSION: u32 = 1;
const PUT: u8 = 1;
const DELETE: u8 = 2;
const END: u8 = 0;
/// A key longer than this is not ours: the stream is damaged.
const MAX_KEY: usize = 4 << 10;
/// A value longer than this is not ours (values stay under 96 KiB; an old format's file
/// could be one blob of 8 MiB).
const MAX_VALUE: usize = 64 << 20;
/// Rows per batch while restoring.
const RESTORE_BATCH: usize = 8192;

/// What a backup or a restore did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupInfo {
    /// The change number the copy is consistent at: every write acknowledged with a change
    /// number up to it is in the copy, none after it.
    pub change: u64,
    /// Rows written to the stream (puts and deletes).
    pub records: u64,
    /// Bytes of the stream.
    pub bytes: u64,
}

/// Everything written through it is counted and hashed.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.hash.update(b);
        self.bytes += b.len() as u64;
        self.inner.write_all(b)
    }
}

/// Writes the rows of a backup stream and remembers the last `M` row it wrote.
struct StreamWriter<W> {
    out: Hashing<W>,
    records: u64,
    meta: Option<Bytes>,
}

impl<W: Write> StreamWriter<W> {
    fn new(out: W, format: u32) -> std::io::Result<StreamWriter<W>> {
        let mut w = StreamWriter {
            out: Hashing {
                inner: out,
                hash: Sha256::new(),
                bytes: 0,
            },
            records: 0,
            meta: None,
        };
        w.out.put(MAGIC)?;
        w.out.put(&STREAM_VERSION.to_be_bytes())?;
        w.out.put(&format.to_be_bytes())?;
        Ok(w)
    }

    fn row(&mut self, key: &[u8], value: Option<&Bytes>) -> std::io::Result<()> {
        self.records += 1;
        let klen = u32::try_from(key.len()).unwrap_or(u32::MAX);
        match value {
            Some(v) => {
                if key == store::META {
                    self.meta = Some(v.clone());
                }
                self.out.put(&[PUT])?;
                self.out.put(&klen.to_be_bytes())?;
                self.out.put(key)?;
                self.out
                    .put(&u32::try_from(v.len()).unwrap_or(u32::MAX).to_be_bytes())?;
                self.out.put(v)
            }
            None => {
                if key == store::META {
                    self.meta = None;
                }
                self.out.put(&[DELETE])?;
                self.out.put(&klen.to_be_bytes())?;
                self.out.put(key)
            }
        }
    }

    /// The trailer: the change number, the row count and the SHA-256 of every byte before
    /// the hash itself.
    fn finish(mut self) -> Result<BackupInfo> {
        let change = match &self.meta {
            Some(m) => records::decode::<Meta>(m)?.seq,
            None => 0,
        };
        let io = |source| Error::Io {
            path: PathBuf::from("<backup stream>"),
            source,
        };
        self.out.put(&[END]).map_err(io)?;
        self.out.put(&change.to_be_bytes()).map_err(io)?;
        self.out.put(&self.records.to_be_bytes()).map_err(io)?;
        let digest = self.out.hash.clone().finalize();
        self.out.inner.write_all(&digest).map_err(io)?;
        self.out.inner.flush().map_err(io)?;
        Ok(BackupInfo {
            change,
            records: self.records,
            bytes: self.out.bytes + 32,
        })
    }
}

/// Keeps a scan at or under a rate: each MiB it sleeps until the bytes so far are due (a
/// rate of 0 never sleeps).
struct Pace {
    bytes_per_sec: u64,
    started: std::time::Instant,
    next: u64,
}

impl Pace {
    const STEP: u64 = 1 << 20;

    fn new(bytes_per_sec: u64) -> Pace {
        Pace {
            bytes_per_sec,
            started: std::time::Instant::now(),
            next: Pace::STEP,
        }
    }

    fn hold(&mut self, bytes: u64) {
        if self.bytes_per_sec == 0 || bytes < self.next {
            return;
        }
        self.next = bytes + Pace::STEP;
        #[allow(clippy::cast_precision_loss)] // a delay, not an amount: f64 is plenty
        let due = std::time::Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec as f64);
        if let Some(wait) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(wait);
        }
    }
}

/// A backup's claim on the store's tap, from [`Engine::reserve_backup`] to the end of
/// [`Engine::backup_reserved`]. Dropped unused (or on a failed backup), it gives the tap
/// back, so the next backup can start.
#[must_use = "a reservation is released when dropped"]
pub struct BackupSlot {
    shared: Option<std::sync::Arc<crate::engine::Shared>>,
}

impl Drop for BackupSlot {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.store.tap_cancel();
        }
    }
}

impl Engine {
    /// Writes a copy of the whole store to `out`, consistent at one change number, while
    /// writes go on (see the module's header for how). Returns that change number. One
    /// backup at a time: a second one meanwhile is [`Error::Conflict`]. `out` is written as
    /// the store is read: a slow `out` makes the backup last longer and hold more of the
    /// writes made meanwhile in memory (past 512 MiB of them it fails).
    pub fn backup(&self, out: &mut dyn Write) -> Result<BackupInfo> {
        let slot = self.reserve_backup()?;
        self.backup_reserved(slot, out)
    }

    /// Claims the one backup slot now, so a caller can refuse a second backup (or one on a
    /// store whose writes stopped) before it answers anything, and take the copy later,
    /// on another thread, with [`Engine::backup_reserved`].
    pub fn reserve_backup(&self) -> Result<BackupSlot> {
        if let Some(reason) = self.shared.failure.get() {
            return Err(Error::Poisoned(reason.clone()));
        }
        if !self.shared.store.tap_start() {
            return Err(Error::Conflict("a backup is already running".into()));
        }
        Ok(BackupSlot {
            shared: Some(std::sync::Arc::clone(&self.shared)),
        })
    }

    /// [`Engine::backup`] with a slot [`Engine::reserve_backup`] gave.
    pub fn backup_reserved(&self, mut slot: BackupSlot, out: &mut dyn Write) -> Result<BackupInfo> {
        let store = &self.shared.store;
        // An empty command: the start of the group that takes it is a boundary where the
        // tap begins. It may join a group that had already started (before the tap was
        // asked for), so the tap may still be waiting when it is answered; a second one
        // sent after that answer lands in a group that starts later.
        for _ in 0..3 {
            self.call(|_| Ok(()))?;
            if store.tap_is_on() {
                break;
            }
        }
        if !store.tap_is_on() {
            return Err(Error::Conflict("the backup's tap did not start".into()));
        }
        let io = |source| Error::Io {
            path: PathBuf::from("<backup stream>"),
            source,
        };
        let format = store.format()?;
        let mut w = StreamWriter::new(out, format).map_err(io)?;
        let mut pace = Pace::new(self.shared.config.backup_bytes_per_sec);
        for kv in store.scan_all() {
            let (k, v) = kv?;
            w.row(&k, Some(&v)).map_err(io)?;
            pace.hold(w.out.bytes);
        }
        store.tap_stop();
        // The next group's start closes the tap (as above, an empty command that joined a
        // running group is answered before it; one more lands after a boundary).
        let mut tapped = None;
        for _ in 0..3 {
            self.call(|_| Ok(()))?;
            tapped = store.tap_take();
            if tapped.is_some() {
                break;
            }
        }
        let tapped =
            tapped.ok_or_else(|| Error::Conflict("the backup's tap did not close".into()))?;
        // The tap is off and ours is taken: a backup that starts now must not be cancelled
        // by this one's end.
        slot.shared = None;
        if tapped.overflowed {
            return Err(Error::Overloaded);
        }
        for (k, v) in &tapped.ops {
            w.row(k, v.as_ref()).map_err(io)?;
        }
        w.finish()
    }

    /// Makes the data directory `dir` (which must not exist, or be empty) from a backup
    /// stream, checking its hash; `Engine::open(dir, …)` then opens the copy (an older
    /// format is upgraded as usual). The rows go to `<dir>.restoring` first, which is
    /// renamed to `dir` only once the whole stream checked out, so an interrupted restore
    /// leaves no directory that looks like a store.
    pub fn restore(from: &mut dyn Read, dir: &Path) -> Result<BackupInfo> {
        Engine::restore_with_compression(from, dir, Config::default().compress)
    }

    /// [`Engine::restore`] into a store created with or without compression
    /// ([`Config::with_compression`]): the way to change an existing store's setting is to
    /// back it up and restore it so.
    pub fn restore_with_compression(
        from: &mut dyn Read,
        dir: &Path,
        compress: bool,
    ) -> Result<BackupInfo> {
        if dir.exists() && std::fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
            return Err(Error::Conflict(format!(
                "{} exists and is not empty: restore into a new directory",
                dir.display()
            )));
        }
        let mut tmp = dir.as_os_str().to_owned();
        tmp.push(".restoring");
        let tmp = PathBuf::from(tmp);
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        let info = {
            let store = Store::open(
                &tmp,
                store::Caches {
                    sled_bytes: 64 << 20,
                    pack_bytes: 0,
                },
                compress,
            )?;
            let info = read_stream(from, &store)?;
            store.flush()?;
            info
        };
        if dir.exists() {
            std::fs::remove_dir(dir).map_err(io(dir))?;
        }
        std::fs::rename(&tmp, dir).map_err(io(dir))?;
        Ok(info)
    }
}

/// Reads exactly `n` bytes.
fn take(from: &mut dyn Read, hash: &mut Sha256, n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    from.read_exact(&mut buf)
        .map_err(|e| damaged(&format!("cut short ({e})")))?;
    hash.update(&buf);
    Ok(buf)
}

fn damaged(why: &str) -> Error {
    Error::Corrupt(format!("backup stream: {why}"))
}

fn be32(b: &[u8]) -> Result<u32> {
    Ok(u32::from_be_bytes(
        b.try_into().map_err(|_| damaged("short field"))?,
    ))
}

fn be64(b: &[u8]) -> Result<u64> {
    Ok(u64::from_be_bytes(
        b.try_into().map_err(|_| damaged("short field"))?,
    ))
}

/// Applies a stream's rows to `store` in batches and checks its trailer.
fn read_stream(from: &mut dyn Read, store: &Store) -> Result<BackupInfo> {
    let mut hash = Sha256::new();
    let head = take(from, &mut hash, 16)?;
    if head.get(..8) != Some(&MAGIC[..]) {
        return Err(damaged("not a Hoist backup (bad magic)"));
    }
    let version = be32(&head[8..12])?;
    if version != STREAM_VERSION {
        return Err(damaged(&format!(
            "stream version {version} (this build reads {STREAM_VERSION})"
        )));
    }
    let format = be32(&head[12..16])?;
    if !(store::OLDEST_FORMAT..=store::FORMAT_VERSION).contains(&format) {
        return Err(Error::UnknownFormat {
            found: format,
            expected: store::FORMAT_VERSION,
        });
    }
    let mut batch = Batch::default();
    let mut records = 0u64;
    let mut bytes = 16u64;
    loop {
        let tag = take(from, &mut hash, 1)?;
        bytes += 1;
        match tag[0] {
            PUT | DELETE => {
                let klen = be32(&take(from, &mut hash, 4)?)? as usize;
                if klen == 0 || klen > MAX_KEY {
                    return Err(damaged(&format!("a key of {klen} bytes")));
                }
                let key = take(from, &mut hash, klen)?;
                bytes += 4 + klen as u64;
                if tag[0] == PUT {
                    let vlen = be32(&take(from, &mut hash, 4)?)? as usize;
                    if vlen > MAX_VALUE {
                        return Err(damaged(&format!("a value of {vlen} bytes")));
                    }
                    let value = take(from, &mut hash, vlen)?;
                    bytes += 4 + vlen as u64;
                    batch.put(&key, Bytes::from(value));
                } else {
                    batch.delete(&key);
                }
                records += 1;
                if batch.len() >= RESTORE_BATCH {
                    store.apply(std::mem::take(&mut batch))?;
                }
            }
            END => {
                let tail = take(from, &mut hash, 16)?;
                let change = be64(&tail[..8])?;
                let count = be64(&tail[8..])?;
                let expect = hash.finalize();
                let mut got = [0u8; 32];
                from.read_exact(&mut got)
                    .map_err(|e| damaged(&format!("no hash at the end ({e})")))?;
                if got[..] != expect[..] {
                    return Err(damaged("the hash does not match: the stream is damaged"));
                }
                if count != records {
                    return Err(damaged(&format!(
                        "{records} rows, the trailer says {count}"
                    )));
                }
                store.apply(batch)?;
                return Ok(BackupInfo {
                    change,
                    records,
                    bytes: bytes + 16 + 32,
                });
            }
            other => return Err(damaged(&format!("unknown row tag {other}"))),
        }
    }
}
