//! The on-disk format: framed, checksummed records of operations, and snapshots.
//!
//! A file is a 16-byte header (8-byte magic, format version, generation; little-endian)
//! followed by records. A record is framed as
//! `[len: u32][!len: u32][crc32(payload): u32][payload: len bytes]`, the payload being a
//! postcard-encoded `(at_ms, Op)`. The inverted copy of the length tells a flipped length
//! (corruption) from a record cut short by a crash (a torn tail).

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::op::Op;

/// The format version this build reads and writes.
pub(crate) const VERSION: u32 = 1;
/// Magic of an operation log.
pub(crate) const LOG_MAGIC: &[u8; 8] = b"MUTEGLOG";
/// Magic of a snapshot.
pub(crate) const SNAP_MAGIC: &[u8; 8] = b"MUTEGSNP";
/// Header length.
pub(crate) const HEADER: usize = 16;
/// Frame header length.
const FRAME: usize = 12;
/// The largest payload accepted (a batch of ids is far smaller).
const MAX_RECORD: usize = 16 << 20;

#[derive(Serialize)]
struct RecordRef<'a> {
    at: u64,
    op: &'a Op,
}

/// One decoded record.
#[derive(Debug, Deserialize)]
pub(crate) struct Record {
    pub at: u64,
    pub op: Op,
}

/// A file header.
pub(crate) fn header(magic: &[u8; 8], generation: u32) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(magic);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..].copy_from_slice(&generation.to_le_bytes());
    h
}

/// Checks a file header; returns its generation, or what is wrong with it.
pub(crate) fn read_header(bytes: &[u8], magic: &[u8; 8]) -> Result<u32, String> {
    if bytes.len() < HEADER {
        return Err(format!(
            "header is {} bytes, expected {HEADER}",
            bytes.len()
        ));
    }
    if &bytes[..8] != magic {
        return Err(format!(
            "bad magic {:?}",
            String::from_utf8_lossy(&bytes[..8])
        ));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(format!(
            "format version {version}, this build reads {VERSION}"
        ));
    }
    Ok(u32::from_le_bytes(
        bytes[12..16].try_into().expect("4 bytes"),
    ))
}

/// Appends one framed record to `out`.
pub(crate) fn encode(out: &mut Vec<u8>, at: u64, op: &Op) {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME]);
    let payload = postcard::to_extend(&RecordRef { at, op }, std::mem::take(out))
        .expect("encoding to a Vec cannot fail");
    *out = payload;
    let len = out.len() - start - FRAME;
    let len32 = u32::try_from(len).expect("a record is far below 4 GiB");
    let crc = crc32fast::hash(&out[start + FRAME..]);
    out[start..start + 4].copy_from_slice(&len32.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&(!len32).to_le_bytes());
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

/// What reading the records of a buffer found.
#[derive(Debug)]
pub(crate) enum Tail {
    /// Every byte was a whole record.
    Clean,
    /// The last record was cut short at this offset (a crash mid-write).
    Torn(usize),
}

/// Decodes the records of `bytes` (after the header), from `offset`.
///
/// # Errors
///
/// `(offset, what)` of the first record that is damaged rather than cut short.
pub(crate) fn decode_all(
    bytes: &[u8],
    mut offset: usize,
) -> Result<(Vec<Record>, Tail), (usize, String)> {
    let mut records = Vec::new();
    loop {
        let rest = &bytes[offset..];
        if rest.is_empty() {
            return Ok((records, Tail::Clean));
        }
        if rest.len() < FRAME {
            return Ok((records, Tail::Torn(offset)));
        }
        let word = |i: usize| u32::from_le_bytes(rest[i..i + 4].try_into().expect("4 bytes"));
        let (len, check, crc) = (word(0), word(4), word(8));
        if len != !check {
            return Err((offset, "record length check failed".into()));
        }
        let len = len as usize;
        if len > MAX_RECORD {
            return Err((offset, format!("record length {len} is over {MAX_RECORD}")));
        }
        if rest.len() < FRAME + len {
            return Ok((records, Tail::Torn(offset)));
        }
        let payload = &rest[FRAME..FRAME + len];
        if crc32fast::hash(payload) != crc {
            return Err((offset, "record checksum mismatch".into()));
        }
        match postcard::from_bytes::<Record>(payload) {
            Ok(r) => records.push(r),
            Err(e) => return Err((offset, format!("record does not decode: {e}"))),
        }
        offset += FRAME + len;
    }
}

/// Writes a snapshot: header then one record per operation.
pub(crate) fn write_snapshot(
    w: &mut dyn Write,
    generation: u32,
    at: u64,
    ops: &[Op],
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(HEADER + ops.len() * 32);
    buf.extend_from_slice(&header(SNAP_MAGIC, generation));
    for op in ops {
        encode(&mut buf, at, op);
    }
    w.write_all(&buf)?;
    w.flush()
}

/// Reads a whole snapshot: its generation and records. A snapshot is written whole
/// (temporary file, then rename), so a short one is as damaged as a flipped one.
pub(crate) fn read_snapshot(r: &mut dyn Read) -> Result<(u32, Vec<Record>), (usize, String)> {
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)
        .map_err(|e| (0, format!("read failed: {e}")))?;
    let generation = read_header(&bytes, SNAP_MAGIC).map_err(|what| (0, what))?;
    match decode_all(&bytes, HEADER)? {
        (records, Tail::Clean) => Ok((generation, records)),
        (_, Tail::Torn(at)) => Err((at, "snapshot ends inside a record".into())),
    }
}
