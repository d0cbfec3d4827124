//! When a mute ends: [`Expiry`] (absolute) and [`MuteFor`] (relative, as callers say it).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Raw encoding used inside the tables: `0` = no rule, `u64::MAX` = forever, else the
/// millisecond at which the rule stops applying.
pub(crate) type Raw = u64;
/// The raw value of "no rule here".
pub(crate) const NONE: Raw = 0;
/// The raw value of [`Expiry::Never`].
pub(crate) const FOREVER: Raw = u64::MAX;

/// Whether a raw expiry is in force at `now`.
#[inline]
pub(crate) fn active(raw: Raw, now: u64) -> bool {
    raw == FOREVER || now < raw
}

/// When a mute stops applying.
///
/// A mute with `Expiry::At(ms)` is active while `now < ms` and inactive from `ms` on.
/// Expired state reads as absent at once; nothing has to sweep it first.
///
/// # Examples
///
/// ```
/// use mutegate::Expiry;
///
/// let e = Expiry::At(1_000);
/// assert!(e.is_active(999));
/// assert!(!e.is_active(1_000));
/// assert!(Expiry::Never.is_active(u64::MAX - 1));
/// assert_eq!(Expiry::At(5).later(Expiry::Never), Expiry::Never);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Expiry {
    /// The mute lasts until it is lifted by hand.
    Never,
    /// The mute ends at this Unix time in milliseconds.
    At(u64),
}

impl Expiry {
    /// Whether a mute with this expiry is in force at `now_ms`.
    #[must_use]
    pub fn is_active(self, now_ms: u64) -> bool {
        active(self.raw(), now_ms)
    }

    /// The end time in Unix milliseconds, or `None` for [`Expiry::Never`].
    #[must_use]
    pub fn at_ms(self) -> Option<u64> {
        match self {
            Expiry::Never => None,
            Expiry::At(ms) => Some(ms),
        }
    }

    /// The later of two expiries ([`Expiry::Never`] is later than any time).
    #[must_use]
    pub fn later(self, other: Expiry) -> Expiry {
        Expiry::from_raw(self.raw().max(other.raw()))
    }

    #[inline]
    pub(crate) fn raw(self) -> Raw {
        match self {
            Expiry::Never => FOREVER,
            Expiry::At(ms) => ms,
        }
    }

    #[inline]
    pub(crate) fn from_raw(raw: Raw) -> Expiry {
        if raw == FOREVER {
            Expiry::Never
        } else {
            Expiry::At(raw)
        }
    }
}

impl std::fmt::Display for Expiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expiry::Never => f.write_str("never"),
            Expiry::At(ms) => write!(f, "{ms} ms"),
        }
    }
}

/// How long a new mute lasts, counted from the moment the engine applies it.
///
/// `Forever` is Agora's `mute_duration: -1`. A duration must be at least one millisecond
/// (the engine's resolution) and must not push the expiry past `u64` milliseconds.
///
/// # Examples
///
/// ```
/// use mutegate::MuteFor;
/// use std::time::Duration;
///
/// assert_eq!(MuteFor::hours(8), MuteFor::For(Duration::from_secs(8 * 3600)));
/// assert_eq!(MuteFor::millis(1500), MuteFor::For(Duration::from_millis(1500)));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MuteFor {
    /// Until lifted by hand.
    #[default]
    Forever,
    /// For this long (at least 1 ms; sub-millisecond parts are dropped).
    For(Duration),
}

impl MuteFor {
    /// A mute of `ms` milliseconds.
    #[must_use]
    pub const fn millis(ms: u64) -> MuteFor {
        MuteFor::For(Duration::from_millis(ms))
    }

    /// A mute of `secs` seconds.
    #[must_use]
    pub const fn secs(secs: u64) -> MuteFor {
        MuteFor::For(Duration::from_secs(secs))
    }

    /// A mute of `minutes` minutes (saturating).
    #[must_use]
    pub const fn minutes(minutes: u64) -> MuteFor {
        MuteFor::For(Duration::from_secs(minutes.saturating_mul(60)))
    }

    /// A mute of `hours` hours (saturating).
    #[must_use]
    pub const fn hours(hours: u64) -> MuteFor {
        MuteFor::For(Duration::from_secs(hours.saturating_mul(3600)))
    }

    /// The absolute expiry of a mute that starts at `now_ms`.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroDuration`] for a duration under one millisecond,
    /// [`Error::DurationOverflow`] when `now_ms + duration` does not fit in `u64` milliseconds.
    pub fn expiry_from(self, now_ms: u64) -> Result<Expiry, Error> {
        match self {
            MuteFor::Forever => Ok(Expiry::Never),
            MuteFor::For(d) => {
                let ms = d.as_millis();
                if ms == 0 {
                    return Err(Error::ZeroDuration { duration: d });
                }
                let until = u128::from(now_ms) + ms;
                // u64::MAX itself is the "never" encoding, so it is out of range as a time.
                if until >= u128::from(FOREVER) {
                    return Err(Error::DurationOverflow {
                        duration_ms: ms,
                        now_ms,
                    });
                }
                Ok(Expiry::At(until as u64))
            }
        }
    }
}
