//! Users, bearer tokens and groups.
//!
//! Tokens are 32 random bytes shown once; only their SHA-256 is stored. Lookups go through
//! an in-memory map from hash to user, rebuilt on open, so authentication never reads sled.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::engine::{Engine, Tx};
use crate::error::{Error, Result};
use crate::ids::{GroupId, UserId};
use crate::records::{self, GroupRec, UserRec};
use crate::state::Counter;
use crate::store;
use crate::validate;

/// A user as the API shows it (never with a token).
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// Optional e-mail.
    pub email: Option<String>,
    /// Role names, used by mentions.
    pub roles: Vec<String>,
    /// Whether the user administers users, groups, modules, boards and preferences.
    pub admin: bool,
    /// False once deactivated.
    pub active: bool,
}

impl From<&UserRec> for User {
    fn from(u: &UserRec) -> User {
        User {
            id: UserId(u.id),
            name: u.name.clone(),
            email: u.email.clone(),
            roles: u.roles.clone(),
            admin: u.admin,
            active: u.active,
        }
    }
}

/// A user to create.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    /// Display name, 1–200 characters.
    pub name: String,
    /// Optional e-mail.
    pub email: Option<String>,
    /// Role names, each 1–64 characters.
    pub roles: Vec<String>,
    /// Admin flag.
    pub admin: bool,
}

/// Who is calling, as established from a token.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// The caller.
    pub user: UserId,
    /// Whether the caller is an admin.
    pub admin: bool,
}

/// A group as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Its id.
    pub id: GroupId,
    /// Its name.
    pub name: String,
    /// Member user ids, ascending.
    pub members: Vec<UserId>,
}

impl From<&GroupRec> for Group {
    fn from(g: &GroupRec) -> Group {
        Group {
            id: GroupId(g.id),
            name: g.name.clone(),
            members: g.members.iter().map(|m| UserId(*m)).collect(),
        }
    }
}

/// A group to create.
#[derive(Debug, Clone, Default)]
pub struct NewGroup {
    /// 1–200 characters.
    pub name: String,
    /// Initial members.
    pub members: Vec<UserId>,
}

