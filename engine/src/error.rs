//! The engine's one error type. Expected per-element outcomes of batches are values
//! (`BatchResult`), not errors; `Poisoned` is the fail-stop state after a storage failure.

use std::path::PathBuf;

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
    /// A stored record failed validation.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A storage failure. After one, the engine refuses further writes (fail-stop).
    #[error("storage error: {0}")]
    Storage(String),
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
