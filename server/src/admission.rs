//! Admission control: bounds on what the server holds for requests in flight, so that a
//! flood is refused at once (503 `unavailable` with `Retry-After`) instead of queueing for
//! seconds while memory grows (PRODUCT §9, "Overload").
//!
//! Three budgets, all taken without waiting and given back when the request is done:
//! - **writes in flight**: every engine command a handler runs (`extract::run`) holds one
//!   unit until its answer is durable;
//! - **batch elements in flight**: a batch (items, events) holds one unit per element
//!   until it is answered. This is the writer's work admitted and not yet done, in the
//!   writer's own unit: 40,000 elements are about a second of it on this machine, so it
//!   bounds an accepted batch's wait where a count of requests or bytes cannot (a
//!   2,000-item batch costs as much as a thousand single focuses);
//! - **body bytes in flight**: every request body is counted while it is read and parsed
//!   (`extract::read_body`), by its `Content-Length` up front when it has one.
//!
//! And one measure of time: while commands wait for the engine's writer longer than
//! `max_queue_wait` (`Engine::queue_wait`), new writes are refused. A count cannot know
//! that a 2,000-item batch costs a thousand single focuses; the queue's wait does, so this
//! is what keeps an accepted write's latency bounded whatever the mix.
//!
//! Reads and `/healthz` take nothing from either, so they keep answering during a flood.
//! Shutting down (SIGTERM, SIGINT) refuses every new request the same way (`app.rs`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A counted budget. What is taken comes back when its [`Permit`] drops.
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicUsize,
    max: usize,
}

/// A share of a [`Budget`], held for as long as the request needs it.
#[derive(Debug)]
pub(crate) struct Permit {
    budget: Arc<Budget>,
    n: usize,
}

impl Budget {
    pub(crate) fn new(max: usize) -> Arc<Budget> {
        Arc::new(Budget {
            used: AtomicUsize::new(0),
            max: max.max(1),
        })
    }

    /// Takes `n` if that stays within the budget, else `None` at once. A request larger
    /// than the whole budget is let through when nothing else holds any of it, so no
    /// request the other limits allow is refused forever.
    pub(crate) fn try_take(self: &Arc<Budget>, n: usize) -> Option<Permit> {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            let next = cur.checked_add(n)?;
            if next > self.max && cur != 0 {
                return None;
            }
            match self
                .used
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Some(Permit {
                        budget: Arc::clone(self),
                        n,
                    })
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// What is held now.
    pub(crate) fn in_use(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

impl Permit {
    /// Grows this permit by `n` (a body whose length was not known up front), if the
    /// budget allows; else it stays as it was.
    /// Like [`Budget::try_take`], a permit that is all the budget holds may grow past it.
    pub(crate) fn grow(&mut self, n: usize) -> bool {
        let used = &self.budget.used;
        let mut cur = used.load(Ordering::Relaxed);
        loop {
            let Some(next) = cur.checked_add(n) else {
                return false;
            };
            if next > self.budget.max && cur != self.n {
                return false;
            }
            match used.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    self.n += n;
                    return true;
                }
                Err(actual) => cur = actual,
            }
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.n, Ordering::AcqRel);
    }
}

/// The server's budgets and whether it is shutting down.
#[derive(Debug)]
pub(crate) struct Admission {
    pub(crate) writes: Arc<Budget>,
    pub(crate) elements: Arc<Budget>,
    pub(crate) body_bytes: Arc<Budget>,
    /// New writes are refused while the writer's queue is longer than this, in time.
    pub(crate) max_queue_wait: Duration,
    closing: AtomicBool,
}

impl Admission {
    pub(crate) fn new(
        max_writes: usize,
        max_elements: usize,
        max_body_bytes: usize,
        max_queue_wait: Duration,
    ) -> Admission {
        Admission {
            writes: Budget::new(max_writes),
            elements: Budget::new(max_elements),
            body_bytes: Budget::new(max_body_bytes),
            max_queue_wait,
            closing: AtomicBool::new(false),
        }
    }

    /// From now on every new request is refused with 503.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Release);
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// No write and no body in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.writes.in_use() == 0 && self.body_bytes.in_use() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_refuses_past_its_bound_and_frees_on_drop() {
        let b = Budget::new(3);
        let p1 = b.try_take(2).expect("room");
        assert!(b.try_take(2).is_none(), "2 + 2 > 3");
        let p2 = b.try_take(1).expect("exactly full");
        assert_eq!(b.in_use(), 3);
        drop(p1);
        assert_eq!(b.in_use(), 1);
        drop(p2);
        assert_eq!(b.in_use(), 0);
    }

    #[test]
    fn one_request_larger_than_the_budget_passes_alone() {
        let b = Budget::new(10);
        let big = b.try_take(50).expect("alone it passes");
        assert!(b.try_take(1).is_none(), "nothing else while it is held");
        drop(big);
        assert!(b.try_take(1).is_some());
    }

    #[test]
    fn a_permit_grows_within_the_budget() {
        let b = Budget::new(10);
        let mut p = b.try_take(4).expect("room");
        assert!(p.grow(5));
        assert_eq!(b.in_use(), 9);
        let other = b.try_take(1).expect("room for one more");
        assert!(!p.grow(5), "9 + 1 + 5 > 10, and another request holds some");
        assert_eq!(b.in_use(), 10);
        drop(other);
        assert!(p.grow(5), "alone, it may grow past the bound");
        drop(p);
        assert_eq!(b.in_use(), 0);
    }
}
