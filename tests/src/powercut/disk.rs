//! A disk that forgets what was not synced: the model behind the power-cut file system.
//!
//! Two images of one inode table:
//!
//! - **live** is what programs see: every write, create, rename and unlink lands here at
//!   once, as in a page cache.
//! - **durable** is what a power cut leaves. It changes only through a sync:
//!   `fsync`/`fdatasync` of a file copies that file's data and size; `fsync` of a
//!   directory copies that directory's names (a file or directory named there that was
//!   never synced itself comes back empty). Nothing else reaches it.
//!
//! [`Disk::power_cut`] makes live a copy of durable again. This is POSIX's contract taken
//! literally, stricter than ext4 in practice (which also persists metadata with its
//! journal): a program that survives it survives any file system that keeps the contract.
//!
//! Invariants:
//! 1. An inode number is never reused, across power cuts too.
//! 2. A file's blocks past its size are absent (a truncate drops them), so a later
//!    extension reads zeros.
//! 3. `dirty` (per live file) names every block whose live content may differ from the
//!    durable one; a file sync copies exactly those blocks plus the size.
//!
//! Costs: a write or read touches the 4 KiB blocks it covers; a file sync costs the
//! blocks written since the last one (shared, reference-counted, not copied); a power cut
//! clones the inode table (block contents shared).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::sync::Arc;

/// The block size of the model (a page).
const BLOCK: u64 = 4096;
/// [`BLOCK`] as a length.
const BLOCK_LEN: usize = 4096;

/// The root directory's inode (FUSE's convention).
pub const ROOT: u64 = 1;

/// What an operation can fail with, mapped to an errno by the FUSE layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsError {
    NotFound,
    Exists,
    NotDir,
    IsDir,
    NotEmpty,
    Invalid,
}

pub type FsResult<T> = Result<T, FsError>;

/// The kind of an inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// What `stat` shows of an inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub kind: Kind,
    pub size: u64,
    pub perm: u16,
}

#[derive(Clone, Default)]
struct FileData {
    size: u64,
    blocks: BTreeMap<u64, Arc<Vec<u8>>>,
    /// Blocks changed since the last sync (live image only).
    dirty: BTreeSet<u64>,
}

#[derive(Clone)]
enum Node {
    File {
        data: FileData,
        perm: u16,
    },
    Dir {
        entries: BTreeMap<OsString, u64>,
        perm: u16,
    },
}

impl Node {
    fn attr(&self, ino: u64) -> Attr {
        match self {
            Node::File { data, perm } => Attr {
                ino,
                kind: Kind::File,
                size: data.size,
                perm: *perm,
            },
            Node::Dir { entries, perm } => Attr {
                ino,
                kind: Kind::Dir,
                size: entries.len() as u64,
                perm: *perm,
            },
        }
    }

    /// The same kind of node with nothing in it: what a sync of a directory makes durable
    /// for a name whose inode was never synced.
    fn empty_like(&self) -> Node {
        match self {
            Node::File { perm, .. } => Node::File {
                data: FileData::default(),
                perm: *perm,
            },
            Node::Dir { perm, .. } => Node::Dir {
                entries: BTreeMap::new(),
                perm: *perm,
            },
        }
    }
}

type Image = HashMap<u64, Node>;

/// Whether `node` may be removed (or replaced by a rename) by an operation on a directory
/// (`dir`) or a file: the kinds must match, and a directory must be empty.
fn may_go(node: &Node, dir: bool) -> FsResult<()> {
    match (node, dir) {
        (Node::Dir { entries, .. }, true) if !entries.is_empty() => Err(FsError::NotEmpty),
        (Node::Dir { .. }, false) => Err(FsError::IsDir),
        (Node::File { .. }, true) => Err(FsError::NotDir),
        _ => Ok(()),
    }
}

/// Counts of what reached the durable image, for tests and the harness's report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    pub file_syncs: u64,
    pub dir_syncs: u64,
    pub power_cuts: u64,
    /// Blocks written but not synced that the last power cut dropped.
    pub dropped_blocks: u64,
}

/// The two images and the inode counter.
pub struct Disk {
    live: Image,
    durable: Image,
    next_ino: u64,
    stats: SyncStats,
}

impl Default for Disk {
    fn default() -> Self {
        Disk::new()
    }
}

impl Disk {
    /// An empty disk: a root directory, durable from the start (as after `mkfs`).
    pub fn new() -> Disk {
        let root = Node::Dir {
            entries: BTreeMap::new(),
            perm: 0o755,
        };
        let mut live = HashMap::new();
        live.insert(ROOT, root);
        Disk {
            durable: live.clone(),
            live,
            next_ino: ROOT + 1,
            stats: SyncStats::default(),
        }
    }

    pub fn stats(&self) -> SyncStats {
        self.stats
    }

