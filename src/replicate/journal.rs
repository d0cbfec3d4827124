//! A node's journal of what it applied since its last checkpoint: `journal.log` (and,
//! while a checkpoint is written, the file it covers, `journal.old`) beside
//! `replica.ckpt` (see `checkpoint`), when the node keeps its own copy of its state.
//!
//! Every batch of entries the node applies is appended as one record carrying the
//! operations it applied *and* the stream position they bring it to — the state change
//! and its position in the same record, so they can never disagree. A checkpoint folds
//! the journal: the file is set aside when the checkpoint's state is taken and removed
//! once the checkpoint is written. On restart the node loads its
//! checkpoint, replays the records that continue it (each names the position it
//! starts from, so a record that does not follow on is never applied across the gap)
//! and reads the stream from where they end.
//!
//! The journal is written without `fsync`: the stream holds every entry, so losing the
//! journal's tail in a power cut costs only re-reading it. A record cut short or
//! damaged ends the replay there, and the rest comes from the stream.
//!
//! The format (little-endian), version 1: a header of magic `MUTEGRJL`, version (4
//! bytes), the stream's epoch (16 bytes, as the epoch key holds it); then records, each framed as the store's
//! log frames them (length, its complement, CRC-32 of the payload; 12 bytes) around a
//! postcard payload: (after ms, after seq, last ms, last seq, last engine time, the op
//! numbers seen `[(node, seq)]`, the applied operations `[bytes]` each in the store's
//! record payload format).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::entry::StreamId;
use crate::codec::{self, Record};
use crate::durable::files;
use crate::error::Error;
use crate::op::Op;

const MAGIC: &[u8; 8] = b"MUTEGRJL";
const VERSION: u32 = 1;
/// Magic, version, epoch.
const HEADER: usize = 28;

/// The journal's file name in its directory.
pub(crate) const FILE: &str = "journal.log";

/// One applied batch.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Batch {
    /// The position the batch starts from.
    pub after: (u64, u64),
    /// The position it brings the node to.
    pub last: (u64, u64),
    /// The newest engine time applied.
    pub last_at: u64,
    /// The op numbers seen, per node, that changed.
    pub seen: Vec<(u64, u64)>,
    /// The operations applied, each in the store's record payload format.
    pub ops: Vec<Vec<u8>>,
}

impl Batch {
    /// Adds `op`, applied at `at`.
    pub fn push(&mut self, at: u64, op: &Op) {
        let mut payload = Vec::with_capacity(48);
        codec::record::encode(&mut payload, at, op);
        self.ops.push(payload);
    }

    /// Its operations, decoded.
    pub fn records(&self) -> Result<Vec<Record>, String> {
        self.ops.iter().map(|p| codec::record::decode(p)).collect()
    }
}

/// The journal file, open for appending.
pub(crate) struct Journal {
    dir: PathBuf,
    epoch: String,
    /// `None` after a failed write: nothing more is appended until the next rotation.
    file: Option<File>,
}

/// What reading a journal found.
#[derive(Debug, Default)]
pub(crate) struct Read {
    /// Its whole records, in order (the folded file's, then the current one's).
    pub batches: Vec<Batch>,
    /// What ended the reading early, if anything: a file that is not a journal of this
    /// stream, a record cut short by a crash, or damage (as [`Error::Corrupt`], with its
    /// file and offset).
    pub damage: Option<Error>,
}

impl Journal {
    /// Reads the journal in `dir` (its file being folded into a checkpoint, then the
    /// current one) for the stream `epoch`, up to the first record that is cut short or
    /// damaged. A journal only saves reading the stream again, so nothing in it is an
    /// error; what it lacks is read from the stream.
    pub fn read(dir: &Path, epoch: &str) -> Result<Read, Error> {
        let mut read = Read::default();
        for name in [OLD, FILE] {
            let path = dir.join(name);
            let Some(bytes) = files::read_file(&path)? else {
                continue;
            };
            if let Err((at, what)) = decode(&bytes, epoch, &mut read.batches) {
                read.damage = Some(files::corrupt(&path, at, what));
                break;
            }
        }
        Ok(read)
    }

    /// Starts a new, empty journal for the stream `epoch` in `dir`, replacing what is
    /// there (a checkpoint covers it).
    pub fn start(dir: &Path, epoch: &str) -> Result<Journal, Error> {
        let mut journal = Journal {
            dir: dir.to_owned(),
            epoch: epoch.to_owned(),
            file: None,
        };
        journal.rotate()?;
        journal.checkpointed()?;
        Ok(journal)
    }

