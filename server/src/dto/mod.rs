//! Wire types (DTOs), one module per area of `routes/`: what each route parses and renders.
//! Engine types are never wire types; conversions live beside the wire type. Shared here:
//! times, errors, pages, mentions and field changes.

pub(crate) mod boards;
pub(crate) mod directory;
pub(crate) mod events;
pub(crate) mod feeds;
pub(crate) mod focus;
pub(crate) mod items;
pub(crate) mod streams;
pub(crate) mod views;

use hoist_engine::Millis;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// RFC 3339 in UTC, with milliseconds only when they are not zero.
pub(crate) fn time(ms: Millis) -> String {
    let mut buf = [0; TIME_LEN];
    Time(ms)
        .text(&mut buf)
        .map_or_else(|| chrono_time(ms), str::to_owned)
}

/// [`time`] as chrono writes it: the years the fast path leaves out, and its test oracle.
fn chrono_time(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms.0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// The longest [`Time`]: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
const TIME_LEN: usize = 24;

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// "00" to "99", for writing two digits at once.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// A time that serializes as [`time`] does, without a `String`: a page of 50 items has
/// 150 of them, and chrono's general formatter plus an allocation each was 13 % of a page
/// request's CPU (`perf`, `GET …/columns/{col}/items?limit=50`). Then chrono's day number
/// to date and serde_json's escaping of a string that never needs it were still 18 % of
/// it (`perf record --call-graph dwarf`, 2026-12-01): the calendar is now integer
/// arithmetic here, and pages write the text straight into their buffer
/// ([`Time::write_json`]). Both are checked against chrono on every `i64` by proptest.
#[derive(Clone, Copy)]
pub(crate) struct Time(pub Millis);

impl Time {
    /// The text in `buf`, or `None` for a year outside 0000–9999 (chrono's sign and
    /// longer years: [`chrono_time`]). Only ASCII digits and `-:.TZ`.
    fn bytes(self, buf: &mut [u8; TIME_LEN]) -> Option<&[u8]> {
        let (days, in_day) = (self.0 .0.div_euclid(DAY_MS), self.0 .0.rem_euclid(DAY_MS));
        let date = date_text(days)?;
        // `in_day` is below 86,400,000: it fits.
        let in_day = u32::try_from(in_day).ok()?;
        let (h, m, sec, milli) = (
            in_day / 3_600_000,
            in_day / 60_000 % 60,
            in_day / 1000 % 60,
            in_day % 1000,
        );
        let [h0, h1] = digits(h);
        let [m0, m1] = digits(m);
        let [s0, s1] = digits(sec);
        buf[..10].copy_from_slice(&date);
        buf[10..20].copy_from_slice(&[b'T', h0, h1, b':', m0, m1, b':', s0, s1, b'Z']);
        if milli == 0 {
            return buf.get(..20);
        }
        let [_, ms0] = digits(milli / 100);
        let [ms1, ms2] = digits(milli);
        buf[19..].copy_from_slice(&[b'.', ms0, ms1, ms2, b'Z']);
        buf.get(..TIME_LEN)
    }

    /// [`Time::bytes`] as text.
    fn text(self, buf: &mut [u8; TIME_LEN]) -> Option<&str> {
        self.bytes(buf).and_then(|b| std::str::from_utf8(b).ok())
    }

    /// Appends the time as a JSON string: what serializing it writes, without the escaping
    /// pass (its text has nothing to escape).
    pub(crate) fn write_json(self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let mut buf = [0; TIME_LEN];
        match self.bytes(&mut buf) {
            Some(text) => {
                out.push(b'"');
                out.extend_from_slice(text);
                out.push(b'"');
                Ok(())
            }
            None => serde_json::to_writer(out, &chrono_time(self.0)),
        }
    }
}

/// The last two digits of `v`. Two digits at a time (every value a time has is below 100
/// once split), from a table: a division per digit was half of a time's cost.
fn digits(v: u32) -> [u8; 2] {
    let i = (v % 100) as usize * 2;
    [PAIRS[i], PAIRS[i + 1]]
}

/// `YYYY-MM-DD` of a day number counted from 1970-01-01 (`None` outside years
/// 0000–9999). The last day written on this thread is kept, and reused when the next time
/// falls on the same day: an item's times are often on one day, and a page's items next
/// to each other were often touched on the same day. A page whose times all fall on
/// different days costs a comparison more per time. (In the loadtest's pages every time
/// hits; there the calendar was most of `Time::bytes`' 7.9 % of a page's CPU, now 2.3 %:
/// `perf record`, a column page of 50 items, 2026-12-01.)
fn date_text(days: i64) -> Option<[u8; 10]> {
    thread_local! {
        static LAST: std::cell::Cell<(i64, [u8; 10])> =
            const { std::cell::Cell::new((0, *b"1970-01-01")) };
    }
    let (last, text) = LAST.get();
    if last == days {
        return Some(text);
    }
    let (year, month, day) = civil_from_days(days)?;
    let [y0, y1] = digits(year / 100);
    let [y2, y3] = digits(year);
    let [mo0, mo1] = digits(month);
    let [d0, d1] = digits(day);
    let text = [y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1];
    LAST.set((days, text));
    Some(text)
}

/// The proleptic Gregorian (year, month, day) of a day number counted from 1970-01-01, for
/// years 0000–9999 (`None` outside). Howard Hinnant's `civil_from_days`: 400-year eras of
/// 146,097 days, years counted from March so that the leap day is the last of its year.
fn civil_from_days(days: i64) -> Option<(u32, u32, u32)> {
    let z = days.checked_add(719_468)?;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March first
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = era
        .checked_mul(400)?
        .checked_add(yoe + i64::from(month <= 2))?;
    let year = u32::try_from(year).ok().filter(|y| *y <= 9999)?;
    Some((year, u32::try_from(month).ok()?, u32::try_from(day).ok()?))
}

impl Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0; TIME_LEN];
        match self.text(&mut buf) {
            Some(t) => s.serialize_str(t),
            None => s.serialize_str(&chrono_time(self.0)),
        }
    }
}

