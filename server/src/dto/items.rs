//! Items: create, patch, move, batches, and an item rendered in place from its stored
//! record (`ItemJson`).

use super::{ErrorInner, Time};
use crate::wire::FocusReasonIo;
use hoist_engine::{FieldRef, FieldValue, ItemRef, ItemView};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use utoipa::openapi::schema::{Object, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// A free field's value: a string, a number or a boolean.
#[derive(Deserialize, Serialize, ToSchema, Clone)]
#[serde(untagged)]
pub(crate) enum FieldIn {
    Bool(bool),
    Num(f64),
    #[schema(value_type = FieldText)]
    Str(#[schema(inline)] String),
}

/// A free field's text: at most 20,000 characters (`item::check_field_value`); the schema
/// of `FieldIn::Str`, which the derive cannot give a `max_length`.
pub(crate) struct FieldText;

impl PartialSchema for FieldText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(20_000))
            .into()
    }
}

impl ToSchema for FieldText {}

/// `fields` of a new item: at most 100 (`item::check_fields`).
fn new_fields() -> Object {
    fields(FieldIn::schema()).max_properties(Some(100)).build()
}

/// `fields` of a patch, where `null` removes a key (how many keys an item may gain depends
/// on the item, so no count).
fn patch_fields() -> Object {
    let value = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .item(FieldIn::schema());
    fields(value.into()).build()
}

/// A nullable object of free fields holding `value`s, keys `FieldKey`. By hand: the derive
/// takes no `max_properties` on a map and cannot render `Option` map values.
fn fields(value: RefOr<Schema>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .property_names(Some(super::FieldKey::schema()))
        .additional_properties(Some(value))
}

impl From<FieldIn> for FieldValue {
    fn from(f: FieldIn) -> FieldValue {
        match f {
            FieldIn::Bool(b) => FieldValue::Bool(b),
            FieldIn::Num(n) => FieldValue::Num(n),
            FieldIn::Str(s) => FieldValue::Str(s),
        }
    }
}

#[derive(Deserialize, Serialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContactsIo {
    #[serde(default)]
    #[schema(value_type = Vec<super::Phone>, max_items = 20)]
    pub phones: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Vec<super::Email>, max_items = 20)]
    pub emails: Vec<String>,
}

impl From<ContactsIo> for hoist_engine::Contacts {
    fn from(c: ContactsIo) -> hoist_engine::Contacts {
        hoist_engine::Contacts {
            phones: c.phones,
            emails: c.emails,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateItem {
    pub board: u64,
    pub column: Option<u64>,
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub title: String,
    pub responsible: Option<u64>,
    pub amount: Option<f64>,
    #[schema(schema_with = new_fields)]
    pub fields: Option<BTreeMap<String, FieldIn>>,
    pub contacts: Option<ContactsIo>,
}

/// Fields present are changed; in `fields`, `null` removes a key and other keys stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchItem {
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub title: Option<String>,
    pub responsible: Option<u64>,
    pub amount: Option<f64>,
    #[schema(schema_with = patch_fields)]
    pub fields: Option<BTreeMap<String, Option<FieldIn>>>,
    pub contacts: Option<ContactsIo>,
}

/// `"top"`, `"bottom"`, `{"before": item}` or `{"after": item}`.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(untagged)]
pub(crate) enum PositionIn {
    Named(NamedPosition),
    Before(BeforeIn),
    After(AfterIn),
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NamedPosition {
    Top,
    Bottom,
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub(crate) struct BeforeIn {
    pub before: u64,
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub(crate) struct AfterIn {
    pub after: u64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoveItem {
    pub column: Option<u64>,
    pub position: Option<PositionIn>,
}

/// An item as the API shows it (the schema of what `ItemJson` writes).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Item {
    pub id: u64,
    pub board: u64,
    pub column: u64,
    pub title: String,
    pub responsible: u64,
    pub amount: f64,
    pub fields: BTreeMap<String, FieldIn>,
    pub contacts: ContactsIo,
    pub created_at: String,
    pub updated_at: String,
    pub focused_at: String,
    pub focus_reason: FocusReasonIo,
    pub attention: u32,
    pub unread: bool,
    pub next_deadline: Option<String>,
}

/// The JSON field names `ItemJson` writes, in order; a test checks them against the
/// `Item` schema above.
pub const ITEM_FIELDS: [&str; 15] = [
    "id",
    "board",
    "column",
    "title",
    "responsible",
    "amount",
    "fields",
    "contacts",
    "created_at",
    "updated_at",
    "focused_at",
    "focus_reason",
    "attention",
    "unread",
    "next_deadline",
];

/// Serializes a stored item in place.
pub(crate) struct ItemJson<'a>(pub ItemRef<'a>);

struct FieldsJson<'a>(ItemRef<'a>);
struct ContactsJson<'a>(ItemRef<'a>);
struct PhonesJson<'a>(ItemRef<'a>);
struct EmailsJson<'a>(ItemRef<'a>);

