//! Who follows which record, and why: owner (the responsible), manual (Follow), or an
//! auto-follow rule. Unfollow is sticky: no reason makes the user a follower again until
//! they press Follow.
//!
//! Follows live in sled as `W` + user + item and in memory per item (every follow record)
//! and per user (the active ones), so audience resolution and "Followed by me" never read
//! sled. A user may also follow a whole board (`V` + board + user): every record on it,
//! present and future, with no row per record; a record's Unfollow still sticks.

use crate::clock::Millis;
use crate::engine::{Engine, Tx};
use crate::error::{Error, Result};
use crate::ids::{BoardId, ItemId, RuleId, UserId};
use crate::page::{limit_of, Page, PageRequest};
use crate::records::{self, BoardFollowRec, FollowRec};
use crate::state::State;
use crate::store;

/// Why a user follows a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowReason {
    /// They are its responsible.
    Owner,
    /// They pressed Follow.
    Manual,
    /// One of their auto-follow rules matched it.
    Rule(RuleId),
    /// They follow its whole board.
    Board(BoardId),
}

/// A record in "Followed by me".
#[derive(Debug, Clone, PartialEq)]
pub struct Followed {
    /// The record.
    pub item: ItemId,
    /// Its module.
    pub module: String,
    /// Its title.
    pub title: String,
    /// Every reason the user follows it.
    pub reasons: Vec<FollowReason>,
    /// Its last change, comment, event or activity.
    pub updated_at: Millis,
}

/// Whether a user follows a record, given their stored follow (default if none) and
/// whether they are its responsible. The owner reason is never stored: it is derived from
/// the item's responsible, so creating an item or changing its responsible writes no
/// follow row.
pub(crate) fn active(f: &FollowRec, owner: bool) -> bool {
    !f.unfollowed && (owner || f.manual || !f.rules.is_empty())
}

fn reasons(f: &FollowRec, owner: bool) -> Vec<FollowReason> {
    let mut out = Vec::new();
    if owner {
        out.push(FollowReason::Owner);
    }
    if f.manual {
        out.push(FollowReason::Manual);
    }
    out.extend(f.rules.iter().map(|r| FollowReason::Rule(RuleId(*r))));
    out
}

fn persisted(f: &FollowRec) -> bool {
    f.manual || !f.rules.is_empty() || f.unfollowed
}

fn stored(st: &crate::state::State, user: UserId, item: ItemId) -> FollowRec {
    st.feed
        .by_item
        .get(&item)
        .and_then(|m| m.get(&user))
        .cloned()
        .unwrap_or_default()
}

/// Whether `user` pressed Unfollow on `item` (and has not followed again since).
pub(crate) fn unfollowed(st: &crate::state::State, user: UserId, item: ItemId) -> bool {
    st.feed
        .by_item
        .get(&item)
        .and_then(|m| m.get(&user))
        .is_some_and(|f| f.unfollowed)
}

/// The board through which `user` follows `item`, if they follow its board and did not
/// unfollow the record.
fn via_board(st: &State, user: UserId, item: ItemId) -> Option<BoardId> {
    let board = st.slot(item)?.board;
    let follows = st.feed.board_follows.get(&user)?;
    (follows.contains(&board) && !unfollowed(st, user, item)).then_some(board)
}

/// Whether `user` follows `item`, for any reason.
fn follows_item(st: &State, user: UserId, item: ItemId) -> bool {
    st.feed
        .following
        .get(&user)
        .is_some_and(|s| s.contains(&item))
        || via_board(st, user, item).is_some()
}

/// Every reason `user` follows `item` (empty: they do not).
fn all_reasons(st: &State, user: UserId, item: ItemId) -> Vec<FollowReason> {
    let f = stored(st, user, item);
    let mut out = if active(&f, is_owner(st, user, item)) {
        reasons(&f, is_owner(st, user, item))
    } else {
        Vec::new()
    };
    out.extend(via_board(st, user, item).map(FollowReason::Board));
    out
}

