//! A node's own durable copy of its state: `replica.ckpt` in the directory given to
//! [`Replication::local_state`](super::Replication::local_state).
//!
//! The node writes the state it has applied together with the stream id it covers, the
//! per-node op numbers and the stream's epoch — one file, written whole (a temporary
//! file, synced, renamed over the old one, the directory synced), so the state and its
//! position can never disagree. On restart the node loads it and reads the stream from
//! that id: only the entries since. If the stream was trimmed past it, the node starts
//! from the snapshot in Redis instead; if the stream's epoch is not the file's, the
//! file belongs to a history Redis no longer has, and the node refuses to start.
//!
//! The format (little-endian), version 1:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `MUTEGRCP` |
//! | 4 | version (1) |
//! | 4 | CRC-32 of the body |
//! | 8 | body length |
//! | rest | body: postcard of (epoch: string, id ms: varint, id seq: varint, seen: [(node, seq)], state: bytes in the snapshot format) |

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::entry::StreamId;
use crate::durable::Faults;
use crate::durable::files::{self, DirLock};
use crate::error::Error;

const MAGIC: &[u8; 8] = b"MUTEGRCP";
const VERSION: u32 = 1;
const HEADER: usize = 24;

/// The checkpoint file's name in its directory.
pub(crate) const FILE: &str = "replica.ckpt";

/// A checkpoint's contents.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub epoch: String,
    pub id: StreamId,
    pub seen: HashMap<u64, u64>,
    pub state: Vec<u8>,
}

/// The directory a node keeps its checkpoint in, locked while the node runs.
pub(crate) struct Local {
    dir: PathBuf,
    path: PathBuf,
    _lock: DirLock,
}

impl Local {
    /// Creates `dir` if needed and locks it (`dir/lock`): one node per directory.
    pub fn open(dir: &Path) -> Result<Local, Error> {
        std::fs::create_dir_all(dir).map_err(|e| files::io_error("create", dir, &e))?;
        Ok(Local {
            dir: dir.to_owned(),
            path: dir.join(FILE),
            _lock: files::lock_dir(&dir.join("lock"))?,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The checkpoint, if there is one.
    pub fn read(&self) -> Result<Option<Checkpoint>, Error> {
        files::read_file(&self.path)?
            .map(|bytes| decode(&bytes).map_err(|(at, what)| files::corrupt(&self.path, at, what)))
            .transpose()
    }

    /// Replaces the checkpoint with `c`.
    pub fn write(&self, c: &Checkpoint) -> Result<(), Error> {
        // No injected faults here (a unit struct outside the store's own tests).
        #[allow(clippy::default_constructed_unit_structs)]
        let faults = Faults::default();
        files::write_whole(&self.path, &encode(c), &faults)
            .map(drop)
            .map_err(|u| u.error)
    }
}

fn encode(c: &Checkpoint) -> Vec<u8> {
    let mut seen: Vec<(u64, u64)> = c.seen.iter().map(|(n, s)| (*n, *s)).collect();
    seen.sort_unstable();
    let body = postcard::to_stdvec(&(&c.epoch, c.id.ms, c.id.seq, seen, &c.state))
        .expect("encoding to a Vec cannot fail");
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Decodes a checkpoint file; on damage, the byte offset and what is wrong.
fn decode(bytes: &[u8]) -> Result<Checkpoint, (usize, String)> {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err((
            0,
            "not a mutegate replica checkpoint (bad magic or too short)".into(),
        ));
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let version = word(8);
    if version != VERSION {
        return Err((
            8,
            format!("checkpoint version {version} is not one this build reads (1)"),
        ));
    }
    let len = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
    let body = &bytes[HEADER..];
    if body.len() as u64 != len {
        return Err((
            16,
            format!("the body is {} bytes, the header says {len}", body.len()),
        ));
    }
    if crc32fast::hash(body) != word(12) {
        return Err((HEADER, "the body's checksum does not match".into()));
    }
    type Body = (String, u64, u64, Vec<(u64, u64)>, Vec<u8>);
    let (epoch, ms, seq, seen, state): Body = postcard::from_bytes(body)
        .map_err(|e| (HEADER, format!("the body does not decode: {e}")))?;
    Ok(Checkpoint {
        epoch,
        id: StreamId { ms, seq },
        seen: seen.into_iter().collect(),
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            epoch: "00000000000000ab".into(),
            id: StreamId { ms: 5, seq: 1 },
            seen: [(0xab, 3)].into_iter().collect(),
            state: vec![1, 2, 3],
        }
    }

    #[test]
    fn a_checkpoint_has_these_exact_bytes() {
        // Golden: a node of a later version must still read what this one wrote.
        let bytes = encode(&sample());
        let body: Vec<u8> = [
            &[16u8][..],
            b"00000000000000ab",
            &[5, 1],             // id
            &[1, 0xab, 0x01, 3], // seen: one pair
            &[3, 1, 2, 3],       // state
        ]
        .concat();
        let mut want = b"MUTEGRCP".to_vec();
        want.extend_from_slice(&1u32.to_le_bytes());
        want.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        want.extend_from_slice(&(body.len() as u64).to_le_bytes());
        want.extend_from_slice(&body);
        assert_eq!(bytes, want);
        assert_eq!(decode(&bytes).unwrap(), sample());
    }

    #[test]
    fn damage_is_named_with_its_offset() {
        let good = encode(&sample());
        assert_eq!(decode(&good[..10]).unwrap_err().0, 0);
        let mut v2 = good.clone();
        v2[8] = 2;
        assert!(decode(&v2).unwrap_err().1.contains("version 2"));
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            decode(&flipped).unwrap_err(),
            (HEADER, "the body's checksum does not match".into())
        );
        assert!(
            decode(&good[..good.len() - 1])
                .unwrap_err()
                .1
                .contains("header says")
        );
    }

    #[test]
    fn a_second_node_on_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Local::open(dir.path()).unwrap();
        assert!(matches!(Local::open(dir.path()), Err(Error::Locked { .. })));
        assert_eq!(first.read().unwrap(), None);
        first.write(&sample()).unwrap();
        assert_eq!(first.read().unwrap(), Some(sample()));
    }
}
