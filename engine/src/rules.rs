//! Auto-follow rule criteria: a small AST and its pure evaluation against an item.
//!
//! All criteria must hold. Fields: `amount`, `title`, `column`, `board`, `responsible`, or
//! a free field's key. Operators: `eq ne gt gte lt lte contains in`. Numbers compare as
//! numbers, strings lexicographically (`contains` ignores case), ids as numbers. A missing
//! free field or a value of another type satisfies only `ne`.

use crate::error::{Error, Result};
use crate::item_view::{FieldRef, ItemRef};
use crate::records::{CriterionRec, Op, RuleScalarRec, RuleValueRec};
use crate::validate;

/// A rule value: a scalar, or a list for `in`.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleValue {
    /// Text.
    Str(String),
    /// Number (also ids).
    Num(f64),
    /// Boolean.
    Bool(bool),
    /// For `in`: scalars.
    List(Vec<RuleValue>),
}

/// One condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Criterion {
    /// `amount`, `title`, `column`, `board`, `responsible`, or a free field's key.
    pub field: String,
    /// The operator.
    pub op: Op,
    /// The value compared with.
    pub value: RuleValue,
}

/// A scalar taken from an item.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Got<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
}

fn scalar_to_rec(v: &RuleValue) -> Option<RuleScalarRec> {
    match v {
        RuleValue::Str(s) => Some(RuleScalarRec::Str(s.clone())),
        RuleValue::Num(n) => Some(RuleScalarRec::Num(*n)),
        RuleValue::Bool(b) => Some(RuleScalarRec::Bool(*b)),
        RuleValue::List(_) => None,
    }
}

/// Checks a criterion's shape and turns it into its stored form.
pub(crate) fn check(i: usize, c: &Criterion) -> Result<CriterionRec> {
    let path = format!("criteria[{i}]");
    match c.field.as_str() {
        "amount" | "title" | "column" | "board" | "responsible" => {}
        other => {
            validate::field_key(&format!("{path}.field"), other)?;
        }
    }
    let value = match (&c.op, &c.value) {
        (Op::In, RuleValue::List(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for v in items {
                out.push(scalar_to_rec(v).ok_or_else(|| {
                    Error::invalid(format!("{path}.value"), "`in` takes a list of scalars")
                })?);
            }
            RuleValueRec::List(out)
        }
        (Op::In, _) => return Err(Error::invalid(format!("{path}.value"), "`in` takes a list")),
        (_, RuleValue::List(_)) => {
            return Err(Error::invalid(
                format!("{path}.value"),
                "only `in` takes a list",
            ))
        }
        (Op::Contains, RuleValue::Str(s)) => RuleValueRec::Str(s.clone()),
        (Op::Contains, _) => {
            return Err(Error::invalid(
                format!("{path}.value"),
                "`contains` takes a string",
            ))
        }
        (Op::Gt | Op::Gte | Op::Lt | Op::Lte, RuleValue::Bool(_)) => {
            return Err(Error::invalid(
                format!("{path}.value"),
                "booleans only compare with eq or ne",
            ))
        }
        (_, RuleValue::Str(s)) => RuleValueRec::Str(s.clone()),
        (_, RuleValue::Num(n)) => {
            RuleValueRec::Num(validate::finite(&format!("{path}.value"), *n)?)
        }
        (_, RuleValue::Bool(b)) => RuleValueRec::Bool(*b),
    };
    Ok(CriterionRec {
        field: c.field.clone(),
        op: c.op,
        value,
    })
}

pub(crate) fn from_rec(c: &CriterionRec) -> Criterion {
    let scalar = |s: &RuleScalarRec| match s {
        RuleScalarRec::Str(x) => RuleValue::Str(x.clone()),
        RuleScalarRec::Num(x) => RuleValue::Num(*x),
        RuleScalarRec::Bool(x) => RuleValue::Bool(*x),
    };
    Criterion {
        field: c.field.clone(),
        op: c.op,
        value: match &c.value {
            RuleValueRec::Str(x) => RuleValue::Str(x.clone()),
            RuleValueRec::Num(x) => RuleValue::Num(*x),
            RuleValueRec::Bool(x) => RuleValue::Bool(*x),
            RuleValueRec::List(l) => RuleValue::List(l.iter().map(scalar).collect()),
        },
    }
}

fn get<'a>(item: &ItemRef<'a>, field: &str) -> Option<Got<'a>> {
    Some(match field {
        "amount" => Got::Num(item.amount()),
        "title" => Got::Str(item.title()),
        "column" => Got::Num(item.column().0 as f64),
        "board" => Got::Num(item.board().0 as f64),
        "responsible" => Got::Num(item.responsible().0 as f64),
        key => match item.fields().find(|(k, _)| *k == key)?.1 {
            FieldRef::Str(s) => Got::Str(s),
            FieldRef::Num(n) => Got::Num(n),
            FieldRef::Bool(b) => Got::Bool(b),
        },
    })
}

