//! The engine's one error type. Expected per-element outcomes of batches are values
//! (`BatchResult`), not errors; `Poisoned` is the fail-stop state after a storage failure.

use std::path::{Path, PathBuf};

/// Everything an engine call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not acceptable; `field` names the offending field.
    #[error("{field}: {message}")]
    Invalid {
        /// The field at fault (dotted path for nested fields).
        field: String,
        /// What is wrong with it, for a person.
        message: String,
    },
    /// The named object does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// The kind of object.
        what: &'static str,
        /// Its id or key.
        id: String,
    },
    /// The request conflicts with the current state (e.g. deleting a non-empty column).
    #[error("{0}")]
    Conflict(String),
    /// The write queue is full: the caller should back off and retry.
    #[error("the write queue is full; retry later")]
    Overloaded,
    /// The engine is shutting down or closed.
    #[error("the engine is shutting down")]
    ShuttingDown,
    /// Another process holds the data directory.
    #[error("data directory {0} is in use by another process (lock file held)")]
    Locked(PathBuf),
    /// The data directory was written in a format this build does not know.
    #[error("data directory format version {found} is not supported (this build reads version {expected})")]
    UnknownFormat {
        /// The version found on disk.
        found: u32,
        /// The version this build writes.
        expected: u32,
    },
    /// A checkpoint could not be written; the previous one (or none) stays in force and
    /// nothing else is affected.
    #[error("checkpoint not written: {0}")]
    Checkpoint(String),
    /// A stored record failed validation.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A record found damaged on open. The store does not open, unless with
    /// `Config::with_salvage`, which skips such records and lists them.
    #[error("damaged record {0}; open with salvage to skip it (its bytes are saved aside)")]
    Damaged(Box<DamagedRecord>),
    /// A storage failure, with the storage layer's own error as its source. After one, the
    /// engine refuses further writes (fail-stop).
    #[error("storage error: {0}")]
    Storage(#[source] StorageError),
    /// An earlier storage failure stopped the writer; nothing more is written.
    #[error("the engine stopped after a storage failure: {0}")]
    Poisoned(String),
    /// Filesystem error while opening.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// What the storage layer (sled, the operating system's randomness) reported, kept whole so
/// that `Error::source` walks down to it; opaque, so that no storage type is part of the
/// engine's API.
pub struct StorageError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl StorageError {
    pub(crate) fn new(e: impl std::error::Error + Send + Sync + 'static) -> StorageError {
        StorageError(Box::new(e))
    }
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Debug for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// A stored record that failed its check when the data directory was opened.
#[derive(Debug, Clone)]
pub struct DamagedRecord {
    /// Which record, for a person: its kind, its id(s) and its raw key (`item 42 (I 0…2a)`).
    pub key: String,
    /// What the check found wrong.
    pub reason: String,
    /// Where a salvaging open saved the record's bytes before removing it.
    pub saved_to: Option<std::path::PathBuf>,
    pub(crate) raw_key: Vec<u8>,
    pub(crate) value: Vec<u8>,
}

impl std::fmt::Display for DamagedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)?;
        if let Some(p) = &self.saved_to {
            write!(f, " (bytes saved to {})", p.display())?;
        }
        Ok(())
    }
}

/// `Result` with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn not_found(what: &'static str, id: impl ToString) -> Error {
        Error::NotFound {
            what,
            id: id.to_string(),
        }
    }
}

/// For `map_err`: an I/O error on `path`, as [`Error::Io`].
pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_error_keeps_its_source() {
        let io = std::io::Error::other("disk on fire");
        let e = Error::Storage(StorageError::new(io));
        assert_eq!(e.to_string(), "storage error: disk on fire");
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("disk on fire"));
    }
}
