//! Timers: reminders and deadlines, scheduled in memory and fired by time passed in.
//!
//! [`Wheel`] is the in-memory schedule. It is pure: it never reads a clock and does no I/O.
//! The timer thread asks it which timers are due at `clock.now()`, and each due id then goes
//! through the single writer. The timer's durable row is deleted in the same atomic write as
//! its effect, so a timer fires exactly once across crashes. On open, the durable rows are
//! armed in a fresh wheel again.
//!
//! Invariants (checked by the model tests in `wheel.rs`):
//! 1. `poll(now)` returns exactly the armed timers whose due time is at or before `now`,
//!    ordered by (due, id), and disarms them. No timer is returned early, twice, or never.
//! 2. An id is armed at most once: arming it again moves it to the new due time.

mod wheel;

pub use wheel::Wheel;

use crate::ids::ActivityId;

/// The id of one armed timer, unique among the timers of a wheel.
///
/// The engine assigns these ids. They are never taken from user input, and the wheel's id
/// map relies on that because it uses a fast hash with no protection against chosen keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(pub u64);

/// Which of an activity's timers: one of its reminders (the i-th of its offsets, 0–4) or
/// its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum TimerSlot {
    /// The reminder of the activity's offset with this index (0–4).
    Reminder(u8),
    /// The deadline.
    Deadline,
}

impl TimerSlot {
    /// Every slot an activity can have armed: five reminders and the deadline.
    pub(crate) const ALL: [TimerSlot; 6] = [
        TimerSlot::Reminder(0),
        TimerSlot::Reminder(1),
        TimerSlot::Reminder(2),
        TimerSlot::Reminder(3),
        TimerSlot::Reminder(4),
        TimerSlot::Deadline,
    ];

    /// The deadline's byte: 7, apart from the reminders' 0–4, and within the 3 bits a
    /// slot has in an [`ActivityTimer`]'s id.
    const DEADLINE: u8 = 7;

    /// The slot as an activity's `T` row stores it: 0–4 a reminder, 7 the deadline.
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            TimerSlot::Reminder(i) => i,
            TimerSlot::Deadline => TimerSlot::DEADLINE,
        }
    }

    /// The slot a stored byte names, if any.
    pub(crate) fn from_byte(b: u8) -> Option<TimerSlot> {
        match b {
            0..=4 => Some(TimerSlot::Reminder(b)),
            TimerSlot::DEADLINE => Some(TimerSlot::Deadline),
            _ => None,
        }
    }
}

/// One timer of one activity, as the wheel and the state's armed map know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ActivityTimer {
    pub activity: ActivityId,
    pub slot: TimerSlot,
}

impl ActivityTimer {
    /// The wheel's id: the activity id shifted left by 3 bits, the slot's byte in the low
    /// 3 (activity ids stay far below 2^61).
    pub(crate) fn id(self) -> TimerId {
        TimerId((self.activity.0 << 3) | u64::from(self.slot.to_byte()))
    }

    /// The timer a wheel id names; `None` for an id no `ActivityTimer` makes.
    pub(crate) fn of(id: TimerId) -> Option<ActivityTimer> {
        let slot = u8::try_from(id.0 & 7).ok().and_then(TimerSlot::from_byte)?;
        Some(ActivityTimer {
            activity: ActivityId(id.0 >> 3),
            slot,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_activity_timer_round_trips_through_its_wheel_id() {
        for activity in [1, 2, 1 << 40] {
            for slot in TimerSlot::ALL {
                let t = ActivityTimer {
                    activity: ActivityId(activity),
                    slot,
                };
                assert_eq!(ActivityTimer::of(t.id()), Some(t));
                assert_eq!(TimerSlot::from_byte(slot.to_byte()), Some(slot));
            }
        }
        assert_eq!(ActivityTimer::of(TimerId((9 << 3) | 5)), None);
        assert_eq!(TimerSlot::from_byte(5), None);
    }
}
