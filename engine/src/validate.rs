//! Input checks shared by every command. Each returns the accepted value or an
//! [`Error::Invalid`] naming the field, so a bad request changes nothing.

use crate::error::{Error, Result};

/// A string of `min..=max` characters (Unicode scalar values, not bytes).
pub(crate) fn text_len(field: &str, s: &str, min: usize, max: usize) -> Result<String> {
    let n = s.chars().count();
    if n < min || n > max {
        return Err(Error::invalid(
            field,
            format!("must be {min}–{max} characters, got {n}"),
        ));
    }
    Ok(s.to_string())
}

/// A display name: 1–200 characters, not only whitespace.
pub(crate) fn name(field: &str, s: &str) -> Result<String> {
    if s.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    text_len(field, s, 1, 200)
}

/// An item title: 1–500 characters, not only whitespace.
pub(crate) fn title(field: &str, s: &str) -> Result<String> {
    if s.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    text_len(field, s, 1, 500)
}

/// A plausible e-mail address: something@something, at most 320 characters.
pub(crate) fn email(field: &str, s: &str) -> Result<String> {
    let t = s.trim();
    let ok = t.len() <= 320
        && t.split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains('@'))
        && !t.chars().any(char::is_whitespace);
    if !ok {
        return Err(Error::invalid(field, "is not an e-mail address"));
    }
    Ok(t.to_string())
}

/// A phone number: digits, an optional leading `+`, and spaces, dashes, dots or
/// parentheses between them; 3–32 digits.
pub(crate) fn phone(field: &str, s: &str) -> Result<String> {
    let mut digits = 0usize;
    for (i, c) in s.trim().chars().enumerate() {
        match c {
            '0'..='9' => digits += 1,
            '+' if i == 0 => {}
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(Error::invalid(field, "is not a phone number")),
        }
    }
    if !(3..=32).contains(&digits) {
        return Err(Error::invalid(field, "must have 3–32 digits"));
    }
    Ok(s.trim().to_string())
}

/// A module key: `[a-z][a-z0-9_]{1,31}`.
pub(crate) fn module_key(field: &str, s: &str) -> Result<String> {
    let mut chars = s.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && (2..=32).contains(&s.len())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(Error::invalid(field, "must match [a-z][a-z0-9_]{1,31}"));
    }
    Ok(s.to_string())
}

/// A free-field key: 1–64 characters of letters, digits, `_`, `-` or `.`.
pub(crate) fn field_key(field: &str, s: &str) -> Result<String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        return Err(Error::invalid(
            field,
            "keys are 1–64 letters, digits, '_', '-' or '.'",
        ));
    }
    Ok(s.to_string())
}

/// Minutes of lead time: 0–10080 (one week).
pub(crate) fn lead_minutes(field: &str, m: i64) -> Result<u32> {
    if !(0..=10080).contains(&m) {
        return Err(Error::invalid(field, "must be 0–10080"));
    }
    u32::try_from(m).map_err(|_| Error::invalid(field, "must be 0–10080"))
}

/// A finite number.
pub(crate) fn finite(field: &str, x: f64) -> Result<f64> {
    if !x.is_finite() {
        return Err(Error::invalid(field, "must be a finite number"));
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks() {
        assert!(title("t", "").is_err());
        assert!(title("t", "   ").is_err());
        assert!(title("t", &"é".repeat(500)).is_ok());
        assert!(title("t", &"é".repeat(501)).is_err());
        assert!(module_key("k", "ab").is_ok());
        assert!(module_key("k", "a").is_err());
        assert!(module_key("k", "1ab").is_err());
        assert!(module_key("k", "aB").is_err());
        assert!(email("e", "a@b.c").is_ok());
        assert!(email("e", "ab.c").is_err());
        assert!(phone("p", "+1 (555) 010-2030").is_ok());
        assert!(phone("p", "555-abc").is_err());
        assert!(lead_minutes("l", 10081).is_err());
        assert!(finite("a", f64::NAN).is_err());
    }
}
