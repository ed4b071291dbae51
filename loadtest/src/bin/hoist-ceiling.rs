//! `hoist-ceiling`: the transport ceiling on this machine. actix-web with no storage answers
//! the shapes of the board workload: a page of 50 items with every field Hoist's item has
//! (`GET /p/{column}`), and a 201 to a small POST (`POST /b/{id}`). No server built on
//! actix can beat it, so Hoist's distance to it is what the server itself costs.
//! `loadtest/compare.sh` runs it beside Hoist and Redis in one run.
//!
//! `PORT` (default 18090) and `WORKERS` (default one per core) from the environment.

use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Serialize;

#[derive(Serialize)]
struct Contacts {
    phones: [&'static str; 0],
    emails: [&'static str; 0],
}

#[derive(Serialize)]
struct Fields {}

/// An item with the fields `GET /v1/boards/{id}/columns/{col}/items` shows.
#[derive(Serialize)]
struct Item {
    id: u64,
    board: u64,
    column: u64,
    title: String,
    responsible: u64,
    amount: f64,
    fields: Fields,
    contacts: Contacts,
    created_at: &'static str,
    updated_at: &'static str,
    focused_at: &'static str,
    focus_reason: &'static str,
    attention: u32,
    unread: bool,
    next_deadline: Option<&'static str>,
}

#[derive(Serialize)]
struct Page<'a> {
    items: &'a [Item],
    next_cursor: Option<&'a str>,
}

async fn page(path: web::Path<u64>) -> HttpResponse {
    let c = path.into_inner();
    let items: Vec<Item> = (0..50u64)
        .map(|i| Item {
            id: c * 100_000 + i,
            board: 1,
            column: c,
            title: format!("item {}", c * 100_000 + i),
            responsible: 1,
            amount: 500.0,
            fields: Fields {},
            contacts: Contacts {
                phones: [],
                emails: [],
            },
            created_at: "2026-11-29T12:00:00.000Z",
            updated_at: "2026-11-29T12:00:00.000Z",
            focused_at: "2026-11-29T12:00:00.000Z",
            focus_reason: "created",
            attention: 0,
            unread: false,
            next_deadline: None,
        })
        .collect();
    match serde_json::to_vec(&Page {
        items: &items,
        next_cursor: Some("Y0AAAAAAAAAx"),
    }) {
        Ok(body) => HttpResponse::Ok()
            .content_type("application/json")
            .body(body),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

async fn bump(path: web::Path<u64>, _body: web::Bytes) -> HttpResponse {
    #[derive(Serialize)]
    struct Created {
        id: u64,
        kind: &'static str,
    }
    HttpResponse::Created().json(Created {
        id: path.into_inner(),
        kind: "comment",
    })
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(18090);
    let mut server = HttpServer::new(|| {
        App::new()
            .route("/p/{c}", web::get().to(page))
            .route("/b/{id}", web::post().to(bump))
    });
    if let Some(w) = std::env::var("WORKERS").ok().and_then(|s| s.parse().ok()) {
        server = server.workers(w);
    }
    server.bind(("127.0.0.1", port))?.run().await
}