pub(crate) fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn new_token() -> Result<String> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| Error::Storage(crate::error::StorageError::new(e)))?;
    Ok(format!(
        "hst_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    ))
}

fn put_user(tx: &mut Tx<'_>, u: UserRec) -> Result<()> {
    tx.batch
        .put(&store::id_key(store::USER, u.id), records::encode(&u)?);
    tx.state.users.insert(UserId(u.id), u);
    Ok(())
}

fn put_group(tx: &mut Tx<'_>, g: GroupRec) -> Result<Group> {
    tx.batch
        .put(&store::id_key(store::GROUP, g.id), records::encode(&g)?);
    let out = Group::from(&g);
    tx.state.groups.insert(GroupId(g.id), g);
    Ok(out)
}

fn create_user_in(tx: &mut Tx<'_>, new: NewUser, token: String) -> Result<(User, String)> {
    let name = validate::name("name", &new.name)?;
    let email = new
        .email
        .map(|e| validate::email("email", &e))
        .transpose()?;
    let mut roles = Vec::with_capacity(new.roles.len());
    for (i, r) in new.roles.iter().enumerate() {
        roles.push(validate::text_len(&format!("roles[{i}]"), r, 1, 64)?);
    }
    roles.sort();
    roles.dedup();
    let hash = hash_token(&token);
    if tx.state.tokens.contains_key(&hash) {
        return Err(Error::Conflict("that token is already in use".into()));
    }
    let id = tx.state.alloc(Counter::User);
    let rec = UserRec {
        id,
        name,
        email,
        roles,
        admin: new.admin,
        active: true,
        token_hash: hash,
        created_at: tx.now.0,
    };
    let user = User::from(&rec);
    tx.state.tokens.insert(hash, UserId(id));
    put_user(tx, rec)?;
    tx.directory_changed();
    Ok((user, token))
}

impl Engine {
    /// The caller a bearer token stands for, if the token is current.
    pub fn authenticate(&self, token: &str) -> Option<Principal> {
        let st = self.shared.state.read();
        let id = *st.tokens.get(&hash_token(token))?;
        let u = st.users.get(&id).filter(|u| u.active)?;
        Some(Principal {
            user: id,
            admin: u.admin,
        })
    }

    /// On a store with no users, creates the admin user with `token` (or a generated one)
    /// and returns the token; on any other store does nothing and returns `None`.
    pub fn bootstrap_admin(&self, token: Option<String>) -> Result<Option<String>> {
        if let Some(t) = &token {
            if t.len() < 16 || t.chars().any(char::is_whitespace) {
                return Err(Error::invalid(
                    "admin_token",
                    "must be at least 16 characters without whitespace",
                ));
            }
        }
        let token = match token {
            Some(t) => t,
            None => new_token()?,
        };
        self.call(move |tx| {
            if !tx.state.users.is_empty() {
                return Ok(None);
            }
            let new = NewUser {
                name: "admin".into(),
                admin: true,
                ..NewUser::default()
            };
            create_user_in(tx, new, token).map(|(_, t)| Some(t))
        })
    }

    /// Creates a user and returns it with its token (shown this once).
    pub fn create_user(&self, new: NewUser) -> Result<(User, String)> {
        let token = new_token()?;
        self.call(move |tx| create_user_in(tx, new, token))
    }

    /// Every user, by id.
    pub fn users(&self) -> Vec<User> {
        self.shared
            .state
            .read()
            .users
            .values()
            .map(User::from)
            .collect()
    }

    /// One user.
    pub fn user(&self, id: UserId) -> Result<User> {
        self.shared
            .state
            .read()
            .users
            .get(&id)
            .map(User::from)
            .ok_or_else(|| Error::not_found("user", id))
    }

    /// Replaces a user's token; the old one stops working at once.
    pub fn rotate_token(&self, id: UserId) -> Result<String> {
        let token = new_token()?;
        self.call(move |tx| {
            let mut u = match tx.state.users.get(&id) {
                Some(u) if u.active => u.clone(),
                // Listed (`active: false`) but without a token to rotate: say so, rather
                // than that the user does not exist.
                Some(_) => {
                    return Err(Error::Conflict(format!(
                        "user {id} is deactivated; its token cannot be rotated"
                    )))
                }
                None => return Err(Error::not_found("user", id)),
            };
            tx.state.tokens.remove(&u.token_hash);
            u.token_hash = hash_token(&token);
            tx.state.tokens.insert(u.token_hash, id);
            put_user(tx, u)?;
            // Streams opened with the old token end on this change (API.md).
            tx.directory_changed();
            Ok(token)
        })
    }

    /// Deactivates a user: the token stops working, records and entries stay. The last
    /// active admin cannot be deactivated (nobody could administer the store after).
    pub fn deactivate_user(&self, id: UserId) -> Result<()> {
        self.call(move |tx| {
            let mut u = tx
                .state
                .users
                .get(&id)
                .cloned()
                .ok_or_else(|| Error::not_found("user", id))?;
            if !u.active {
                return Ok(());
            }
            let other_admins = tx
                .state
                .users
                .values()
                .filter(|o| o.admin && o.active && o.id != u.id)
                .count();
            if u.admin && other_admins == 0 {
                return Err(Error::Conflict(
                    "cannot deactivate the last active admin".into(),
                ));
            }
            tx.state.tokens.remove(&u.token_hash);
            u.active = false;
            put_user(tx, u)?;
            tx.directory_changed();
            Ok(())
        })
    }

    /// Creates a group.
    pub fn create_group(&self, new: NewGroup) -> Result<Group> {
        self.call(move |tx| {
            let name = validate::name("name", &new.name)?;
            let mut members = Vec::with_capacity(new.members.len());
            for (i, m) in new.members.iter().enumerate() {
                tx.state.active_user(*m, &format!("members[{i}]"))?;
                members.push(m.0);
            }
            members.sort_unstable();
            members.dedup();
            let id = tx.state.alloc(Counter::Group);
            let g = put_group(
                tx,
                GroupRec {
                    id,
                    name,
                    members,
                    created_at: tx.now.0,
                },
            )?;
            tx.directory_changed();
            Ok(g)
        })
    }

    /// The groups `viewer` belongs to, or every group for `None`.
    pub fn groups(&self, viewer: Option<UserId>) -> Vec<Group> {
        self.shared
            .state
            .read()
            .groups
            .values()
            .filter(|g| viewer.is_none_or(|v| g.members.contains(&v.0)))
            .map(Group::from)
            .collect()
    }

    /// One group.
    pub fn group(&self, id: GroupId) -> Result<Group> {
        self.shared
            .state
            .read()
            .groups
            .get(&id)
            .map(Group::from)
            .ok_or_else(|| Error::not_found("group", id))
    }

    /// Adds (`member = true`) or removes a member; idempotent.
    pub fn set_group_member(&self, group: GroupId, user: UserId, member: bool) -> Result<Group> {
        self.call(move |tx| {
            let mut g = tx
                .state
                .groups
                .get(&group)
                .cloned()
                .ok_or_else(|| Error::not_found("group", group))?;
            if !tx.state.users.contains_key(&user) {
                return Err(Error::not_found("user", user));
            }
            let pos = g.members.binary_search(&user.0);
            match (member, pos) {
                (true, Err(i)) => g.members.insert(i, user.0),
                (false, Ok(i)) => {
                    g.members.remove(i);
                }
                _ => return Ok(Group::from(&g)),
            }
            let out = put_group(tx, g)?;
            tx.directory_changed();
            Ok(out)
        })
    }
}
