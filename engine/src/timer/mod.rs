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

/// The id of one armed timer, unique among the timers of a wheel.
///
/// The engine assigns these ids. They are never taken from user input, and the wheel's id
/// map relies on that because it uses a fast hash with no protection against chosen keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(pub u64);