    /// Appends `batch`. After a failed write the journal takes nothing more until the
    /// next rotation (what it lacks is read from the stream).
    pub fn append(&mut self, batch: &Batch) -> Result<(), Error> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let mut out = vec![0u8; FRAME];
        out = postcard::to_extend(batch, out).expect("encoding to a Vec cannot fail");
        codec::frame(&mut out, 0);
        if let Err(e) = file.write_all(&out) {
            self.file = None;
            return Err(files::io_error("write", &self.dir.join(FILE), &e));
        }
        Ok(())
    }

    /// Sets the current file aside for a checkpoint that covers it (replacing one a
    /// failed checkpoint left: the new checkpoint covers that too) and starts an empty
    /// one. Cheap: a rename and a small write, no `fsync`.
    pub fn rotate(&mut self) -> Result<(), Error> {
        self.file = None;
        let (current, old) = (self.dir.join(FILE), self.dir.join(OLD));
        match std::fs::rename(&current, &old) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(files::io_error("rename", &current, &e)),
        }
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .truncate(false)
            .open(&current)
            .map_err(|e| files::io_error("create", &current, &e))?;
        file.set_len(0)
            .and_then(|()| file.write_all(&header(&self.epoch)))
            .map_err(|e| files::io_error("write", &current, &e))?;
        self.file = Some(file);
        Ok(())
    }

    /// Drops the file set aside: the checkpoint that covers it is written.
    pub fn checkpointed(&self) -> Result<(), Error> {
        let old = self.dir.join(OLD);
        match std::fs::remove_file(&old) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(files::io_error("remove", &old, &e)),
        }
    }
}

/// The file a checkpoint being written covers.
const OLD: &str = "journal.old";

/// The frame around each record: length, its complement, CRC-32.
const FRAME: usize = 12;

fn header(epoch: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    let mut id = [b'0'; 16];
    let n = epoch.len().min(16);
    id[..n].copy_from_slice(&epoch.as_bytes()[..n]);
    out.extend_from_slice(&id);
    out
}

/// Decodes a journal file of the stream `epoch` onto `batches`; stops at the first
/// problem, with its offset.
fn decode(bytes: &[u8], epoch: &str, batches: &mut Vec<Batch>) -> Result<(), (usize, String)> {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err((0, "not a mutegate replica journal".into()));
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let version = word(8);
    if version != VERSION {
        return Err((
            8,
            format!("journal version {version} is not one this build reads (1)"),
        ));
    }
    if bytes[12..HEADER] != header(epoch)[12..] {
        return Err((12, "the journal belongs to another stream epoch".into()));
    }
    let mut at = HEADER;
    while at < bytes.len() {
        if bytes.len() - at < FRAME {
            return Err((at, "a record cut short".into()));
        }
        let len = word(at);
        let end = at + FRAME + len as usize;
        if word(at + 4) != !len {
            return Err((at, "a damaged record frame".into()));
        }
        if end > bytes.len() {
            return Err((at, "a record cut short".into()));
        }
        if crc32fast::hash(&bytes[at + FRAME..end]) != word(at + 8) {
            return Err((at, "a record whose checksum does not match".into()));
        }
        let batch = postcard::from_bytes::<Batch>(&bytes[at + FRAME..end])
            .map_err(|e| (at, format!("a record that does not decode: {e}")))?;
        batch
            .records()
            .map_err(|e| (at, format!("a record whose operations do not decode: {e}")))?;
        batches.push(batch);
        at = end;
    }
    Ok(())
}

/// How far `batches` bring a node that is at `base`: through the ones that continue
/// from it, up to the first that does not.
pub(crate) fn reach(base: StreamId, batches: &[Batch]) -> StreamId {
    let mut at = base;
    for batch in batches {
        if id(batch.last) <= at {
            continue;
        }
        if id(batch.after) != at {
            break;
        }
        at = id(batch.last);
    }
    at
}

/// A position as a journal record holds it.
pub(crate) fn pair(id: StreamId) -> (u64, u64) {
    (id.ms, id.seq)
}

