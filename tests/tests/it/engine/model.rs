//! Random operation sequences against an in-memory model of a board.
//!
//! The model is the plainest possible description of focus order: per column, a `Vec` of
//! item ids, top first. Create and focus put an item at the front, manual moves splice it
//! where asked, delete removes it. After every operation each column is read back in full
//! by following cursors (with small, varying page sizes) and must equal the model; at the
//! end the engine is closed and reopened and must still equal it.

use hoist_engine::{Board, FocusReason, ItemId, PageRequest, Position};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::support::{ids, new_item, walk, TestEngine};

const COLUMNS: usize = 3;

#[derive(Debug, Clone)]
enum Place {
    /// No position: only meaningful when the column changes (a focus, reason `moved`).
    Auto,
    Top,
    Bottom,
    Before(Index),
    After(Index),
}

#[derive(Debug, Clone)]
enum Op {
    Create {
        column: usize,
    },
    Move {
        item: Index,
        column: Option<usize>,
        place: Place,
    },
    Focus {
        item: Index,
        reason: FocusReason,
    },
    Delete {
        item: Index,
    },
    /// Read one page, focus an item already shown (so it rises above the cursor), then
    /// read the rest: the walk must show the column as it was, each item once.
    DisturbedWalk {
        column: usize,
        limit: usize,
        disturb: Index,
    },
}

fn place() -> impl Strategy<Value = Place> {
    prop_oneof![
        1 => Just(Place::Auto),
        1 => Just(Place::Top),
        1 => Just(Place::Bottom),
        2 => any::<Index>().prop_map(Place::Before),
        2 => any::<Index>().prop_map(Place::After),
    ]
}

fn reason() -> impl Strategy<Value = FocusReason> {
    prop_oneof![
        Just(FocusReason::CallIn),
        Just(FocusReason::EmailIn),
        Just(FocusReason::Comment),
        Just(FocusReason::Deadline),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..COLUMNS).prop_map(|column| Op::Create { column }),
        5 => (any::<Index>(), proptest::option::of(0..COLUMNS), place())
            .prop_map(|(item, column, place)| Op::Move { item, column, place }),
        2 => (any::<Index>(), reason()).prop_map(|(item, reason)| Op::Focus { item, reason }),
        1 => any::<Index>().prop_map(|item| Op::Delete { item }),
        1 => (0..COLUMNS, 1usize..5, any::<Index>())
            .prop_map(|(column, limit, disturb)| Op::DisturbedWalk { column, limit, disturb }),
    ]
}

/// The model: per column, item ids top first.
#[derive(Debug, Default)]
struct Model {
    columns: Vec<Vec<ItemId>>,
}

impl Model {
    fn live(&self) -> Vec<ItemId> {
        self.columns.iter().flatten().copied().collect()
    }

    fn locate(&self, id: ItemId) -> (usize, usize) {
        self.columns
            .iter()
            .enumerate()
            .find_map(|(c, ids)| ids.iter().position(|x| *x == id).map(|i| (c, i)))
            .expect("the model holds every live item")
    }

    fn remove(&mut self, id: ItemId) -> usize {
        let (c, i) = self.locate(id);
        self.columns[c].remove(i);
        c
    }
}

struct Run {
    t: TestEngine,
    board: Board,
    model: Model,
    step: usize,
}

impl Run {
    fn new() -> Run {
        let t = TestEngine::new();
        let board = t.board("Model", &["A", "B", "C"]);
        Run {
            t,
            board,
            model: Model {
                columns: vec![Vec::new(); COLUMNS],
            },
            step: 0,
        }
    }

