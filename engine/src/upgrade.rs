//! Format upgrades, in place, on open, before anything reads the records.
//!
//! One step per version, each one atomic batch whose last row sets the new version: a
//! crash in the middle of a step leaves the old version and its rows, and the next open
//! runs the step again. After the last step the store is flushed (and synced) once.
//! The record layouts a step reads are kept here, frozen, under the version that wrote
//! them; the current layouts are in `records`. Tested on stores written by old builds:
//! `tests/fixtures/store-v2` … `store-v6` (`tests/tests/it/engine/upgrade.rs`).

use rkyv::{Archive, Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::records::{
    self, BoardRec, ColumnRec, CounterMode, CriterionRec, JobRec, JobState, Op, RuleRec,
    RuleValueRec,
};
use crate::store::{self, Batch, Store};

/// Brings the store's records up to [`store::FORMAT_VERSION`].
pub(crate) fn run(store: &Store) -> Result<()> {
    let from = store.format()?;
    let mut version = from;
    while version < store::FORMAT_VERSION {
        let mut batch = match version {
            2 => two_to_three(store)?,
            3 => three_to_four(store)?,
            4 => four_to_five(store)?,
            // 5 → 6: entries are written in packs (`K` rows) from now on; the `E` rows of
            // the entries written before stay as they are and are read as they are
            // (`Store::entry`). Nothing is rewritten: the step only sets the version, so
            // that an older build, which would not see the packs, refuses the store.
            5 => Batch::default(),
            // 6 → 7: packs are stored compressed when that is shorter (`packs.rs`, codec
            // byte); format 6's packs read as the raw codec. Nothing is rewritten: the
            // step only sets the version, so that a format-6 build, which would misread a
            // compressed pack, refuses the store. A format-6 checkpoint stays valid.
            6 => Batch::default(),
            found => {
                return Err(Error::UnknownFormat {
                    found,
                    expected: store::FORMAT_VERSION,
                })
            }
        };
        version += 1;
        batch.put_format(version);
        store.apply(batch)?;
    }
    if from != version {
        store.flush()?;
        tracing::info!(
            dir = %store.dir().display(),
            from,
            to = version,
            "upgraded the data directory's format"
        );
    }
    Ok(())
}

/// 2 → 3: every whole-file `Z` + id value becomes `Z` + id + chunk rows. `S` rows stay as
/// they are: a reader takes any size.
fn two_to_three(store: &Store) -> Result<Batch> {
    let mut batch = Batch::default();
    for kv in store.scan(store::FILE_DATA) {
        let (k, v) = kv?;
        if k.len() != 9 {
            continue;
        }
        let id = store::key_id(&k).ok_or_else(|| Error::Corrupt(format!("file key {k:?}")))?;
        batch.delete(&k);
        batch.put_file(id, &v);
    }
    Ok(batch)
}

/// The layouts format 3 wrote and format 4 changed.
mod v3 {
    use super::*;

    #[derive(Archive, Serialize, Deserialize)]
    pub(super) struct CriterionRec {
        pub field: String,
        /// The wire name: `eq ne gt gte lt lte contains in`.
        pub op: String,
        pub value: RuleValueRec,
    }

    #[derive(Archive, Serialize, Deserialize)]
    pub(super) struct RuleRec {
        pub id: u64,
        pub user: u64,
        pub name: String,
        pub module: String,
        pub criteria: Vec<CriterionRec>,
        pub created_at: i64,
    }

    #[derive(Archive, Serialize, Deserialize)]
    pub(super) struct JobRec {
        pub id: u64,
        pub rule: u64,
        pub user: u64,
        pub module: String,
        /// 0 running, 1 done, 2 failed.
        pub state: u8,
        pub done: u64,
        pub total: u64,
        pub cursor: u64,
    }
}

/// 3 → 4: rule operators and job states become enums. An operator or state this build
/// does not know is a damaged record, reported by key (format 3 wrote only known ones).
fn three_to_four(store: &Store) -> Result<Batch> {
    let mut batch = Batch::default();
    for kv in store.scan(store::RULE) {
        let (k, v) = kv?;
        let old = records::decode::<v3::RuleRec>(&v)?;
        let criteria = old
            .criteria
            .into_iter()
            .map(|c| {
                let op = match c.op.as_str() {
                    "eq" => Op::Eq,
                    "ne" => Op::Ne,
                    "gt" => Op::Gt,
                    "gte" => Op::Gte,
                    "lt" => Op::Lt,
                    "lte" => Op::Lte,
                    "contains" => Op::Contains,
                    "in" => Op::In,
                    other => {
                        return Err(Error::Corrupt(format!(
                            "rule row {k:?}: unknown operator {other:?}"
                        )))
                    }
                };
                Ok(CriterionRec {
                    field: c.field,
                    op,
                    value: c.value,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let new = RuleRec {
            id: old.id,
            user: old.user,
            name: old.name,
            module: old.module,
            criteria,
            created_at: old.created_at,
        };
        batch.put(&k, records::encode(&new)?);
    }
    for kv in store.scan(store::JOB) {
        let (k, v) = kv?;
        let old = records::decode::<v3::JobRec>(&v)?;
        let state = match old.state {
            0 => JobState::Running,
            1 => JobState::Done,
            2 => JobState::Failed,
            other => {
                return Err(Error::Corrupt(format!(
                    "job row {k:?}: unknown state {other}"
                )))
            }
        };
        let new = JobRec {
            id: old.id,
            rule: old.rule,
            user: old.user,
            module: old.module,
            state,
            done: old.done,
            total: old.total,
            cursor: old.cursor,
        };
        batch.put(&k, records::encode(&new)?);
    }
    Ok(batch)
}

/// The layout format 4 wrote and format 5 changed.
mod v4 {
    use super::*;

    #[derive(Archive, Serialize, Deserialize)]
    pub(super) struct BoardRec {
        pub id: u64,
        pub module: String,
        pub name: String,
        pub columns: Vec<ColumnRec>,
        pub focus_enabled: bool,
        pub focus_lead_minutes: u32,
        pub created_at: i64,
    }
}

/// 4 → 5: boards gain their counter mode, `item` (the default). Format 4 counted an
/// overdue activity for the activity's own responsible; from format 5 a board counts it
/// for the item's responsible unless switched to `activity` (counters are rebuilt on
/// open, so nothing else is rewritten).
fn four_to_five(store: &Store) -> Result<Batch> {
    let mut batch = Batch::default();
    for kv in store.scan(store::BOARD) {
        let (k, v) = kv?;
        let old = records::decode::<v4::BoardRec>(&v)?;
        let new = BoardRec {
            id: old.id,
            module: old.module,
            name: old.name,
            columns: old.columns,
            focus_enabled: old.focus_enabled,
            focus_lead_minutes: old.focus_lead_minutes,
            created_at: old.created_at,
            counter_mode: CounterMode::Item,
        };
        batch.put(&k, records::encode(&new)?);
    }
    Ok(batch)
}