/// A position from a journal record.
pub(crate) fn id((ms, seq): (u64, u64)) -> StreamId {
    StreamId { ms, seq }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Key;

    fn sample() -> Batch {
        let mut batch = Batch {
            after: (5, 0),
            last: (5, 2),
            last_at: 9,
            seen: vec![(0xab, 3)],
            ops: Vec::new(),
        };
        batch.push(
            9,
            &Op::MuteRoom {
                room: Key::from("r"),
                until: crate::expiry::Expiry::Never,
                actions: crate::Actions::ALL,
            },
        );
        batch
    }

    fn frame_of(payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut out = len.to_le_bytes().to_vec();
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn a_journal_has_these_exact_bytes() {
        // Golden: a node of a later version must still read what this one wrote.
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::start(dir.path(), "00000000000000ab").unwrap();
        journal.append(&sample()).unwrap();
        let bytes = std::fs::read(dir.path().join(FILE)).unwrap();
        let mut op = Vec::new();
        let room = Op::MuteRoom {
            room: Key::from("r"),
            until: crate::expiry::Expiry::Never,
            actions: crate::Actions::ALL,
        };
        codec::record::encode(&mut op, 9, &room);
        let mut payload = vec![5, 0, 5, 2, 9, 1, 0xab, 0x01, 3, 1, op.len() as u8];
        payload.extend_from_slice(&op);
        let mut want = b"MUTEGRJL".to_vec();
        want.extend_from_slice(&1u32.to_le_bytes());
        want.extend_from_slice(b"00000000000000ab");
        want.extend_from_slice(&frame_of(&payload));
        assert_eq!(bytes, want);
        let read = Journal::read(dir.path(), "00000000000000ab").unwrap();
        assert_eq!(read.batches, vec![sample()]);
        assert_eq!(read.damage, None);
        let records = read.batches[0].records().unwrap();
        assert_eq!((records[0].at, &records[0].op), (9, &room));
    }

    #[test]
    fn a_record_cut_short_or_damaged_ends_the_replay_there() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::start(dir.path(), "e").unwrap();
        journal.append(&sample()).unwrap();
        let path = dir.path().join(FILE);
        let one = std::fs::read(&path).unwrap().len();
        journal.append(&sample()).unwrap();
        let whole = std::fs::read(&path).unwrap();
        for cut in one..whole.len() {
            std::fs::write(&path, &whole[..cut]).unwrap();
            let read = Journal::read(dir.path(), "e").unwrap();
            assert_eq!(read.batches.len(), 1, "cut at {cut}");
            assert_eq!(read.damage.is_some(), cut > one, "cut at {cut}");
        }
        let mut flipped = whole.clone();
        flipped[one + FRAME + 3] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        let read = Journal::read(dir.path(), "e").unwrap();
        assert_eq!(read.batches.len(), 1);
        match read.damage.unwrap() {
            Error::Corrupt { path, offset, what } => {
                assert!(path.ends_with(FILE), "{path}");
                assert_eq!(offset, one as u64);
                assert_eq!(what, "a record whose checksum does not match");
            }
            other => panic!("{other}"),
        }
        // Another stream's journal, or a newer format, is read as nothing.
        std::fs::write(&path, &whole).unwrap();
        let read = Journal::read(dir.path(), "f").unwrap();
        assert!(read.batches.is_empty());
        assert!(
            read.damage
                .unwrap()
                .to_string()
                .contains("another stream epoch")
        );
        let mut v2 = whole.clone();
        v2[8] = 2;
        std::fs::write(&path, &v2).unwrap();
        let read = Journal::read(dir.path(), "e").unwrap();
        assert!(read.batches.is_empty());
        assert!(
            read.damage
                .unwrap()
                .to_string()
                .contains("journal version 2")
        );
    }

    #[test]
    fn a_rotated_file_is_read_before_the_current_one_until_its_checkpoint_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::start(dir.path(), "e").unwrap();
        journal.append(&sample()).unwrap();
        journal.rotate().unwrap();
        let mut later = sample();
        later.after = (5, 2);
        later.last = (6, 0);
        journal.append(&later).unwrap();
        let read = Journal::read(dir.path(), "e").unwrap();
        assert_eq!(read.batches, vec![sample(), later]);
        journal.checkpointed().unwrap();
        let read = Journal::read(dir.path(), "e").unwrap();
        assert_eq!(read.batches.len(), 1);
        assert_eq!(read.batches[0].last, (6, 0));
    }
}
