//! The on-disk format: a checksummed file header, then framed, checksummed records.
//!
//! # Files
//!
//! Every file (the operation log, the store's snapshot, a [`snapshot`] stream) starts
//! with a header. Format 2 (written by this build) has a 28-byte header, little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic: `MUTEGLOG` (log) or `MUTEGSNP` (snapshot) |
//! | 8..12 | format version, 2 |
//! | 12..16 | generation: which log this file is, or which log a snapshot covers |
//! | 16..24 | covers: for a snapshot, the byte offset in that log up to which it holds the state; 0 in a log |
//! | 24..28 | CRC-32 of bytes 0..24 |
//!
//! Format 1 (read, never written) had a 16-byte header, magic, version, generation, and
//! no checksum; its records are read by [`v1`].
//!
//! # Records
//!
//! A record is framed as `[len: u32][!len: u32][crc32(payload): u32][payload: len bytes]`.
//! The inverted copy of the length tells a flipped length (corruption) from a record cut
//! short by a crash (a torn tail). The payload of format 2 is described in [`record`].
//!
//! [`snapshot`]: crate::Engine::snapshot

pub(crate) mod record;
pub(crate) mod v1;

use crate::op::Op;

/// The format version this build writes.
pub(crate) const VERSION: u32 = 2;
/// Magic of an operation log.
pub(crate) const LOG_MAGIC: &[u8; 8] = b"MUTEGLOG";
/// Magic of a snapshot.
pub(crate) const SNAP_MAGIC: &[u8; 8] = b"MUTEGSNP";
/// Length of a format-2 header.
pub(crate) const HEADER: usize = 28;
/// Length of a format-1 header.
const HEADER_V1: usize = 16;
/// Frame header length.
const FRAME: usize = 12;
/// The largest payload accepted (a batch of ids is far smaller).
const MAX_RECORD: usize = 16 << 20;

/// One decoded record: an operation and the time it was applied at.
#[derive(Debug)]
pub(crate) struct Record {
    pub at: u64,
    pub op: Op,
}

/// A decoded file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// The format version (1 or 2).
    pub version: u32,
    /// The log generation.
    pub generation: u32,
    /// For a snapshot of format 2: the offset in log `generation` it covers up to.
    pub covers: u64,
    /// The header's length: where the records start.
    pub len: usize,
}

/// A format-2 header.
pub(crate) fn header(magic: &[u8; 8], generation: u32, covers: u64) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(magic);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&generation.to_le_bytes());
    h[16..24].copy_from_slice(&covers.to_le_bytes());
    let crc = crc32fast::hash(&h[..24]);
    h[24..].copy_from_slice(&crc.to_le_bytes());
    h
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// Checks a file header of either format; returns it, or what is wrong with it.
pub(crate) fn read_header(bytes: &[u8], magic: &[u8; 8]) -> Result<Header, String> {
    let short = |need: usize| format!("header is {} bytes, expected {need}", bytes.len());
    if bytes.len() < 12 {
        return Err(short(HEADER));
    }
    if &bytes[..8] != magic {
        return Err(format!(
            "bad magic {:?}, expected {:?}",
            String::from_utf8_lossy(&bytes[..8]),
            String::from_utf8_lossy(magic)
        ));
    }
    match u32_at(bytes, 8) {
        1 if bytes.len() < HEADER_V1 => Err(short(HEADER_V1)),
        1 => Ok(Header {
            version: 1,
            generation: u32_at(bytes, 12),
            covers: 0,
            len: HEADER_V1,
        }),
        2 if bytes.len() < HEADER => Err(short(HEADER)),
        2 => {
            let (stored, computed) = (u32_at(bytes, 24), crc32fast::hash(&bytes[..24]));
            if stored != computed {
                return Err(format!(
                    "header checksum mismatch (stored {stored:08x}, computed {computed:08x})"
                ));
            }
            Ok(Header {
                version: 2,
                generation: u32_at(bytes, 12),
                covers: u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes")),
                len: HEADER,
            })
        }
        v => Err(format!(
            "unknown format version {v} (this build reads 1 and 2): damaged, or written by a newer mutegate"
        )),
    }
}

/// Appends one framed format-2 record to `out`.
pub(crate) fn encode(out: &mut Vec<u8>, at: u64, op: &Op) {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME]);
    record::encode(out, at, op);
    frame(out, start);
}

