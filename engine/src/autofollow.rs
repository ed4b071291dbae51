//! Auto-follow rules: a user's criteria over records; a record that matches makes the
//! user a follower (reason `rule`). Creating a rule with `apply_to_existing` starts a
//! background job over the records already there (`jobs`).

use crate::engine::{Engine, Tx};
use crate::error::{Error, Result};
use crate::ids::{JobId, RuleId, UserId};
use crate::records;
use crate::state::Counter;
use crate::store;

/// An auto-follow rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Its id.
    pub id: RuleId,
    /// Its owner.
    pub user: UserId,
    /// Its name.
    pub name: String,
    /// The module whose records it watches.
    pub module: String,
    /// All must hold.
    pub criteria: Vec<crate::rules::Criterion>,
}

/// A rule to create.
#[derive(Debug, Clone)]
pub struct NewRule {
    /// 1–200 characters.
    pub name: String,
    /// An existing module.
    pub module: String,
    /// 1–20 criteria.
    pub criteria: Vec<crate::rules::Criterion>,
    /// Also follow the existing matching records, as a background job.
    pub apply_to_existing: bool,
}

/// Rule changes; `None` leaves a part as it is. Changes apply to records created or
/// changed from now on.
#[derive(Debug, Clone, Default)]
pub struct RulePatch {
    /// New name.
    pub name: Option<String>,
    /// New criteria.
    pub criteria: Option<Vec<crate::rules::Criterion>>,
}

fn to_rule(r: &records::RuleRec) -> Rule {
    Rule {
        id: RuleId(r.id),
        user: UserId(r.user),
        name: r.name.clone(),
        module: r.module.clone(),
        criteria: r.criteria.iter().map(crate::rules::from_rec).collect(),
    }
}

fn check_criteria(c: &[crate::rules::Criterion]) -> Result<Vec<records::CriterionRec>> {
    if c.is_empty() || c.len() > 20 {
        return Err(Error::invalid("criteria", "a rule has 1–20 criteria"));
    }
    c.iter()
        .enumerate()
        .map(|(i, c)| crate::rules::check(i, c))
        .collect()
}

fn own_rule(tx: &Tx<'_>, user: UserId, id: RuleId) -> Result<records::RuleRec> {
    tx.state
        .feed
        .rules
        .get(&id)
        .filter(|r| r.user == user.0)
        .cloned()
        .ok_or_else(|| Error::not_found("rule", id))
}

impl Engine {
    /// Creates an auto-follow rule for `user`; with `apply_to_existing`, also a job that
    /// follows the existing matching records (its id is returned).
    pub fn create_rule(&self, user: UserId, new: NewRule) -> Result<(Rule, Option<JobId>)> {
        let r = self.call(move |tx| {
            let name = crate::validate::name("name", &new.name)?;
            if !tx.state.modules.contains_key(&new.module) {
                return Err(Error::invalid(
                    "module",
                    format!("unknown module {:?}", new.module),
                ));
            }
            let criteria = check_criteria(&new.criteria)?;
            let id = RuleId(tx.state.alloc(Counter::Rule));
            let rec = records::RuleRec {
                id: id.0,
                user: user.0,
                name,
                module: new.module.clone(),
                criteria,
                created_at: tx.now.0,
            };
            tx.batch
                .put(&store::id_key(store::RULE, id.0), records::encode(&rec)?);
            let rule = to_rule(&rec);
            tx.state.feed.rules.insert(id, rec);
            let job = if new.apply_to_existing {
                let total = tx
                    .state
                    .items
                    .iter()
                    .flatten()
                    .filter(|s| {
                        tx.state
                            .boards
                            .get(&s.board)
                            .is_some_and(|b| b.module == new.module)
                    })
                    .count() as u64;
                let jid = JobId(tx.state.alloc(Counter::Job));
                crate::jobs::put(
                    tx,
                    records::JobRec {
                        id: jid.0,
                        rule: id.0,
                        user: user.0,
                        module: new.module,
                        state: records::JobState::Running,
                        done: 0,
                        total,
                        cursor: 0,
                    },
                )?;
                Some(jid)
            } else {
                None
            };
            Ok((rule, job))
        })?;
        if r.1.is_some() {
            let _ = self.shared.jobs_wake.try_send(());
        }
        Ok(r)
    }

    /// The rules of `user`.
    pub fn rules(&self, user: UserId) -> Vec<Rule> {
        self.shared
            .state
            .read()
            .feed
            .rules
            .values()
            .filter(|r| r.user == user.0)
            .map(to_rule)
            .collect()
    }

    /// Changes one of `user`'s rules.
    pub fn patch_rule(&self, user: UserId, id: RuleId, patch: RulePatch) -> Result<Rule> {
        self.call(move |tx| {
            let mut rec = own_rule(tx, user, id)?;
            if let Some(n) = &patch.name {
                rec.name = crate::validate::name("name", n)?;
            }
            if let Some(c) = &patch.criteria {
                rec.criteria = check_criteria(c)?;
            }
            tx.batch
                .put(&store::id_key(store::RULE, id.0), records::encode(&rec)?);
            let rule = to_rule(&rec);
            tx.state.feed.rules.insert(id, rec);
            Ok(rule)
        })
    }

    /// Deletes one of `user`'s rules; the records it made them follow stay followed.
    pub fn delete_rule(&self, user: UserId, id: RuleId) -> Result<()> {
        self.call(move |tx| {
            own_rule(tx, user, id)?;
            tx.batch.delete(&store::id_key(store::RULE, id.0));
            tx.state.feed.rules.remove(&id);
            Ok(())
        })
    }
}
