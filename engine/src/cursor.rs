//! Opaque page cursors: a tag byte naming the list, then the position, base64url. A cursor
//! of another list, or garbage, is a 400 naming `cursor`, never a wrong page.

use base64::Engine as _;

use crate::error::{Error, Result};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `tag` + the parts, concatenated.
pub(crate) fn encode(tag: u8, parts: &[&[u8]]) -> String {
    let mut raw = vec![tag];
    for p in parts {
        raw.extend_from_slice(p);
    }
    B64.encode(raw)
}

/// The bytes after `tag`, if `s` is a cursor with that tag.
pub(crate) fn decode(tag: u8, s: &str) -> Result<Vec<u8>> {
    let raw = B64.decode(s).map_err(|_| bad())?;
    match raw.split_first() {
        Some((t, rest)) if *t == tag => Ok(rest.to_vec()),
        _ => Err(bad()),
    }
}

/// A cursor holding one big-endian `u64`.
pub(crate) fn encode_u64(tag: u8, v: u64) -> String {
    encode(tag, &[&v.to_be_bytes()])
}

/// The `u64` of a cursor made by [`encode_u64`] with `tag`.
pub(crate) fn decode_u64(tag: u8, s: &str) -> Result<u64> {
    let rest = decode(tag, s)?;
    <[u8; 8]>::try_from(rest.as_slice())
        .map(u64::from_be_bytes)
        .map_err(|_| bad())
}

/// Splits a decoded cursor into a leading big-endian `u64` and the rest.
pub(crate) fn split_u64(rest: &[u8]) -> Result<(u64, &[u8])> {
    let (head, tail) = rest.split_at_checked(8).ok_or_else(bad)?;
    let v = <[u8; 8]>::try_from(head)
        .map(u64::from_be_bytes)
        .map_err(|_| bad())?;
    Ok((v, tail))
}

pub(crate) fn bad() -> Error {
    Error::invalid("cursor", "not a cursor of this list")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_lists() {
        let c = encode_u64(b'w', 42);
        assert_eq!(decode_u64(b'w', &c).ok(), Some(42));
        assert!(decode_u64(b't', &c).is_err());
        assert!(decode_u64(b'w', "%%%").is_err());
        assert!(decode_u64(b'w', &encode(b'w', &[b"abc"])).is_err());
        let (v, rest) = split_u64(&[0, 0, 0, 0, 0, 0, 0, 7, 9]).unwrap_or((0, &[]));
        assert_eq!((v, rest), (7, &[9u8][..]));
    }
}
