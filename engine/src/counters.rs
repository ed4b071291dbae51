//! Per-user counters as responsible: unread items and overdue activities, per board and
//! column. They are kept exact in memory by every command that changes what an item
//! contributes (`State::count_item`, `State::recount_item`), and rebuilt from the records on open, so a read
//! never scans and never sees a negative or stale count.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids::{BoardId, ColumnId, UserId};

/// A user's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// The user.
    pub user: UserId,
    /// Their items with `unread`.
    pub unread_items: u64,
    /// Their open activities past deadline.
    pub overdue_activities: u64,
    /// The sum.
    pub total: u64,
    /// Per board (only boards with a non-zero count).
    pub boards: Vec<BoardCounters>,
}

/// One board's share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoardCounters {
    /// The board.
    pub board: BoardId,
    /// Unread items.
    pub unread_items: u64,
    /// Overdue activities.
    pub overdue_activities: u64,
    /// Per column (only columns with a non-zero count).
    pub columns: Vec<ColumnCounters>,
}

/// One column's share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnCounters {
    /// The column.
    pub column: ColumnId,
    /// Unread items.
    pub unread_items: u64,
    /// Overdue activities.
    pub overdue_activities: u64,
}

impl Engine {
    /// The counters of `user` as responsible.
    pub fn counters(&self, user: UserId) -> Result<Counters> {
        let st = self.shared.state.read();
        if !st.users.contains_key(&user) {
            return Err(Error::not_found("user", user));
        }
        let mut out = Counters {
            user,
            ..Counters::default()
        };
        if let Some(per) = st.counters.get(&user) {
            for ((board, column), c) in per {
                if out.boards.last().is_none_or(|b| b.board != *board) {
                    out.boards.push(BoardCounters {
                        board: *board,
                        ..BoardCounters::default()
                    });
                }
                if let Some(b) = out.boards.last_mut() {
                    b.unread_items += c.unread;
                    b.overdue_activities += c.overdue;
                    b.columns.push(ColumnCounters {
                        column: *column,
                        unread_items: c.unread,
                        overdue_activities: c.overdue,
                    });
                }
                out.unread_items += c.unread;
                out.overdue_activities += c.overdue;
            }
        }
        out.total = out.unread_items + out.overdue_activities;
        Ok(out)
    }
}