/// The records `user` follows, by id, from `after` (exclusive). Without board follows it
/// walks their follow set; with one, every item slot from `after` on (a board's items are
/// not kept by id), so a page costs up to the store's items: about 1 ms per 200,000 here.
fn followed_from(st: &State, user: UserId, after: u64) -> Box<dyn Iterator<Item = ItemId> + '_> {
    let set = st.feed.following.get(&user);
    if st
        .feed
        .board_follows
        .get(&user)
        .is_none_or(|b| b.is_empty())
    {
        let start = std::ops::Bound::Excluded(ItemId(after));
        return Box::new(
            set.into_iter()
                .flat_map(move |s| s.range((start, std::ops::Bound::Unbounded)))
                .copied(),
        );
    }
    let from = usize::try_from(after).map_or(usize::MAX, |a| a.saturating_add(1));
    Box::new(
        (from..st.items.len())
            .filter_map(|i| u64::try_from(i).ok().map(ItemId))
            .filter(move |id| follows_item(st, user, *id)),
    )
}

/// Adds or removes a whole-board follow in memory.
pub(crate) fn set_board_follow(st: &mut State, user: UserId, board: BoardId, on: bool) {
    if on {
        st.feed.board_follows.entry(user).or_default().insert(board);
        st.feed
            .board_followers
            .entry(board)
            .or_default()
            .insert(user);
        return;
    }
    if let Some(s) = st.feed.board_follows.get_mut(&user) {
        s.remove(&board);
        if s.is_empty() {
            st.feed.board_follows.remove(&user);
        }
    }
    if let Some(s) = st.feed.board_followers.get_mut(&board) {
        s.remove(&user);
        if s.is_empty() {
            st.feed.board_followers.remove(&board);
        }
    }
}

fn is_owner(st: &crate::state::State, user: UserId, item: ItemId) -> bool {
    st.slot(item).is_some_and(|s| s.responsible == user)
}

fn set_following(st: &mut crate::state::State, user: UserId, item: ItemId, on: bool) {
    if on {
        st.feed.following.entry(user).or_default().insert(item);
    } else if let Some(s) = st.feed.following.get_mut(&user) {
        s.remove(&item);
        if s.is_empty() {
            st.feed.following.remove(&user);
        }
    }
}

/// Changes the stored part of one follow with `f`, keeping sled and memory in step.
pub(crate) fn update(
    tx: &mut Tx<'_>,
    user: UserId,
    item: ItemId,
    f: impl FnOnce(&mut FollowRec),
) -> Result<()> {
    let owner = is_owner(&tx.state, user, item);
    let before = stored(&tx.state, user, item);
    let mut rec = before.clone();
    f(&mut rec);
    if rec == before {
        return Ok(());
    }
    let (was, now) = (active(&before, owner), active(&rec, owner));
    if !was && now {
        rec.since = tx.now.0;
    }
    if was != now {
        set_following(&mut tx.state, user, item, now);
    }
    let key = store::follow_key(user.0, item.0);
    if persisted(&rec) {
        tx.batch.put(&key, records::encode(&rec)?);
        tx.state
            .feed
            .by_item
            .entry(item)
            .or_default()
            .insert(user, rec);
    } else {
        if persisted(&before) {
            tx.batch.delete(&key);
        }
        if let Some(m) = tx.state.feed.by_item.get_mut(&item) {
            m.remove(&user);
            if m.is_empty() {
                tx.state.feed.by_item.remove(&item);
            }
        }
    }
    Ok(())
}

/// The responsible of `item` changed from `old` to the item's current responsible (or
/// the item is new, `old = None`): the owner reason moves with it.
pub(crate) fn owner_changed(tx: &mut Tx<'_>, item: ItemId, old: Option<UserId>) {
    let Some(new) = tx.state.slot(item).map(|s| s.responsible) else {
        return;
    };
    if let Some(old) = old.filter(|o| *o != new) {
        let f = stored(&tx.state, old, item);
        if active(&f, true) != active(&f, false) {
            set_following(&mut tx.state, old, item, active(&f, false));
        }
    }
    let f = stored(&tx.state, new, item);
    set_following(&mut tx.state, new, item, active(&f, true));
}

