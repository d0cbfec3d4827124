//! Expiry announcements once per cluster.
//!
//! Every node reads an ended mute as absent at once (lazy expiry); only one node — the
//! holder of the lease `<stream>:announcer`, renewed about once a second and lost
//! [`LEASE`] after its holder stops renewing — announces ends with
//! [`Event::Expired`]. The announcer publishes how far it has announced (its sweep
//! time, ms) as `<stream>:announced`; the other nodes free ended entries silently only
//! up to that mark and keep the rest. A node that takes the lease over therefore still
//! holds every end its predecessor may not have announced, and announces it: each end
//! is announced once in steady state, at least once across an announcer's crash, and
//! an `Expired` event's mute and end are the same on every node, so consumers can drop
//! duplicates by them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::{Connection, Value};

use super::Replica;
use super::link::{self, unavailable};
use crate::error::Error;
use crate::event::Event;

/// How long the announcer lease lasts without renewal.
pub(crate) const LEASE: Duration = Duration::from_secs(3);

/// Raises `<stream>:announced` to `ARGV[1]`, never lowers it.
const RAISE: &str = r"
local now = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > now then
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
";

/// Deletes the lease `KEYS[1]` if `ARGV[1]` holds it.
const RESIGN: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// This node's part in announcing ends.
#[derive(Debug, Default)]
pub(crate) struct Announcer {
    /// Whether this node holds the lease.
    announcing: AtomicBool,
    /// Up to when (ms) the cluster's announcer has announced ends.
    mark: AtomicU64,
    /// Up to when this node, as announcer, has announced (its last sweep).
    announced: AtomicU64,
}

impl Announcer {
    /// What a sweep at `now` does: frees ends up to the first time silently (the
    /// cluster's announcer has announced them), then, if this node is the announcer,
    /// frees and announces ends up to the second.
    pub fn sweep_plan(&self, now: u64) -> (u64, Option<u64>) {
        let mark = now.min(self.mark.load(Ordering::Acquire));
        (mark, self.announcing.load(Ordering::Acquire).then_some(now))
    }

    /// The announcer swept (and announced) up to `now`.
    pub fn swept(&self, now: u64) {
        self.announced.fetch_max(now, Ordering::AcqRel);
    }

    /// Whether this node delivers `event` (only the announcer delivers ends).
    pub fn keeps(&self, event: &Event) -> bool {
        !matches!(event, Event::Expired { .. }) || self.announcing.load(Ordering::Acquire)
    }

    /// Takes or renews the lease; the announcer publishes its mark, the others read it.
    pub fn renew(&self, replica: &Replica, conn: &mut Connection) -> Result<(), Error> {
        let fail = |e: redis::RedisError| unavailable(format_args!("announcer lease: {e}"));
        // The mark first: a node that takes the lease over must not announce again what
        // its predecessor said it announced.
        let mark: Value = redis::cmd("GET")
            .arg(&replica.keys.announced)
            .query(conn)
            .map_err(fail)?;
        let mark = link::text(&mark).and_then(|t| t.parse().ok()).unwrap_or(0);
        self.mark.fetch_max(mark, Ordering::AcqRel);
        let mine = link::lease(conn, &replica.keys.announcer, &replica.me, LEASE)?;
        if mine {
            if self.announcing.swap(true, Ordering::AcqRel) {
                self.raise_mark(replica, conn).map_err(fail)?;
            }
        } else {
            self.announcing.store(false, Ordering::Release);
        }
        Ok(())
    }

    /// Publishes how far this node has announced.
    fn raise_mark(&self, replica: &Replica, conn: &mut Connection) -> redis::RedisResult<()> {
        let announced = self.announced.load(Ordering::Acquire);
        if announced == 0 {
            return Ok(());
        }
        redis::cmd("EVAL")
            .arg(RAISE)
            .arg(1)
            .arg(&replica.keys.announced)
            .arg(announced)
            .query::<Value>(conn)
            .map(drop)
    }

    /// Gives the lease up (the engine is being dropped), with its mark published:
    /// another node takes over at its next renewal instead of after the lease runs out.
    /// If this fails (Redis is away), the lease runs out instead and the next announcer
    /// repeats what this one announced since its last mark (at least once).
    pub fn resign(&self, replica: &Replica, conn: &mut Connection) -> Result<(), Error> {
        if !self.announcing.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        self.raise_mark(replica, conn)
            .and_then(|()| {
                redis::cmd("EVAL")
                    .arg(RESIGN)
                    .arg(1)
                    .arg(&replica.keys.announcer)
                    .arg(&replica.me)
                    .query::<Value>(conn)
                    .map(drop)
            })
            .map_err(|e| unavailable(format_args!("giving the announcer lease up: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_announcer_announces_and_the_others_free_up_to_its_mark() {
        let a = Announcer::default();
        assert_eq!(a.sweep_plan(1_000), (0, None));
        a.mark.store(400, Ordering::Release);
        assert_eq!(a.sweep_plan(1_000), (400, None));
        assert_eq!(a.sweep_plan(300), (300, None));
        let ended = Event::Expired {
            mute: crate::event::Mute::Room { room: "r".into() },
            at_ms: 5,
        };
        assert!(!a.keeps(&ended));
        a.announcing.store(true, Ordering::Release);
        assert_eq!(a.sweep_plan(1_000), (400, Some(1_000)));
        assert!(a.keeps(&ended));
    }
}
