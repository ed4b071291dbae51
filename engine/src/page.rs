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

/// What a list is ordered and paged by: an id, or a key (modules).
pub trait ListKey: Ord + Clone {
    /// The key's bytes in a cursor.
    fn to_cursor(&self) -> Vec<u8>;
    /// The key back from a cursor's bytes.
    fn from_cursor(bytes: &[u8]) -> Option<Self>;
}

impl ListKey for u64 {
    fn to_cursor(&self) -> Vec<u8> {
        self.to_be_bytes().to_vec()
    }

    fn from_cursor(bytes: &[u8]) -> Option<u64> {
        bytes.try_into().ok().map(u64::from_be_bytes)
    }
}

impl ListKey for String {
    fn to_cursor(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }

    fn from_cursor(bytes: &[u8]) -> Option<String> {
        String::from_utf8(bytes.to_vec()).ok()
    }
}

/// One page of a small list held whole (users, boards, groups, modules, rules), ordered by
/// `key`: the entries after the cursor, at most `req.limit`. The same limit rule and the
/// same opaque cursors as every other list, so that all lists are pages (API.md); these
/// lists are small, so sorting the whole on each call costs less than an index would.
pub fn page_of<T, K: ListKey>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> K,
    req: &PageRequest,
) -> Result<Page<T>> {
    const TAG: u8 = b'l';
    let limit = limit_of(req)?;
    let after = match req.cursor.as_deref() {
        Some(c) => Some(
            crate::cursor::decode(TAG, c)
                .ok()
                .and_then(|b| K::from_cursor(&b))
                .ok_or_else(crate::cursor::bad)?,
        ),
        None => None,
    };
    items.sort_by_key(|t| key(t));
    let start = after.map_or(0, |a| items.partition_point(|t| key(t) <= a));
    let mut rest: Vec<T> = items.into_iter().skip(start).collect();
    let more = rest.len() > limit;
    rest.truncate(limit);
    let next_cursor = if more {
        rest.last()
            .map(|t| crate::cursor::encode(TAG, &[&key(t).to_cursor()]))
    } else {
        None
    };
    Ok(Page {
        items: rest,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_pages_by_key_without_skipping_or_repeating() {
        let ids: Vec<u64> = vec![5, 1, 9, 3, 7];
        let req = |cursor: Option<String>| PageRequest {
            limit: Some(2),
            cursor,
        };
        let p1 = page_of(ids.clone(), |x| *x, &req(None)).expect("a page");
        assert_eq!(p1.items, [1, 3]);
        let p2 = page_of(ids.clone(), |x| *x, &req(p1.next_cursor)).expect("a page");
        assert_eq!(p2.items, [5, 7]);
        let p3 = page_of(ids.clone(), |x| *x, &req(p2.next_cursor)).expect("a page");
        assert_eq!((p3.items, p3.next_cursor), (vec![9], None));
        // Keys, too; a cursor of another list or of nothing is refused.
        let keys = vec!["deal".to_string(), "contact".into(), "lead".into()];
        let k1 = page_of(keys.clone(), Clone::clone, &req(None)).expect("a page");
        assert_eq!(k1.items, ["contact", "deal"]);
        let bad = page_of(ids, |x| *x, &req(Some("nope".into())));
        assert!(matches!(bad, Err(Error::Invalid { .. })), "{bad:?}");
        assert!(page_of(
            keys,
            Clone::clone,
            &PageRequest {
                limit: Some(0),
                cursor: None
            }
        )
        .is_err());
    }
}