/// Evaluates the auto-follow rules of the item's module; each match makes its owner
/// follow with reason `rule:<id>` (a sticky unfollow still wins).
pub(crate) fn apply_rules(tx: &mut Tx<'_>, item: ItemId) -> Result<()> {
    let Some(slot) = tx.state.slot(item) else {
        return Ok(());
    };
    let Some(module) = tx.state.boards.get(&slot.board).map(|b| b.module.clone()) else {
        return Ok(());
    };
    if !tx.state.feed.rules.values().any(|r| r.module == module) {
        return Ok(());
    }
    let Some(view) = tx.state.view(item) else {
        return Ok(());
    };
    let r = view.get()?;
    let hits: Vec<(u64, u64)> = tx
        .state
        .feed
        .rules
        .values()
        .filter(|rule| rule.module == module && crate::rules::matches(&rule.criteria, &r))
        .map(|rule| (rule.id, rule.user))
        .collect();
    for (rule, user) in hits {
        add_rule(tx, UserId(user), item, rule)?;
    }
    Ok(())
}

pub(crate) fn add_rule(tx: &mut Tx<'_>, user: UserId, item: ItemId, rule: u64) -> Result<()> {
    update(tx, user, item, |f| {
        if !f.rules.contains(&rule) {
            f.rules.push(rule);
        }
    })
}

/// The item's current followers.
pub(crate) fn followers(tx: &Tx<'_>, item: ItemId) -> Vec<UserId> {
    let responsible = tx.state.slot(item).map(|s| s.responsible);
    let explicit = tx.state.feed.by_item.get(&item);
    let mut out: Vec<UserId> = explicit
        .map(|m| {
            m.iter()
                .filter(|(u, f)| active(f, Some(**u) == responsible))
                .map(|(u, _)| *u)
                .collect()
        })
        .unwrap_or_default();
    if let Some(r) = responsible {
        let unfollowed = explicit
            .and_then(|m| m.get(&r))
            .is_some_and(|f| f.unfollowed);
        if !unfollowed && !out.contains(&r) {
            out.push(r);
        }
    }
    // The board's followers: a cost per entry of its followers, not of its records.
    let board = tx.state.slot(item).map(|s| s.board);
    if let Some(users) = board.and_then(|b| tx.state.feed.board_followers.get(&b)) {
        let before = out.len();
        out.extend(users.iter().copied().filter(|u| {
            !explicit
                .and_then(|m| m.get(u))
                .is_some_and(|f| f.unfollowed)
        }));
        if out.len() > before {
            // Not a `contains` per board follower: that was quadratic, 3× the cost of
            // 1,000 record followers in the feed bench.
            out.sort_unstable();
            out.dedup();
        }
    }
    out
}

/// Drops every follow of an item about to be deleted.
pub(crate) fn forget_item(tx: &mut Tx<'_>, item: ItemId) {
    if let Some(r) = tx.state.slot(item).map(|s| s.responsible) {
        set_following(&mut tx.state, r, item, false);
    }
    if let Some(m) = tx.state.feed.by_item.remove(&item) {
        for user in m.keys() {
            tx.batch.delete(&store::follow_key(user.0, item.0));
            set_following(&mut tx.state, *user, item, false);
        }
    }
}

fn cursor_of(s: &str) -> Result<u64> {
    crate::cursor::decode_u64(b'f', s)
}

fn cursor(key: u64) -> String {
    crate::cursor::encode_u64(b'f', key)
}

impl Engine {
    /// Follow (manual); also ends a sticky unfollow.
    pub fn follow(&self, user: UserId, item: ItemId) -> Result<()> {
        self.call(move |tx| {
            if tx.state.slot(item).is_none() {
                return Err(Error::not_found("item", item));
            }
            update(tx, user, item, |f| {
                f.manual = true;
                f.unfollowed = false;
            })
        })
    }

    /// Unfollow: the user stops following whatever the reasons, until they follow again.
    pub fn unfollow(&self, user: UserId, item: ItemId) -> Result<()> {
        self.call(move |tx| {
            if tx.state.slot(item).is_none() {
                return Err(Error::not_found("item", item));
            }
            update(tx, user, item, |f| {
                f.manual = false;
                f.unfollowed = true;
            })
        })
    }

