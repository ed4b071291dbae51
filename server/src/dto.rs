//! Wire types: what the API reads and writes. Engine types are not wire types; handlers
//! convert at the boundary. Item pages serialize straight from the stored records
//! (`ItemJson`), never through a `serde_json::Value`.

use std::collections::BTreeMap;

use hoist_engine::{FieldRef, FieldValue, ItemRef, ItemView, Millis};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

use crate::extract::empty_as_none;
use crate::wire::{
    follow_reason, ActivityKindIo, ActivityStateIo, EventKindIo, EventStatus, FeedKindIo,
    FocusReasonIo, JobStateIo, OpIo, TimelineKindIo,
};

/// RFC 3339 in UTC, with milliseconds only when they are not zero.
pub(crate) fn time(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms.0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// `{"status":"ok"}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    pub status: &'static str,
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUser {
    pub name: String,
    pub email: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub admin: bool,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct UserOut {
    pub id: u64,
    pub name: String,
    pub email: Option<String>,
    pub roles: Vec<String>,
    pub admin: bool,
    pub active: bool,
}

impl From<hoist_engine::User> for UserOut {
    fn from(u: hoist_engine::User) -> UserOut {
        UserOut {
            id: u.id.0,
            name: u.name,
            email: u.email,
            roles: u.roles,
            admin: u.admin,
            active: u.active,
        }
    }
}

/// A created user with its token, shown this once.
#[derive(Serialize, ToSchema)]
pub(crate) struct UserCreated {
    pub id: u64,
    pub name: String,
    pub email: Option<String>,
    pub roles: Vec<String>,
    pub admin: bool,
    pub token: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TokenOut {
    pub token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateGroup {
    pub name: String,
    #[serde(default)]
    pub members: Vec<u64>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct GroupOut {
    pub id: u64,
    pub name: String,
    pub members: Vec<u64>,
}

impl From<hoist_engine::Group> for GroupOut {
    fn from(g: hoist_engine::Group) -> GroupOut {
        GroupOut {
            id: g.id.0,
            name: g.name,
            members: g.members.into_iter().map(|m| m.0).collect(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateModule {
    /// `[a-z][a-z0-9_]{1,31}`
    pub key: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ModuleOut {
    pub key: String,
    pub name: String,
    pub builtin: bool,
}

impl From<hoist_engine::Module> for ModuleOut {
    fn from(m: hoist_engine::Module) -> ModuleOut {
        ModuleOut {
            key: m.key,
            name: m.name,
            builtin: m.builtin,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ColumnIn {
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBoard {
    pub module: String,
    pub name: String,
    pub columns: Vec<ColumnIn>,
    pub focus_enabled: Option<bool>,
    /// 0–10080, default 15.
    pub focus_lead_minutes: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchBoard {
    pub name: Option<String>,
    pub focus_enabled: Option<bool>,
    pub focus_lead_minutes: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ColumnOut {
    pub id: u64,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct BoardOut {
    pub id: u64,
    pub module: String,
    pub name: String,
    pub columns: Vec<ColumnOut>,
    pub focus_enabled: bool,
    pub focus_lead_minutes: u32,
}

impl From<hoist_engine::Board> for BoardOut {
    fn from(b: hoist_engine::Board) -> BoardOut {
        BoardOut {
            id: b.id.0,
            module: b.module,
            name: b.name,
            columns: b
                .columns
                .into_iter()
                .map(|c| ColumnOut {
                    id: c.id.0,
                    name: c.name,
                })
                .collect(),
            focus_enabled: b.focus_enabled,
            focus_lead_minutes: b.focus_lead_minutes,
        }
    }
}

/// `after`: the column to follow; `0` places the column first; absent: at the end.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateColumn {
    pub name: String,
    pub after: Option<u64>,
}

/// `after`: the column to follow; `0` moves the column first; absent: stays.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchColumn {
    pub name: Option<String>,
    pub after: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteColumnQuery {
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub move_to: Option<u64>,
}

/// A free field's value: a string, a number or a boolean.
#[derive(Deserialize, Serialize, ToSchema, Clone)]
#[serde(untagged)]
pub(crate) enum FieldIn {
    Bool(bool),
    Num(f64),
    Str(String),
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
    pub phones: Vec<String>,
    #[serde(default)]
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
    pub title: String,
    pub responsible: Option<u64>,
    pub amount: Option<f64>,
    #[schema(value_type = Option<BTreeMap<String, FieldIn>>)]
    pub fields: Option<BTreeMap<String, FieldIn>>,
    pub contacts: Option<ContactsIo>,
}

/// Fields present are changed; in `fields`, `null` removes a key and other keys stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchItem {
    pub title: Option<String>,
    pub responsible: Option<u64>,
    pub amount: Option<f64>,
    #[schema(value_type = Option<BTreeMap<String, FieldIn>>)]
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
        st.serialize_field(f_created, &time(r.created_at()))?;
        st.serialize_field(f_updated, &time(r.updated_at()))?;
        st.serialize_field(f_focused, &time(r.focused_at()))?;
        st.serialize_field(f_reason, &FocusReasonIo::from(r.focus_reason()))?;
        st.serialize_field(f_attention, &r.attention())?;
        st.serialize_field(f_unread, &r.unread())?;
        st.serialize_field(f_deadline, &r.next_deadline().map(time))?;
        st.end()
    }
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

/// `{"items": [...], "next_cursor": ...}` for item pages.
#[derive(Serialize)]
pub(crate) struct ItemPageJson<'a> {
    pub items: ItemsJson<'a>,
    pub next_cursor: Option<&'a str>,
}

/// A page of items (the schema of `ItemPageJson`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ItemPage {
    pub items: Vec<Item>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct KanbanColumnJson<'a> {
    pub id: u64,
    pub name: &'a str,
    pub count: u64,
    pub unread: u64,
    pub items: ItemsJson<'a>,
    pub next_cursor: Option<&'a str>,
}

#[derive(Serialize)]
pub(crate) struct KanbanJson<'a> {
    pub columns: Vec<KanbanColumnJson<'a>>,
}

/// One column of the Kanban view (schema).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct KanbanColumn {
    pub id: u64,
    pub name: String,
    pub count: u64,
    pub unread: u64,
    pub items: Vec<Item>,
    pub next_cursor: Option<String>,
}

/// The Kanban view (schema).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Kanban {
    pub columns: Vec<KanbanColumn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub limit: Option<usize>,
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KanbanQuery {
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub per_column: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub limit: Option<usize>,
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub cursor: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub responsible: Option<u64>,
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub unread: Option<bool>,
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub column: Option<u64>,
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

/// Parses an RFC 3339 time, naming the field on error.
pub(crate) fn parse_time(field: &str, s: &str) -> Result<Millis, crate::error::ApiError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| Millis(t.timestamp_millis()))
        .map_err(|e| {
            crate::error::ApiError::invalid(format!("{field}: not an RFC 3339 time ({e})"))
        })
}

/// Whom a comment or post mentions.
#[derive(Deserialize, Serialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct MentionsIo {
    #[serde(default)]
    pub users: Vec<u64>,
    #[serde(default)]
    pub groups: Vec<u64>,
    #[serde(default)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateComment {
    pub text: String,
    pub mentions: Option<MentionsIo>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateNote {
    pub text: String,
}

/// A changed field's value, before or after.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum ValueOut {
    Null(Option<bool>),
    Str(String),
    Num(f64),
    Bool(bool),
    Id(u64),
    List(Vec<String>),
}

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

/// A timeline entry.
#[derive(Serialize, ToSchema)]
pub(crate) struct TimelineEntryOut {
    pub id: u64,
    pub item: u64,
    pub kind: TimelineKindIo,
    pub at: String,
    pub author: Option<u64>,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_kind: Option<EventKindIo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<ChangeOut>,
    pub mentions: MentionsIo,
}

impl From<hoist_engine::TimelineEntry> for TimelineEntryOut {
    fn from(e: hoist_engine::TimelineEntry) -> TimelineEntryOut {
        TimelineEntryOut {
            id: e.id.0,
            item: e.item.0,
            kind: e.kind.into(),
            at: time(e.at),
            author: e.author.map(|a| a.0),
            text: e.text,
            event_kind: e.event_kind.map(EventKindIo::from),
            event_id: e.event_id,
            activity: e.activity.map(|a| a.0),
            changes: e.changes.into_iter().map(ChangeOut::from).collect(),
            mentions: e.mentions.into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TimelinePage {
    pub items: Vec<TimelineEntryOut>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateActivity {
    pub kind: ActivityKindIo,
    pub subject: String,
    /// RFC 3339
    pub deadline: String,
    pub responsible: Option<u64>,
    /// Up to 5 offsets, 0–10080 minutes; absent: the board's `focus_lead_minutes`.
    pub remind_before_minutes: Option<Vec<i64>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchActivity {
    pub subject: Option<String>,
    pub deadline: Option<String>,
    pub remind_before_minutes: Option<Vec<i64>>,
}

/// An activity.
#[derive(Serialize, ToSchema)]
pub(crate) struct ActivityOut {
    pub id: u64,
    pub item: u64,
    pub kind: ActivityKindIo,
    pub subject: String,
    pub deadline: String,
    pub responsible: u64,
    /// `null`: the board's lead applies.
    pub remind_before_minutes: Option<Vec<u32>>,
    pub state: ActivityStateIo,
    pub completed_at: Option<String>,
    pub created_at: String,
}

impl From<hoist_engine::Activity> for ActivityOut {
    fn from(a: hoist_engine::Activity) -> ActivityOut {
        ActivityOut {
            id: a.id.0,
            item: a.item.0,
            kind: a.kind.into(),
            subject: a.subject,
            deadline: time(a.deadline),
            responsible: a.responsible.0,
            remind_before_minutes: a.remind_before_minutes,
            state: a.state.into(),
            completed_at: a.completed_at.map(time),
            created_at: time(a.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ActivityPage {
    pub items: Vec<ActivityOut>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActivitiesQuery {
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub responsible: Option<u64>,
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub board: Option<u64>,
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub limit: Option<usize>,
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CountersQuery {
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub user: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ColumnCountersOut {
    pub column: u64,
    pub unread_items: u64,
    pub overdue_activities: u64,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct BoardCountersOut {
    pub board: u64,
    pub unread_items: u64,
    pub overdue_activities: u64,
    pub columns: Vec<ColumnCountersOut>,
}

/// A user's counters as responsible.
#[derive(Serialize, ToSchema)]
pub(crate) struct CountersOut {
    pub user: u64,
    pub unread_items: u64,
    pub overdue_activities: u64,
    pub total: u64,
    pub boards: Vec<BoardCountersOut>,
}

impl From<hoist_engine::Counters> for CountersOut {
    fn from(c: hoist_engine::Counters) -> CountersOut {
        CountersOut {
            user: c.user.0,
            unread_items: c.unread_items,
            overdue_activities: c.overdue_activities,
            total: c.total,
            boards: c
                .boards
                .into_iter()
                .map(|b| BoardCountersOut {
                    board: b.board.0,
                    unread_items: b.unread_items,
                    overdue_activities: b.overdue_activities,
                    columns: b
                        .columns
                        .into_iter()
                        .map(|x| ColumnCountersOut {
                            column: x.column.0,
                            unread_items: x.unread_items,
                            overdue_activities: x.overdue_activities,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContactIn {
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// An event from a gateway.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventIn {
    /// 1–128 characters; a second event with the same id is a duplicate for ever.
    pub id: String,
    pub kind: EventKindIo,
    pub item: Option<u64>,
    pub contact: Option<ContactIn>,
    /// RFC 3339
    pub at: Option<String>,
    pub summary: Option<String>,
}

impl EventIn {
    pub(crate) fn into_event(self) -> Result<hoist_engine::NewEvent, crate::error::ApiError> {
        let at = self
            .at
            .as_deref()
            .map(|a| parse_time("at", a))
            .transpose()?;
        let (phone, email) = match self.contact {
            Some(c) => (c.phone, c.email),
            None => (None, None),
        };
        Ok(hoist_engine::NewEvent {
            id: self.id,
            kind: self.kind.into(),
            item: self.item.map(hoist_engine::ItemId),
            phone,
            email,
            at,
            summary: self.summary,
        })
    }
}

/// One event's outcome.
#[derive(Serialize, ToSchema)]
pub(crate) struct EventResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub status: EventStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInner>,
}

/// The answer to a batch of events.
#[derive(Serialize, ToSchema)]
pub(crate) struct EventBatchOut {
    pub accepted: usize,
    pub duplicates: usize,
    pub unmatched: usize,
    pub rejected: usize,
    pub results: Vec<EventResult>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventBatchQuery {
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub intake_board: Option<u64>,
}

/// A feed entry.
#[derive(Serialize, ToSchema)]
pub(crate) struct FeedEntryOut {
    pub id: u64,
    pub kind: FeedKindIo,
    pub at: String,
    pub author: Option<u64>,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<u64>,
    pub mentions: MentionsIo,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<ChangeOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<u64>,
}

impl From<hoist_engine::FeedEntry> for FeedEntryOut {
    fn from(e: hoist_engine::FeedEntry) -> FeedEntryOut {
        let is_dm = e.kind == hoist_engine::FeedKind::DirectMessage;
        FeedEntryOut {
            id: e.id.0,
            kind: e.kind.into(),
            at: time(e.at),
            author: e.author.map(|a| a.0),
            text: e.text,
            module: e.module,
            item: e.item.map(|i| i.0),
            title: e.title,
            group: e.group.map(|g| g.0),
            mentions: e.mentions.into(),
            changes: e.changes.into_iter().map(ChangeOut::from).collect(),
            recipients: is_dm.then(|| e.recipients.iter().map(|u| u.0).collect()),
            file: e.file,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct FeedPage {
    pub items: Vec<FeedEntryOut>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreatePost {
    pub text: String,
    pub group: Option<u64>,
    pub mentions: Option<MentionsIo>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateMessage {
    pub text: String,
    #[serde(default)]
    pub to_users: Vec<u64>,
    pub to_group: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MessagesQuery {
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub with: Option<u64>,
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub limit: Option<usize>,
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileQuery {
    pub name: String,
}

/// A shared file.
#[derive(Serialize, ToSchema)]
pub(crate) struct FileOut {
    pub id: u64,
    pub name: String,
    pub size: u64,
    pub content_type: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FollowsQuery {
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub module: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub limit: Option<usize>,
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InactiveQuery {
    pub days: i64,
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub limit: Option<usize>,
    #[serde(default, deserialize_with = "empty_as_none::deserialize")]
    pub cursor: Option<String>,
}

/// A record in "Followed by me".
#[derive(Serialize, ToSchema)]
pub(crate) struct FollowedOut {
    pub item: u64,
    pub module: String,
    pub title: String,
    /// `owner`, `manual`, `rule:<id>`
    pub reasons: Vec<String>,
    pub updated_at: String,
}

impl From<hoist_engine::Followed> for FollowedOut {
    fn from(f: hoist_engine::Followed) -> FollowedOut {
        FollowedOut {
            item: f.item.0,
            module: f.module,
            title: f.title,
            reasons: f.reasons.into_iter().map(follow_reason).collect(),
            updated_at: time(f.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct FollowedPage {
    pub items: Vec<FollowedOut>,
    pub next_cursor: Option<String>,
}

/// A rule value: a string, number or boolean, or a list of them for `in`.
#[derive(Deserialize, Serialize, ToSchema, Clone)]
#[serde(untagged)]
pub(crate) enum RuleValueIo {
    Bool(bool),
    Num(f64),
    Str(String),
    #[schema(no_recursion)]
    List(Vec<RuleValueIo>),
}

impl From<RuleValueIo> for hoist_engine::RuleValue {
    fn from(v: RuleValueIo) -> hoist_engine::RuleValue {
        use hoist_engine::RuleValue as V;
        match v {
            RuleValueIo::Bool(b) => V::Bool(b),
            RuleValueIo::Num(n) => V::Num(n),
            RuleValueIo::Str(s) => V::Str(s),
            RuleValueIo::List(l) => V::List(l.into_iter().map(Into::into).collect()),
        }
    }
}

impl From<hoist_engine::RuleValue> for RuleValueIo {
    fn from(v: hoist_engine::RuleValue) -> RuleValueIo {
        use hoist_engine::RuleValue as V;
        match v {
            V::Bool(b) => RuleValueIo::Bool(b),
            V::Num(n) => RuleValueIo::Num(n),
            V::Str(s) => RuleValueIo::Str(s),
            V::List(l) => RuleValueIo::List(l.into_iter().map(Into::into).collect()),
        }
    }
}

/// A condition: `field` is `amount`, `title`, `column`, `board`, `responsible` or a free
/// field's key.
#[derive(Deserialize, Serialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct CriterionIo {
    pub field: String,
    pub op: OpIo,
    pub value: RuleValueIo,
}

impl From<CriterionIo> for hoist_engine::Criterion {
    fn from(c: CriterionIo) -> hoist_engine::Criterion {
        hoist_engine::Criterion {
            field: c.field,
            op: c.op.into(),
            value: c.value.into(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRule {
    pub name: String,
    pub module: String,
    pub criteria: Vec<CriterionIo>,
    #[serde(default)]
    pub apply_to_existing: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchRule {
    pub name: Option<String>,
    pub criteria: Option<Vec<CriterionIo>>,
}

/// An auto-follow rule.
#[derive(Serialize, ToSchema)]
pub(crate) struct RuleOut {
    pub id: u64,
    pub name: String,
    pub module: String,
    pub criteria: Vec<CriterionIo>,
    /// The `apply_to_existing` job, when one was started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<u64>,
}

impl RuleOut {
    pub(crate) fn new(r: hoist_engine::Rule, job: Option<u64>) -> RuleOut {
        RuleOut {
            id: r.id,
            name: r.name,
            module: r.module,
            criteria: r
                .criteria
                .into_iter()
                .map(|c| CriterionIo {
                    field: c.field,
                    op: c.op.into(),
                    value: c.value.into(),
                })
                .collect(),
            job,
        }
    }
}

/// A background job's progress.
#[derive(Serialize, ToSchema)]
pub(crate) struct JobOut {
    pub id: u64,
    pub state: JobStateIo,
    pub done: u64,
    pub total: u64,
}

/// Modules switched off in every feed.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Preferences {
    pub disabled_modules: Vec<String>,
}
