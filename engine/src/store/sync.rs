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
//! 2. notes whether a name came or went in sled's directory;
//! 3. `fdatasync`s the log file through one handle kept open (fsync works on the inode, so
//!    any handle will do), which also writes out its size when it grew;
//! 4. fsyncs sled's directory if a name changed in it (a snapshot renamed in, an old one
//!    removed): the snapshot's name is durable only after the log it names;
//! 5. looks at `blobs/` once more and syncs any blob that appeared during steps 1–4.
//!
//! What changed in the two directories is told by inotify ([`Changes`]), not by listing
//! them: three `readdir`s per group were 5 % of a durable comment's CPU (`perf`, 32
//! connections, about ten commands a group). A directory is listed only when an event
//! names it, and a blob file is synced again when it is closed after a write, so a blob
//! listed while sled was still writing it is not left half synced. If events were lost
//! (the queue overflowed), every blob is synced again. Where inotify is not there (another
//! OS, its limits reached, or it failed), both directories are listed at every flush, as
//! before, and a blob is synced once, when first listed (the step 5 window below).
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
//! Cost on this machine: one `fdatasync` of a small append (p50 0.2 ms) and, when nothing
//! changed in sled's directories, two reads of an inotify descriptor per group, shared by
//! every command of the group.

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
    /// What changed in sled's directory and in `blobs/` since the last look.
    changes: Changes,
    /// A name changed in sled's directory and the directory is not synced since (seen
    /// after a log sync, it waits for the next one).
    dir_pending: bool,
    /// `blobs/` changed and is not looked at since.
    blobs_pending: bool,
    /// A blob was synced and `blobs/` not since.
    blobs_dir_pending: bool,
    /// Without inotify: sled's directory listing as of its last fsync.
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
            changes: Changes::watch(sled_dir),
            // The first sync also syncs sled's directory (created by this open, maybe).
            dir_pending: true,
            blobs_pending: true,
            blobs_dir_pending: false,
            listing: Vec::new(),
        };
        let conf = sled_dir.join("conf");
        if conf.exists() {
            File::open(&conf)
                .and_then(|f| f.sync_all())
                .map_err(io(&conf))?;
        }
        d.sync()?;
        sync_dir(data)?;
        if let Some(parent) = data.parent().filter(|p| !p.as_os_str().is_empty()) {
            // The data directory's own name, in case this open created it.
            sync_dir(parent)?;
        }
        Ok(d)
    }

    /// Makes everything sled has flushed durable (steps 1–5 of the module doc). What a
    /// failed step did not do stays pending for the next call.
    pub(crate) fn sync(&mut self) -> Result<()> {
        let before = self.changes.take();
        self.note(before);
        self.sync_pending_blobs()?;
        // Step 2: which names the log sync below makes safe to sync.
        let listing = if self.changes.watching() {
            None
        } else {
            let now = listing(&self.dir)?;
            self.dir_pending |= now != self.listing;
            Some(now)
        };
        let dir = std::mem::take(&mut self.dir_pending);
        let synced = self
            .log
            .sync_data()
            .map_err(io(&self.log_path))
            .and_then(|()| if dir { sync_dir(&self.dir) } else { Ok(()) });
        if let Err(e) = synced {
            self.dir_pending |= dir;
            return Err(e);
        }
        if let Some(now) = listing {
            self.listing = now;
        }
        // Step 5. A name that came in sled's directory since step 2 waits for the next log
        // sync (`note` keeps it pending).
        let after = self.changes.take();
        self.note(after);
        self.sync_pending_blobs()
    }

    /// Takes in what a look saw.
    fn note(&mut self, seen: Changed) {
        if seen.lost {
            // Events were dropped, closes of blob files among them: sync every blob again.
            self.synced_blobs.clear();
        }
        // Blob files closed after a write: synced (again) by the next `sync_blobs`.
        for name in &seen.closed {
            self.synced_blobs.remove(name);
        }
        self.dir_pending |= seen.dir;
        self.blobs_pending |= seen.blobs;
    }

    /// Steps 1 and 5: looks at `blobs/` if it changed.
    fn sync_pending_blobs(&mut self) -> Result<()> {
        if self.blobs_pending {
            self.sync_blobs()?;
            self.blobs_pending = false;
        }
        Ok(())
    }

    /// fsyncs the blob files not synced before, then `blobs/` if there was one.
    fn sync_blobs(&mut self) -> Result<()> {
        let blobs = self.dir.join("blobs");
        let names = listing(&blobs)?;
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
            // Its name is durable once `blobs/` is synced: until then, pending (a failed
            // sync of the directory is tried again by the next call).
            self.blobs_dir_pending = true;
        }
        if self.blobs_dir_pending {
            sync_dir(&blobs)?;
            self.blobs_dir_pending = false;
        }
        if self.synced_blobs.len() > names.len() {
            // Forget blobs sled has collected, so the set stays as small as the directory.
            let live: HashSet<&OsString> = names.iter().collect();
            self.synced_blobs.retain(|n| live.contains(n));
        }
        Ok(())
    }
}

