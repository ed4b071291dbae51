//! Walls, posts, messages, files, follows, auto-follow rules and jobs.

use super::{time, ChangeOut, MentionsIo};
use crate::wire::{follow_reason, FeedKindIo, JobStateIo, OpIo};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
            file: e.file.map(|f| f.0),
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
    #[schema(min_length = 1, max_length = 20000)]
    pub text: String,
    pub group: Option<u64>,
    pub mentions: Option<MentionsIo>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateMessage {
    #[schema(min_length = 1, max_length = 20000)]
    pub text: String,
    #[serde(default)]
    pub to_users: Vec<u64>,
    pub to_group: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MessagesQuery {
    pub with: Option<u64>,
    pub limit: Option<usize>,
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
    pub module: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InactiveQuery {
    pub days: i64,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// A record in "Followed by me".
#[derive(Serialize, ToSchema)]
pub(crate) struct FollowedOut {
    pub item: u64,
    pub module: String,
    pub title: String,
    /// `owner`, `manual`, `rule:<id>`, `board`
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
    #[schema(value_type = super::FieldKey)]
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
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub name: String,
    pub module: String,
    #[schema(min_items = 1, max_items = 20)]
    pub criteria: Vec<CriterionIo>,
    #[serde(default)]
    pub apply_to_existing: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchRule {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub name: Option<String>,
    #[schema(min_items = 1, max_items = 20)]
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
            id: r.id.0,
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