    /// Follows every record of `board`, present and future (a record the user unfollowed
    /// stays unfollowed). One row, whatever the board's size.
    pub fn follow_board(&self, user: UserId, board: BoardId) -> Result<()> {
        self.call(move |tx| {
            if !tx.state.boards.contains_key(&board) {
                return Err(Error::not_found("board", board));
            }
            let followed = tx
                .state
                .feed
                .board_follows
                .get(&user)
                .is_some_and(|b| b.contains(&board));
            if !followed {
                let rec = BoardFollowRec { since: tx.now.0 };
                tx.batch.put(
                    &store::board_follow_key(board.0, user.0),
                    records::encode(&rec)?,
                );
                set_board_follow(&mut tx.state, user, board, true);
            }
            Ok(())
        })
    }

    /// Stops following `board` whole: the user keeps the records they follow for another
    /// reason (owner, Follow, a rule).
    pub fn unfollow_board(&self, user: UserId, board: BoardId) -> Result<()> {
        self.call(move |tx| {
            if !tx.state.boards.contains_key(&board) {
                return Err(Error::not_found("board", board));
            }
            tx.batch.delete(&store::board_follow_key(board.0, user.0));
            set_board_follow(&mut tx.state, user, board, false);
            Ok(())
        })
    }

    /// "Followed by me": the records `user` follows (of `module`, if given), by item id.
    pub fn follows(
        &self,
        user: UserId,
        module: Option<&str>,
        req: &PageRequest,
    ) -> Result<Page<Followed>> {
        let limit = limit_of(req)?;
        let after = req.cursor.as_deref().map(cursor_of).transpose()?;
        let st = self.shared.state.read();
        if let Some(m) = module.filter(|m| !st.modules.contains_key(*m)) {
            return Err(Error::invalid("module", format!("unknown module {m:?}")));
        }
        let mut items = Vec::with_capacity(limit);
        let mut more = false;
        for item in followed_from(&st, user, after.unwrap_or(0)) {
            let Some(info) = crate::follow::record_info(&st, item) else {
                continue;
            };
            if module.is_some_and(|m| m != info.0) {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(Followed {
                item,
                module: info.0,
                title: info.1,
                reasons: all_reasons(&st, user, item),
                updated_at: Millis(info.2),
            });
        }
        let next_cursor = if more {
            items.last().map(|f: &Followed| cursor(f.item.0))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Followed records not updated (no change, comment, event or activity) for more than
    /// `days` days (1–180), oldest first. Costs the user's follows, not the store.
    pub fn inactive(&self, user: UserId, days: i64, req: &PageRequest) -> Result<Page<Followed>> {
        if !(1..=180).contains(&days) {
            return Err(Error::invalid("days", "must be 1–180"));
        }
        let limit = limit_of(req)?;
        let after = req.cursor.as_deref().map(cursor_of).transpose()?;
        let cutoff = self.shared.config.clock.now().0 - days * 86_400_000;
        let st = self.shared.state.read();
        let mut stale: Vec<(i64, ItemId, String, String)> = followed_from(&st, user, 0)
            .filter_map(|item| {
                let (module, title, touched) = crate::follow::record_info(&st, item)?;
                (touched < cutoff).then_some((touched, item, module, title))
            })
            .collect();
        stale.sort();
        let skip = after.map_or(0, |a| usize::try_from(a).unwrap_or(usize::MAX));
        let more = stale.len() > skip + limit;
        let items: Vec<Followed> = stale
            .into_iter()
            .skip(skip)
            .take(limit)
            .map(|(t, item, module, title)| Followed {
                item,
                module,
                title,
                reasons: all_reasons(&st, user, item),
                updated_at: Millis(t),
            })
            .collect();
        let next_cursor = more.then(|| cursor((skip + limit) as u64));
        Ok(Page { items, next_cursor })
    }
}

/// A record's module key, title and last touch, for listings.
pub(crate) fn record_info(st: &State, item: ItemId) -> Option<(String, String, i64)> {
    let slot = st.slot(item)?;
    let r = records::access::<records::ArchivedItemRec>(&slot.rec).ok()?;
    let module = st
        .boards
        .get(&slot.board)
        .map(|b| b.module.clone())
        .unwrap_or_default();
    let touched = st
        .feed
        .last_touch
        .get(&item)
        .copied()
        .unwrap_or(r.updated_at.to_native());
    Some((module, r.title.to_string(), touched))
}
