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

/// The bytes that hex `text` (either case, two digits a byte) stands for; `None` for
/// anything else. Only the HTTP facade reads hex back (signed Agora tokens).
#[cfg(feature = "http")]
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            // `from_str_radix` would take a sign ("+1"): digits only.
            if !pair.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()
        })
        .collect()
}

#[cfg(all(test, feature = "http"))]
mod tests {
    #[test]
    fn decode_reads_back_what_lower_writes() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(super::decode(&super::lower(&bytes)).unwrap(), bytes);
        assert_eq!(super::decode("ABff").unwrap(), [0xab, 0xff]);
        for bad in ["a", "zz", "+1", "é0"] {
            assert_eq!(super::decode(bad), None, "{bad:?}");
        }
    }
}
