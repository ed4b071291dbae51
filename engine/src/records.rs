//! Stored records: rkyv archives in the unaligned little-endian format (pinned in
//! `Cargo.toml`), read in place from sled's `IVec`s through checked access.
//!
//! Adding a field changes the archive layout: bump `store::FORMAT_VERSION` with it.

use rkyv::rancor;
use rkyv::{Archive, Deserialize, Serialize};

use crate::error::{DamagedRecord, Error, Result};
use crate::store::Bytes;

/// The engine's counters, written with every group that changes them.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub(crate) struct Meta {
    pub next_user: u64,
    pub next_group: u64,
    pub next_board: u64,
    pub next_column: u64,
    pub next_item: u64,
    /// The last focus-clock tick handed out (see `order`).
    pub focus_clock: u64,
    /// The sequence number of the last committed change.
    pub seq: u64,
    pub next_activity: u64,
    /// Timeline entries and seen-event rows share this counter.
    pub next_entry: u64,
    pub next_rule: u64,
    pub next_job: u64,
    pub next_file: u64,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct UserRec {
    pub id: u64,
    pub name: String,
    pub email: Option<String>,
    pub roles: Vec<String>,
    pub admin: bool,
    pub active: bool,
    /// SHA-256 of the bearer token; the token itself is never stored.
    pub token_hash: [u8; 32],
    pub created_at: i64,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct GroupRec {
    pub id: u64,
    pub name: String,
    pub members: Vec<u64>,
    pub created_at: i64,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct ModuleRec {
    pub key: String,
    pub name: String,
    pub builtin: bool,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct ColumnRec {
    pub id: u64,
    pub name: String,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct BoardRec {
    pub id: u64,
    pub module: String,
    pub name: String,
    pub columns: Vec<ColumnRec>,
    pub focus_enabled: bool,
    pub focus_lead_minutes: u32,
    pub created_at: i64,
    /// Since format 5.
    pub counter_mode: CounterMode,
}

/// Whose counter an overdue activity raises, per board (PRODUCT §2, "Counter modes").
/// `unread_items` always belongs to the item's responsible.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CounterMode {
    /// The item's responsible (the default).
    #[default]
    Item,
    /// The activity's own responsible: a colleague asked to make a call sees it in
    /// their counter.
    Activity,
}

/// A free field's value.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// A string.
    Str(String),
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
}

/// Why an item was last brought to the top of its column.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FocusReason {
    /// The item was created.
    Created,
    /// The item was moved to another column without an explicit position.
    Moved,
    /// A reminder of an open activity came due.
    Reminder,
    /// The deadline of an open activity was reached.
    Deadline,
    /// A comment by someone other than the responsible.
    Comment,
    /// An incoming e-mail.
    EmailIn,
    /// An incoming chat message.
    ChatIn,
    /// An incoming call.
    CallIn,
    /// A missed call.
    CallMissed,
}

impl FocusReason {
    /// Whether this trigger also raises the item's attention (all but create and move).
    pub(crate) fn raises_attention(self) -> bool {
        !matches!(self, FocusReason::Created | FocusReason::Moved)
    }
}

impl ArchivedTimelineKind {
    pub(crate) fn to_native(&self) -> TimelineKind {
        match self {
            ArchivedTimelineKind::Comment => TimelineKind::Comment,
            ArchivedTimelineKind::Note => TimelineKind::Note,
            ArchivedTimelineKind::Event => TimelineKind::Event,
            ArchivedTimelineKind::Change => TimelineKind::Change,
            ArchivedTimelineKind::Reminder => TimelineKind::Reminder,
            ArchivedTimelineKind::Deadline => TimelineKind::Deadline,
            ArchivedTimelineKind::Created => TimelineKind::Created,
            ArchivedTimelineKind::Deleted => TimelineKind::Deleted,
            ArchivedTimelineKind::Activity => TimelineKind::Activity,
            ArchivedTimelineKind::Status => TimelineKind::Status,
            ArchivedTimelineKind::Message => TimelineKind::Message,
            ArchivedTimelineKind::File => TimelineKind::File,
        }
    }
}

impl ArchivedFocusReason {
    pub(crate) fn to_native(&self) -> FocusReason {
        match self {
            ArchivedFocusReason::Created => FocusReason::Created,
            ArchivedFocusReason::Moved => FocusReason::Moved,
            ArchivedFocusReason::Reminder => FocusReason::Reminder,
            ArchivedFocusReason::Deadline => FocusReason::Deadline,
            ArchivedFocusReason::Comment => FocusReason::Comment,
            ArchivedFocusReason::EmailIn => FocusReason::EmailIn,
            ArchivedFocusReason::ChatIn => FocusReason::ChatIn,
            ArchivedFocusReason::CallIn => FocusReason::CallIn,
            ArchivedFocusReason::CallMissed => FocusReason::CallMissed,
        }
    }
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct FieldRec {
    pub key: String,
    pub value: FieldValue,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct ItemRec {
    pub id: u64,
    pub board: u64,
    pub column: u64,
    /// Position in the column (see `order`); the column index is rebuilt from it on open.
    pub order: Vec<u8>,
    pub title: String,
    pub responsible: u64,
    pub amount: f64,
    /// Sorted by key, unique keys.
    pub fields: Vec<FieldRec>,
    /// As given by the client; the contact index holds the normalized forms.
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub focused_at: i64,
    pub focus_reason: FocusReason,
    pub attention: u32,
    /// The entry seq counter when this row was written: entries with a focus redo and a
    /// seq at or above it are newer than the row (see [`FocusRedo`]).
    pub version: u64,
}

/// An item's focus state after the change an entry records, carried inside the entry so
/// that a focus caused by an event, a comment or a timer writes one row (the entry), not
/// the entry and the item. On open, an item's newest redo at or above the item row's
/// `version` overrides the row's focus fields.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct FocusRedo {
    pub order: Vec<u8>,
    pub focused_at: i64,
    pub focus_reason: FocusReason,
    pub attention: u32,
}

/// What kind of activity.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityKind {
    /// A call to make.
    Call,
    /// A meeting.
    Meeting,
    /// A task.
    Task,
    /// An e-mail to write.
    Email,
}

/// Bit of `ActivityRec::fired` for the deadline; bits 0–4 are the reminders.
pub(crate) const DEADLINE_BIT: u8 = 0x80;

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct ActivityRec {
    pub id: u64,
    pub item: u64,
    pub kind: ActivityKind,
    pub subject: String,
    pub deadline: i64,
    pub responsible: u64,
    /// Minutes before the deadline; `None` = the board's `focus_lead_minutes`.
    pub remind_before: Option<Vec<u32>>,
    pub created_at: i64,
    pub completed_at: Option<i64>,
    /// Which reminders (bit i) and the deadline (`DEADLINE_BIT`) have fired since the
    /// deadline was last set.
    pub fired: u8,
}

/// The value of an activity's `T` row: each pending timer's slot (0–4 a reminder, 7 the
/// deadline) and due time. The row's key carries the earliest of them.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub(crate) struct TimersRec {
    pub slots: Vec<u8>,
    pub dues: Vec<i64>,
}

