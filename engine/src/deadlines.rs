//! The Deadlines view (PRODUCT §2 "Views"; API.md `GET /v1/boards/{id}/deadlines`): a
//! board's items in buckets by the deadline of their next open activity, for the local
//! days of a UTC offset the client names, weeks starting on Monday.
//!
//! - `overdue`: an open activity's deadline fired (the timer wheel moves an item here when
//!   it fires, in the same write as the counters);
//! - `today`: a deadline before the end of today, or unread (it needs a person now) unless
//!   overdue, as in Bitrix24's activities Kanban;
//! - `tomorrow`, `this_week` (after tomorrow, before next Monday), `next_week`, `later`;
//! - `none`: no open activity.
//!
//! Within a bucket items go by that deadline, earliest first (unread items without one
//! last in `today`; `none` by item id). Counts come from the index (`deadline_index.rs`)
//! without visiting items; a page costs O(log n + page), except `none`, which walks the
//! item table from its cursor (its items are not indexed: a board of a million items
//! without activities costs nothing to keep).

use std::collections::BTreeSet;
use std::ops::Bound::{self, Excluded, Included, Unbounded};

use crate::deadline_index::Sets;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids::{BoardId, ItemId, UserId};
use crate::item_view::ItemView;
use crate::page::{limit_of, Page, PageRequest, MAX_LIMIT};
use crate::state::State;

const DAY: i64 = 86_400_000;

/// A bucket of the Deadlines view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineBucket {
    /// An open activity's deadline fired.
    Overdue,
    /// Due before the end of today, or unread.
    Today,
    /// Due tomorrow.
    Tomorrow,
    /// Due after tomorrow, before next Monday.
    ThisWeek,
    /// Due next week.
    NextWeek,
    /// Due later.
    Later,
    /// No open activity.
    None,
}

impl DeadlineBucket {
    /// Every bucket, in the view's order.
    pub const ALL: [DeadlineBucket; 7] = [
        DeadlineBucket::Overdue,
        DeadlineBucket::Today,
        DeadlineBucket::Tomorrow,
        DeadlineBucket::ThisWeek,
        DeadlineBucket::NextWeek,
        DeadlineBucket::Later,
        DeadlineBucket::None,
    ];

    /// Its byte in a cursor (its place in [`DeadlineBucket::ALL`]): a cursor of one bucket
    /// is refused by another.
    fn tag(self) -> u8 {
        self as u8
    }
}

/// Whose items, in which local time.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeadlineQuery {
    /// The UTC offset of the client's days, minutes: −720 to 840, a multiple of 15.
    pub tz_offset_minutes: i32,
    /// Only this responsible's items.
    pub responsible: Option<UserId>,
}

/// One bucket: how many items it holds and a page of them.
#[derive(Debug, Clone)]
pub struct DeadlineBucketPage {
    /// Which bucket.
    pub bucket: DeadlineBucket,
    /// Every item in it.
    pub count: u64,
    /// The first (or the asked-for) page.
    pub page: Page<ItemView>,
}

/// The local day's edges, UTC ms: the ends of today and tomorrow, the starts of next week
/// and of the week after. Each is a local midnight, so a multiple of [`SLOT_MS`].
struct Edges {
    today_end: i64,
    tomorrow_end: i64,
    next_week: i64,
    week_after: i64,
}

fn edges(now: i64, tz_offset_minutes: i32) -> Result<Edges> {
    if !(-720..=840).contains(&tz_offset_minutes) || tz_offset_minutes % 15 != 0 {
        return Err(Error::invalid(
            "tz",
            "a UTC offset from -12:00 to +14:00 in steps of 15 minutes",
        ));
    }
    let off = i64::from(tz_offset_minutes) * 60_000;
    let day = (now + off).div_euclid(DAY);
    let today_start = day * DAY - off;
    // 1970-01-01 was a Thursday: Monday is 0.
    let weekday = (day + 3).rem_euclid(7);
    let next_week = today_start + (7 - weekday) * DAY;
    Ok(Edges {
        today_end: today_start + DAY,
        tomorrow_end: today_start + 2 * DAY,
        next_week,
        week_after: next_week + 7 * DAY,
    })
}

impl Edges {
    /// A dated bucket's deadlines, `[from, to)`; `None` for the undated ones.
    fn range(&self, b: DeadlineBucket) -> Option<(Option<i64>, Option<i64>)> {
        let this_week_end = self.next_week.max(self.tomorrow_end);
        Some(match b {
            DeadlineBucket::Today => (None, Some(self.today_end)),
            DeadlineBucket::Tomorrow => (Some(self.today_end), Some(self.tomorrow_end)),
            DeadlineBucket::ThisWeek => (Some(self.tomorrow_end), Some(this_week_end)),
            DeadlineBucket::NextWeek => (Some(this_week_end), Some(self.week_after)),
            DeadlineBucket::Later => (Some(self.week_after), None),
            DeadlineBucket::Overdue | DeadlineBucket::None => return None,
        })
    }
}