/// `{"status":"ok"}`; after a storage failure stopped the writes, 503 with
/// `{"status":"degraded", "reason": …}` and the usual `error` (reads still answer).
#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok` or `degraded`.
    pub status: &'static str,
    /// Why writes are stopped (only when `degraded`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The error body every non-2xx answer has (only when `degraded`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInner>,
}

/// The error body of every non-2xx answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    pub error: ErrorInner,
}

/// `code` is one of `invalid`, `unauthorized`, `forbidden`, `not_found`, `conflict`,
/// `too_large`, `unsupported_media_type`, `unavailable`.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorInner {
    pub code: String,
    pub message: String,
}

/// `limit` and `cursor`, the query of a list that takes nothing else.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Page size, 1–500 (50 when absent).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// `next_cursor` of the page before.
    pub cursor: Option<String>,
}

impl From<PageQuery> for hoist_engine::PageRequest {
    fn from(q: PageQuery) -> hoist_engine::PageRequest {
        hoist_engine::PageRequest {
            limit: q.limit,
            cursor: q.cursor,
        }
    }
}

/// A page of a directory list: `{items, next_cursor}` like every list.
#[derive(Serialize, ToSchema)]
pub(crate) struct ListPage<T: ToSchema> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> ListPage<T> {
    /// The page of `items` (wire values) ordered by `key`.
    pub(crate) fn of<K: hoist_engine::ListKey>(
        items: Vec<T>,
        key: impl Fn(&T) -> K,
        q: PageQuery,
    ) -> Result<ListPage<T>, crate::error::ApiError> {
        let page = hoist_engine::page_of(items, key, &q.into())?;
        Ok(ListPage {
            items: page.items,
            next_cursor: page.next_cursor,
        })
    }
}

