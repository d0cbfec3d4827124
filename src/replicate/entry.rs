//! One replicated operation as a Redis stream entry, and stream ids.
//!
//! An entry's fields (names and values are bytes; numbers are decimal ASCII):
//!
//! | field | value |
//! |---|---|
//! | `v` | the entry format version: `1` |
//! | `node` | the writing engine's id, 16 lowercase hex digits (random per engine) |
//! | `seq` | the operation's number on that engine, from 1: (`node`, `seq`) is the op id |
//! | `chk` | a condition every node checks before applying: `0` none, `1` the notification setting of the operation's user and room must be in force (else the operation is refused everywhere, `NotMuted` for its caller) |
//! | `op` | the operation as a log record payload (`codec::record`): engine time it applies at, a tag, its fields with absolute expiries |
//!
//! A reader refuses an entry with a higher `v` than it knows, a missing or malformed
//! field, or an `op` that does not decode: it stops there (see `reader`).

use std::fmt;

use crate::codec;
use crate::op::Op;
use crate::write::Check;

/// The entry format this build writes and the newest it reads.
pub(crate) const VERSION: u32 = 1;

/// A Redis stream id, `<ms>-<seq>`: ordered as Redis orders them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    /// Parses `<ms>-<seq>`.
    pub fn parse(text: &str) -> Option<StreamId> {
        let (ms, seq) = text.split_once('-')?;
        Some(StreamId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One decoded entry.
#[derive(Debug)]
pub(crate) struct Entry {
    pub node: u64,
    pub seq: u64,
    pub check: Check,
    pub at: u64,
    pub op: Op,
}

/// The fields of the entry for `op`, applied at `at`, numbered `seq` on `node` (its id
/// as 16 lowercase hex digits).
pub(crate) fn encode(
    node: &str,
    seq: u64,
    check: &Check,
    at: u64,
    op: &Op,
) -> [(&'static str, Vec<u8>); 5] {
    let mut payload = Vec::with_capacity(64);
    codec::record::encode(&mut payload, at, op);
    [
        ("v", VERSION.to_string().into_bytes()),
        ("node", node.as_bytes().to_vec()),
        ("seq", seq.to_string().into_bytes()),
        ("chk", check.code().to_string().into_bytes()),
        ("op", payload),
    ]
}

fn field<'a>(fields: &'a [(Vec<u8>, Vec<u8>)], name: &str) -> Result<&'a [u8], String> {
    fields
        .iter()
        .find(|(k, _)| k == name.as_bytes())
        .map(|(_, v)| v.as_slice())
        .ok_or_else(|| format!("field {name:?} is missing"))
}

fn number(fields: &[(Vec<u8>, Vec<u8>)], name: &str, radix: u32) -> Result<u64, String> {
    let raw = field(fields, name)?;
    std::str::from_utf8(raw)
        .ok()
        .and_then(|t| u64::from_str_radix(t, radix).ok())
        .ok_or_else(|| {
            format!(
                "field {name:?} is not a number: {:?}",
                String::from_utf8_lossy(raw)
            )
        })
}

/// Decodes an entry's fields; the error says what is wrong with them.
pub(crate) fn decode(fields: &[(Vec<u8>, Vec<u8>)]) -> Result<Entry, String> {
    let version = number(fields, "v", 10)?;
    if version > u64::from(VERSION) {
        return Err(format!(
            "entry format version {version} is newer than this build reads ({VERSION})"
        ));
    }
    if version == 0 {
        return Err("entry format version 0 does not exist".into());
    }
    let node = number(fields, "node", 16)?;
    let seq = number(fields, "seq", 10)?;
    let code = number(fields, "chk", 10)?;
    let check = u8::try_from(code)
        .ok()
        .and_then(Check::from_code)
        .ok_or_else(|| format!("unknown check code {code}"))?;
    let record = codec::record::decode(field(fields, "op")?)
        .map_err(|e| format!("field \"op\" does not decode: {e}"))?;
    Ok(Entry {
        node,
        seq,
        check,
        at: record.at,
        op: record.op,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expiry::Expiry;
    use crate::ids::Key;

    fn owned(fields: &[(&'static str, Vec<u8>)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        fields
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
            .collect()
    }

    #[test]
    fn an_entry_has_these_exact_fields() {
        // Golden: the stream format is a promise to every node of every version.
        let op = Op::MuteMembers {
            room: Key::from("r1"),
            users: vec![Key::from("bob")],
            until: Expiry::At(1_700_000_060_000),
            actions: crate::Actions::ALL,
        };
        let fields = encode("0000000000000abc", 7, &Check::None, 1_700_000_000_000, &op);
        let shown: Vec<(&str, String)> = fields
            .iter()
            .map(|(k, v)| (*k, format!("{v:02x?}")))
            .collect();
        assert_eq!(shown[0], ("v", format!("{:02x?}", b"1")));
        assert_eq!(shown[1], ("node", format!("{:02x?}", b"0000000000000abc")));
        assert_eq!(shown[2], ("seq", format!("{:02x?}", b"7")));
        assert_eq!(shown[3], ("chk", format!("{:02x?}", b"0")));
        assert_eq!(
            fields[4].1,
            [
                0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31, // at, varint
                0x02, // tag: MuteMembers
                0x02, b'r', b'1', // room
                0x01, 0x03, b'b', b'o', b'b', // users
                0x01, 0xe0, 0xa4, 0x99, 0xff, 0xbc, 0x31, // until: Some(varint)
            ]
        );
        let back = decode(&owned(&fields)).unwrap();
        assert_eq!(
            (back.node, back.seq, back.at),
            (0xabc, 7, 1_700_000_000_000)
        );
        assert_eq!(back.op, op);
        assert!(matches!(back.check, Check::None));
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        let op = Op::RemoveUser {
            user: Key::from("u"),
        };
        let good = owned(&encode(
            "0000000000000001",
            1,
            &Check::NotificationSet,
            5,
            &op,
        ));
        assert!(matches!(
            decode(&good).unwrap().check,
            Check::NotificationSet
        ));
        let with = |name: &str, value: &[u8]| {
            let mut f = good.clone();
            for (k, v) in &mut f {
                if k == name.as_bytes() {
                    *v = value.to_vec();
                }
            }
            decode(&f).unwrap_err()
        };
        assert!(with("v", b"2").contains("newer than this build reads (1)"));
        assert!(with("v", b"x").contains("field \"v\" is not a number"));
        assert!(with("seq", b"-1").contains("field \"seq\""));
        assert!(with("chk", b"9").contains("unknown check code 9"));
        assert!(with("op", &[0x05, 0x63]).contains("field \"op\" does not decode"));
        let missing: Vec<_> = good.iter().filter(|(k, _)| k != b"node").cloned().collect();
        assert!(
            decode(&missing)
                .unwrap_err()
                .contains("field \"node\" is missing")
        );
    }

    #[test]
    fn stream_ids_parse_and_order_as_redis_orders_them() {
        let a = StreamId::parse("1700000000000-0").unwrap();
        let b = StreamId::parse("1700000000000-12").unwrap();
        let c = StreamId::parse("1700000000001-0").unwrap();
        assert!(a < b && b < c);
        assert_eq!(b.to_string(), "1700000000000-12");
        assert_eq!(StreamId::parse("12"), None);
        assert_eq!(StreamId::parse("a-1"), None);
    }
}