/// What [`Changes::take`] saw since the last look.
#[derive(Debug, PartialEq)]
struct Changed {
    /// A name came or went in sled's directory.
    dir: bool,
    /// A name came or went in `blobs/`, or a blob was written: list it.
    blobs: bool,
    /// Blob files closed after a write (to sync again).
    closed: Vec<OsString>,
    /// Events were lost (the queue overflowed, or inotify failed): every blob is synced
    /// again, as a close among the lost events would have asked.
    lost: bool,
}

impl Changed {
    /// "Look at everything": what a look without inotify says (sled's directory is then
    /// compared with its listing, [`Durability::sync`]).
    fn everything() -> Changed {
        Changed {
            dir: false,
            blobs: true,
            closed: Vec::new(),
            lost: false,
        }
    }

    /// Events were lost: look at everything, sync every blob again.
    fn lost() -> Changed {
        Changed {
            dir: true,
            blobs: true,
            closed: Vec::new(),
            lost: true,
        }
    }
}

/// Which of sled's directories changed since the last look, told by inotify (module doc).
#[cfg(target_os = "linux")]
struct Changes {
    /// `None`: no inotify (could not start, or failed since): every look says everything.
    inotify: Option<nix::sys::inotify::Inotify>,
    dir: Option<nix::sys::inotify::WatchDescriptor>,
    /// `None` while `blobs/` is not there: its creation is an event of `dir`.
    blobs: Option<nix::sys::inotify::WatchDescriptor>,
    /// sled's directory.
    path: PathBuf,
    /// No look yet: the first says everything (what was there before the watch).
    first: bool,
}

#[cfg(target_os = "linux")]
impl Changes {
    /// Names coming and going in a directory.
    fn names() -> nix::sys::inotify::AddWatchFlags {
        use nix::sys::inotify::AddWatchFlags as F;
        F::IN_CREATE | F::IN_DELETE | F::IN_MOVED_FROM | F::IN_MOVED_TO | F::IN_ONLYDIR
    }

    fn watch(dir: &Path) -> Changes {
        use nix::sys::inotify::{InitFlags, Inotify};
        let mut c = Changes {
            inotify: Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok(),
            dir: None,
            blobs: None,
            path: dir.to_path_buf(),
            first: true,
        };
        c.dir = c
            .inotify
            .as_ref()
            .and_then(|i| i.add_watch(dir, Changes::names()).ok());
        if c.dir.is_none() {
            c.inotify = None;
        }
        c.watch_blobs();
        c
    }

    /// Starts watching `blobs/` if it is there (else its creation will say so).
    fn watch_blobs(&mut self) {
        use nix::sys::inotify::AddWatchFlags as F;
        if let (Some(i), None) = (&self.inotify, self.blobs) {
            self.blobs = i
                .add_watch(
                    &self.path.join("blobs"),
                    Changes::names() | F::IN_CLOSE_WRITE,
                )
                .ok();
        }
    }

    /// Whether looks are told by inotify (else every look says everything).
    fn watching(&self) -> bool {
        self.inotify.is_some()
    }

    /// Everything since the last look. The first look after `watch` says everything.
    fn take(&mut self) -> Changed {
        use nix::errno::Errno;
        use nix::sys::inotify::AddWatchFlags as F;
        let Some(inotify) = &self.inotify else {
            return Changed::everything();
        };
        let mut seen = Changed {
            dir: self.first,
            blobs: self.first,
            closed: Vec::new(),
            lost: false,
        };
        self.first = false;
        let (mut dir_gone, mut blobs_gone) = (false, false);
        loop {
            let events = match inotify.read_events() {
                Ok(events) => events,
                Err(Errno::EAGAIN) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "inotify failed; sled's directories are listed at every flush");
                    self.inotify = None;
                    return Changed::lost();
                }
            };
            for e in events {
                if e.mask.intersects(F::IN_Q_OVERFLOW) {
                    // Lost with the others, maybe: the IN_IGNORED of `blobs/`.
                    seen = Changed {
                        closed: std::mem::take(&mut seen.closed),
                        ..Changed::lost()
                    };
                    blobs_gone = true;
                }
                if e.mask.intersects(F::IN_IGNORED) {
                    // A watched directory went away: watch `blobs/` again if it comes
                    // back; without sled's directory, give up on inotify.
                    dir_gone |= Some(e.wd) == self.dir;
                    blobs_gone |= Some(e.wd) == self.blobs;
                }
                if Some(e.wd) == self.dir {
                    seen.dir = true;
                    if e.name.as_deref() == Some(std::ffi::OsStr::new("blobs")) {
                        seen.blobs = true;
                    }
                } else if Some(e.wd) == self.blobs {
                    seen.blobs = true;
                    if e.mask.intersects(F::IN_CLOSE_WRITE) {
                        seen.closed.extend(e.name);
                    }
                }
            }
        }
        if dir_gone {
            tracing::warn!("sled's directory is no longer watched; it is listed at every flush");
            self.inotify = None;
            return Changed::lost();
        }
        if blobs_gone {
            self.blobs = None;
        }
        if self.blobs.is_none() {
            // Not watched (yet): look at it, and watch it from now on if it is there.
            self.watch_blobs();
            seen.blobs = true;
        }
        seen
    }
}

