//! Activities (calls, meetings, tasks, e-mails with a deadline) and the durable timers of
//! their reminders and deadlines.
//!
//! Each open activity arms up to five reminders and its deadline. Its pending timers are
//! one `T` row keyed by (earliest due, coarsened to a bucket; activity id) that lists every
//! pending timer's exact due time, written in the same batch as the activity; when a
//! timer fires, it leaves the row (the row moves to the next due, or goes with the last)
//! in the same batch as the focus it causes and the activity's `fired` bit, so each reminder and deadline fires exactly
//! once, across crashes too. One row per activity rather than per timer halves the sled
//! writes of creating one (BENCHMARKS.md). The in-memory wheel only decides *when* to
//! look; `State::armed` (the mirror of the `T` rows, per timer) decides whether a timer is
//! still live.
//!
//! Arming rules (ARCHITECTURE.md, "Focus mode"): reminders are `deadline − offset` for the activity's own
//! offsets, or the board's `focus_lead_minutes` when it has none; an offset of 0 coincides
//! with the deadline and is not armed separately. When the deadline is already past at
//! arming time only the deadline is armed (it fires at once); a past reminder of a future
//! deadline fires at once.

use crate::changes::ChangeKind;
use crate::clock::Millis;
use crate::engine::Pending;
use crate::engine::{Engine, TimerOp, Tx};
use crate::error::{Error, Result};
use crate::focus::with_counts;
use crate::ids::{ActivityId, BoardId, ItemId, UserId};
use crate::page::{limit_of, Page, PageRequest};
use crate::records::{
    self, ActivityKind, ActivityRec, FocusReason, TimelineKind, TimersRec, DEADLINE_BIT,
};
use crate::state::{ActSlot, Counter};
use crate::store;
use crate::timer::{ActivityTimer, TimerId, TimerSlot};
use crate::validate;

/// Where an activity stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityState {
    /// Open; no reminder has fired yet.
    Planned,
    /// Open; a reminder fired, the deadline has not.
    DueSoon,
    /// Open; the deadline passed.
    Overdue,
    /// Completed.
    Completed,
}

/// An activity.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// Its id.
    pub id: ActivityId,
    /// Its item.
    pub item: ItemId,
    /// What kind.
    pub kind: ActivityKind,
    /// Subject.
    pub subject: String,
    /// Deadline.
    pub deadline: Millis,
    /// Responsible user.
    pub responsible: UserId,
    /// Its own reminder offsets in minutes; `None`: the board's lead.
    pub remind_before_minutes: Option<Vec<u32>>,
    /// State.
    pub state: ActivityState,
    /// When completed.
    pub completed_at: Option<Millis>,
    /// When created.
    pub created_at: Millis,
}

/// An activity to create.
#[derive(Debug, Clone)]
pub struct NewActivity {
    /// What kind.
    pub kind: ActivityKind,
    /// 1–500 characters.
    pub subject: String,
    /// The deadline.
    pub deadline: Millis,
    /// Defaults to the acting user.
    pub responsible: Option<UserId>,
    /// Up to 5 offsets, 0–10080 minutes; `None`: the board's lead.
    pub remind_before_minutes: Option<Vec<i64>>,
}

/// Activity changes; `None` leaves a part as it is. A new deadline or new offsets re-arm.
#[derive(Debug, Clone, Default)]
pub struct ActivityPatch {
    /// New subject.
    pub subject: Option<String>,
    /// New deadline.
    pub deadline: Option<Millis>,
    /// New offsets.
    pub remind_before_minutes: Option<Vec<i64>>,
}

/// The Activities view's filters.
#[derive(Debug, Clone, Default)]
pub struct ActivityFilter {
    /// Only this responsible's.
    pub responsible: Option<UserId>,
    /// Only activities of items on this board.
    pub board: Option<BoardId>,
    /// Only in this state (`Completed` lists nothing: the view shows open activities).
    pub state: Option<ActivityState>,
}

const MINUTE: i64 = 60_000;

/// A slot's bit in `ActivityRec::fired`.
fn fired_bit(slot: TimerSlot) -> u8 {
    match slot {
        TimerSlot::Reminder(i) => 1 << i,
        TimerSlot::Deadline => DEADLINE_BIT,
    }
}

fn timer(activity: ActivityId, slot: TimerSlot) -> ActivityTimer {
    ActivityTimer { activity, slot }
}

fn state_of(a: &ActivityRec) -> ActivityState {
    if a.completed_at.is_some() {
        ActivityState::Completed
    } else if a.fired & DEADLINE_BIT != 0 {
        ActivityState::Overdue
    } else if a.fired != 0 {
        ActivityState::DueSoon
    } else {
        ActivityState::Planned
    }
}