    fn node(&self, ino: u64) -> FsResult<&Node> {
        self.live.get(&ino).ok_or(FsError::NotFound)
    }

    fn dir_entries(&self, ino: u64) -> FsResult<&BTreeMap<OsString, u64>> {
        match self.node(ino)? {
            Node::Dir { entries, .. } => Ok(entries),
            Node::File { .. } => Err(FsError::NotDir),
        }
    }

    fn dir_entries_mut(&mut self, ino: u64) -> FsResult<&mut BTreeMap<OsString, u64>> {
        match self.live.get_mut(&ino).ok_or(FsError::NotFound)? {
            Node::Dir { entries, .. } => Ok(entries),
            Node::File { .. } => Err(FsError::NotDir),
        }
    }

    fn file_mut(&mut self, ino: u64) -> FsResult<&mut FileData> {
        match self.live.get_mut(&ino).ok_or(FsError::NotFound)? {
            Node::File { data, .. } => Ok(data),
            Node::Dir { .. } => Err(FsError::IsDir),
        }
    }

    pub fn getattr(&self, ino: u64) -> FsResult<Attr> {
        Ok(self.node(ino)?.attr(ino))
    }

    pub fn lookup(&self, parent: u64, name: &OsStr) -> FsResult<Attr> {
        let ino = *self
            .dir_entries(parent)?
            .get(name)
            .ok_or(FsError::NotFound)?;
        self.getattr(ino)
    }

    /// The names in a directory, in order.
    pub fn readdir(&self, ino: u64) -> FsResult<Vec<(OsString, Attr)>> {
        let entries = self.dir_entries(ino)?;
        entries
            .iter()
            .map(|(n, i)| Ok((n.clone(), self.getattr(*i)?)))
            .collect()
    }

    fn make(&mut self, parent: u64, name: &OsStr, node: Node) -> FsResult<Attr> {
        if self.dir_entries(parent)?.contains_key(name) {
            return Err(FsError::Exists);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        let attr = node.attr(ino);
        self.live.insert(ino, node);
        self.dir_entries_mut(parent)?
            .insert(name.to_os_string(), ino);
        Ok(attr)
    }

    pub fn create(&mut self, parent: u64, name: &OsStr, perm: u16) -> FsResult<Attr> {
        self.make(
            parent,
            name,
            Node::File {
                data: FileData::default(),
                perm,
            },
        )
    }

    pub fn mkdir(&mut self, parent: u64, name: &OsStr, perm: u16) -> FsResult<Attr> {
        self.make(
            parent,
            name,
            Node::Dir {
                entries: BTreeMap::new(),
                perm,
            },
        )
    }

    /// Removes a name: a file (`dir == false`) or an empty directory.
    pub fn remove(&mut self, parent: u64, name: &OsStr, dir: bool) -> FsResult<()> {
        let ino = *self
            .dir_entries(parent)?
            .get(name)
            .ok_or(FsError::NotFound)?;
        may_go(self.node(ino)?, dir)?;
        // The inode stays in the live table while it may still be open; a power cut
        // forgets it unless a synced directory names it.
        self.dir_entries_mut(parent)?.remove(name);
        Ok(())
    }

    /// Moves a name, replacing a file or an empty directory of the same kind at the target
    /// unless `no_replace`.
    pub fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        no_replace: bool,
    ) -> FsResult<()> {
        let ino = *self
            .dir_entries(parent)?
            .get(name)
            .ok_or(FsError::NotFound)?;
        let moving_dir = matches!(self.node(ino)?, Node::Dir { .. });
        if let Some(&target) = self.dir_entries(new_parent)?.get(new_name) {
            if target == ino {
                return Ok(());
            }
            if no_replace {
                return Err(FsError::Exists);
            }
            may_go(self.node(target)?, moving_dir)?;
        }
        self.dir_entries_mut(parent)?.remove(name);
        self.dir_entries_mut(new_parent)?
            .insert(new_name.to_os_string(), ino);
        Ok(())
    }

    pub fn set_perm(&mut self, ino: u64, new: u16) -> FsResult<()> {
        match self.live.get_mut(&ino).ok_or(FsError::NotFound)? {
            Node::File { perm, .. } | Node::Dir { perm, .. } => *perm = new,
        }
        Ok(())
    }

    /// Sets a file's size: drops blocks past it and zeroes the tail of the last one.
    pub fn truncate(&mut self, ino: u64, size: u64) -> FsResult<()> {
        let f = self.file_mut(ino)?;
        if size < f.size {
            let first_gone = size.div_ceil(BLOCK);
            let gone: Vec<u64> = f.blocks.range(first_gone..).map(|(k, _)| *k).collect();
            for k in gone {
                f.blocks.remove(&k);
                f.dirty.insert(k);
            }
            let tail = usize::try_from(size % BLOCK).map_err(|_| FsError::Invalid)?;
            if tail != 0 {
                if let Some(b) = f.blocks.get_mut(&(size / BLOCK)) {
                    Arc::make_mut(b)[tail..].fill(0);
                    f.dirty.insert(size / BLOCK);
                }
            }
        }
        f.size = size;
        Ok(())
    }