/// What a timeline entry records.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimelineKind {
    /// A comment.
    Comment,
    /// A note.
    Note,
    /// An incoming or outgoing event from a gateway.
    Event,
    /// A change of the item's fields.
    Change,
    /// An activity's reminder fired.
    Reminder,
    /// An activity's deadline was reached.
    Deadline,
    /// The item was created.
    Created,
    /// The item was deleted.
    Deleted,
    /// An activity was planned on the item.
    Activity,
    /// A status message (to everyone, or to a group).
    Status,
    /// A direct message.
    Message,
    /// A file shared in a group.
    File,
}

impl TimelineKind {
    /// The kind a feed entry shows.
    pub fn feed_kind(self) -> FeedKind {
        match self {
            TimelineKind::Comment => FeedKind::Comment,
            TimelineKind::Note => FeedKind::Note,
            TimelineKind::Event => FeedKind::Event,
            TimelineKind::Change => FeedKind::RecordUpdated,
            TimelineKind::Reminder | TimelineKind::Deadline | TimelineKind::Activity => {
                FeedKind::Activity
            }
            TimelineKind::Created => FeedKind::RecordCreated,
            TimelineKind::Deleted => FeedKind::RecordDeleted,
            TimelineKind::Status => FeedKind::Status,
            TimelineKind::Message => FeedKind::DirectMessage,
            TimelineKind::File => FeedKind::File,
        }
    }
}

