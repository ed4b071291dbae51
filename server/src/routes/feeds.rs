//! Feeds over HTTP: walls, posts, direct messages, group feeds and files, record peek,
//! following, auto-follow rules, jobs and preferences.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse};
use hoist_engine::{
    FileId, GroupId, ItemId, JobId, NewRule, PageRequest, RuleId, RulePatch, UserId, WallFilter,
};

use super::json;
use crate::dto::feeds::{
    CreateMessage, CreatePost, CreateRule, FeedEntryOut, FeedPage, FileOut, FileQuery, FollowedOut,
    FollowedPage, FollowsQuery, InactiveQuery, JobOut, MessagesQuery, PatchRule, Preferences,
    RuleOut,
};
use crate::dto::{parse_time, ErrorBody, ListPage, PageQuery};
use crate::error::ApiError;
use crate::extract::{id, json_body, query, read, read_body, run, Caller, SignedIn, State};
use crate::wire::{self, FeedKindIo};

/// Files: up to 8 MiB.
const FILE_LIMIT: usize = 8 << 20;

fn feed_page(page: hoist_engine::Page<hoist_engine::FeedEntry>) -> Result<HttpResponse, ApiError> {
    json(
        StatusCode::OK,
        &FeedPage {
            items: page.items.into_iter().map(FeedEntryOut::from).collect(),
            next_cursor: page.next_cursor,
        },
    )
}

/// `?module=&kind=` may repeat, so this query is read by hand.
fn wall_query(req: &HttpRequest) -> Result<(WallFilter, PageRequest), ApiError> {
    let mut f = WallFilter::default();
    let mut p = PageRequest::default();
    for (k, v) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if v.is_empty() {
            continue;
        }
        match k.as_ref() {
            "module" => f.modules.push(v.into_owned()),
            "kind" => {
                let i = f.kinds.len();
                let kind = wire::parse::<FeedKindIo>(&v).ok_or_else(|| {
                    ApiError::invalid(format!("kind[{i}]: unknown kind {:?}", v.as_ref()))
                })?;
                f.kinds.push(kind.into());
            }
            "since" => f.since = Some(parse_time("since", &v)?),
            "until" => f.until = Some(parse_time("until", &v)?),
            "limit" => {
                p.limit = Some(
                    v.parse()
                        .map_err(|_| ApiError::invalid("query limit: not a number"))?,
                )
            }
            "cursor" => p.cursor = Some(v.into_owned()),
            other => {
                return Err(ApiError::invalid(format!(
                    "query {other}: unknown parameter"
                )))
            }
        }
    }
    Ok((f, p))
}