/// Parses an RFC 3339 time, naming the field on error.
pub(crate) fn parse_time(field: &str, s: &str) -> Result<Millis, crate::error::ApiError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| Millis(t.timestamp_millis()))
        .map_err(|e| {
            crate::error::ApiError::invalid(format!("{field}: not an RFC 3339 time ({e})"))
        })
}

// Schema-only string types, named by `value_type` on a `String` field: each declares the
// rule of an engine check once. The class `[\t-\r …\u3000]` in them is exactly the
// whitespace Rust's `trim` strips (`char::is_whitespace`), unlike either regex's `\s`.

/// An e-mail address: one `@` between non-empty parts and no whitespace; whitespace around
/// it is trimmed.
// `validate::email`; its limit of 320 bytes (after trimming) has no schema.
#[derive(ToSchema)]
#[schema(
    pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]+@[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]+[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
)]
#[allow(dead_code)]
pub(crate) struct Email(String);

/// A phone number: 3–32 digits, an optional leading `+`, and spaces, dashes, dots or
/// parentheses; whitespace around it is trimmed.
// `validate::phone`.
#[derive(ToSchema)]
#[schema(
    pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*\+?[ ().-]*(?:[0-9][ ().-]*){3,32}[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
)]
#[allow(dead_code)]
pub(crate) struct Phone(String);

/// A free field's key: 1–64 letters, digits, `_`, `-` or `.`.
// `validate::field_key`. Not declared, for want of a portable regex: which non-ASCII
// characters are letters or digits, and that the 64 are bytes of UTF-8.
#[derive(ToSchema)]
#[schema(pattern = r"^(?:[0-9A-Za-z_.-]|[^\x00-\x7f]){1,64}$")]
#[allow(dead_code)]
pub(crate) struct FieldKey(String);

/// Whom a comment or post mentions.
#[derive(Deserialize, Serialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct MentionsIo {
    #[serde(default)]
    pub users: Vec<u64>,
    #[serde(default)]
    pub groups: Vec<u64>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub roles: Vec<String>,
}

impl From<MentionsIo> for hoist_engine::Mentions {
    fn from(m: MentionsIo) -> hoist_engine::Mentions {
        hoist_engine::Mentions {
            users: m.users.into_iter().map(hoist_engine::UserId).collect(),
            groups: m.groups.into_iter().map(hoist_engine::GroupId).collect(),
            roles: m.roles,
        }
    }
}

/// A changed field's value, before or after.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum ValueOut {
    Null(Option<bool>),
    Str(String),
    Num(f64),
    Bool(bool),
    Id(u64),
    List(Vec<String>),
}

/// `anyOf` null, string, number, boolean, list of strings: written by hand because the
/// derive makes a `oneOf` of the variants, which overlap (an integer is a number, and
/// `Null(Option<bool>)` is a boolean too), so a value would match two and break `oneOf`.
impl utoipa::PartialSchema for ValueOut {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, Type};
        let of = |t: Type| ObjectBuilder::new().schema_type(t);
        AnyOfBuilder::new()
            .item(of(Type::Null))
            .item(of(Type::String))
            .item(of(Type::Number))
            .item(of(Type::Boolean))
            .item(ArrayBuilder::new().items(of(Type::String)))
            .description(Some(
                "A field's value: null, a string, a number, a boolean or a list of strings",
            ))
            .into()
    }
}

impl utoipa::ToSchema for ValueOut {}