/// Fills in the frame header reserved at `start`, for the payload that follows it.
pub(crate) fn frame(out: &mut [u8], start: usize) {
    let len = out.len() - start - FRAME;
    let len32 = u32::try_from(len).expect("a record is far below 4 GiB");
    let crc = crc32fast::hash(&out[start + FRAME..]);
    out[start..start + 4].copy_from_slice(&len32.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&(!len32).to_le_bytes());
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

/// What reading the records of a buffer found at its end.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Tail {
    /// Every byte was a whole record.
    Clean,
    /// From this offset on, the file holds a record cut short (a crash mid-write) or
    /// only zero bytes (a filesystem that extended the file but never wrote the data).
    Torn(usize),
}

/// Decodes the records of `bytes` from `offset` on, in the record format of `version`.
///
/// # Errors
///
/// `(offset, what)` of the first record that is damaged rather than torn.
pub(crate) fn decode_all(
    bytes: &[u8],
    mut offset: usize,
    version: u32,
) -> Result<(Vec<Record>, Tail), (usize, String)> {
    let mut records = Vec::new();
    loop {
        let rest = &bytes[offset.min(bytes.len())..];
        if rest.is_empty() {
            return Ok((records, Tail::Clean));
        }
        match decode_one(rest, version) {
            Ok(Some((record, used))) => {
                records.push(record);
                offset += used;
            }
            Ok(None) => return Ok((records, Tail::Torn(offset))),
            // Zeros to the end of the file are space the filesystem allocated but whose
            // data never reached the disk: a torn tail, not damage.
            Err(_) if rest.iter().all(|&b| b == 0) => return Ok((records, Tail::Torn(offset))),
            Err(what) => return Err((offset, what)),
        }
    }
}

/// Decodes the record at the start of `rest`: `Ok(None)` if it is cut short.
fn decode_one(rest: &[u8], version: u32) -> Result<Option<(Record, usize)>, String> {
    if rest.len() < FRAME {
        return Ok(None);
    }
    let (len, check, crc) = (u32_at(rest, 0), u32_at(rest, 4), u32_at(rest, 8));
    if len != !check {
        return Err("record length check failed".into());
    }
    let len = len as usize;
    if len > MAX_RECORD {
        return Err(format!("record length {len} is over {MAX_RECORD}"));
    }
    if rest.len() < FRAME + len {
        return Ok(None);
    }
    let payload = &rest[FRAME..FRAME + len];
    if crc32fast::hash(payload) != crc {
        return Err("record checksum mismatch".into());
    }
    let record = match version {
        1 => v1::decode(payload),
        _ => record::decode(payload),
    }
    .and_then(|r| r.op.well_formed().map(|()| r))
    .map_err(|e| format!("record does not decode: {e}"))?;
    Ok(Some((record, FRAME + len)))
}

/// A whole snapshot in format 2: header (generation, covers) then one record per
/// `(at, op)`.
pub(crate) fn snapshot_bytes<'a>(
    generation: u32,
    covers: u64,
    records: impl ExactSizeIterator<Item = (u64, &'a Op)>,
) -> Vec<u8> {
    let mut buf = Vec::with_capacity(HEADER + records.len() * 32);
    buf.extend_from_slice(&header(SNAP_MAGIC, generation, covers));
    for (at, op) in records {
        encode(&mut buf, at, op);
    }
    buf
}

/// A snapshot of `ops` (from `Tables::to_ops`) in canonical order (see
/// `store::canonical`), every record stamped `at`: equal states give equal bytes.
pub(crate) fn canonical_snapshot(mut ops: Vec<Op>, at: u64) -> Vec<u8> {
    crate::store::canonical(&mut ops);
    snapshot_bytes(0, 0, ops.iter().map(|op| (at, op)))
}

/// Reads a whole snapshot of either format: its header and records. A snapshot is
/// written whole (temporary file, then rename), so a short one is as damaged as a
/// flipped one.
pub(crate) fn read_snapshot(bytes: &[u8]) -> Result<(Header, Vec<Record>), (usize, String)> {
    let header = read_header(bytes, SNAP_MAGIC).map_err(|what| (0, what))?;
    match decode_all(bytes, header.len, header.version)? {
        (records, Tail::Clean) => Ok((header, records)),
        (_, Tail::Torn(at)) => Err((at, "snapshot ends inside a record".into())),
    }
}

#[cfg(test)]
mod tests;
