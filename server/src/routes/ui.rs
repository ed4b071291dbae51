//! The board page (PRODUCT §10): one HTML page, its stylesheet and its script, built into
//! the binary with `include_str!` (no build step, nothing fetched from another host). The
//! page signs in with a token the user pastes (kept in `sessionStorage`) and talks to the
//! same REST API and board stream as any client; these routes only hand out the files.
//!
//! The files are served without a token (API.md, "Auth") and with a Content-Security-
//! Policy that allows only this origin: the page renders everything with `textContent`,
//! and the policy is the second wall should a title ever reach the DOM as markup.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{get, HttpResponse};

const INDEX_HTML: &str = include_str!("../../ui/index.html");
const APP_JS: &str = include_str!("../../ui/app.js");
const APP_CSS: &str = include_str!("../../ui/app.css");

/// Only this origin: the page's own script and style, the API and its streams.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// One of the page's files. `no-cache` (revalidate, which is cheap here): a new binary's
/// page is seen at the next load, never a stale script against a newer API.
fn file(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .insert_header(("Content-Security-Policy", CSP))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        // Stream tickets travel in URLs; they are single use, but need not leak further.
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(body)
}

/// The board page: paste a token, pick a board, watch it live (PRODUCT §10).
#[utoipa::path(tag = "ui",
    responses((status = 200, description = "the board page", content_type = "text/html")))]
#[get("/")]
pub(crate) async fn index() -> HttpResponse {
    file("text/html; charset=utf-8", INDEX_HTML)
}

/// The board page's script.
#[utoipa::path(tag = "ui",
    responses((status = 200, description = "the board page's script", content_type = "text/javascript")))]
#[get("/ui/app.js")]
pub(crate) async fn script() -> HttpResponse {
    file("text/javascript; charset=utf-8", APP_JS)
}

/// The board page's stylesheet.
#[utoipa::path(tag = "ui",
    responses((status = 200, description = "the board page's stylesheet", content_type = "text/css")))]
#[get("/ui/app.css")]
pub(crate) async fn style() -> HttpResponse {
    file("text/css; charset=utf-8", APP_CSS)
}