impl From<hoist_engine::Value> for ValueOut {
    fn from(v: hoist_engine::Value) -> ValueOut {
        use hoist_engine::Value as V;
        match v {
            V::Null => ValueOut::Null(None),
            V::Str(s) => ValueOut::Str(s),
            V::Num(n) => ValueOut::Num(n),
            V::Bool(b) => ValueOut::Bool(b),
            V::User(u) => ValueOut::Id(u.0),
            V::List(l) => ValueOut::List(l),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ChangeOut {
    pub field: String,
    pub old: ValueOut,
    pub new: ValueOut,
}

impl From<hoist_engine::FieldChange> for ChangeOut {
    fn from(c: hoist_engine::FieldChange) -> ChangeOut {
        ChangeOut {
            field: c.field,
            old: c.old.into(),
            new: c.new.into(),
        }
    }
}

impl From<hoist_engine::Mentions> for MentionsIo {
    fn from(m: hoist_engine::Mentions) -> MentionsIo {
        MentionsIo {
            users: m.users.iter().map(|u| u.0).collect(),
            groups: m.groups.iter().map(|g| g.0).collect(),
            roles: m.roles,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{chrono_time, civil_from_days, time, Time, DAY_MS};
    use hoist_engine::Millis;
    use proptest::prelude::*;

    fn rendered(ms: i64) -> String {
        serde_json::to_string(&Time(Millis(ms))).unwrap_or_default()
    }

    /// What a page writes ([`Time::write_json`]).
    fn written(ms: i64) -> String {
        let mut out = Vec::new();
        Time(Millis(ms)).write_json(&mut out).unwrap_or_default();
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn edges_are_written_as_chrono_writes_them() {
        for ms in [
            0,
            1,
            999,
            1000,
            -1,
            -86_400_000,
            1_764_000_000_000,
            1_764_000_000_123,
            // 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z, the fast path's ends.
            -62_167_219_200_000,
            253_402_300_799_999,
            // One step outside each: chrono's own text.
            -62_167_219_200_001,
            253_402_300_800_000,
            i64::MIN,
            i64::MAX,
        ] {
            assert_eq!(time(Millis(ms)), chrono_time(Millis(ms)), "{ms}");
            assert_eq!(
                rendered(ms),
                format!("\"{}\"", chrono_time(Millis(ms))),
                "{ms}"
            );
            assert_eq!(written(ms), rendered(ms), "{ms}");
        }
    }

    /// Every day of years 0000–9999 (3.65M) has chrono's date, and the days either side
    /// of them none.
    #[test]
    fn every_day_the_fast_path_writes_has_chrono_s_date() {
        use chrono::Datelike;
        let first = -719_528i64; // 0000-01-01
        let last = 2_932_896i64; // 9999-12-31
        for days in first..=last {
            let date = chrono::DateTime::from_timestamp(days * 86_400, 0)
                .map(|t| t.date_naive())
                .and_then(|d| Some((u32::try_from(d.year()).ok()?, d.month(), d.day())));
            assert_eq!(civil_from_days(days), date, "day {days}");
        }
        assert_eq!(civil_from_days(first - 1), None);
        assert_eq!(civil_from_days(last + 1), None);
        assert_eq!(civil_from_days(i64::MIN), None);
        assert_eq!(civil_from_days(i64::MAX), None);
    }

    proptest! {
        #[test]
        fn any_time_is_written_as_chrono_writes_it(ms in any::<i64>()) {
            prop_assert_eq!(time(Millis(ms)), chrono_time(Millis(ms)));
            prop_assert_eq!(written(ms), format!("\"{}\"", chrono_time(Millis(ms))));
        }

        #[test]
        fn times_of_this_era_are_written_as_chrono_writes_them(
            ms in -62_167_219_200_000i64..253_402_300_800_000,
        ) {
            prop_assert_eq!(rendered(ms), format!("\"{}\"", chrono_time(Millis(ms))));
            prop_assert_eq!(written(ms), rendered(ms));
        }

        /// Runs of times on a few days, one far outside the fast path's years among them:
        /// the date kept from the last time is reused only for its own day.
        #[test]
        fn times_on_the_same_days_in_a_row_are_written_as_chrono_writes_them(
            times in prop::collection::vec((0usize..4, 0i64..DAY_MS), 1..64),
        ) {
            let days = [20_424i64, 20_425, -1, 3_000_000];
            for (d, in_day) in times {
                let ms = days[d] * DAY_MS + in_day;
                prop_assert_eq!(written(ms), format!("\"{}\"", chrono_time(Millis(ms))));
            }
        }
    }
}