/// What a feed entry is about, as walls show and filter it (coarser than
/// [`TimelineKind`]: reminders, deadlines and planned activities are all `Activity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedKind {
    /// A status message.
    Status,
    /// A comment.
    Comment,
    /// A note.
    Note,
    /// A record was created.
    RecordCreated,
    /// A record's fields changed.
    RecordUpdated,
    /// A record was deleted.
    RecordDeleted,
    /// A gateway event.
    Event,
    /// An activity planned, reminded or due.
    Activity,
    /// A direct message.
    DirectMessage,
    /// A shared file.
    File,
}

/// A gateway event's kind.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Incoming e-mail (a focus).
    EmailIn,
    /// Incoming chat (a focus).
    ChatIn,
    /// Incoming call (a focus).
    CallIn,
    /// Missed call (a focus).
    CallMissed,
    /// Outgoing e-mail (timeline only).
    EmailOut,
    /// Outgoing call (timeline only).
    CallOut,
}

impl EventKind {
    /// The focus an event causes, if any.
    pub fn focus(self) -> Option<FocusReason> {
        match self {
            EventKind::EmailIn => Some(FocusReason::EmailIn),
            EventKind::ChatIn => Some(FocusReason::ChatIn),
            EventKind::CallIn => Some(FocusReason::CallIn),
            EventKind::CallMissed => Some(FocusReason::CallMissed),
            EventKind::EmailOut | EventKind::CallOut => None,
        }
    }
}

/// A value before or after a change, as the timeline keeps it.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) enum ValueRec {
    Null,
    Str(String),
    Num(f64),
    Bool(bool),
    User(u64),
    List(Vec<String>),
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct ChangeRec {
    pub field: String,
    pub old: ValueRec,
    pub new: ValueRec,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct TimelineRec {
    pub seq: u64,
    pub item: u64,
    pub at: i64,
    pub kind: TimelineKind,
    pub author: Option<u64>,
    pub text: String,
    pub event_kind: Option<EventKind>,
    pub event_id: Option<String>,
    pub activity: Option<u64>,
    pub changes: Vec<ChangeRec>,
    pub mentions_users: Vec<u64>,
    pub mentions_groups: Vec<u64>,
    pub mentions_roles: Vec<String>,
    /// The record's module key and title when the entry was written (empty otherwise).
    pub module: String,
    pub title: String,
    /// The group a status message or file was posted to, or a message sent to.
    pub group: Option<u64>,
    /// Direct messages: the recipients, resolved when sent (group members included).
    pub recipients: Vec<u64>,
    /// Files: the file id.
    pub file: Option<u64>,
    /// The users whose walls show the entry because of who they are at write time
    /// (followers of the record, mentioned users, message parties). Group, role and
    /// public audiences are resolved when a wall is read.
    pub audience: Vec<u64>,
    /// The item's focus state after this entry's change, when the entry caused a focus.
    pub redo: Option<FocusRedo>,
}

/// The item an entry is about; `item` is 0 on disk for entries about no record (status
/// messages, direct messages, files), since item ids start at 1.
pub(crate) fn about(item: u64) -> Option<crate::ids::ItemId> {
    (item != 0).then_some(crate::ids::ItemId(item))
}

impl TimelineRec {
    /// The item this entry is about, if any.
    pub(crate) fn about(&self) -> Option<crate::ids::ItemId> {
        about(self.item)
    }
}

/// The stored part of a follow of one record by one user. The owner reason is not stored:
/// it is the item's responsible.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub(crate) struct FollowRec {
    pub manual: bool,
    /// Ids of the user's auto-follow rules that matched.
    pub rules: Vec<u64>,
    /// Set by Unfollow: no reason makes the user follow again until Follow.
    pub unfollowed: bool,
    pub since: i64,
}

