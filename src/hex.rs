//! Lowercase hex, for digests shown to people (the state's digest, NetEase's checksum).

use std::fmt::Write as _;

/// `bytes` as lowercase hex, two digits a byte.
pub(crate) fn lower(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(2 * bytes.len());
    for b in bytes {
        // Writing to a `String` cannot fail.
        let _ = write!(hex, "{b:02x}");
    }
    hex
}
