//! A vector kept in chunks of a fixed size: growing it never moves what it already holds.
//!
//! Why: the entry index (one cell per seq) is the engine's largest vector, 16 bytes per
//! seq (24 before the cells were packed), 260 MB at 10.8M entries then. As a `Vec`, the push that finds it full copies all of
//! it into a block twice the size; the kernel clears each fresh page first (0.7 s per GiB
//! on this project's machines). Open sizes it exactly, so the first entry written after
//! a restart did that: in a `perf` profile of the first second of `bump` after opening a
//! store of 10.6M entries, 21 % of the writer's samples were page clearing under this
//! growth, and that second's p99 was 190–330 ms (3–4 ms in the seconds after). Here a
//! full chunk is followed by a new one; nothing is copied.
//!
//! Invariants:
//! 1. Every chunk but the last holds exactly [`CHUNK`] elements; the last holds 1 to
//!    [`CHUNK`]; there is no empty chunk.
//! 2. Element `i` is element `i % CHUNK` of chunk `i / CHUNK`.
//!
//! Costs: `get` is two indexings; `push` is O(1), and allocates one chunk (never copies)
//! every [`CHUNK`] pushes.

use std::collections::TryReserveError;

/// Elements per chunk: 1.5 MB of entry cells, so a new chunk is a small allocation and the
/// list of chunks stays short (165 at 10.8M entries).
pub(crate) const CHUNK: usize = 1 << 16;

#[derive(Debug, Default)]
pub(crate) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T: Clone> Chunked<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)
    }

    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.chunks.get_mut(i / CHUNK)?.get_mut(i % CHUNK)
    }

    /// Grows to `n` elements with copies of `value` (or shrinks to `n`).
    pub(crate) fn resize(&mut self, n: usize, value: T) {
        self.truncate(n);
        while self.len < n {
            let need = n - self.len;
            let last = self.open_chunk();
            let add = need.min(CHUNK - last.len());
            last.resize(last.len() + add, value.clone());
            self.len += add;
        }
    }

    /// [`Chunked::resize`] (growing only), refusing what the memory cannot hold instead of
    /// aborting: a size read from a file is not trusted.
    pub(crate) fn try_resize(&mut self, n: usize, value: T) -> Result<(), TryReserveError> {
        // One reservation of the whole growth first, released at once (address space,
        // never touched): the kernel refuses one the memory cannot hold, where chunk after
        // chunk would be filled until the process is killed.
        let mut probe: Vec<T> = Vec::new();
        probe.try_reserve_exact(n.saturating_sub(self.len))?;
        drop(probe);
        self.chunks.try_reserve(n.div_ceil(CHUNK))?;
        while self.len < n {
            if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
                let mut fresh = Vec::new();
                fresh.try_reserve_exact(CHUNK)?;
                self.chunks.push(fresh);
            }
            let Some(last) = self.chunks.last_mut() else {
                break;
            };
            let add = (n - self.len).min(CHUNK - last.len());
            last.resize(last.len() + add, value.clone());
            self.len += add;
        }
        Ok(())
    }

    fn truncate(&mut self, n: usize) {
        if n >= self.len {
            return;
        }
        self.chunks.truncate(n.div_ceil(CHUNK));
        if let Some(last) = self.chunks.last_mut() {
            last.truncate(n - (n.div_ceil(CHUNK) - 1) * CHUNK);
        }
        self.len = n;
    }

    /// The last chunk, a new one if it is full (invariant 1 holds once it gets an element).
    fn open_chunk(&mut self) -> &mut Vec<T> {
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let n = self.chunks.len() - 1;
        &mut self.chunks[n]
    }

    /// Appends the elements at `from..to` (cut at the end) to `out`; how many there were.
    pub(crate) fn copy_into(&self, from: usize, to: usize, out: &mut Vec<T>) -> usize {
        let to = to.min(self.len);
        let mut at = from;
        while at < to {
            let (c, i) = (at / CHUNK, at % CHUNK);
            let n = (CHUNK - i).min(to - at);
            match self.chunks.get(c).and_then(|chunk| chunk.get(i..i + n)) {
                Some(piece) => out.extend_from_slice(piece),
                None => break,
            }
            at += n;
        }
        at.saturating_sub(from)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    #[cfg(test)]
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.chunks.iter_mut().flatten()
    }
}

impl<T> IntoIterator for Chunked<T> {
    type Item = T;
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Vec<T>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.chunks.into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Resize(usize, u32),
        TryResize(usize, u32),
        Set(usize, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Sizes around a few chunk edges.
        let n = prop_oneof![
            0..3usize,
            CHUNK - 2..CHUNK + 3,
            2 * CHUNK - 1..2 * CHUNK + 2
        ];
        prop_oneof![
            (n.clone(), any::<u32>()).prop_map(|(n, v)| Op::Resize(n, v)),
            (n.clone(), any::<u32>()).prop_map(|(n, v)| Op::TryResize(n, v)),
            (n, any::<u32>()).prop_map(|(i, v)| Op::Set(i, v)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The same answers as a `Vec` under the same operations (invariants 1 and 2).
        #[test]
        fn behaves_as_a_vec(ops in prop::collection::vec(op(), 1..12), from in 0..3 * CHUNK, span in 0..2 * CHUNK) {
            let (mut c, mut v) = (Chunked::default(), Vec::new());
            for op in ops {
                match op {
                    Op::Resize(n, x) => {
                        c.resize(n, x);
                        v.resize(n, x);
                    }
                    Op::TryResize(n, x) => {
                        prop_assert!(c.try_resize(n, x).is_ok());
                        if n > v.len() {
                            v.resize(n, x);
                        }
                    }
                    Op::Set(i, x) => {
                        if let Some(cell) = c.get_mut(i) {
                            *cell = x;
                        }
                        if let Some(cell) = v.get_mut(i) {
                            *cell = x;
                        }
                    }
                }
                prop_assert_eq!(c.len(), v.len());
                prop_assert!(c.chunks.iter().all(|k| !k.is_empty() && k.len() <= CHUNK));
                let full = c.chunks.len().saturating_sub(1);
                prop_assert!(c.chunks[..full].iter().all(|k| k.len() == CHUNK));
                prop_assert!(c.iter().eq(v.iter()));
                prop_assert_eq!(c.get(from), v.get(from));
                let mut out = vec![7];
                let n = c.copy_into(from, from + span, &mut out);
                let want = v.get(from.min(v.len())..(from + span).min(v.len())).unwrap_or(&[]);
                prop_assert_eq!(n, want.len());
                prop_assert_eq!(&out[1..], want);
            }
            prop_assert!(c.into_iter().eq(v.into_iter()));
        }
    }
}
