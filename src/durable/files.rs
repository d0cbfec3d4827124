//! File handling for the store: typed errors naming the operation and the file, the
//! directory lock, whole-file reads, and writing a file whole under its final name.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::fault::{Faults, Step};
use crate::error::Error;

/// The errno of a filesystem that cannot sync a directory.
const EINVAL: i32 = 22;

/// An [`Error::Io`] for operation `op` on `path`.
pub(crate) fn io_error(op: &'static str, path: &Path, e: &io::Error) -> Error {
    Error::Io {
        op,
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// An [`Error::Corrupt`] in `path` at `offset`.
pub(crate) fn corrupt(path: &Path, offset: usize, what: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.display().to_string(),
        offset: offset as u64,
        what: what.into(),
    }
}

/// The directory's lock, released when dropped.
#[derive(Debug)]
pub(crate) struct DirLock(File);

impl Drop for DirLock {
    fn drop(&mut self) {
        // Unlock explicitly: a child forked by another thread shares the lock file's
        // open description until it execs, so closing our descriptor alone would leave
        // the directory locked until then. Nothing is left to do if this fails: the
        // descriptor is closed next, and the lock goes with the last copy of it.
        let _ = self.0.unlock();
    }
}

/// Takes the directory's lock file, or says who has it.
pub(crate) fn lock_dir(path: &Path) -> Result<DirLock, Error> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| io_error("open", path, &e))?;
    match file.try_lock() {
        Ok(()) => Ok(DirLock(file)),
        Err(fs::TryLockError::WouldBlock) => Err(Error::Locked {
            path: path.display().to_string(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(io_error("lock", path, &e)),
    }
}

/// The whole of `path`, or `None` if there is no such file.
pub(crate) fn read_file(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match File::open(path) {
        Ok(mut f) => {
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)
                .map_err(|e| io_error("read", path, &e))?;
            Ok(Some(bytes))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("open", path, &e)),
    }
}

/// Syncs a directory, so that a rename in it is durable. A filesystem that cannot sync
/// directories (`EINVAL`) orders its renames by other means.
pub(crate) fn sync_dir(dir: &Path, faults: &Faults) -> Result<(), Error> {
    faults
        .check(Step::SyncDir)
        .and_then(|()| File::open(dir)?.sync_all())
        .or_else(|e| match e.raw_os_error() {
            Some(EINVAL) => Ok(()),
            _ => Err(e),
        })
        .map_err(|e| io_error("sync directory", dir, &e))
}

/// How writing a file whole failed.
pub(crate) struct Unwritten {
    pub error: Error,
    /// Whether the new file had already replaced the old one under its name (only the
    /// directory sync that makes the rename durable failed).
    pub renamed: bool,
}

/// Writes `bytes` as the whole of `path`: a temporary file beside it, synced, then
/// renamed over it, then the directory synced. Returns the new file, open for appending.
/// On a failure before the rename, `path` is untouched and the temporary file removed.
pub(crate) fn write_whole(path: &Path, bytes: &[u8], faults: &Faults) -> Result<File, Unwritten> {
    let tmp: PathBuf = path.with_extension("tmp");
    let before = |op, p: &Path, e: io::Error| {
        let _ = fs::remove_file(&tmp);
        Unwritten {
            error: io_error(op, p, &e),
            renamed: false,
        }
    };
    let file = faults
        .check(Step::CreateTmp)
        .and_then(|()| {
            OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(&tmp)
        })
        .map_err(|e| before("create", &tmp, e))?;
    file.set_len(0)
        .and_then(|()| faults.write(Step::WriteTmp, &file, bytes))
        .map_err(|e| before("write", &tmp, e))?;
    faults
        .check(Step::SyncTmp)
        .and_then(|()| file.sync_all())
        .map_err(|e| before("fsync", &tmp, e))?;
    faults
        .check(Step::Rename)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| before("rename", path, e))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    sync_dir(dir, faults).map_err(|error| Unwritten {
        error,
        renamed: true,
    })?;
    Ok(file)
}
