//! Stored records: rkyv archives in the unaligned little-endian format (pinned in
//! `Cargo.toml`), read in place from sled's `IVec`s through checked access.
//!
//! Adding a field changes the archive layout: bump `store::FORMAT_VERSION` with it.

use rkyv::rancor;
use rkyv::{Archive, Deserialize, Serialize};

use crate::error::{Error, Result};
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
    /// The wire name (`focus_reason` in API.md).
    pub fn as_str(self) -> &'static str {
        match self {
            FocusReason::Created => "created",
            FocusReason::Moved => "moved",
            FocusReason::Reminder => "reminder",
            FocusReason::Deadline => "deadline",
            FocusReason::Comment => "comment",
            FocusReason::EmailIn => "email_in",
            FocusReason::ChatIn => "chat_in",
            FocusReason::CallIn => "call_in",
            FocusReason::CallMissed => "call_missed",
        }
    }

    /// Whether this trigger also raises the item's attention (all but create and move).
    pub(crate) fn raises_attention(self) -> bool {
        !matches!(self, FocusReason::Created | FocusReason::Moved)
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
    pub next_deadline: Option<i64>,
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
pub(crate) fn access<T>(bytes: &[u8]) -> Result<&T>
where
    T: rkyv::Portable
        + for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'a, rancor::Error>>,
{
    rkyv::access::<T, rancor::Error>(bytes).map_err(|e| Error::Corrupt(e.to_string()))
}

/// Checked access, then a full copy into the owned type.
pub(crate) fn decode<T>(bytes: &[u8]) -> Result<T>
where
    T: Archive,
    T::Archived: rkyv::Portable
        + for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'a, rancor::Error>>
        + Deserialize<T, rkyv::api::high::HighDeserializer<rancor::Error>>,
{
    let archived = access::<T::Archived>(bytes)?;
    rkyv::deserialize::<T, rancor::Error>(archived).map_err(|e| Error::Corrupt(e.to_string()))
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
        assert!(bytes.len() <= 22, "inline-sized record, got {}", bytes.len());
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
