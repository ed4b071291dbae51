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
    match Time(ms).text(&mut buf) {
        Some(s) => s.to_owned(),
        None => chrono_time(ms),
    }
}

/// [`time`] as chrono writes it: the years the fast path leaves out, and its test oracle.
fn chrono_time(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms.0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// The longest [`Time`]: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
const TIME_LEN: usize = 24;

/// A time that serializes as [`time`] does, without a `String`: a page of 50 items has
/// 150 of them, and chrono's general formatter plus an allocation each was 13 % of a page
/// request's CPU (`perf`, `GET …/columns/{col}/items?limit=50`). chrono still does the
/// calendar (the day number to year, month, day); the time of day is plain division.
#[derive(Clone, Copy)]
pub(crate) struct Time(pub Millis);

impl Time {
    /// The text in `buf`, or `None` for a year outside 0000–9999 (chrono's sign and
    /// longer years: [`chrono_time`]).
    fn text(self, buf: &mut [u8; TIME_LEN]) -> Option<&str> {
        use chrono::Datelike;
        const DAY_MS: i64 = 86_400_000;
        // `NaiveDate::num_days_from_ce` of 1970-01-01.
        const EPOCH_CE_DAYS: i64 = 719_163;
        let (days, in_day) = (self.0 .0.div_euclid(DAY_MS), self.0 .0.rem_euclid(DAY_MS));
        let ce_days = i32::try_from(days.checked_add(EPOCH_CE_DAYS)?).ok()?;
        let date = chrono::NaiveDate::from_num_days_from_ce_opt(ce_days)?;
        let year = u32::try_from(date.year()).ok().filter(|y| *y <= 9999)?;
        // `in_day` is below 86,400,000: it fits.
        let in_day = u32::try_from(in_day).ok()?;
        let (h, m, sec, milli) = (
            in_day / 3_600_000,
            in_day / 60_000 % 60,
            in_day / 1000 % 60,
            in_day % 1000,
        );
        let digits = |buf: &mut [u8; TIME_LEN], at: usize, width: usize, mut v: u32| {
            for i in (at..at + width).rev() {
                buf[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        digits(buf, 0, 4, year);
        buf[4] = b'-';
        digits(buf, 5, 2, date.month());
        buf[7] = b'-';
        digits(buf, 8, 2, date.day());
        buf[10] = b'T';
        digits(buf, 11, 2, h);
        buf[13] = b':';
        digits(buf, 14, 2, m);
        buf[16] = b':';
        digits(buf, 17, 2, sec);
        let len = if milli == 0 {
            buf[19] = b'Z';
            20
        } else {
            buf[19] = b'.';
            digits(buf, 20, 3, milli);
            buf[23] = b'Z';
            TIME_LEN
        };
        std::str::from_utf8(&buf[..len]).ok()
    }
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
    use super::{chrono_time, time, Time};
    use hoist_engine::Millis;
    use proptest::prelude::*;

    fn rendered(ms: i64) -> String {
        serde_json::to_string(&Time(Millis(ms))).unwrap_or_default()
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
        }
    }

    proptest! {
        #[test]
        fn any_time_is_written_as_chrono_writes_it(ms in any::<i64>()) {
            prop_assert_eq!(time(Millis(ms)), chrono_time(Millis(ms)));
        }

        #[test]
        fn times_of_this_era_are_written_as_chrono_writes_them(
            ms in -62_167_219_200_000i64..253_402_300_800_000,
        ) {
            prop_assert_eq!(rendered(ms), format!("\"{}\"", chrono_time(Millis(ms))));
        }
    }
}
