//! Modules, boards and their columns.

use crate::changes::ChangeKind;
use crate::engine::{Engine, Tx};
use crate::error::{Error, Result};
use crate::ids::{BoardId, ColumnId, ItemId, UserId};
use crate::records::{self, BoardRec, ColumnRec, CounterMode, ModuleRec};
use crate::state::{ColumnState, Count, Counter};
use crate::store;
use crate::validate;

/// A kind of record: built in (`deal`, `lead`, …) or a smart process added by an admin.
#[derive(Debug, Clone, PartialEq)]
pub struct Module {
    /// `[a-z][a-z0-9_]{1,31}`.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Whether it ships with every store.
    pub builtin: bool,
}

/// A module to add.
#[derive(Debug, Clone, Default)]
pub struct NewModule {
    /// `[a-z][a-z0-9_]{1,31}`, unique.
    pub key: String,
    /// Display name.
    pub name: String,
}

/// A board with its columns in display order.
#[derive(Debug, Clone, PartialEq)]
pub struct Board {
    /// Its id.
    pub id: BoardId,
    /// The module of its items.
    pub module: String,
    /// Display name.
    pub name: String,
    /// Columns, left to right.
    pub columns: Vec<Column>,
    /// Whether triggers reorder items.
    pub focus_enabled: bool,
    /// Default reminder lead before a deadline, minutes.
    pub focus_lead_minutes: u32,
    /// Whose counter an overdue activity raises.
    pub counter_mode: CounterMode,
}

/// A column (stage).
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Its id, unique across boards.
    pub id: ColumnId,
    /// Display name.
    pub name: String,
}

/// A board to create.
#[derive(Debug, Clone, Default)]
pub struct NewBoard {
    /// An existing module key.
    pub module: String,
    /// 1–200 characters.
    pub name: String,
    /// Column names, left to right; 1–100 of them.
    pub columns: Vec<String>,
    /// Default true.
    pub focus_enabled: Option<bool>,
    /// Default 15; 0–10080.
    pub focus_lead_minutes: Option<i64>,
    /// Default [`CounterMode::Item`].
    pub counter_mode: Option<CounterMode>,
}

/// Board settings to change; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct BoardPatch {
    /// New name.
    pub name: Option<String>,
    /// New focus switch.
    pub focus_enabled: Option<bool>,
    /// New lead, 0–10080.
    pub focus_lead_minutes: Option<i64>,
    /// New counter mode: the overdue counts move to the other people at once.
    pub counter_mode: Option<CounterMode>,
}

/// Where a column goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnPosition {
    /// Leftmost.
    First,
    /// Right after the given column.
    After(ColumnId),
}

/// Column changes; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct ColumnPatch {
    /// New name.
    pub name: Option<String>,
    /// New position.
    pub position: Option<ColumnPosition>,
}

const MAX_COLUMNS: usize = 100;

impl From<&ModuleRec> for Module {
    fn from(m: &ModuleRec) -> Module {
        Module {
            key: m.key.clone(),
            name: m.name.clone(),
            builtin: m.builtin,
        }
    }
}

impl From<&BoardRec> for Board {
    fn from(b: &BoardRec) -> Board {
        Board {
            id: BoardId(b.id),
            module: b.module.clone(),
            name: b.name.clone(),
            columns: b
                .columns
                .iter()
                .map(|c| Column {
                    id: ColumnId(c.id),
                    name: c.name.clone(),
                })
                .collect(),
            focus_enabled: b.focus_enabled,
            focus_lead_minutes: b.focus_lead_minutes,
            counter_mode: b.counter_mode,
        }
    }
}

fn put_board(tx: &mut Tx<'_>, b: BoardRec) -> Result<Board> {
    tx.batch
        .put(&store::id_key(store::BOARD, b.id), records::encode(&b)?);
    let out = Board::from(&b);
    tx.change(ChangeKind::BoardChanged, Some(BoardId(b.id)), None);
    tx.state.boards.insert(BoardId(b.id), b);
    Ok(out)
}

/// Stores `b`, whose counter mode changed, and moves the overdue counts of its items to
/// the people the new mode names: each item with an overdue activity is taken out of the
/// counters under the old mode and put back under the new one, in the same command, so
/// no read sees a half-moved count. Cost: one pass over the open overdue activities.
fn switch_counter_mode(tx: &mut Tx<'_>, b: BoardRec) -> Result<Board> {
    let board = BoardId(b.id);
    let mut items: Vec<ItemId> = tx
        .state
        .activities
        .values()
        .filter(|a| a.overdue)
        .map(|a| a.item)
        .filter(|i| tx.state.slot(*i).is_some_and(|s| s.board == board))
        .collect();
    items.sort_unstable();
    items.dedup();
    for id in &items {
        tx.state.count_item(*id, Count::Remove);
    }
    let out = put_board(tx, b)?;
    for id in &items {
        tx.state.count_item(*id, Count::Add);
    }
    Ok(out)
}