/// How many items `b` holds, from the index alone.
fn count(sets: &Sets, e: &Edges, b: DeadlineBucket) -> u64 {
    let len =
        |s: &std::collections::BTreeSet<(i64, ItemId)>| u64::try_from(s.len()).unwrap_or(u64::MAX);
    match b {
        DeadlineBucket::Overdue => len(&sets.overdue),
        DeadlineBucket::None => sets.unfiled(),
        DeadlineBucket::Today => len(&sets.unread) + sets.planned_between(None, Some(e.today_end)),
        // The rest of the planned ones: no walk over the far future's slots.
        DeadlineBucket::Later => {
            len(&sets.planned).saturating_sub(sets.planned_between(None, Some(e.week_after)))
        }
        _ => e
            .range(b)
            .map_or(0, |(from, to)| sets.planned_between(from, to)),
    }
}

/// A cursor: the bucket, then the last item's (deadline, id).
fn encode_cursor(b: DeadlineBucket, (deadline, id): (i64, ItemId)) -> String {
    crate::cursor::encode(
        b'd',
        &[&[b.tag()], &deadline.to_be_bytes(), &id.0.to_be_bytes()],
    )
}

fn decode_cursor(b: DeadlineBucket, s: &str) -> Result<(i64, ItemId)> {
    let raw = crate::cursor::decode(b'd', s)?;
    let (tag, rest) = raw.split_first().ok_or_else(crate::cursor::bad)?;
    if *tag != b.tag() {
        return Err(crate::cursor::bad());
    }
    let (d, rest) = crate::cursor::split_u64(rest)?;
    let (id, rest) = crate::cursor::split_u64(rest)?;
    if !rest.is_empty() {
        return Err(crate::cursor::bad());
    }
    Ok((d.cast_signed(), ItemId(id)))
}

type Key = (i64, ItemId);

/// `set`'s keys in `(lo, hi)`; empty where `BTreeSet::range` would panic (a start past the
/// end, as a cursor of a later key gives).
fn range(set: &BTreeSet<Key>, lo: Bound<Key>, hi: Bound<Key>) -> impl Iterator<Item = Key> + '_ {
    let empty = match (lo, hi) {
        (Included(a), Included(b)) => a > b,
        (Included(a) | Excluded(a), Included(b) | Excluded(b)) => a >= b,
        _ => false,
    };
    (!empty)
        .then(|| set.range((lo, hi)))
        .into_iter()
        .flatten()
        .copied()
}

/// What a page is read from.
struct Ctx<'a> {
    st: &'a State,
    sets: &'a Sets,
    e: &'a Edges,
    board: BoardId,
    q: &'a DeadlineQuery,
}

/// Up to `limit` + 1 (deadline, item) keys of `b` after `after`, in order.
fn keys(
    c: &Ctx<'_>,
    b: DeadlineBucket,
    after: Option<(i64, ItemId)>,
    limit: usize,
) -> Vec<(i64, ItemId)> {
    let Ctx {
        st,
        sets,
        e,
        board,
        q,
    } = *c;
    let start = after.map_or(Unbounded, Excluded);
    let take = limit + 1;
    match b {
        DeadlineBucket::Overdue => range(&sets.overdue, start, Unbounded).take(take).collect(),
        DeadlineBucket::None => {
            let from = after.map_or(0, |(_, id)| id.0.saturating_add(1));
            let from = usize::try_from(from).unwrap_or(usize::MAX);
            (from..st.items.len())
                .filter_map(|i| u64::try_from(i).ok().map(ItemId))
                .filter(|id| {
                    st.slot(*id).is_some_and(|s| {
                        s.board == board && q.responsible.is_none_or(|r| r == s.responsible)
                    }) && !st.deadlines.is_filed(*id)
                })
                .map(|id| (i64::MAX, id))
                .take(take)
                .collect()
        }
        DeadlineBucket::Today => {
            // Two sorted runs merged: the planned ones due before the end of today, and
            // the unread ones (by their deadline, those without one last).
            let end = (e.today_end, ItemId(0));
            let mut planned = range(&sets.planned, start, Excluded(end)).peekable();
            let mut unread = range(&sets.unread, start, Unbounded).peekable();
            let mut out = Vec::with_capacity(take);
            while out.len() < take {
                let next = match (planned.peek(), unread.peek()) {
                    (Some(p), Some(u)) if p <= u => planned.next(),
                    (Some(_), Some(_)) | (None, Some(_)) => unread.next(),
                    (Some(_), None) => planned.next(),
                    (None, None) => None,
                };
                match next {
                    Some(k) => out.push(k),
                    None => break,
                }
            }
            out
        }
        _ => {
            let Some((from, to)) = e.range(b) else {
                return Vec::new();
            };
            let lo = match (from, after) {
                (Some(f), Some(a)) if a < (f, ItemId(0)) => Included((f, ItemId(0))),
                (Some(f), None) => Included((f, ItemId(0))),
                _ => start,
            };
            let hi = to.map_or(Unbounded, |t| Excluded((t, ItemId(0))));
            range(&sets.planned, lo, hi).take(take).collect()
        }
    }
}

