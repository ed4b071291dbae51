//! Users, tokens, groups and modules. Writes are admin-only except a user's own token.

use actix_web::http::StatusCode;
use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use hoist_engine::{GroupId, NewGroup, NewModule, NewUser, UserId};

use super::json;
use crate::dto::directory::{
    CreateGroup, CreateModule, CreateUser, GroupOut, ModuleOut, TokenOut, UserCreated, UserOut,
};
use crate::dto::{ErrorBody, ListPage, PageQuery};
use crate::error::ApiError;
use crate::extract::{id, json_body, query, run, Caller, SignedIn, State};

/// Creates a user (admin). The token is shown only in this answer.
#[utoipa::path(tag = "users", security(("bearer" = [])), request_body = CreateUser,
    responses((status = 201, body = UserCreated), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
// POST /v1/users (scoped in `configure`)
#[post("")]
pub(crate) async fn create_user(
    state: State,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let b: CreateUser = json_body(&req, payload).await?;
    let (u, token) = run(&state, move |engine| {
        engine.create_user(NewUser {
            name: b.name,
            email: b.email,
            roles: b.roles,
            admin: b.admin,
        })
    })
    .await?;
    json(
        StatusCode::CREATED,
        &UserCreated {
            id: u.id.0,
            name: u.name,
            email: u.email,
            roles: u.roles,
            admin: u.admin,
            token,
        },
    )
}

/// Every user (never tokens).
#[utoipa::path(tag = "users", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ListPage<UserOut>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
// GET /v1/users (scoped in `configure`)
#[get("")]
pub(crate) async fn list_users(
    state: State,
    _signed_in: SignedIn,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: PageQuery = query(&req)?;
    let users: Vec<UserOut> = state
        .engine
        .users()
        .into_iter()
        .map(UserOut::from)
        .collect();
    json(StatusCode::OK, &ListPage::of(users, |u| u.id, q)?)
}

/// The caller.
#[utoipa::path(tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserOut), (status = 401, body = ErrorBody)))]
// GET /v1/me (scoped in `configure`)
#[get("/me")]
pub(crate) async fn me(state: State, caller: Caller) -> Result<HttpResponse, ApiError> {
    json(
        StatusCode::OK,
        &UserOut::from(state.engine.user(caller.user())?),
    )
}

/// One user.
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = UserOut), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
// GET /v1/users/{id} (scoped in `configure`)
#[get("/{id}")]
pub(crate) async fn get_user(
    state: State,
    _signed_in: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let uid = UserId(id(&path, "user")?);
    json(StatusCode::OK, &UserOut::from(state.engine.user(uid)?))
}

/// A new token for a user (admin, or the user itself); the old one stops working at once.
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = TokenOut), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
// POST /v1/users/{id}/token (scoped in `configure`)
#[post("/{id}/token")]
pub(crate) async fn rotate_token(
    state: State,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let uid = UserId(id(&path, "user")?);
    if uid != caller.user() {
        caller.require_admin()?;
    }
    let token = run(&state, move |engine| engine.rotate_token(uid)).await?;
    json(StatusCode::OK, &TokenOut { token })
}

/// Deactivates a user (admin): the token stops working; records and entries stay.
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
// DELETE /v1/users/{id} (scoped in `configure`)
#[delete("/{id}")]
pub(crate) async fn deactivate_user(
    state: State,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let uid = UserId(id(&path, "user")?);
    run(&state, move |engine| engine.deactivate_user(uid)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Creates a group (admin).
#[utoipa::path(tag = "groups", security(("bearer" = [])), request_body = CreateGroup,
    responses((status = 201, body = GroupOut), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
// POST /v1/groups (scoped in `configure`)
#[post("")]
pub(crate) async fn create_group(
    state: State,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let b: CreateGroup = json_body(&req, payload).await?;
    let g = run(&state, move |engine| {
        engine.create_group(NewGroup {
            name: b.name,
            members: b.members.into_iter().map(UserId).collect(),
        })
    })
    .await?;
    json(StatusCode::CREATED, &GroupOut::from(g))
}

/// The caller's groups (an admin sees all).
#[utoipa::path(tag = "groups", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ListPage<GroupOut>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
// GET /v1/groups (scoped in `configure`)
#[get("")]
pub(crate) async fn list_groups(
    state: State,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: PageQuery = query(&req)?;
    let viewer = if caller.0.admin {
        None
    } else {
        Some(caller.user())
    };
    let groups: Vec<GroupOut> = state
        .engine
        .groups(viewer)
        .into_iter()
        .map(GroupOut::from)
        .collect();
    json(StatusCode::OK, &ListPage::of(groups, |g| g.id, q)?)
}

fn member_path(path: &(String, String)) -> Result<(GroupId, UserId), ApiError> {
    Ok((GroupId(id(&path.0, "group")?), UserId(id(&path.1, "user")?)))
}

/// Adds a member (admin); idempotent.
#[utoipa::path(tag = "groups", security(("bearer" = [])), params(("id" = u64, Path), ("user" = u64, Path)),
    responses((status = 200, body = GroupOut), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
// PUT /v1/groups/{id}/members/{user} (scoped in `configure`)
#[put("/members/{user}")]
pub(crate) async fn add_member(
    state: State,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let (g, u) = member_path(&path)?;
    let group = run(&state, move |engine| engine.set_group_member(g, u, true)).await?;
    json(StatusCode::OK, &GroupOut::from(group))
}

/// Removes a member (admin); idempotent.
#[utoipa::path(tag = "groups", security(("bearer" = [])), params(("id" = u64, Path), ("user" = u64, Path)),
    responses((status = 200, body = GroupOut), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
// DELETE /v1/groups/{id}/members/{user} (scoped in `configure`)
#[delete("/members/{user}")]
pub(crate) async fn remove_member(
    state: State,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let (g, u) = member_path(&path)?;
    let group = run(&state, move |engine| engine.set_group_member(g, u, false)).await?;
    json(StatusCode::OK, &GroupOut::from(group))
}

/// Adds a smart-process module (admin).
#[utoipa::path(tag = "modules", security(("bearer" = [])), request_body = CreateModule,
    responses((status = 201, body = ModuleOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
// POST /v1/modules (scoped in `configure`)
#[post("/modules")]
pub(crate) async fn create_module(
    state: State,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let b: CreateModule = json_body(&req, payload).await?;
    let m = run(&state, move |engine| {
        engine.create_module(NewModule {
            key: b.key,
            name: b.name,
        })
    })
    .await?;
    json(StatusCode::CREATED, &ModuleOut::from(m))
}

/// Built-in and added modules.
#[utoipa::path(tag = "modules", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ListPage<ModuleOut>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
// GET /v1/modules (scoped in `configure`)
#[get("/modules")]
pub(crate) async fn list_modules(
    state: State,
    _signed_in: SignedIn,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: PageQuery = query(&req)?;
    let mods: Vec<ModuleOut> = state
        .engine
        .modules()
        .into_iter()
        .map(ModuleOut::from)
        .collect();
    json(StatusCode::OK, &ListPage::of(mods, |m| m.key.clone(), q)?)
}
