//! Credential checks that take the same time whatever the guess: a wrong key leaks
//! neither where it first differs nor which configured key it came close to.

use subtle::ConstantTimeEq;

use super::config::Secret;

/// Whether `given` equals one of `accepted`. Every accepted key is compared, in full, so
/// the time depends only on the number of keys and the lengths involved.
pub(crate) fn any_matches(accepted: &[Secret], given: &[u8]) -> bool {
    let mut found = subtle::Choice::from(0);
    for secret in accepted {
        found |= secret.expose().as_bytes().ct_eq(given);
    }
    found.into()
}

/// Whether two byte strings are equal, in time independent of their contents.
pub(crate) fn equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The value of header `name`, if present and valid text.
pub(crate) fn header<'h>(headers: &'h axum::http::HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The token of an `Authorization: Bearer <token>` header.
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = header(headers, "authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_an_accepted_key() {
        let keys = [Secret::new("alpha"), Secret::new("beta")];
        assert!(any_matches(&keys, b"beta"));
        assert!(any_matches(&keys, b"alpha"));
        assert!(!any_matches(&keys, b"alph"));
        assert!(!any_matches(&keys, b"alphaa"));
        assert!(!any_matches(&keys, b""));
        assert!(!any_matches(&[], b"alpha"));
    }

    #[test]
    fn bearer_needs_the_scheme() {
        let mut h = axum::http::HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert("authorization", "bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert("authorization", "abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
