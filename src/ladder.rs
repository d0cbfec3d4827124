//! Escalation ladders: the mute each successive strike brings, and how long a strike
//! counts before it decays.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::expiry::Expiry;

/// The most steps a ladder has.
pub const MAX_STEPS: usize = 16;

/// The longest step or decay a ladder takes: ten years.
pub const MAX_LADDER_MS: u64 = 10 * 365 * 24 * 3_600_000;

/// The most strikes kept per member and room: older ones are dropped (the ladder's
/// last step applies long before).
pub const MAX_STRIKES: usize = 64;

/// An escalation ladder: strike `n` (counting the strikes that have not decayed,
/// itself included) mutes for step `n`, the last step repeating; a strike decays
/// `decay` after it was made.
///
/// The default is the one moderation bots made familiar: 5 s, 1 min, 30 min, 8 h,
/// 3 days, each strike decaying after 30 days.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mutegate::Ladder;
///
/// let ladder = Ladder::new([Duration::from_secs(60), Duration::from_secs(3_600)], Duration::from_secs(86_400))?;
/// assert_eq!(ladder.step(1), Duration::from_secs(60));
/// assert_eq!(ladder.step(5), Duration::from_secs(3_600)); // the last step repeats
/// assert!(Ladder::new([], Duration::from_secs(1)).is_err());
/// # Ok::<(), mutegate::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ladder {
    steps_ms: Vec<u64>,
    decay_ms: u64,
}

impl Ladder {
    /// A ladder of `steps` (the mute of the first, second, ... strike) whose strikes
    /// decay after `decay`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLadder`] naming the problem: no step, more than [`MAX_STEPS`],
    /// a step or a decay under 1 ms or over ten years.
    pub fn new(
        steps: impl IntoIterator<Item = Duration>,
        decay: Duration,
    ) -> Result<Ladder, Error> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let ladder = Ladder {
            steps_ms: steps.into_iter().map(ms).collect(),
            decay_ms: ms(decay),
        };
        ladder.check()?;
        Ok(ladder)
    }

    /// The ladder's rules; every ladder an operation carries is held to them.
    pub(crate) fn check(&self) -> Result<(), Error> {
        let bad = |what: String| {
            Err(Error::InvalidLadder {
                ladder: self.to_string(),
                what,
            })
        };
        if self.steps_ms.is_empty() {
            return bad("no steps: a ladder needs at least one mute".into());
        }
        if self.steps_ms.len() > MAX_STEPS {
            return bad(format!(
                "{} steps, over the limit of {MAX_STEPS}",
                self.steps_ms.len()
            ));
        }
        let in_range = |ms: u64| (1..=MAX_LADDER_MS).contains(&ms);
        if let Some((i, ms)) = self
            .steps_ms
            .iter()
            .enumerate()
            .find(|(_, ms)| !in_range(**ms))
        {
            return bad(format!(
                "step {} of {ms} ms is not between 1 ms and ten years",
                i + 1
            ));
        }
        if !in_range(self.decay_ms) {
            return bad(format!(
                "decay of {} ms is not between 1 ms and ten years",
                self.decay_ms
            ));
        }
        Ok(())
    }

    /// The mutes of the successive strikes.
    pub fn steps(&self) -> impl ExactSizeIterator<Item = Duration> + '_ {
        self.steps_ms.iter().map(|&ms| Duration::from_millis(ms))
    }

    /// How long a strike counts.
    #[must_use]
    pub fn decay(&self) -> Duration {
        Duration::from_millis(self.decay_ms)
    }

    /// The mute of strike number `strikes` (1 for the first; the last step repeats).
    #[must_use]
    pub fn step(&self, strikes: usize) -> Duration {
        Duration::from_millis(self.step_ms(strikes))
    }

    pub(crate) fn step_ms(&self, strikes: usize) -> u64 {
        let i = strikes.clamp(1, self.steps_ms.len()) - 1;
        self.steps_ms[i]
    }

    pub(crate) fn steps_ms(&self) -> &[u64] {
        &self.steps_ms
    }

    pub(crate) fn decay_ms(&self) -> u64 {
        self.decay_ms
    }

    /// A ladder from stored fields, checked.
    pub(crate) fn from_ms(steps_ms: Vec<u64>, decay_ms: u64) -> Result<Ladder, String> {
        let ladder = Ladder { steps_ms, decay_ms };
        ladder.check().map_err(|e| e.to_string())?;
        Ok(ladder)
    }
}

impl Default for Ladder {
    fn default() -> Ladder {
        const MIN: u64 = 60_000;
        const HOUR: u64 = 60 * MIN;
        Ladder {
            steps_ms: vec![5_000, MIN, 30 * MIN, 8 * HOUR, 72 * HOUR],
            decay_ms: 30 * 24 * HOUR,
        }
    }
}

impl fmt::Debug for Ladder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ladder({self})")
    }
}

impl fmt::Display for Ladder {
    /// `5000ms,60000ms -> decay 86400000ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, ms) in self.steps_ms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{ms}ms")?;
        }
        write!(f, " -> decay {}ms", self.decay_ms)
    }
}

/// What a strike did: how many strikes the member now has in the room (those not yet
/// decayed, this one included) and when their mute ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Strike {
    /// Strikes in force.
    pub strikes: usize,
    /// The end of the member's mute (the ladder's step, or a longer mute already set).
    pub expiry: Expiry,
}