    fn apply(&mut self, op: &Op) {
        let engine = &self.t.engine;
        let live = self.model.live();
        match op {
            Op::Create { column } => {
                let view = engine
                    .create_item(self.t.admin, new_item(&self.board, *column, "m"))
                    .expect("create");
                self.model.columns[*column].insert(0, crate::support::id_of(&view));
            }
            Op::Move {
                item,
                column,
                place,
            } => {
                if live.is_empty() {
                    return;
                }
                let id = live[item.index(live.len())];
                let (from, _) = self.model.locate(id);
                let target = column.unwrap_or(from);
                let target_id = column.map(|c| self.board.columns[c].id);
                // Anchors are the target column's items other than the moving one.
                let anchors: Vec<ItemId> = self.model.columns[target]
                    .iter()
                    .copied()
                    .filter(|x| *x != id)
                    .collect();
                let (position, at) = match place {
                    Place::Auto if target == from => {
                        let r = engine.move_item(self.t.admin, id, target_id, None);
                        assert!(r.is_err(), "a move without position needs another column");
                        return;
                    }
                    Place::Auto | Place::Top => (
                        (!matches!(place, Place::Auto)).then_some(Position::Top),
                        Some(0),
                    ),
                    Place::Bottom => (Some(Position::Bottom), None),
                    Place::Before(i) | Place::After(i) => {
                        if anchors.is_empty() {
                            return;
                        }
                        let k = i.index(anchors.len());
                        if matches!(place, Place::Before(_)) {
                            (Some(Position::Before(anchors[k])), Some(k))
                        } else {
                            (Some(Position::After(anchors[k])), Some(k + 1))
                        }
                    }
                };
                let moved = engine
                    .move_item(self.t.admin, id, target_id, position)
                    .expect("move");
                let moved = moved.get().expect("decode");
                assert_eq!(moved.column(), self.board.columns[target].id);
                if matches!(place, Place::Auto) {
                    assert_eq!(moved.focus_reason(), FocusReason::Moved);
                }
                self.model.remove(id);
                let col = &mut self.model.columns[target];
                match at {
                    Some(i) => col.insert(i, id),
                    None => col.push(id),
                }
            }
            Op::Focus { item, reason } => {
                if live.is_empty() {
                    return;
                }
                let id = live[item.index(live.len())];
                let before = self.t.get(id).attention;
                let view = engine.focus(id, *reason).expect("focus");
                assert_eq!(view.get().expect("decode").attention(), before + 1);
                let c = self.model.remove(id);
                self.model.columns[c].insert(0, id);
            }
            Op::Delete { item } => {
                if live.is_empty() {
                    return;
                }
                let id = live[item.index(live.len())];
                engine.delete_item(self.t.admin, id).expect("delete");
                self.model.remove(id);
            }
            Op::DisturbedWalk {
                column,
                limit,
                disturb,
            } => {
                let (board, col) = (self.board.id, self.board.columns[*column].id);
                let want = self.model.columns[*column].clone();
                let req = |cursor| PageRequest {
                    limit: Some(*limit),
                    cursor,
                };
                let first = engine.column_page(board, col, &req(None)).expect("page");
                let mut seen = ids(&first);
                if let Some(&shown) = seen.get(disturb.index(seen.len().max(1))) {
                    engine.focus(shown, FocusReason::ChatIn).expect("focus");
                    let c = self.model.remove(shown);
                    self.model.columns[c].insert(0, shown);
                }
                let mut cursor = first.next_cursor;
                while let Some(c) = cursor.take() {
                    let p = engine.column_page(board, col, &req(Some(c))).expect("page");
                    seen.extend(ids(&p));
                    cursor = p.next_cursor;
                }
                assert_eq!(
                    seen, want,
                    "step {}: a walk disturbed above its cursor",
                    self.step
                );
            }
        }
    }

    /// Every column, walked with a page size that varies by step, equals the model.
    fn check(&self) {
        let limit = 1 + self.step % 4;
        for (c, want) in self.model.columns.iter().enumerate() {
            let got = walk(
                &self.t.engine,
                self.board.id,
                self.board.columns[c].id,
                limit,
            );
            assert_eq!(&got, want, "step {}: column {c}, limit {limit}", self.step);
        }
        let kanban = self.t.engine.kanban(self.board.id, 2).expect("kanban");
        let counts: Vec<u64> = kanban.iter().map(|k| k.count).collect();
        let want: Vec<u64> = self.model.columns.iter().map(|c| c.len() as u64).collect();
        assert_eq!(counts, want, "step {}: column counts", self.step);
        assert_eq!(self.t.engine.stats().items, want.iter().sum::<u64>());
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_operations_keep_every_column_equal_to_the_model(
        ops in proptest::collection::vec(op(), 1..60)
    ) {
        let mut run = Run::new();
        for op in &ops {
            run.apply(op);
            run.check();
            run.step += 1;
        }
        let Run { t, board, model, step } = run;
        let t = t.reopen();
        let run = Run { t, board, model, step };
        run.check();
        // After the restart new items still land on top of everything.
        let mut run = run;
        for column in 0..COLUMNS {
            run.apply(&Op::Create { column });
        }
        run.check();
    }
}