/// `V` + board + user: the user follows every record of the board, present and future
/// (PRODUCT §4). No row per record: a record's board followers are found through its board.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct BoardFollowRec {
    pub since: i64,
}

/// A condition of an auto-follow rule.
/// A comparison operator of an auto-follow rule. Stored in `CriterionRec` as an rkyv
/// enum tag: new operators go at the end.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// Substring, case-insensitive (strings only).
    Contains,
    /// Equal to one of a list.
    In,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct CriterionRec {
    pub field: String,
    pub op: Op,
    pub value: RuleValueRec,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) enum RuleValueRec {
    Str(String),
    Num(f64),
    Bool(bool),
    List(Vec<RuleScalarRec>),
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) enum RuleScalarRec {
    Str(String),
    Num(f64),
    Bool(bool),
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct RuleRec {
    pub id: u64,
    pub user: u64,
    pub name: String,
    pub module: String,
    pub criteria: Vec<CriterionRec>,
    pub created_at: i64,
}

/// A job's state. Stored in `JobRec` as an rkyv enum tag: new states go at the end.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Still going.
    Running,
    /// Finished.
    Done,
    /// Stopped (its rule was deleted).
    Failed,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct JobRec {
    pub id: u64,
    pub rule: u64,
    pub user: u64,
    pub module: String,
    pub state: JobState,
    pub done: u64,
    pub total: u64,
    /// The last item id processed; the job resumes after it.
    pub cursor: u64,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct FileRec {
    pub id: u64,
    pub group: u64,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    pub author: u64,
    pub at: i64,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub(crate) struct PrefsRec {
    pub disabled_modules: Vec<String>,
}

/// The event ids one ingest command accepted (or found unmatched): hashes of them, so
/// that a later event with the same id is a duplicate for ever. One row per command,
/// appended; the in-memory set is rebuilt from these rows on open.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct SeenRec {
    pub hashes: Vec<u128>,
}

/// Serializes a record to the bytes stored in sled.
pub(crate) fn encode<T>(value: &T) -> Result<Bytes>
where
    T: for<'a> Serialize<
        rkyv::api::high::HighSerializer<
            rkyv::util::AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'a>,
            rancor::Error,
        >,
    >,
{
    rkyv::to_bytes::<rancor::Error>(value)
        .map(|v| Bytes::from(v.as_slice()))
        .map_err(|e| Error::Corrupt(format!("encode: {e}")))
}

/// Checked zero-copy view of stored bytes. Never unchecked: bytes come from disk.
///
/// The low-level validator checks every pointer, length and UTF-8 string like the high
/// one, without the shared-pointer registry our records have no use for (no `Rc`/`Arc`
/// inside). It runs with rkyv's zero-cost `Failure` error, and only when that fails again
/// with the descriptive one, so the message is kept without paying for it on every read.
pub(crate) fn access<T>(bytes: &[u8]) -> Result<&T>
where
    T: rkyv::Portable
        + for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::low::LowValidator<'a, rancor::Failure>>
        + for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::low::LowValidator<'a, rancor::Error>>,
{
    match rkyv::api::low::access::<T, rancor::Failure>(bytes) {
        Ok(v) => Ok(v),
        Err(_) => match rkyv::api::low::access::<T, rancor::Error>(bytes) {
            Ok(v) => Ok(v),
            Err(e) => Err(Error::Corrupt(e.to_string())),
        },
    }
}

/// Checked access, then a full copy into the owned type.
pub(crate) fn decode<T>(bytes: &[u8]) -> Result<T>
where
    T: Archive,
    T::Archived: rkyv::Portable
        + for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::low::LowValidator<'a, rancor::Failure>>
        + for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::low::LowValidator<'a, rancor::Error>>
        + Deserialize<T, rkyv::api::high::HighDeserializer<rancor::Error>>,
{
    let archived = access::<T::Archived>(bytes)?;
    rkyv::deserialize::<T, rancor::Error>(archived).map_err(|e| Error::Corrupt(e.to_string()))
}

/// The record at `key` as a salvage lists it.
fn noted(key: &[u8], value: &Bytes, reason: String) -> DamagedRecord {
    DamagedRecord {
        key: crate::store::describe_key(key),
        reason,
        saved_to: None,
        raw_key: key.to_vec(),
        value: value.to_vec(),
    }
}

/// How an open treats a record that fails its check: refuse to open, naming the record
/// ([`Error::Damaged`]), or, salvaging, skip it and list it.
pub(crate) struct Checks {
    salvage: bool,
    damaged: parking_lot::Mutex<Vec<DamagedRecord>>,
}

impl Checks {
    /// Every damaged record is an error.
    pub(crate) fn strict() -> Checks {
        Checks {
            salvage: false,
            damaged: parking_lot::Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn salvaging() -> Checks {
        Checks {
            salvage: true,
            ..Checks::strict()
        }
    }

    /// `checked` (the record at `key`, `value` read through [`access`] or [`decode`]):
    /// its value, or for a record that failed the check, [`Error::Damaged`], or when
    /// salvaging `None` (skip it) with the record noted. Other errors (I/O) pass through.
    pub(crate) fn record<T>(
        &self,
        key: &[u8],
        value: &Bytes,
        checked: Result<T>,
    ) -> Result<Option<T>> {
        match checked {
            Ok(v) => Ok(Some(v)),
            Err(Error::Corrupt(reason)) => {
                let d = noted(key, value, reason);
                if self.salvage {
                    self.damaged.lock().push(d);
                    Ok(None)
                } else {
                    Err(Error::Damaged(Box::new(d)))
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Salvaging: notes the sound record at `key` as set aside with the damaged one it
    /// depends on (`why`) and answers `true` (skip it); else `false` (keep it).
    pub(crate) fn set_aside(&self, key: &[u8], value: &Bytes, why: &str) -> bool {
        if self.salvage {
            self.damaged.lock().push(noted(key, value, why.to_string()));
        }
        self.salvage
    }

    /// The records skipped, in key order.
    pub(crate) fn into_damaged(self) -> Vec<DamagedRecord> {
        let mut d = self.damaged.into_inner();
        d.sort_by(|a, b| a.raw_key.cmp(&b.raw_key));
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_records_read_at_any_alignment() {
        // sled keeps values up to 22 bytes inline at an odd offset, and subslices can start
        // anywhere: access must not depend on alignment.
        let m = ModuleRec {
            key: "deal".into(),
            name: "D".into(),
            builtin: true,
        };
        let bytes = encode(&m).expect("encode");
        assert!(
            bytes.len() <= 22,
            "inline-sized record, got {}",
            bytes.len()
        );
        for shift in 0..8 {
            let mut buf = vec![0u8; shift];
            buf.extend_from_slice(&bytes);
            let back: ModuleRec = decode(&buf[shift..]).expect("decode");
            assert_eq!(back, m);
        }
    }

    #[test]
    fn garbage_is_reported_not_trusted() {
        let r = decode::<ItemRec>(&[0xff; 7]);
        assert!(matches!(r, Err(Error::Corrupt(_))));
    }
}