fn to_activity(a: ActivityRec) -> Activity {
    Activity {
        id: ActivityId(a.id),
        item: ItemId(a.item),
        kind: a.kind,
        state: state_of(&a),
        subject: a.subject,
        deadline: Millis(a.deadline),
        responsible: UserId(a.responsible),
        remind_before_minutes: a.remind_before,
        completed_at: a.completed_at.map(Millis),
        created_at: Millis(a.created_at),
    }
}

fn check_offsets(v: Vec<i64>) -> Result<Vec<u32>> {
    if v.len() > 5 {
        return Err(Error::invalid("remind_before_minutes", "at most 5 values"));
    }
    let mut out = Vec::with_capacity(v.len());
    for (i, m) in v.into_iter().enumerate() {
        out.push(validate::lead_minutes(
            &format!("remind_before_minutes[{i}]"),
            m,
        )?);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn load(tx: &Tx<'_>, id: ActivityId) -> Result<ActivityRec> {
    let slot = tx
        .state
        .activities
        .get(&id)
        .ok_or_else(|| Error::not_found("activity", id))?;
    records::decode::<ActivityRec>(&slot.rec)
}

/// Writes the activity and refreshes its in-memory slot. Counters: the caller wraps this
/// in `with_counts` of the item.
fn store_act(tx: &mut Tx<'_>, a: &ActivityRec) -> Result<()> {
    let bytes = records::encode(a)?;
    tx.batch
        .put(&store::id_key(store::ACTIVITY, a.id), bytes.clone());
    let id = ActivityId(a.id);
    tx.state.remove_activity(id);
    tx.state.insert_activity(id, ActSlot::from_rec(bytes, a));
    Ok(())
}

fn arm_one(tx: &mut Tx<'_>, t: ActivityTimer, due: i64) {
    tx.state.armed.insert(t, due);
    tx.timers.push(TimerOp::Arm(t.id(), due));
}

fn disarm(tx: &mut Tx<'_>, id: ActivityId) -> Result<()> {
    for slot in TimerSlot::ALL {
        let t = timer(id, slot);
        if tx.state.armed.remove(&t).is_some() {
            tx.timers.push(TimerOp::Cancel(t.id()));
        }
    }
    sync_row(tx, id)
}

/// Makes the activity's `T` row match its armed timers: moved to the earliest, rewritten,
/// or deleted with the last.
fn sync_row(tx: &mut Tx<'_>, id: ActivityId) -> Result<()> {
    let mut row = TimersRec::default();
    for slot in TimerSlot::ALL {
        if let Some(due) = tx.state.armed.get(&timer(id, slot)) {
            row.slots.push(slot.to_byte());
            row.dues.push(*due);
        }
    }
    // The row's place: its earliest due, and the key that due buckets to.
    let place = row
        .dues
        .iter()
        .min()
        .map(|due| (*due, store::timer_key(*due, id.0)));
    if let Some(old) = tx.state.timer_rows.get(&id) {
        let old = store::timer_key(*old, id.0);
        if place.is_none_or(|(_, key)| key != old) {
            tx.batch.delete(&old);
        }
    }
    match place {
        Some((due, key)) => {
            tx.batch.put(&key, records::encode(&row)?);
            tx.state.timer_rows.insert(id, due);
        }
        None => {
            tx.state.timer_rows.remove(&id);
        }
    }
    Ok(())
}

/// Arms every timer of `a` that has not fired, following the module's arming rules.
fn arm(tx: &mut Tx<'_>, a: &ActivityRec) -> Result<()> {
    if a.completed_at.is_some() {
        return Ok(());
    }
    let id = ActivityId(a.id);
    if a.fired & DEADLINE_BIT == 0 {
        arm_one(tx, timer(id, TimerSlot::Deadline), a.deadline);
    }
    if a.deadline > tx.now.0 && a.fired & DEADLINE_BIT == 0 {
        arm_reminders(tx, a);
    }
    sync_row(tx, id)
}

fn arm_reminders(tx: &mut Tx<'_>, a: &ActivityRec) {
    let id = ActivityId(a.id);
    let board_lead = tx
        .state
        .slot(ItemId(a.item))
        .and_then(|s| tx.state.boards.get(&s.board))
        .map_or(15, |b| b.focus_lead_minutes);
    let offsets = a.remind_before.clone().unwrap_or_else(|| vec![board_lead]);
    // At most five offsets (`check_offsets`), so the index fits a reminder slot.
    for (i, off) in (0u8..5).zip(offsets.iter()) {
        let slot = TimerSlot::Reminder(i);
        if *off == 0 || a.fired & fired_bit(slot) != 0 {
            continue;
        }
        let due = a.deadline - i64::from(*off) * MINUTE;
        arm_one(tx, timer(id, slot), due);
    }
}

/// Deletes every activity of an item (the item is being deleted).
pub(crate) fn delete_all_of_item(tx: &mut Tx<'_>, item: ItemId) -> Result<()> {
    let acts: Vec<ActivityId> = tx
        .state
        .item_acts
        .get(&item)
        .map(|v| v.to_vec())
        .unwrap_or_default();
    for id in acts {
        disarm(tx, id)?;
        tx.state.remove_activity(id);
        tx.batch.delete(&store::id_key(store::ACTIVITY, id.0));
    }
    Ok(())
}

/// Fires one due timer, if it is still armed at `due`: the activity records it, the item
/// is focused, the timeline gets an entry, and the `T` row goes, all in this command.
pub(crate) fn fire(tx: &mut Tx<'_>, id: TimerId, due: i64) -> Result<bool> {
    let Some(t) = ActivityTimer::of(id) else {
        return Ok(false);
    };
    if tx.state.armed.get(&t) != Some(&due) {
        return Ok(false);
    }
    tx.state.armed.remove(&t);
    let id = t.activity;
    sync_row(tx, id)?;
    let Ok(mut a) = load(tx, id) else {
        return Ok(false);
    };
    if a.completed_at.is_some() {
        return Ok(false);
    }
    let item = ItemId(a.item);
    let (reason, kind) = match t.slot {
        TimerSlot::Deadline => (FocusReason::Deadline, TimelineKind::Deadline),
        TimerSlot::Reminder(_) => (FocusReason::Reminder, TimelineKind::Reminder),
    };
    a.fired |= fired_bit(t.slot);
    with_counts(tx, item, |tx| store_act(tx, &a))?;
    let mut rec = crate::entry::blank(tx, Some(item), kind);
    rec.activity = Some(a.id);
    rec.text = a.subject.clone();
    crate::focus::focus_by(tx, item, reason, rec)?;
    Ok(true)
}

impl Engine {
    /// Creates an activity on an item and arms its reminders and deadline.
    pub fn create_activity(
        &self,
        actor: UserId,
        item: ItemId,
        new: NewActivity,
    ) -> Result<Activity> {
        self.create_activity_async(actor, item, new).wait()
    }

    /// [`Engine::create_activity`] without blocking: `.await` the [`Pending`] (or `wait` it).
    pub fn create_activity_async(
        &self,
        actor: UserId,
        item: ItemId,
        new: NewActivity,
    ) -> Pending<Activity> {
        self.submit(move |tx| {
            if tx.state.slot(item).is_none() {
                return Err(Error::not_found("item", item));
            }
            let subject = validate::title("subject", &new.subject)?;
            let responsible = new.responsible.unwrap_or(actor);
            tx.state.active_user(responsible, "responsible")?;
            let remind_before = new.remind_before_minutes.map(check_offsets).transpose()?;
            let id = tx.state.alloc(Counter::Activity);
            let a = ActivityRec {
                id,
                item: item.0,
                kind: new.kind,
                subject,
                deadline: new.deadline.0,
                responsible: responsible.0,
                remind_before,
                created_at: tx.now.0,
                completed_at: None,
                fired: 0,
            };
            with_counts(tx, item, |tx| store_act(tx, &a))?;
            arm(tx, &a)?;
            let mut entry = crate::entry::blank(tx, Some(item), TimelineKind::Activity);
            entry.author = Some(actor.0);
            entry.activity = Some(a.id);
            entry.text = a.subject.clone();
            crate::feed::append(tx, entry)?;
            let board = tx.state.slot(item).map(|s| s.board);
            tx.change(ChangeKind::ItemUpdated, board, Some(item));
            Ok(to_activity(a))
        })
    }

    /// One activity.
    pub fn activity(&self, id: ActivityId) -> Result<Activity> {
        let st = self.shared.state.read();
        let slot = st
            .activities
            .get(&id)
            .ok_or_else(|| Error::not_found("activity", id))?;
        records::decode::<ActivityRec>(&slot.rec).map(to_activity)
    }

    /// Changes an activity; a new deadline or new offsets re-arm it from scratch (an
    /// overdue activity whose deadline moves into the future is no longer overdue).
    pub fn patch_activity(&self, id: ActivityId, patch: ActivityPatch) -> Result<Activity> {
        self.call(move |tx| {
            let mut a = load(tx, id)?;
            let subject = patch
                .subject
                .map(|s| validate::title("subject", &s))
                .transpose()?;
            let offsets = patch.remind_before_minutes.map(check_offsets).transpose()?;
            if let Some(s) = subject {
                a.subject = s;
            }
            let mut rearm = false;
            if let Some(d) = patch.deadline.filter(|d| d.0 != a.deadline) {
                a.deadline = d.0;
                rearm = true;
            }
            if let Some(o) = offsets {
                rearm |= a.remind_before.as_ref() != Some(&o);
                a.remind_before = Some(o);
            }
            let item = ItemId(a.item);
            if rearm && a.completed_at.is_none() {
                disarm(tx, id)?;
                a.fired = 0;
            }
            with_counts(tx, item, |tx| store_act(tx, &a))?;
            if rearm {
                arm(tx, &a)?;
            }
            let board = tx.state.slot(item).map(|s| s.board);
            tx.change(ChangeKind::ItemUpdated, board, Some(item));
            Ok(to_activity(a))
        })
    }

    /// Completes an activity: its timers are cancelled and it stops being overdue.
    pub fn complete_activity(&self, id: ActivityId) -> Result<Activity> {
        self.complete_activity_async(id).wait()
    }

    /// [`Engine::complete_activity`] without blocking: `.await` the [`Pending`] (or `wait` it).
    pub fn complete_activity_async(&self, id: ActivityId) -> Pending<Activity> {
        self.submit(move |tx| {
            let mut a = load(tx, id)?;
            if a.completed_at.is_some() {
                return Ok(to_activity(a));
            }
            a.completed_at = Some(tx.now.0);
            disarm(tx, id)?;
            let item = ItemId(a.item);
            with_counts(tx, item, |tx| store_act(tx, &a))?;
            let board = tx.state.slot(item).map(|s| s.board);
            tx.change(ChangeKind::ItemUpdated, board, Some(item));
            Ok(to_activity(a))
        })
    }

    /// Deletes an activity and cancels its timers.
    pub fn delete_activity(&self, id: ActivityId) -> Result<()> {
        self.call(move |tx| {
            let a = load(tx, id)?;
            let item = ItemId(a.item);
            disarm(tx, id)?;
            with_counts(tx, item, |tx| {
                tx.state.remove_activity(id);
                tx.batch.delete(&store::id_key(store::ACTIVITY, id.0));
                Ok(())
            })?;
            let board = tx.state.slot(item).map(|s| s.board);
            tx.change(ChangeKind::ItemUpdated, board, Some(item));
            Ok(())
        })
    }

    /// The Activities view: open activities by deadline (then id), filtered. The cursor is
    /// the last (deadline, id) shown. A selective filter costs the entries it skips.
    pub fn activities(&self, filter: &ActivityFilter, req: &PageRequest) -> Result<Page<Activity>> {
        let limit = limit_of(req)?;
        let after = req.cursor.as_deref().map(decode_cursor).transpose()?;
        let st = self.shared.state.read();
        let iter: Box<dyn Iterator<Item = &(i64, ActivityId)>> = match after {
            Some(c) => Box::new(
                st.open_by_deadline
                    .range((std::ops::Bound::Excluded(c), std::ops::Bound::Unbounded)),
            ),
            None => Box::new(st.open_by_deadline.iter()),
        };
        let mut items = Vec::with_capacity(limit);
        let mut last = None;
        let mut more = false;
        for (deadline, id) in iter {
            let Some(slot) = st.activities.get(id) else {
                continue;
            };
            if filter.responsible.is_some_and(|r| r != slot.responsible) {
                continue;
            }
            if let Some(b) = filter.board {
                if st.slot(slot.item).map(|s| s.board) != Some(b) {
                    continue;
                }
            }
            let state = if slot.overdue {
                ActivityState::Overdue
            } else if slot.reminded {
                ActivityState::DueSoon
            } else {
                ActivityState::Planned
            };
            if filter.state.is_some_and(|s| s != state) {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(to_activity(records::decode::<ActivityRec>(&slot.rec)?));
            last = Some((*deadline, *id));
        }
        Ok(Page {
            items,
            next_cursor: if more { last.map(encode_cursor) } else { None },
        })
    }

    /// Fires every timer due at the clock's current time and waits until they are
    /// durable; returns how many fired. The timer thread does the same on its own; tests
    /// on a manual clock call this after moving the clock.
    pub fn fire_due_timers(&self) -> Result<usize> {
        self.fire_due()
    }
}

fn encode_cursor((deadline, id): (i64, ActivityId)) -> String {
    crate::cursor::encode(b'a', &[&deadline.to_be_bytes(), &id.0.to_be_bytes()])
}

fn decode_cursor(s: &str) -> Result<(i64, ActivityId)> {
    let rest = crate::cursor::decode(b'a', s)?;
    let (d, rest) = crate::cursor::split_u64(&rest)?;
    let (i, rest) = crate::cursor::split_u64(rest)?;
    if !rest.is_empty() {
        return Err(crate::cursor::bad());
    }
    Ok((d as i64, ActivityId(i)))
}
