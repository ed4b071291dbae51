//! Shared fixtures for the engine tests: an engine on a temporary data directory and a
//! manual clock, with its admin already bootstrapped, and helpers that read whole columns
//! and lists by walking their pages with cursors.
//!
//! The walking helpers check the paging contract on every call (full pages before the
//! end, no empty page behind a cursor, no id twice), so every test that reads a column
//! through them also tests paging.

use std::collections::HashSet;
use std::path::Path;

use hoist_engine::{
    Board, BoardId, ColumnId, Config, Engine, Error, Item, ItemId, ItemView, ListFilter,
    ManualClock, Millis, NewBoard, NewItem, NewUser, Page, PageRequest, UserId,
};
use tempfile::TempDir;

/// 2026-01-01T00:00:00Z: where every test clock starts.
pub(crate) const T0: Millis = Millis(1_767_225_600_000);

/// The admin token the fixture bootstraps with.
pub(crate) const ADMIN_TOKEN: &str = "engine-test-admin-token-0123";

/// An open engine on its own temporary directory, with a manual clock and an admin.
pub(crate) struct TestEngine {
    pub(crate) engine: Engine,
    pub(crate) clock: ManualClock,
    pub(crate) admin: UserId,
    dir: TempDir,
}

impl TestEngine {
    /// A fresh, empty store with the admin user created.
    pub(crate) fn new() -> TestEngine {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = ManualClock::new(T0);
        let engine = open(dir.path(), &clock);
        let token = engine
            .bootstrap_admin(Some(ADMIN_TOKEN.to_string()))
            .expect("bootstrap admin");
        assert_eq!(token.as_deref(), Some(ADMIN_TOKEN));
        let admin = engine
            .authenticate(ADMIN_TOKEN)
            .expect("the admin token authenticates")
            .user;
        TestEngine {
            engine,
            clock,
            admin,
            dir,
        }
    }

    /// The data directory.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Closes the engine, drops it (which releases the directory) and opens the same
    /// directory again with the same clock, as a restarted process would.
    pub(crate) fn reopen(self) -> TestEngine {
        let TestEngine {
            engine,
            clock,
            admin,
            dir,
        } = self;
        engine.close();
        drop(engine);
        let engine = open(dir.path(), &clock);
        TestEngine {
            engine,
            clock,
            admin,
            dir,
        }
    }

    /// A `deal` board with the given columns, focus on.
    pub(crate) fn board(&self, name: &str, columns: &[&str]) -> Board {
        self.engine
            .create_board(NewBoard {
                module: "deal".into(),
                name: name.into(),
                columns: columns.iter().map(|c| (*c).to_string()).collect(),
                ..NewBoard::default()
            })
            .expect("create board")
    }

    /// A plain user; returns its id and token.
    pub(crate) fn user(&self, name: &str) -> (UserId, String) {
        let (u, token) = self
            .engine
            .create_user(NewUser {
                name: name.into(),
                ..NewUser::default()
            })
            .expect("create user");
        (u.id, token)
    }

    /// Creates an item titled `title` in column number `column` of `board`, as the admin.
    pub(crate) fn create(&self, board: &Board, column: usize, title: &str) -> ItemId {
        self.create_as(self.admin, board, column, title)
    }

    /// Creates an item as `actor` (who becomes its responsible).
    pub(crate) fn create_as(
        &self,
        actor: UserId,
        board: &Board,
        column: usize,
        title: &str,
    ) -> ItemId {
        let view = self
            .engine
            .create_item(actor, new_item(board, column, title))
            .expect("create item");
        id_of(&view)
    }

    /// An owned copy of an item.
    pub(crate) fn get(&self, id: ItemId) -> Item {
        self.engine
            .item(id)
            .expect("item exists")
            .to_item()
            .expect("item decodes")
    }

    /// Every item of column number `column`, top first, walked three at a time.
    pub(crate) fn walk(&self, board: &Board, column: usize) -> Vec<ItemId> {
        walk(&self.engine, board.id, board.columns[column].id, 3)
    }
}

/// Opens `dir` with `clock`.
pub(crate) fn open(dir: &Path, clock: &ManualClock) -> Engine {
    Engine::open(
        dir,
        Config::default()
            .with_clock(clock.clone())
            .with_timer_thread(false),
    )
    .expect("open engine")
}

/// An item body for column number `column` of `board`.
pub(crate) fn new_item(board: &Board, column: usize, title: &str) -> NewItem {
    NewItem {
        board: board.id,
        column: Some(board.columns[column].id),
        title: title.into(),
        ..NewItem::default()
    }
}

/// The id of a stored item.
pub(crate) fn id_of(view: &ItemView) -> ItemId {
    view.get().expect("item decodes").id()
}

/// The ids of a page, in page order.
pub(crate) fn ids(page: &Page<ItemView>) -> Vec<ItemId> {
    page.items.iter().map(id_of).collect()
}

/// The field an `Error::Invalid` names; panics on any other outcome.
pub(crate) fn invalid_field<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    match r {
        Err(Error::Invalid { field, .. }) => field,
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
}

/// Every item of a column, top first, read `limit` at a time by following cursors.
pub(crate) fn walk(engine: &Engine, board: BoardId, column: ColumnId, limit: usize) -> Vec<ItemId> {
    walk_pages(limit, |cursor| {
        engine
            .column_page(
                board,
                column,
                &PageRequest {
                    limit: Some(limit),
                    cursor,
                },
            )
            .expect("column page")
    })
}

/// Every item of a board's List view under `filter`, read `limit` at a time.
pub(crate) fn walk_list(
    engine: &Engine,
    board: BoardId,
    filter: &ListFilter,
    limit: usize,
) -> Vec<ItemId> {
    walk_pages(limit, |cursor| {
        engine
            .list(
                board,
                filter,
                &PageRequest {
                    limit: Some(limit),
                    cursor,
                },
            )
            .expect("list page")
    })
}

fn walk_pages(limit: usize, mut page: impl FnMut(Option<String>) -> Page<ItemView>) -> Vec<ItemId> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut cursor = None;
    loop {
        let followed = cursor.is_some();
        let p = page(cursor.take());
        assert!(p.items.len() <= limit, "a page holds at most `limit` items");
        if p.next_cursor.is_some() {
            assert_eq!(p.items.len(), limit, "a page with a next cursor is full");
        }
        if followed {
            assert!(
                !p.items.is_empty(),
                "a next cursor never leads to an empty page"
            );
        }
        for id in ids(&p) {
            assert!(seen.insert(id), "item {id} shown twice in one walk");
            out.push(id);
        }
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}