/// The caller's wall, newest first; `module` and `kind` may repeat.
#[utoipa::path(tag = "feeds", security(("bearer" = [])),
    params(("module" = Option<Vec<String>>, Query), ("kind" = Option<Vec<FeedKindIo>>, Query),
           ("since" = Option<String>, Query, format = DateTime), ("until" = Option<String>, Query, format = DateTime),
           ("limit" = Option<usize>, Query, minimum = 1, maximum = 500), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = FeedPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
// GET /v1/feed (scoped in `configure`)
#[get("")]
pub(crate) async fn wall(
    state: State,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (filter, page) = wall_query(&req)?;
    feed_page(
        caller
            .read(&state, move |engine, user| {
                engine.wall(user, &filter, &page)
            })
            .await?,
    )
}

/// A status message: to everyone, or to a group the caller is in.
#[utoipa::path(tag = "feeds", security(("bearer" = [])), request_body = CreatePost,
    responses((status = 201, body = FeedEntryOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
// POST /v1/feed/posts (scoped in `configure`)
#[post("/posts")]
pub(crate) async fn post(
    state: State,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let b: CreatePost = json_body(&req, payload).await?;
    let e = caller
        .run(&state, move |engine, user| {
            engine.post(
                user,
                b.text,
                b.group.map(GroupId),
                b.mentions.map(Into::into).unwrap_or_default(),
            )
        })
        .await?;
    json(StatusCode::CREATED, &FeedEntryOut::from(e))
}

/// A direct message to users and/or the members of a group the caller is in.
#[utoipa::path(tag = "feeds", security(("bearer" = [])), request_body = CreateMessage,
    responses((status = 201, body = FeedEntryOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
// POST /v1/messages (scoped in `configure`)
#[post("/messages")]
pub(crate) async fn send_message(
    state: State,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let b: CreateMessage = json_body(&req, payload).await?;
    let to: Vec<UserId> = b.to_users.into_iter().map(UserId).collect();
    let e = caller
        .run(&state, move |engine, user| {
            engine.send_message(user, b.text, to, b.to_group.map(GroupId))
        })
        .await?;
    json(StatusCode::CREATED, &FeedEntryOut::from(e))
}

/// The caller's direct messages, optionally only those with one user.
#[utoipa::path(tag = "feeds", security(("bearer" = [])),
    params(("with" = Option<u64>, Query), ("limit" = Option<usize>, Query, minimum = 1, maximum = 500), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = FeedPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
// GET /v1/messages (scoped in `configure`)
#[get("/messages")]
pub(crate) async fn messages(
    state: State,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: MessagesQuery = query(&req)?;
    let page = PageRequest {
        limit: q.limit,
        cursor: q.cursor,
    };
    feed_page(
        caller
            .read(&state, move |engine, user| {
                engine.messages(user, q.with.map(UserId), &page)
            })
            .await?,
    )
}

/// A group's entries: members only (others get 404).
#[utoipa::path(tag = "feeds", security(("bearer" = [])),
    params(("id" = u64, Path), ("limit" = Option<usize>, Query, minimum = 1, maximum = 500), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = FeedPage), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
// GET /v1/groups/{id}/feed (scoped in `configure`)
#[get("/feed")]
pub(crate) async fn group_feed(
    state: State,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let gid = GroupId(id(&path, "group")?);
    let q: PageQuery = query(&req)?;
    let page = PageRequest::from(q);
    feed_page(
        caller
            .read(&state, move |engine, user| {
                engine.group_feed(user, gid, &page)
            })
            .await?,
    )
}

/// Shares a file (raw body, up to 8 MiB) in a group the caller is in.
#[utoipa::path(tag = "feeds", security(("bearer" = [])),
    params(("id" = u64, Path), ("name" = String, Query, min_length = 1, max_length = 255)),
    request_body(content = Option<Vec<u8>>, content_type = "application/octet-stream",
        description = "the file's bytes; none is an empty file"),
    responses((status = 201, body = FileOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
// POST /v1/groups/{id}/files (scoped in `configure`)
#[post("/files")]
pub(crate) async fn upload(
    state: State,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let gid = GroupId(id(&path, "group")?);
    let q: FileQuery = query(&req)?;
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let body = read_body(&req, payload, FILE_LIMIT).await?;
    let f = caller
        .run(&state, move |engine, user| {
            engine.share_file(user, gid, q.name, content_type, body.bytes.to_vec())
        })
        .await?;
    json(
        StatusCode::CREATED,
        &FileOut {
            id: f.id.0,
            name: f.name,
            size: f.size,
            content_type: f.content_type,
        },
    )
}

/// A group file's bytes: members only.
#[utoipa::path(tag = "feeds", security(("bearer" = [])), params(("id" = u64, Path), ("file" = u64, Path)),
    responses((status = 200, description = "the file's bytes, with the content type it was uploaded with", content_type = "*/*"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
// GET /v1/groups/{id}/files/{file} (scoped in `configure`)
#[get("/files/{file}")]
pub(crate) async fn download(
    state: State,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let gid = GroupId(id(&path.0, "group")?);
    let fid = id(&path.1, "file")?;
    let (info, bytes) = caller
        .read(&state, move |engine, user| {
            engine.file(user, gid, FileId(fid))
        })
        .await?;
    let name: String = info
        .name
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .collect();
    Ok(HttpResponse::Ok()
        .content_type(info.content_type)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        ))
        .body(bytes))
}

/// Record peek: the record's latest entries.
#[utoipa::path(tag = "feeds", security(("bearer" = [])),
    params(("id" = u64, Path), ("limit" = Option<usize>, Query, minimum = 1, maximum = 500), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = FeedPage), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
// GET /v1/items/{id}/feed (scoped in `configure`)
#[get("/feed")]
pub(crate) async fn record_feed(
    state: State,
    _signed_in: SignedIn,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let iid = ItemId(id(&path, "item")?);
    let q: PageQuery = query(&req)?;
    let page = PageRequest::from(q);
    feed_page(read(&state, move |engine| engine.record_feed(iid, &page)).await?)
}

/// Follow a record (also ends an earlier Unfollow).
#[utoipa::path(tag = "feeds", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
// PUT /v1/items/{id}/follow (scoped in `configure`)
#[put("/follow")]
pub(crate) async fn follow(
    state: State,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let iid = ItemId(id(&path, "item")?);
    caller
        .run(&state, move |engine, user| engine.follow(user, iid))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Unfollow a record, whatever the reasons, until followed again.
#[utoipa::path(tag = "feeds", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
// DELETE /v1/items/{id}/follow (scoped in `configure`)
#[delete("/follow")]
pub(crate) async fn unfollow(
    state: State,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let iid = ItemId(id(&path, "item")?);
    caller
        .run(&state, move |engine, user| engine.unfollow(user, iid))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// "Followed by me", with every reason.
#[utoipa::path(tag = "feeds", security(("bearer" = [])),
    params(("module" = Option<String>, Query), ("limit" = Option<usize>, Query, minimum = 1, maximum = 500), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = FollowedPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
// GET /v1/follows (scoped in `configure`)
#[get("/follows")]
pub(crate) async fn follows(
    state: State,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: FollowsQuery = query(&req)?;
    let page = state.engine.follows(
        caller.user(),
        q.module.as_deref(),
        &PageRequest {
            limit: q.limit,
            cursor: q.cursor,
        },
    )?;
    json(
        StatusCode::OK,
        &FollowedPage {
            items: page.items.into_iter().map(FollowedOut::from).collect(),
            next_cursor: page.next_cursor,
        },
    )
}

/// Followed records not updated for more than `days` days (1–180), oldest first.
#[utoipa::path(tag = "feeds", security(("bearer" = [])),
    params(("days" = i64, Query, minimum = 1, maximum = 180), ("limit" = Option<usize>, Query, minimum = 1, maximum = 500), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = FollowedPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
// GET /v1/follows/inactive (scoped in `configure`)
#[get("/follows/inactive")]
pub(crate) async fn inactive(
    state: State,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: InactiveQuery = query(&req)?;
    let page = state.engine.inactive(
        caller.user(),
        q.days,
        &PageRequest {
            limit: q.limit,
            cursor: q.cursor,
        },
    )?;
    json(
        StatusCode::OK,
        &FollowedPage {
            items: page.items.into_iter().map(FollowedOut::from).collect(),
            next_cursor: page.next_cursor,
        },
    )
}

/// Creates an auto-follow rule; with `apply_to_existing`, also a background job.
#[utoipa::path(tag = "feeds", security(("bearer" = [])), request_body = CreateRule,
    responses((status = 201, body = RuleOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
// POST /v1/follow-rules (scoped in `configure`)
#[post("")]
pub(crate) async fn create_rule(
    state: State,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let b: CreateRule = json_body(&req, payload).await?;
    let new = NewRule {
        name: b.name,
        module: b.module,
        criteria: b.criteria.into_iter().map(Into::into).collect(),
        apply_to_existing: b.apply_to_existing,
    };
    let (rule, job_id) = caller
        .run(&state, move |engine, user| engine.create_rule(user, new))
        .await?;
    json(
        StatusCode::CREATED,
        &RuleOut::new(rule, job_id.map(|j| j.0)),
    )
}

/// The caller's rules.
#[utoipa::path(tag = "feeds", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ListPage<RuleOut>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
// GET /v1/follow-rules (scoped in `configure`)
#[get("")]
pub(crate) async fn list_rules(
    state: State,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: PageQuery = query(&req)?;
    let rules: Vec<RuleOut> = state
        .engine
        .rules(caller.user())
        .into_iter()
        .map(|r| RuleOut::new(r, None))
        .collect();
    json(StatusCode::OK, &ListPage::of(rules, |r| r.id, q)?)
}

/// Changes one of the caller's rules (for records created or changed from now on).
#[utoipa::path(tag = "feeds", security(("bearer" = [])), params(("id" = u64, Path)), request_body = PatchRule,
    responses((status = 200, body = RuleOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
// PATCH /v1/follow-rules/{id} (scoped in `configure`)
#[patch("/{id}")]
pub(crate) async fn patch_rule(
    state: State,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let rid = id(&path, "rule")?;
    let b: PatchRule = json_body(&req, payload).await?;
    let patch = RulePatch {
        name: b.name,
        criteria: b.criteria.map(|c| c.into_iter().map(Into::into).collect()),
    };
    let rule = caller
        .run(&state, move |engine, user| {
            engine.patch_rule(user, RuleId(rid), patch)
        })
        .await?;
    json(StatusCode::OK, &RuleOut::new(rule, None))
}

/// Deletes one of the caller's rules (what it followed stays followed).
#[utoipa::path(tag = "feeds", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
// DELETE /v1/follow-rules/{id} (scoped in `configure`)
#[delete("/{id}")]
pub(crate) async fn delete_rule(
    state: State,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let rid = id(&path, "rule")?;
    caller
        .run(&state, move |engine, user| {
            engine.delete_rule(user, RuleId(rid))
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A background job's progress (its rule's owner, or an admin; others get 404).
#[utoipa::path(tag = "feeds", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = JobOut), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
// GET /v1/jobs/{id} (scoped in `configure`)
#[get("/jobs/{id}")]
pub(crate) async fn job(
    state: State,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let jid = id(&path, "job")?;
    let j = state.engine.job(JobId(jid))?;
    if j.user != caller.user() && !caller.0.admin {
        return Err(ApiError::not_found(format!("job {jid} not found")));
    }
    json(
        StatusCode::OK,
        &JobOut {
            id: j.id.0,
            state: j.state.into(),
            done: j.done,
            total: j.total,
        },
    )
}

/// Modules switched off in every feed.
#[utoipa::path(tag = "feeds", security(("bearer" = [])),
    responses((status = 200, body = Preferences), (status = 401, body = ErrorBody)))]
// GET /v1/feed/preferences (scoped in `configure`)
#[get("/preferences")]
pub(crate) async fn preferences(
    state: State,
    _signed_in: SignedIn,
) -> Result<HttpResponse, ApiError> {
    json(
        StatusCode::OK,
        &Preferences {
            disabled_modules: state.engine.feed_preferences(),
        },
    )
}

/// Switches modules off (and the others on) in everyone's feeds (admin).
#[utoipa::path(tag = "feeds", security(("bearer" = [])), request_body = Preferences,
    responses((status = 200, body = Preferences), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
// PUT /v1/feed/preferences (scoped in `configure`)
#[put("/preferences")]
pub(crate) async fn set_preferences(
    state: State,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let b: Preferences = json_body(&req, payload).await?;
    let v = run(&state, move |engine| {
        engine.set_feed_preferences(b.disabled_modules)
    })
    .await?;
    json(
        StatusCode::OK,
        &Preferences {
            disabled_modules: v,
        },
    )
}