impl Serialize for PhonesJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.phones())
    }
}

impl Serialize for EmailsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.emails())
    }
}

impl Serialize for FieldsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, v) in self.0.fields() {
            match v {
                FieldRef::Str(x) => m.serialize_entry(k, x)?,
                FieldRef::Num(x) => m.serialize_entry(k, &x)?,
                FieldRef::Bool(x) => m.serialize_entry(k, &x)?,
            }
        }
        m.end()
    }
}

impl Serialize for ContactsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Contacts", 2)?;
        st.serialize_field("phones", &PhonesJson(self.0))?;
        st.serialize_field("emails", &EmailsJson(self.0))?;
        st.end()
    }
}

impl Serialize for ItemJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = &self.0;
        let [f_id, f_board, f_column, f_title, f_resp, f_amount, f_fields, f_contacts, f_created, f_updated, f_focused, f_reason, f_attention, f_unread, f_deadline] =
            ITEM_FIELDS;
        let mut st = s.serialize_struct("Item", ITEM_FIELDS.len())?;
        st.serialize_field(f_id, &r.id().0)?;
        st.serialize_field(f_board, &r.board().0)?;
        st.serialize_field(f_column, &r.column().0)?;
        st.serialize_field(f_title, r.title())?;
        st.serialize_field(f_resp, &r.responsible().0)?;
        st.serialize_field(f_amount, &r.amount())?;
        st.serialize_field(f_fields, &FieldsJson(*r))?;
        st.serialize_field(f_contacts, &ContactsJson(*r))?;
        st.serialize_field(f_created, &Time(r.created_at()))?;
        st.serialize_field(f_updated, &Time(r.updated_at()))?;
        st.serialize_field(f_focused, &Time(r.focused_at()))?;
        st.serialize_field(f_reason, &FocusReasonIo::from(r.focus_reason()))?;
        st.serialize_field(f_attention, &r.attention())?;
        st.serialize_field(f_unread, &r.unread())?;
        st.serialize_field(f_deadline, &r.next_deadline().map(Time))?;
        st.end()
    }
}

impl ItemJson<'_> {
    /// Appends exactly what [`ItemJson`]'s `Serialize` writes, with the keys as literals: a
    /// page has 50 items of 22 keys and strings, and serde_json's escaping loop, run over
    /// every key, was 20 % of a page request's CPU (`perf`, `GET …/columns/{col}/items`).
    /// Values still go through serde_json. `tests/tests/it/api/items.rs` checks that a page holds
    /// each item's bytes exactly as `GET /v1/items/{id}` (the `Serialize` path) gives them.
    pub(crate) fn write(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let r = &self.0;
        out.extend_from_slice(b"{\"id\":");
        serde_json::to_writer(&mut *out, &r.id().0)?;
        out.extend_from_slice(b",\"board\":");
        serde_json::to_writer(&mut *out, &r.board().0)?;
        out.extend_from_slice(b",\"column\":");
        serde_json::to_writer(&mut *out, &r.column().0)?;
        out.extend_from_slice(b",\"title\":");
        serde_json::to_writer(&mut *out, r.title())?;
        out.extend_from_slice(b",\"responsible\":");
        serde_json::to_writer(&mut *out, &r.responsible().0)?;
        out.extend_from_slice(b",\"amount\":");
        write_amount(out, r.amount())?;
        out.extend_from_slice(b",\"fields\":");
        serde_json::to_writer(&mut *out, &FieldsJson(*r))?;
        out.extend_from_slice(b",\"contacts\":{\"phones\":");
        serde_json::to_writer(&mut *out, &PhonesJson(*r))?;
        out.extend_from_slice(b",\"emails\":");
        serde_json::to_writer(&mut *out, &EmailsJson(*r))?;
        out.extend_from_slice(b"},\"created_at\":");
        Time(r.created_at()).write_json(out)?;
        out.extend_from_slice(b",\"updated_at\":");
        Time(r.updated_at()).write_json(out)?;
        out.extend_from_slice(b",\"focused_at\":");
        Time(r.focused_at()).write_json(out)?;
        out.extend_from_slice(b",\"focus_reason\":");
        serde_json::to_writer(&mut *out, &FocusReasonIo::from(r.focus_reason()))?;
        out.extend_from_slice(b",\"attention\":");
        serde_json::to_writer(&mut *out, &r.attention())?;
        out.extend_from_slice(if r.unread() {
            b",\"unread\":true,\"next_deadline\":"
        } else {
            b",\"unread\":false,\"next_deadline\":"
        });
        match r.next_deadline() {
            Some(t) => Time(t).write_json(out)?,
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
        Ok(())
    }
}

