//! The seam where tests inject I/O failures into the durable store: every file
//! operation the store makes first asks [`Faults::check`] with its [`Step`]. In a normal
//! build `Faults` is empty and every check is `Ok`; under `cfg(test)` a test arms
//! failures (an errno, a number of times, a partial write) and counts the attempts.

use std::fs::File;
use std::io::{self, Write};

/// A file operation of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Step {
    /// Appending records to the log.
    Append,
    /// `fdatasync` of the log.
    SyncLog,
    /// Cutting the log back (a torn tail, or a refused record).
    Truncate,
    /// Linking the finished log as `ops.prev.log`.
    Link,
    /// Creating a temporary file (a snapshot, or a new log).
    CreateTmp,
    /// Writing a temporary file.
    WriteTmp,
    /// Syncing a temporary file.
    SyncTmp,
    /// Renaming a temporary file into place.
    Rename,
    /// Syncing the directory after a rename.
    SyncDir,
}

pub(crate) use imp::Faults;

#[cfg(not(test))]
mod imp {
    use super::{File, Step, Write, io};

    /// No faults: every step goes ahead.
    #[derive(Debug, Default)]
    pub(crate) struct Faults;

    impl Faults {
        #[inline(always)]
        pub fn check(&self, _: Step) -> io::Result<()> {
            Ok(())
        }

        #[inline(always)]
        pub fn write(&self, _: Step, mut file: &File, buf: &[u8]) -> io::Result<()> {
            file.write_all(buf)
        }
    }
}

#[cfg(test)]
mod imp {
    use std::collections::HashMap;

    use parking_lot::Mutex;

    use super::{File, Step, Write, io};

    #[derive(Debug)]
    struct Rule {
        step: Step,
        /// Attempts to let through before failing.
        skip: u32,
        /// Failures left (`u32::MAX`: for ever).
        times: u32,
        errno: i32,
        /// For a write: how many bytes really reach the file before the failure.
        partial: Option<usize>,
    }

    /// Armed failures, and how often each step was attempted.
    #[derive(Debug, Default)]
    pub(crate) struct Faults {
        rules: Mutex<Vec<Rule>>,
        seen: Mutex<HashMap<Step, u32>>,
    }

    impl Faults {
        /// Fails `step` with `errno` from now on.
        pub fn fail(&self, step: Step, errno: i32) {
            self.fail_later(step, 0, u32::MAX, errno, None);
        }

        /// Lets `skip` attempts at `step` through, then fails the next `times` with
        /// `errno`; a failing write first writes `partial` bytes for real.
        pub fn fail_later(
            &self,
            step: Step,
            skip: u32,
            times: u32,
            errno: i32,
            partial: Option<usize>,
        ) {
            self.rules.lock().push(Rule {
                step,
                skip,
                times,
                errno,
                partial,
            });
        }

        /// Disarms every failure.
        pub fn clear(&self) {
            self.rules.lock().clear();
        }

        /// How many times `step` was attempted.
        pub fn seen(&self, step: Step) -> u32 {
            self.seen.lock().get(&step).copied().unwrap_or(0)
        }

        fn injected(&self, step: Step) -> Option<(io::Error, Option<usize>)> {
            *self.seen.lock().entry(step).or_default() += 1;
            let mut rules = self.rules.lock();
            let rule = rules.iter_mut().find(|r| r.step == step && r.times > 0)?;
            if rule.skip > 0 {
                rule.skip -= 1;
                return None;
            }
            if rule.times != u32::MAX {
                rule.times -= 1;
            }
            Some((io::Error::from_raw_os_error(rule.errno), rule.partial))
        }

        pub fn check(&self, step: Step) -> io::Result<()> {
            self.injected(step).map_or(Ok(()), |(e, _)| Err(e))
        }

        pub fn write(&self, step: Step, mut file: &File, buf: &[u8]) -> io::Result<()> {
            match self.injected(step) {
                None => file.write_all(buf),
                Some((e, partial)) => {
                    file.write_all(&buf[..partial.unwrap_or(0).min(buf.len())])?;
                    Err(e)
                }
            }
        }
    }
}
