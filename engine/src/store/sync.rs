//! What makes a flushed group survive a power cut, on top of what sled 0.34.7 does itself.
//!
//! sled's `Db::flush` writes its log with `pwrite` and then calls `sync_file_range`
//! (`pagecache/iobuf.rs`), which flushes no disk write cache and writes out no metadata
//! (the size of a log that grew); only its background flusher calls `sync_all`, every
//! 500 ms. A log message over a quarter of a segment (128 KiB with sled's 512 KiB segments:
//! a large value, or a whole leaf node rewritten with its values) goes to a file of its own
//! under `blobs/`, written with no sync at all (`pagecache/blob_io.rs`). On recovery a
//! missing blob is skipped, and if it held the only image of a page sled cannot open the
//! store at all ("tried to serialize Uninitialized": `tests/powercut.rs` hit it). Snapshots
//! are synced, then renamed in, without a sync of the directory.
//!
//! So after each `Db::flush`, before anybody is answered, [`Durability::sync`]:
//!
//! 1. fsyncs every blob file it has not synced before, then the `blobs/` directory (a blob
//!    is fully written before the log message that points to it is placed in a log buffer,
//!    so every blob the flushed log names is there);
//! 2. lists sled's directory;
//! 3. `fdatasync`s the log file through one handle kept open (fsync works on the inode, so
//!    any handle will do), which also writes out its size when it grew;
//! 4. fsyncs sled's directory if its listing changed (a snapshot renamed in, an old one
//!    removed): the snapshot's name is durable only after the log it names;
//! 5. looks at `blobs/` once more and syncs any blob that appeared during steps 1–4.
//!
//! Step 5 narrows, but cannot close, one window: the writer makes its blobs before the
//! flush (step 1 covers them), but sled's flusher thread (segment cleaning) and a reader
//! that splits a leaf can make one at any moment, and the log sync of step 3 may carry its
//! pointer before step 5 syncs the blob. Hoist keeps values small so that blobs are rare
//! (`store::MAX_VALUE`, `store::FILE_CHUNK`): only a leaf of about 20 rows averaging over
//! 6 KiB (items with large fields, entries with long texts) makes one. sled's largest
//! segments (16 MiB) would remove blobs altogether, but measured here they cost 2.5× the
//! memory and 1.6× the disk (BENCHMARKS.md, "Power-cut durability").
//!
//! Cost on this machine: one `fdatasync` of a small append (p50 0.2 ms) and three small
//! `readdir`s per group, shared by every command of the group.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::io;
use crate::error::Result;

/// The files and directories a flush must make durable, and what has been synced already.
pub(crate) struct Durability {
    /// sled's directory (`<data>/db`).
    dir: PathBuf,
    /// sled's log file (`<data>/db/db`), open for the life of the store.
    log: File,
    log_path: PathBuf,
    /// Names in `blobs/` already fsynced (blob files are written once, never changed).
    synced_blobs: HashSet<OsString>,
    /// sled's directory listing as of its last fsync.
    listing: Vec<OsString>,
}

/// Writes `bytes` to `dir/name` so that a crash leaves the old file or the new one, never
/// a part: through `name.tmp`, synced, renamed, then the directory synced.
pub(crate) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let (path, tmp) = (dir.join(name), dir.join(format!("{name}.tmp")));
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    sync_dir(dir)
}

/// fsync of a directory: makes the names in it (created, renamed, removed) durable.
pub(crate) fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io(path))
}

/// The names in `dir`, sorted; an absent directory has none.
fn listing(dir: &Path) -> Result<Vec<OsString>> {
    let mut names = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for e in entries {
                names.push(e.map_err(io(dir))?.file_name());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(dir)(e)),
    }
    names.sort_unstable();
    Ok(names)
}

impl Durability {
    /// Called once sled is open on `<data>/db`: syncs everything sled created without a
    /// sync (its `conf`, the log's size, the directories up to the data directory itself),
    /// so that a store is durable from its first acknowledged write.
    pub(crate) fn open(data: &Path, sled_dir: &Path) -> Result<Durability> {
        let log_path = sled_dir.join("db");
        let log = File::open(&log_path).map_err(io(&log_path))?;
        let mut d = Durability {
            dir: sled_dir.to_path_buf(),
            log,
            log_path,
            synced_blobs: HashSet::new(),
            listing: Vec::new(),
        };
        let conf = sled_dir.join("conf");
        if conf.exists() {
            File::open(&conf)
                .and_then(|f| f.sync_all())
                .map_err(io(&conf))?;
        }
        // The first sync also syncs sled's directory: its listing differs from the empty
        // one the struct starts with.
        d.sync()?;
        sync_dir(data)?;
        if let Some(parent) = data.parent().filter(|p| !p.as_os_str().is_empty()) {
            // The data directory's own name, in case this open created it.
            sync_dir(parent)?;
        }
        Ok(d)
    }

    /// Makes everything sled has flushed durable (steps 1–5 of the module doc).
    pub(crate) fn sync(&mut self) -> Result<()> {
        self.sync_blobs()?;
        let now = listing(&self.dir)?;
        self.log.sync_data().map_err(io(&self.log_path))?;
        if now != self.listing {
            sync_dir(&self.dir)?;
            self.listing = now;
        }
        self.sync_blobs()
    }

    /// fsyncs the blob files not synced before, then `blobs/` if there was one.
    fn sync_blobs(&mut self) -> Result<()> {
        let blobs = self.dir.join("blobs");
        let names = listing(&blobs)?;
        let mut new_blob = false;
        for name in &names {
            if self.synced_blobs.contains(name) {
                continue;
            }
            let path = blobs.join(name);
            match File::open(&path).and_then(|f| f.sync_all()) {
                Ok(()) => {}
                // Collected by sled between the listing and the open: nothing to keep.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&path)(e)),
            }
            self.synced_blobs.insert(name.clone());
            new_blob = true;
        }
        if new_blob {
            sync_dir(&blobs)?;
        }
        if self.synced_blobs.len() > names.len() {
            // Forget blobs sled has collected, so the set stays as small as the directory.
            let live: HashSet<&OsString> = names.iter().collect();
            self.synced_blobs.retain(|n| live.contains(n));
        }
        Ok(())
    }
}