/// `{"items": [...], "next_cursor": ...}` for a page of items, each item by
/// [`ItemJson::write`].
pub(crate) fn write_item_page(
    out: &mut Vec<u8>,
    items: &[ItemView],
    next_cursor: Option<&str>,
) -> serde_json::Result<()> {
    use serde::ser::Error;
    out.extend_from_slice(b"{\"items\":[");
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        ItemJson(v.get().map_err(serde_json::Error::custom)?).write(out)?;
    }
    out.extend_from_slice(b"],\"next_cursor\":");
    serde_json::to_writer(&mut *out, &next_cursor)?;
    out.push(b'}');
    Ok(())
}

/// A list of stored items, serialized in place; a corrupt record fails the answer.
pub(crate) struct ItemsJson<'a>(pub &'a [ItemView]);

impl Serialize for ItemsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            let r = v.get().map_err(S::Error::custom)?;
            seq.serialize_element(&ItemJson(r))?;
        }
        seq.end()
    }
}

/// A page of items (the schema of what `write_item_page` writes).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ItemPage {
    pub items: Vec<Item>,
    pub next_cursor: Option<String>,
}

/// One element's outcome in a batch.
#[derive(Serialize, ToSchema)]
pub(crate) struct BatchResult {
    pub index: usize,
    /// `created` or `rejected`
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInner>,
}

/// The answer to `POST /v1/items/batch`.
#[derive(Serialize, ToSchema)]
pub(crate) struct ItemBatchOut {
    pub created: usize,
    pub rejected: usize,
    pub results: Vec<BatchResult>,
}

/// Whole amounts below this are written by [`write_amount`]'s fast path: far inside the
/// 2^53 where every whole `f64` is exact, and inside the range serde_json writes in plain
/// digits (it writes `1e+16`, not `10000000000000000.0`).
const WHOLE_AMOUNT_LIMIT: f64 = 1e15;

/// Writes an amount exactly as serde_json does (`1234.0`, `-0.5`, `1e+16`), whole amounts
/// (most of a CRM's) as digits and `.0` without its float formatter, which was 4 % of a
/// column page's CPU (`perf record --call-graph dwarf`, 50 items a page, 2026-12-01).
/// Checked against serde_json by proptest.
pub(crate) fn write_amount(out: &mut Vec<u8>, amount: f64) -> serde_json::Result<()> {
    // `-0.0` is whole but written `-0.0`; NaN and infinities have no whole part.
    if amount.fract() == 0.0
        && amount.abs() < WHOLE_AMOUNT_LIMIT
        && amount.to_bits() != (-0.0f64).to_bits()
    {
        // Exact: whole and below 2^53.
        #[allow(clippy::cast_possible_truncation)]
        let whole = amount as i64;
        out.extend_from_slice(itoa::Buffer::new().format(whole).as_bytes());
        out.extend_from_slice(b".0");
        return Ok(());
    }
    serde_json::to_writer(out, &amount)
}

#[cfg(test)]
mod tests {
    use super::write_amount;
    use proptest::prelude::*;

    fn written(a: f64) -> String {
        let mut out = Vec::new();
        write_amount(&mut out, a).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn amounts_are_written_as_serde_json_writes_them_at_the_edges() {
        for a in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            999.0,
            0.5,
            -2.25,
            1e15 - 1.0,
            -(1e15 - 1.0),
            1e15,
            1e16,
            1e21,
            9_007_199_254_740_992.0,
            9_007_199_254_740_994.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            assert_eq!(
                written(a),
                serde_json::to_string(&a).expect("serde_json"),
                "{a:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn whole_amounts_are_written_as_serde_json_writes_them(n in -2_000_000_000_000_000i64..2_000_000_000_000_000) {
            let a = n as f64;
            prop_assert_eq!(written(a), serde_json::to_string(&a).expect("serde_json"));
        }

        #[test]
        fn small_whole_amounts_are_written_as_serde_json_writes_them(n in -10_000_000i64..10_000_000) {
            let a = n as f64;
            prop_assert_eq!(written(a), serde_json::to_string(&a).expect("serde_json"));
        }

        /// NaN and the infinities included (serde_json writes `null`; amounts are checked
        /// finite on the way in, so a page never has one).
        #[test]
        fn any_amount_is_written_as_serde_json_writes_it(bits in any::<u64>()) {
            let a = f64::from_bits(bits);
            prop_assert_eq!(written(a), serde_json::to_string(&a).expect("serde_json"));
        }
    }
}