fn board_of(tx: &Tx<'_>, id: BoardId) -> Result<BoardRec> {
    tx.state
        .boards
        .get(&id)
        .cloned()
        .ok_or_else(|| Error::not_found("board", id))
}

/// Where a column goes in `b`'s list: an index, or `Invalid` naming `after`.
fn position_of(b: &BoardRec, pos: Option<ColumnPosition>) -> Result<usize> {
    Ok(match pos {
        None => b.columns.len(),
        Some(ColumnPosition::First) => 0,
        Some(ColumnPosition::After(a)) => {
            b.columns.iter().position(|c| c.id == a.0).ok_or_else(|| {
                Error::invalid("after", format!("column {a} is not on this board"))
            })? + 1
        }
    })
}

fn place(b: &mut BoardRec, col: ColumnRec, pos: Option<ColumnPosition>) -> Result<()> {
    let at = position_of(b, pos)?;
    b.columns.insert(at.min(b.columns.len()), col);
    Ok(())
}

impl Engine {
    /// Built-in and added modules, by key.
    pub fn modules(&self) -> Vec<Module> {
        self.shared
            .state
            .read()
            .modules
            .values()
            .map(Module::from)
            .collect()
    }

    /// Adds a smart-process module.
    pub fn create_module(&self, new: NewModule) -> Result<Module> {
        self.call(move |tx| {
            let key = validate::module_key("key", &new.key)?;
            let name = validate::name("name", &new.name)?;
            if tx.state.modules.contains_key(&key) {
                return Err(Error::Conflict(format!("module {key} already exists")));
            }
            let rec = ModuleRec {
                key: key.clone(),
                name,
                builtin: false,
            };
            tx.batch
                .put(&store::str_key(store::MODULE, &key), records::encode(&rec)?);
            let out = Module::from(&rec);
            tx.state.modules.insert(key, rec);
            tx.directory_changed();
            Ok(out)
        })
    }

    /// Creates a board with its columns.
    pub fn create_board(&self, new: NewBoard) -> Result<Board> {
        self.call(move |tx| {
            if !tx.state.modules.contains_key(&new.module) {
                return Err(Error::invalid(
                    "module",
                    format!("unknown module {:?}", new.module),
                ));
            }
            let name = validate::name("name", &new.name)?;
            if new.columns.is_empty() || new.columns.len() > MAX_COLUMNS {
                return Err(Error::invalid("columns", "a board has 1–100 columns"));
            }
            let mut names = Vec::with_capacity(new.columns.len());
            for (i, c) in new.columns.iter().enumerate() {
                names.push(validate::name(&format!("columns[{i}].name"), c)?);
            }
            let lead =
                validate::lead_minutes("focus_lead_minutes", new.focus_lead_minutes.unwrap_or(15))?;
            let id = tx.state.alloc(Counter::Board);
            let mut columns = Vec::with_capacity(names.len());
            for name in names {
                let cid = tx.state.alloc(Counter::Column);
                tx.state.columns.insert(
                    ColumnId(cid),
                    ColumnState {
                        board: BoardId(id),
                        ..ColumnState::default()
                    },
                );
                columns.push(ColumnRec { id: cid, name });
            }
            tx.state.meta_dirty = true;
            put_board(
                tx,
                BoardRec {
                    id,
                    module: new.module,
                    name,
                    columns,
                    focus_enabled: new.focus_enabled.unwrap_or(true),
                    focus_lead_minutes: lead,
                    created_at: tx.now.0,
                    counter_mode: new.counter_mode.unwrap_or_default(),
                },
            )
        })
    }

    /// Every board, by id.
    pub fn boards(&self) -> Vec<Board> {
        self.shared
            .state
            .read()
            .boards
            .values()
            .map(Board::from)
            .collect()
    }

    /// One board.
    pub fn board(&self, id: BoardId) -> Result<Board> {
        self.shared
            .state
            .read()
            .boards
            .get(&id)
            .map(Board::from)
            .ok_or_else(|| Error::not_found("board", id))
    }

    /// Changes a board's name or focus settings.
    pub fn patch_board(&self, id: BoardId, patch: BoardPatch) -> Result<Board> {
        self.call(move |tx| {
            let mut b = board_of(tx, id)?;
            if let Some(n) = &patch.name {
                b.name = validate::name("name", n)?;
            }
            if let Some(l) = patch.focus_lead_minutes {
                b.focus_lead_minutes = validate::lead_minutes("focus_lead_minutes", l)?;
            }
            if let Some(f) = patch.focus_enabled {
                b.focus_enabled = f;
            }
            match patch.counter_mode {
                Some(mode) if mode != b.counter_mode => {
                    b.counter_mode = mode;
                    switch_counter_mode(tx, b)
                }
                _ => put_board(tx, b),
            }
        })
    }

