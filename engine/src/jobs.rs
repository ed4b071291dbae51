//! Background jobs: `apply_to_existing` of an auto-follow rule.
//!
//! A job walks the items in id order in chunks; each chunk is one writer command (so other
//! writes interleave and share group commits) that follows the matching records and saves
//! the job's progress (`J` + id: done, total, cursor) in the same batch. After a restart
//! the job resumes after its cursor; a chunk is never half applied.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::engine::{submit, Engine, Job, Shared, Tx};
use crate::error::{Error, Result};
use crate::ids::{ItemId, JobId, RuleId, UserId};
use crate::records::{self, JobRec, JobState};
use crate::store;

/// Records of the job's module examined per writer command.
const CHUNK: usize = 4096;

/// Item ids walked per writer command at most, whatever their module, so that a rule on a
/// small module in a large store never holds the writer for long.
const SCAN: u64 = 65_536;

/// A background job's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// Its id.
    pub id: JobId,
    /// Its state.
    pub state: JobState,
    /// Records examined so far.
    pub done: u64,
    /// Records to examine (the module's records when the job started).
    pub total: u64,
    /// Whose rule the job applies.
    pub user: UserId,
}

pub(crate) fn status(j: &JobRec) -> JobStatus {
    JobStatus {
        id: JobId(j.id),
        state: j.state,
        done: j.done,
        total: j.total,
        user: UserId(j.user),
    }
}

pub(crate) fn put(tx: &mut Tx<'_>, j: JobRec) -> Result<()> {
    tx.batch
        .put(&store::id_key(store::JOB, j.id), records::encode(&j)?);
    tx.state.feed.jobs.insert(JobId(j.id), j);
    Ok(())
}

/// One chunk of job `id`; returns whether the job is still running.
fn step(tx: &mut Tx<'_>, id: JobId) -> Result<bool> {
    let Some(mut job) = tx.state.feed.jobs.get(&id).cloned() else {
        return Ok(false);
    };
    if job.state != JobState::Running {
        return Ok(false);
    }
    let Some(criteria) = tx
        .state
        .feed
        .rules
        .get(&RuleId(job.rule))
        .map(|r| r.criteria.clone())
    else {
        job.state = JobState::Failed;
        put(tx, job)?;
        return Ok(false);
    };
    let end = tx.state.items.len() as u64;
    let mut id_at = job.cursor + 1;
    let mut examined = 0;
    let scan_end = id_at.saturating_add(SCAN).min(end);
    while id_at < scan_end && examined < CHUNK {
        let item = ItemId(id_at);
        let hit = match tx.state.slot(item) {
            Some(slot)
                if tx
                    .state
                    .boards
                    .get(&slot.board)
                    .is_some_and(|b| b.module == job.module) =>
            {
                examined += 1;
                match tx.state.view(item) {
                    Some(v) => crate::rules::matches(&criteria, &v.get()?),
                    None => false,
                }
            }
            _ => false,
        };
        if hit {
            crate::follow::add_rule(tx, UserId(job.user), item, job.rule)?;
        }
        job.cursor = id_at;
        id_at += 1;
    }
    job.done += examined as u64;
    if id_at >= end {
        job.state = JobState::Done;
        job.total = job.total.max(job.done);
    }
    let running = job.state == JobState::Running;
    put(tx, job)?;
    Ok(running)
}

/// The jobs thread: runs chunks of running jobs one after another, sleeping when idle.
pub(crate) fn jobs_loop(
    shared: &Arc<Shared>,
    sender: &Sender<Job>,
    wake: &Receiver<()>,
    stop: &Receiver<()>,
) {
    loop {
        let running: Vec<JobId> = shared
            .state
            .read()
            .feed
            .jobs
            .values()
            .filter(|j| j.state == JobState::Running)
            .map(|j| JobId(j.id))
            .collect();
        let mut busy = false;
        for id in running {
            match submit(sender, Duration::from_secs(3600), move |tx| step(tx, id)) {
                Ok(more) => busy |= more,
                // Closed, or stopped after a storage failure: nothing more will be taken.
                Err(Error::ShuttingDown | Error::Poisoned(_)) => return,
                Err(e) => tracing::warn!(job = id.0, error = %e, "job step failed"),
            }
            if stop.try_recv().is_err_and(|e| e.is_disconnected()) {
                return;
            }
        }
        if busy {
            continue;
        }
        crossbeam_channel::select! {
            recv(stop) -> _ => return,
            recv(wake) -> _ => {}
            default(Duration::from_millis(500)) => {}
        }
    }
}

impl Engine {
    /// A background job's progress.
    pub fn job(&self, id: JobId) -> Result<JobStatus> {
        self.shared
            .state
            .read()
            .feed
            .jobs
            .get(&id)
            .map(status)
            .ok_or_else(|| Error::not_found("job", id))
    }
}
