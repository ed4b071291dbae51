//! The hasher of the big in-memory tables.

use std::collections::{HashMap, HashSet};

/// A hash map with foldhash's per-process random seed: several times cheaper than the
/// std SipHash on the integer keys of the big open-time tables (seen events, last
/// touches, focus redos), and still keyed, so clients cannot aim collisions at it.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// See [`FastMap`].
pub(crate) type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;
