//! Input limits the engine enforces.

use std::num::NonZeroUsize;

/// Limits on ids and batches. Inputs over a limit are refused with a typed error.
///
/// # Examples
///
/// ```
/// use mutegate::{Engine, Limits};
/// use std::num::NonZeroUsize;
///
/// let limits = Limits::default().with_max_id_len(NonZeroUsize::new(32).unwrap());
/// assert_eq!(limits.max_id_len(), 32);
/// let engine = Engine::builder().limits(limits).build();
/// assert!(engine.mute_notifications(&"x".repeat(33), "room").is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    max_id_len: NonZeroUsize,
    max_batch: NonZeroUsize,
}

impl Limits {
    /// The longest id accepted, in bytes (default 64).
    #[must_use]
    pub fn max_id_len(&self) -> usize {
        self.max_id_len.get()
    }

    /// The most user ids accepted in one batch call (default 1000).
    #[must_use]
    pub fn max_batch(&self) -> usize {
        self.max_batch.get()
    }

    /// These limits with a different id length limit.
    #[must_use]
    pub fn with_max_id_len(mut self, bytes: NonZeroUsize) -> Limits {
        self.max_id_len = bytes;
        self
    }

    /// These limits with a different batch size limit.
    #[must_use]
    pub fn with_max_batch(mut self, ids: NonZeroUsize) -> Limits {
        self.max_batch = ids;
        self
    }
}

impl Limits {
    /// No length or batch limit (for records read back from a store).
    pub(crate) fn unbounded() -> Limits {
        Limits {
            max_id_len: NonZeroUsize::MAX,
            max_batch: NonZeroUsize::MAX,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_id_len: NonZeroUsize::new(64).expect("64 is not zero"),
            max_batch: NonZeroUsize::new(1000).expect("1000 is not zero"),
        }
    }
}