/// Without inotify, every look says everything: a listing per flush.
#[cfg(not(target_os = "linux"))]
struct Changes;

#[cfg(not(target_os = "linux"))]
impl Changes {
    fn watch(_dir: &Path) -> Changes {
        Changes
    }

    fn watching(&self) -> bool {
        false
    }

    fn take(&mut self) -> Changed {
        Changed::everything()
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::{Changed, Changes, Durability};
    use std::ffi::OsString;

    #[test]
    fn a_sync_syncs_the_blobs_that_came_and_forgets_the_ones_that_went() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (data, sled) = (tmp.path(), tmp.path().join("db"));
        std::fs::create_dir_all(sled.join("blobs")).expect("blobs");
        std::fs::write(sled.join("blobs").join("1"), b"there before").expect("write");
        std::fs::write(sled.join("db"), b"log").expect("log");
        let mut d = Durability::open(data, &sled).expect("open");
        let synced = |d: &Durability, name: &str| d.synced_blobs.contains(&OsString::from(name));
        assert!(
            synced(&d, "1"),
            "a blob there before the open is synced by it"
        );
        assert!(!d.dir_pending && !d.blobs_pending);
        std::fs::write(sled.join("blobs").join("2"), b"new").expect("write");
        d.sync().expect("sync");
        assert!(synced(&d, "2"));
        // Written again after it was synced (sled still writing it when it was listed):
        // forgotten by the look that sees the close, synced again by the same sync.
        std::fs::write(sled.join("blobs").join("2"), b"new, whole").expect("write");
        let seen = d.changes.take();
        assert_eq!(seen.closed, vec![OsString::from("2")]);
        d.note(seen);
        assert!(!synced(&d, "2") && d.blobs_pending);
        d.sync().expect("sync");
        assert!(synced(&d, "2") && !d.blobs_pending);
        // Collected by sled: forgotten.
        std::fs::remove_file(sled.join("blobs").join("1")).expect("remove");
        d.sync().expect("sync");
        assert!(!synced(&d, "1") && synced(&d, "2"));
        // Lost events: every blob is synced again.
        d.note(Changed::lost());
        assert!(d.synced_blobs.is_empty() && d.dir_pending && d.blobs_pending);
        d.sync().expect("sync");
        assert!(synced(&d, "2") && !d.dir_pending && !d.blobs_pending);
    }

    fn nothing() -> Changed {
        Changed {
            dir: false,
            blobs: false,
            closed: Vec::new(),
            lost: false,
        }
    }

    #[test]
    fn inotify_tells_which_directory_changed_and_which_blobs_were_written() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (dir, blobs) = (tmp.path(), tmp.path().join("blobs"));
        std::fs::create_dir(&blobs).expect("blobs");
        let mut c = Changes::watch(dir);
        // What was there before the watch: the first look says everything.
        let first = c.take();
        assert!(first.dir && first.blobs, "{first:?}");
        assert_eq!(c.take(), nothing());
        // A blob written: `blobs/` changed and the file is named as closed after a write;
        // sled's directory did not change.
        std::fs::write(blobs.join("7"), b"blob").expect("write");
        assert_eq!(
            c.take(),
            Changed {
                dir: false,
                blobs: true,
                closed: vec![OsString::from("7")],
                lost: false,
            }
        );
        assert_eq!(c.take(), nothing());
        // A snapshot renamed in, an old one removed: sled's directory changed.
        std::fs::write(dir.join("snap.tmp"), b"s").expect("write");
        let _ = c.take();
        std::fs::rename(dir.join("snap.tmp"), dir.join("snap.1")).expect("rename");
        let renamed = c.take();
        assert!(renamed.dir && !renamed.blobs, "{renamed:?}");
        std::fs::remove_file(dir.join("snap.1")).expect("remove");
        assert!(c.take().dir);
        // A blob collected.
        std::fs::remove_file(blobs.join("7")).expect("remove");
        let collected = c.take();
        assert!(
            collected.blobs && collected.closed.is_empty(),
            "{collected:?}"
        );
        // `blobs/` gone and back: still watched.
        std::fs::remove_dir(&blobs).expect("rmdir");
        let _ = c.take();
        std::fs::create_dir(&blobs).expect("mkdir");
        assert!(c.take().blobs);
        std::fs::write(blobs.join("8"), b"blob").expect("write");
        assert_eq!(c.take().closed, vec![OsString::from("8")]);
        assert_eq!(c.take(), nothing());
    }
}