fn page_of(
    st: &State,
    board: BoardId,
    q: &DeadlineQuery,
    e: &Edges,
    b: DeadlineBucket,
    after: Option<(i64, ItemId)>,
    limit: usize,
) -> DeadlineBucketPage {
    static EMPTY: std::sync::LazyLock<Sets> = std::sync::LazyLock::new(Sets::default);
    let sets = st.deadlines.sets(board, q.responsible).unwrap_or(&EMPTY);
    let ctx = Ctx {
        st,
        sets,
        e,
        board,
        q,
    };
    let mut ks = keys(&ctx, b, after, limit);
    let more = ks.len() > limit;
    ks.truncate(limit);
    let next_cursor = if more {
        ks.last().map(|k| encode_cursor(b, *k))
    } else {
        None
    };
    DeadlineBucketPage {
        bucket: b,
        count: count(sets, e, b),
        page: Page {
            items: ks.iter().filter_map(|(_, id)| st.view(*id)).collect(),
            next_cursor,
        },
    }
}

impl Engine {
    /// The Deadlines view of `board`: every bucket with its count and its first
    /// `per_bucket` (1–500) items.
    pub fn deadlines(
        &self,
        board: BoardId,
        q: &DeadlineQuery,
        per_bucket: usize,
    ) -> Result<Vec<DeadlineBucketPage>> {
        if !(1..=MAX_LIMIT).contains(&per_bucket) {
            return Err(Error::invalid("per_bucket", "must be 1–500"));
        }
        let e = edges(self.shared.config.clock.now().0, q.tz_offset_minutes)?;
        let st = self.shared.state.read();
        if !st.boards.contains_key(&board) {
            return Err(Error::not_found("board", board));
        }
        Ok(DeadlineBucket::ALL
            .iter()
            .map(|b| page_of(&st, board, q, &e, *b, None, per_bucket))
            .collect())
    }

    /// One bucket of the Deadlines view, paged.
    pub fn deadline_bucket(
        &self,
        board: BoardId,
        bucket: DeadlineBucket,
        q: &DeadlineQuery,
        req: &PageRequest,
    ) -> Result<DeadlineBucketPage> {
        let limit = limit_of(req)?;
        let after = req
            .cursor
            .as_deref()
            .map(|c| decode_cursor(bucket, c))
            .transpose()?;
        let e = edges(self.shared.config.clock.now().0, q.tz_offset_minutes)?;
        let st = self.shared.state.read();
        if !st.boards.contains_key(&board) {
            return Err(Error::not_found("board", board));
        }
        Ok(page_of(&st, board, q, &e, bucket, after, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadline_index::SLOT_MS;

    #[test]
    fn edges_fall_on_local_midnights_and_mondays() {
        // 2026-01-01 was a Thursday; 23:30 UTC is already Friday 02:30 at +03:00.
        let now = 1_767_225_600_000 + 23 * 3_600_000 + 30 * 60_000;
        let utc = edges(now, 0).expect("test value");
        assert_eq!(utc.today_end, 1_767_225_600_000 + DAY);
        assert_eq!(utc.next_week, 1_767_225_600_000 + 4 * DAY, "Monday the 5th");
        let msk = edges(now, 180).expect("test value");
        assert_eq!(msk.today_end, 1_767_225_600_000 + 2 * DAY - 3 * 3_600_000);
        assert_eq!(msk.next_week, utc.next_week - 3 * 3_600_000);
        for e in [&utc, &msk] {
            for t in [e.today_end, e.tomorrow_end, e.next_week, e.week_after] {
                assert_eq!(t.rem_euclid(SLOT_MS), 0);
            }
        }
        assert!(edges(now, 7).is_err() && edges(now, 900).is_err());
    }

    #[test]
    fn on_a_sunday_this_week_is_empty_and_next_week_starts_tomorrow() {
        // 2026-01-04 was a Sunday.
        let now = 1_767_225_600_000 + 3 * DAY + 3_600_000;
        let e = edges(now, 0).expect("test value");
        assert_eq!(e.next_week, e.today_end);
        let (from, to) = e.range(DeadlineBucket::ThisWeek).expect("test value");
        assert_eq!(from, to, "empty");
        assert_eq!(
            e.range(DeadlineBucket::NextWeek),
            Some((Some(e.tomorrow_end), Some(e.week_after)))
        );
    }

    #[test]
    fn cursors_round_trip_and_stay_in_their_bucket() {
        let c = encode_cursor(DeadlineBucket::Tomorrow, (-5, ItemId(9)));
        assert_eq!(
            decode_cursor(DeadlineBucket::Tomorrow, &c).expect("test value"),
            (-5, ItemId(9))
        );
        assert!(decode_cursor(DeadlineBucket::Later, &c).is_err());
    }
}
