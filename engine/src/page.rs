//! Pages: what every list returns, and the limit every list accepts.

use crate::error::{Error, Result};

const DEFAULT_LIMIT: usize = 50;
pub(crate) const MAX_LIMIT: usize = 500;

pub(crate) fn limit_of(req: &PageRequest) -> Result<usize> {
    match req.limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid("limit", "must be 1–500")),
    }
}
/// A page of a list, with the cursor of the next page (`None` at the end).
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The entries, in list order.
    pub items: Vec<T>,
    /// Pass back to get the next page.
    pub next_cursor: Option<String>,
}

/// The page size and where to start.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// 1–500; 50 when `None`.
    pub limit: Option<usize>,
    /// A cursor from an earlier page.
    pub cursor: Option<String>,
}