    /// Adds a column (at the right end unless `position` says otherwise).
    pub fn add_column(
        &self,
        board: BoardId,
        name: String,
        position: Option<ColumnPosition>,
    ) -> Result<Column> {
        self.call(move |tx| {
            let mut b = board_of(tx, board)?;
            let name = validate::name("name", &name)?;
            if b.columns.len() >= MAX_COLUMNS {
                return Err(Error::Conflict("a board has at most 100 columns".into()));
            }
            // The position is checked before the id is taken: a refused command changes
            // nothing, the id counter included.
            let at = position_of(&b, position)?;
            let cid = tx.state.alloc(Counter::Column);
            b.columns.insert(
                at.min(b.columns.len()),
                ColumnRec {
                    id: cid,
                    name: name.clone(),
                },
            );
            tx.state.columns.insert(
                ColumnId(cid),
                ColumnState {
                    board,
                    ..ColumnState::default()
                },
            );
            put_board(tx, b)?;
            Ok(Column {
                id: ColumnId(cid),
                name,
            })
        })
    }

    /// Renames or repositions a column.
    pub fn patch_column(
        &self,
        board: BoardId,
        column: ColumnId,
        patch: ColumnPatch,
    ) -> Result<Column> {
        self.call(move |tx| {
            let mut b = board_of(tx, board)?;
            let i = b
                .columns
                .iter()
                .position(|c| c.id == column.0)
                .ok_or_else(|| Error::not_found("column", column))?;
            let mut col = b.columns.remove(i);
            if let Some(n) = &patch.name {
                col.name = validate::name("name", n)?;
            }
            let out = Column {
                id: column,
                name: col.name.clone(),
            };
            match patch.position {
                Some(ColumnPosition::After(a)) if a == column => {
                    return Err(Error::invalid("after", "a column cannot follow itself"))
                }
                None => b.columns.insert(i, col),
                pos => place(&mut b, col, pos)?,
            }
            put_board(tx, b)?;
            Ok(out)
        })
    }

    /// Deletes a column on behalf of `actor`. A non-empty column is refused unless
    /// `move_to` names another column of the board: then its items go below that column's
    /// items first, in their order (one rewrite and one `record_updated` entry per item,
    /// authored by `actor`, in the same atomic write).
    pub fn delete_column(
        &self,
        actor: UserId,
        board: BoardId,
        column: ColumnId,
        move_to: Option<ColumnId>,
    ) -> Result<()> {
        self.call(move |tx| delete_column_in(tx, actor, board, column, move_to))
    }
}

/// Deletes a column; see [`Engine::delete_column`].
fn delete_column_in(
    tx: &mut Tx<'_>,
    actor: UserId,
    board: BoardId,
    column: ColumnId,
    move_to: Option<ColumnId>,
) -> Result<()> {
    let mut b = board_of(tx, board)?;
    let i = b
        .columns
        .iter()
        .position(|c| c.id == column.0)
        .ok_or_else(|| Error::not_found("column", column))?;
    if b.columns.len() == 1 {
        return Err(Error::Conflict("a board keeps at least one column".into()));
    }
    let count = tx.state.columns.get(&column).map_or(0, |c| c.order.len());
    if count > 0 {
        let Some(target) = move_to else {
            return Err(Error::Conflict(format!(
                "column {column} holds {count} items; empty it or pass move_to"
            )));
        };
        if target == column || !b.columns.iter().any(|c| c.id == target.0) {
            return Err(Error::invalid(
                "move_to",
                "must be another column of this board",
            ));
        }
        let moving: Vec<ItemId> = tx
            .state
            .columns
            .get(&column)
            .map(|c| c.order.values().copied().collect())
            .unwrap_or_default();
        let bottom = tx
            .state
            .columns
            .get(&target)
            .and_then(|c| c.order.keys().next().cloned());
        let keys = crate::order::run_below(bottom.as_deref(), moving.len());
        // Each move is a change of stage: rules and a `record_updated` entry, as
        // for a move by hand.
        for (id, key) in moving.into_iter().zip(keys) {
            crate::focus::with_counts(tx, id, |tx| {
                crate::focus::relocate(tx, id, target, key, None)
            })?;
            crate::item::moved_column(tx, actor, id, column, target)?;
            // Board streams show the move like any other (the column's removal itself is
            // a board change, which they leave out).
            tx.change(ChangeKind::ItemMoved, Some(board), Some(id));
        }
    } else if move_to.is_some_and(|t| !b.columns.iter().any(|c| c.id == t.0)) {
        return Err(Error::invalid(
            "move_to",
            "must be another column of this board",
        ));
    }
    b.columns.remove(i);
    tx.state.columns.remove(&column);
    put_board(tx, b)?;
    Ok(())
}