fn cmp(got: Got<'_>, want: &RuleScalarRec) -> Option<std::cmp::Ordering> {
    match (got, want) {
        (Got::Num(a), RuleScalarRec::Num(b)) => a.partial_cmp(b),
        (Got::Str(a), RuleScalarRec::Str(b)) => Some(a.cmp(b.as_str())),
        (Got::Bool(a), RuleScalarRec::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn holds(c: &CriterionRec, got: Option<Got<'_>>) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let op = c.op;
    let Some(got) = got else { return op == Op::Ne };
    let scalar = match &c.value {
        RuleValueRec::Str(s) => RuleScalarRec::Str(s.clone()),
        RuleValueRec::Num(n) => RuleScalarRec::Num(*n),
        RuleValueRec::Bool(b) => RuleScalarRec::Bool(*b),
        RuleValueRec::List(l) => {
            return op == Op::In && l.iter().any(|v| cmp(got, v) == Some(Equal));
        }
    };
    let ord = cmp(got, &scalar);
    match op {
        Op::Eq => ord == Some(Equal),
        Op::Ne => ord != Some(Equal),
        Op::Gt => ord == Some(Greater),
        Op::Gte => matches!(ord, Some(Greater | Equal)),
        Op::Lt => ord == Some(Less),
        Op::Lte => matches!(ord, Some(Less | Equal)),
        Op::Contains => match (got, &scalar) {
            (Got::Str(a), RuleScalarRec::Str(b)) => a.to_lowercase().contains(&b.to_lowercase()),
            _ => false,
        },
        Op::In => false,
    }
}

/// Whether every criterion holds for the item.
pub(crate) fn matches(criteria: &[CriterionRec], item: &ItemRef<'_>) -> bool {
    criteria.iter().all(|c| holds(c, get(item, &c.field)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(field: &str, op: Op, value: RuleValueRec) -> CriterionRec {
        CriterionRec {
            field: field.into(),
            op,
            value,
        }
    }

    #[test]
    fn scalar_semantics() {
        use RuleValueRec::{Num, Str};
        let n = |x: f64| Some(Got::Num(x));
        assert!(holds(&c("amount", Op::Gt, Num(10.0)), n(11.0)));
        assert!(!holds(&c("amount", Op::Gt, Num(10.0)), n(10.0)));
        assert!(holds(&c("amount", Op::Gte, Num(10.0)), n(10.0)));
        assert!(holds(&c("amount", Op::Lt, Num(10.0)), n(9.5)));
        assert!(holds(&c("amount", Op::Lte, Num(10.0)), n(10.0)));
        assert!(holds(&c("amount", Op::Ne, Num(10.0)), n(9.0)));
        assert!(holds(
            &c("title", Op::Contains, Str("acme".into())),
            Some(Got::Str("Big ACME deal"))
        ));
        assert!(!holds(
            &c("title", Op::Eq, Str("acme".into())),
            Some(Got::Str("ACME"))
        ));
        // Type mismatch and missing fields: only `ne` holds.
        assert!(!holds(&c("x", Op::Eq, Num(1.0)), Some(Got::Str("1"))));
        assert!(holds(&c("x", Op::Ne, Num(1.0)), Some(Got::Str("1"))));
        assert!(!holds(&c("x", Op::Eq, Num(1.0)), None));
        assert!(holds(&c("x", Op::Ne, Num(1.0)), None));
        let list = RuleValueRec::List(vec![RuleScalarRec::Num(1.0), RuleScalarRec::Num(3.0)]);
        assert!(holds(&c("board", Op::In, list.clone()), n(3.0)));
        assert!(!holds(&c("board", Op::In, list), n(2.0)));
    }

    #[test]
    fn shapes_are_checked() {
        let bad = |op: Op, value: RuleValue| {
            check(
                0,
                &Criterion {
                    field: "amount".into(),
                    op,
                    value,
                },
            )
            .is_err()
        };
        assert!(bad(Op::In, RuleValue::Num(1.0)));
        assert!(bad(Op::Eq, RuleValue::List(vec![])));
        assert!(bad(Op::Contains, RuleValue::Num(1.0)));
        assert!(bad(Op::Gt, RuleValue::Bool(true)));
        assert!(bad(Op::In, RuleValue::List(vec![RuleValue::List(vec![])])));
        assert!(!bad(Op::In, RuleValue::List(vec![RuleValue::Num(1.0)])));
        let field = check(
            0,
            &Criterion {
                field: "bad key!".into(),
                op: Op::Eq,
                value: RuleValue::Num(1.0),
            },
        );
        assert!(field.is_err());
    }
}
