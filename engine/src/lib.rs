//! Hoist: an embedded storage engine for CRM Kanban boards.
//!
//! Items live on boards, in columns, in *focus order*: whatever needs a person (a new item,
//! an incoming call, a deadline) rises to the top of its column by itself. The engine keeps
//! that order exact for columns of millions of items, durably, with one writer and group
//! commit, and serves pages from memory in time proportional to the page.
//!
//! ```no_run
//! use hoist_engine::{Config, Engine, NewBoard, NewItem, PageRequest};
//! # fn main() -> hoist_engine::Result<()> {
//! let engine = Engine::open("./hoist-data", Config::default())?;
//! let admin = engine.bootstrap_admin(None)?;
//! # let _ = admin;
//! let me = engine.users()[0].id;
//! let board = engine.create_board(NewBoard {
//!     module: "deal".into(),
//!     name: "Sales".into(),
//!     columns: vec!["New".into(), "Won".into()],
//!     ..NewBoard::default()
//! })?;
//! let item = engine.create_item(me, NewItem {
//!     board: board.id,
//!     title: "ACME renewal".into(),
//!     ..NewItem::default()
//! })?;
//! let page = engine.column_page(board.id, board.columns[0].id, &PageRequest::default())?;
//! assert_eq!(page.items[0].get()?.id(), item.get()?.id());
//! # Ok(()) }
//! ```
//!
//! See `ARCHITECTURE.md` for the write and read paths and `docs/format.md` for the bytes.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod activity;
mod auth;
mod autofollow;
mod backup;
mod board;
mod changes;
mod checkpoint;
mod chunked;
mod clock;
mod counters;
mod cursor;
mod deadline_index;
mod deadlines;
mod engine;
mod entry;
mod error;
mod events;
mod feed;
mod focus;
mod follow;
mod hashing;
mod ids;
mod item;
mod item_seqs;
mod item_view;
mod jobs;
mod open;
mod order;
mod page;
mod posts;
mod records;
mod rules;
mod seen;
mod state;
mod store;
mod timeline;
mod timer;
mod upgrade;
mod validate;
mod view;
mod walls;

pub use activity::{Activity, ActivityFilter, ActivityPatch, ActivityState, NewActivity};
pub use auth::{Group, NewGroup, NewUser, Principal, User};
pub use autofollow::{NewRule, Rule, RulePatch};
pub use backup::{BackupInfo, BackupSlot};
pub use board::{
    Board, BoardPatch, Column, ColumnPatch, ColumnPosition, Module, NewBoard, NewModule,
};
pub use changes::{Change, ChangeKind, ChangesAfter, Received, Subscription};
pub use checkpoint::CheckpointInfo;
pub use clock::{Clock, ManualClock, Millis, SystemClock};
pub use counters::{BoardCounters, ColumnCounters, Counters};
pub use deadlines::{DeadlineBucket, DeadlineBucketPage, DeadlineQuery};
pub use engine::{Config, Engine, Health, Pending, Stats};
pub use entry::{FieldChange, Mentions, TimelineEntry, Value};
pub use error::{DamagedRecord, Error, Result, StorageError};
pub use events::{IngestResult, IngestStatus, NewEvent};
pub use feed::{FeedEntry, WallFilter};
pub use follow::{FollowReason, Followed};
pub use ids::{
    ActivityId, BoardId, ColumnId, EntryId, FileId, GroupId, ItemId, JobId, RuleId, UserId,
};
pub use item::{Contacts, ItemPatch, NewItem, Position};
pub use item_view::{FieldRef, Item, ItemRef, ItemView};
pub use jobs::JobStatus;
pub use page::{page_of, ListKey, Page, PageRequest};
pub use posts::FileInfo;
pub use records::{
    ActivityKind, CounterMode, EventKind, FeedKind, FieldValue, FocusReason, JobState, Op,
    TimelineKind,
};
pub use rules::{Criterion, RuleValue};
pub use timer::{TimerId, Wheel};
pub use view::{KanbanColumn, ListFilter};