    pub fn write(&mut self, ino: u64, offset: u64, data: &[u8]) -> FsResult<usize> {
        let f = self.file_mut(ino)?;
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset + done as u64;
            let idx = pos / BLOCK;
            let at = usize::try_from(pos % BLOCK).map_err(|_| FsError::Invalid)?;
            let n = (data.len() - done).min(BLOCK_LEN - at);
            let block = f
                .blocks
                .entry(idx)
                .or_insert_with(|| Arc::new(vec![0; BLOCK_LEN]));
            Arc::make_mut(block)[at..at + n].copy_from_slice(&data[done..done + n]);
            f.dirty.insert(idx);
            done += n;
        }
        f.size = f.size.max(offset + data.len() as u64);
        Ok(data.len())
    }

    pub fn read(&self, ino: u64, offset: u64, len: usize) -> FsResult<Vec<u8>> {
        let f = match self.node(ino)? {
            Node::File { data, .. } => data,
            Node::Dir { .. } => return Err(FsError::IsDir),
        };
        if offset >= f.size {
            return Ok(Vec::new());
        }
        let end = f.size.min(offset + len as u64);
        let mut out = vec![0u8; usize::try_from(end - offset).map_err(|_| FsError::Invalid)?];
        let mut pos = offset;
        while pos < end {
            let idx = pos / BLOCK;
            let at = usize::try_from(pos % BLOCK).map_err(|_| FsError::Invalid)?;
            let n = usize::try_from((end - pos).min(BLOCK - pos % BLOCK))
                .map_err(|_| FsError::Invalid)?;
            let o = usize::try_from(pos - offset).map_err(|_| FsError::Invalid)?;
            if let Some(b) = f.blocks.get(&idx) {
                out[o..o + n].copy_from_slice(&b[at..at + n]);
            }
            pos += n as u64;
        }
        Ok(out)
    }

    /// `fsync`/`fdatasync` of a file: its data and size become durable (its name does not).
    pub fn sync_file(&mut self, ino: u64) -> FsResult<()> {
        let (live_data, perm) = match self.live.get_mut(&ino).ok_or(FsError::NotFound)? {
            Node::File { data, perm } => (data, *perm),
            // fsync on a directory handle opened as a file: sync its names.
            Node::Dir { .. } => return self.sync_dir(ino),
        };
        let dirty = std::mem::take(&mut live_data.dirty);
        let size = live_data.size;
        let blocks: Vec<(u64, Option<Arc<Vec<u8>>>)> = dirty
            .into_iter()
            .map(|k| (k, live_data.blocks.get(&k).cloned()))
            .collect();
        let durable = self.durable.entry(ino).or_insert_with(|| Node::File {
            data: FileData::default(),
            perm,
        });
        let Node::File { data, .. } = durable else {
            return Err(FsError::IsDir);
        };
        for (k, b) in blocks {
            match b {
                Some(b) => data.blocks.insert(k, b),
                None => data.blocks.remove(&k),
            };
        }
        data.size = size;
        self.stats.file_syncs += 1;
        Ok(())
    }

    /// `fsync` of a directory: its names become durable. A named inode that was never
    /// synced becomes durable empty.
    pub fn sync_dir(&mut self, ino: u64) -> FsResult<()> {
        let entries = self.dir_entries(ino)?.clone();
        for child in entries.values() {
            if !self.durable.contains_key(child) {
                let empty = self.node(*child)?.empty_like();
                self.durable.insert(*child, empty);
            }
        }
        let perm = match self.node(ino)? {
            Node::Dir { perm, .. } | Node::File { perm, .. } => *perm,
        };
        self.durable.insert(ino, Node::Dir { entries, perm });
        self.stats.dir_syncs += 1;
        Ok(())
    }

    /// The power goes out: live becomes what was synced, and inodes no synced directory
    /// reaches are forgotten.
    pub fn power_cut(&mut self) {
        self.stats.dropped_blocks += self
            .live
            .values()
            .map(|n| match n {
                Node::File { data, .. } => data.dirty.len() as u64,
                Node::Dir { .. } => 0,
            })
            .sum::<u64>();
        let mut reachable = HashSet::new();
        let mut stack = vec![ROOT];
        while let Some(ino) = stack.pop() {
            if !reachable.insert(ino) {
                continue;
            }
            if let Some(Node::Dir { entries, .. }) = self.durable.get(&ino) {
                stack.extend(entries.values().copied());
            }
        }
        self.durable.retain(|ino, _| reachable.contains(ino));
        self.live = self.durable.clone();
        self.stats.power_cuts += 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn n(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn unsynced_data_and_names_are_lost_synced_ones_kept() {
        let mut d = Disk::new();
        let dir = d.mkdir(ROOT, n("db"), 0o755).unwrap().ino;
        let f = d.create(dir, n("log"), 0o644).unwrap().ino;
        d.write(f, 0, b"hello").unwrap();
        d.sync_file(f).unwrap();
        // Data synced, but no directory synced: the file is gone after a cut.
        d.power_cut();
        assert_eq!(d.lookup(ROOT, n("db")), Err(FsError::NotFound));

        let dir = d.mkdir(ROOT, n("db"), 0o755).unwrap().ino;
        let f = d.create(dir, n("log"), 0o644).unwrap().ino;
        d.sync_dir(ROOT).unwrap();
        d.sync_dir(dir).unwrap();
        d.write(f, 0, b"hello").unwrap();
        d.sync_file(f).unwrap();
        d.write(f, 5, b" world").unwrap();
        d.write(f, 0, b"J").unwrap();
        assert_eq!(d.read(f, 0, 100).unwrap(), b"Jello world");
        d.power_cut();
        let f2 = d.lookup(dir, n("log")).unwrap();
        assert_eq!(f2.ino, f);
        assert_eq!(d.read(f, 0, 100).unwrap(), b"hello");
        assert_eq!(d.stats().power_cuts, 2);
    }

    #[test]
    fn a_named_but_never_synced_file_comes_back_empty() {
        let mut d = Disk::new();
        let f = d.create(ROOT, n("blob"), 0o644).unwrap().ino;
        d.write(f, 0, &[7; 10_000]).unwrap();
        d.sync_dir(ROOT).unwrap();
        d.power_cut();
        assert_eq!(d.lookup(ROOT, n("blob")).unwrap().size, 0);
    }

    #[test]
    fn rename_is_durable_only_with_its_directory() {
        let mut d = Disk::new();
        let f = d.create(ROOT, n("snap.tmp"), 0o644).unwrap().ino;
        d.write(f, 0, b"snapshot").unwrap();
        d.sync_file(f).unwrap();
        d.sync_dir(ROOT).unwrap();
        d.rename(ROOT, n("snap.tmp"), ROOT, n("snap"), false)
            .unwrap();
        d.power_cut();
        assert!(d.lookup(ROOT, n("snap")).is_err());
        assert_eq!(d.lookup(ROOT, n("snap.tmp")).unwrap().size, 8);
        d.rename(ROOT, n("snap.tmp"), ROOT, n("snap"), false)
            .unwrap();
        d.sync_dir(ROOT).unwrap();
        d.power_cut();
        assert_eq!(d.read(f, 0, 8).unwrap(), b"snapshot");
        assert!(d.lookup(ROOT, n("snap.tmp")).is_err());
    }

    #[test]
    fn truncate_then_extend_reads_zeros_and_syncs_the_shrink() {
        let mut d = Disk::new();
        let f = d.create(ROOT, n("f"), 0o644).unwrap().ino;
        d.sync_dir(ROOT).unwrap();
        d.write(f, 0, &[1; 9000]).unwrap();
        d.sync_file(f).unwrap();
        d.truncate(f, 100).unwrap();
        d.write(f, 8000, &[2; 10]).unwrap();
        let r = d.read(f, 0, 9000).unwrap();
        assert_eq!(r.len(), 8010);
        assert!(r[..100].iter().all(|b| *b == 1));
        assert!(r[100..8000].iter().all(|b| *b == 0));
        d.sync_file(f).unwrap();
        d.power_cut();
        assert_eq!(d.read(f, 0, 9000).unwrap(), r);
    }

    #[test]
    fn directories_refuse_what_posix_refuses() {
        let mut d = Disk::new();
        let a = d.mkdir(ROOT, n("a"), 0o755).unwrap().ino;
        d.create(a, n("x"), 0o644).unwrap();
        assert_eq!(d.remove(ROOT, n("a"), true), Err(FsError::NotEmpty));
        assert_eq!(d.remove(ROOT, n("a"), false), Err(FsError::IsDir));
        assert_eq!(d.create(a, n("x"), 0o644), Err(FsError::Exists));
        d.create(ROOT, n("y"), 0o644).unwrap();
        assert_eq!(
            d.rename(ROOT, n("y"), a, n("x"), true),
            Err(FsError::Exists)
        );
        d.rename(ROOT, n("y"), a, n("x"), false).unwrap();
        assert_eq!(d.readdir(a).unwrap().len(), 1);
        assert!(d.lookup(ROOT, n("y")).is_err());
    }
}
