//! Users, groups and modules.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUser {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub name: String,
    #[schema(value_type = Option<super::Email>)]
    pub email: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
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
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
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
    #[schema(pattern = "^[a-z][a-z0-9_]{1,31}$")]
    pub key: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
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
