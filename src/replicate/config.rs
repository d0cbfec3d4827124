//! [`Replication`]: where and how a replicated engine shares its state.

use std::time::Duration;

use super::link::Purpose;
#[cfg(doc)]
use crate::error::Error;

/// Where and how a replicated engine shares its state: a Redis URL and a stream key.
///
/// Every engine built with the same URL and stream is one cluster: a mutation made
/// through any of them is applied by all of them, in one order (the stream's).
///
/// What it guarantees: one shared order; read-your-writes on the calling node; checks
/// that never touch Redis; [`Error::Unavailable`] when Redis is away (mutations are
/// never queued silently); an exactly-once effect under duplicate delivery; lost history
/// detected through an epoch key and bad entries stopping the node with their stream id
/// ([`Error::Replication`]); snapshots published to Redis under a lease, with the
/// stream trimmed below them, for new and restarted nodes to start from; ended mutes
/// announced once per cluster by the holder of a lease; optionally a node's own durable
/// copy of its state ([`local_state`](Replication::local_state)). The README's
/// "Running several nodes" says what each failure costs. Acknowledgement by Redis
/// replicas is optional ([`acknowledged_by`](Replication::acknowledged_by)).
///
/// # Examples
///
/// ```no_run
/// use mutegate::{Engine, MuteFor, Replication, Target};
///
/// let a = Engine::builder().replicate(Replication::new("redis://127.0.0.1:6379"))?;
/// let b = Engine::builder().replicate(Replication::new("redis://127.0.0.1:6379"))?;
/// a.mute_members("lobby", ["bob"], MuteFor::minutes(10))?;
/// // `a` sees its own write at once; `b` within its replication lag.
/// assert!(!a.can_send("bob", Target::room("lobby")));
/// # Ok::<(), mutegate::Error>(())
/// ```
#[derive(Clone)]
pub struct Replication {
    pub(super) url: String,
    pub(super) stream: String,
    pub(super) timeout: Duration,
    pub(super) apply_timeout: Duration,
    pub(super) snapshot_every: u64,
    pub(super) snapshot_interval: Duration,
    /// Local checkpoints' cadence, if not the snapshots'.
    pub(super) checkpoint: Option<(u64, Duration)>,
    /// How often the stream is trimmed between snapshots, if not at the snapshots'
    /// interval.
    pub(super) trim_interval: Option<Duration>,
    pub(super) local: Option<std::path::PathBuf>,
    /// Redis replicas that must acknowledge each append (`WAIT`), and how long to wait.
    pub(super) replicas: Option<(u32, Duration)>,
    /// How many appends may be in flight at once.
    pub(super) pipeline: usize,
    /// A PEM root certificate to trust for `rediss://` instead of the system's.
    #[cfg_attr(not(feature = "redis-tls"), expect(dead_code, reason = "TLS only"))]
    pub(super) root_cert: Option<Vec<u8>>,
}

impl std::fmt::Debug for Replication {
    /// Shows the URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replication")
            .field("url", &redacted(&self.url))
            .field("stream", &self.stream)
            .field("timeout", &self.timeout)
            .field("apply_timeout", &self.apply_timeout)
            .field("snapshot_every", &self.snapshot_every)
            .field("snapshot_interval", &self.snapshot_interval)
            .field("checkpoint", &self.checkpoints())
            .field("trim_interval", &self.trim_interval())
            .field("local", &self.local)
            .field("replicas", &self.replicas)
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl Replication {
    /// After how many entries, or how long, a local checkpoint is written.
    pub(super) fn checkpoints(&self) -> (u64, Duration) {
        self.checkpoint
            .unwrap_or((self.snapshot_every, self.snapshot_interval))
    }

    /// How often the snapshot's holder trims the stream below the snapshot there.
    pub(super) fn trim_interval(&self) -> Duration {
        self.trim_interval.unwrap_or(self.snapshot_interval)
    }

    /// What the appending connection waits for beyond a reply: replicas' `WAIT`.
    pub(super) fn appending(&self) -> Purpose {
        match self.replicas {
            Some((_, wait)) => Purpose::Reading(wait),
            None => Purpose::Commands,
        }
    }
}

/// `url` with the password of its user info (`user:password@`) replaced by `***`.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let host_start = rest.find('/').unwrap_or(rest.len());
    match rest[..host_start].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

impl Replication {
    /// Entries between two snapshots unless [`snapshot_every`](Replication::snapshot_every)
    /// says otherwise.
    pub const DEFAULT_SNAPSHOT_EVERY: u64 = 100_000;
    /// The longest time between two snapshots unless
    /// [`snapshot_every`](Replication::snapshot_every) says otherwise.
    pub const DEFAULT_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(60);

    /// Replication through the Redis at `url` (`redis://[user:password@]host:port[/db]`,
    /// with a Redis ACL user and password, or `rediss://...` for TLS with the feature
    /// `redis-tls`), on the stream `mutegate:ops`.
    pub fn new(url: impl Into<String>) -> Replication {
        Replication {
            url: url.into(),
            stream: "mutegate:ops".into(),
            timeout: Duration::from_secs(2),
            apply_timeout: Duration::from_secs(5),
            snapshot_every: Replication::DEFAULT_SNAPSHOT_EVERY,
            snapshot_interval: Replication::DEFAULT_SNAPSHOT_INTERVAL,
            checkpoint: None,
            trim_interval: None,
            local: None,
            replicas: None,
            pipeline: 1,
            root_cert: None,
        }
    }

    /// How many appends (each a batch of queued mutations) may be in flight on the
    /// node's Redis connection at once, from 1 to 8 (default 1). With more than one, the
    /// next batch is sent before the last one's reply is read: worth it where the round
    /// trip, not Redis, is the cost (a Redis across a network). On one machine it did
    /// not pay: with `appendfsync always` Redis syncs once per batch it reads, and two
    /// in flight split 8 blocking writers into smaller syncs (0.84x the appends of one);
    /// with `everysec`, two gave 1.02x, within the noise (`BENCHMARKS.md`).
    #[must_use]
    pub fn pipeline(mut self, appends: usize) -> Replication {
        self.pipeline = appends.clamp(1, 8);
        self
    }

    /// Makes each append wait until `replicas` Redis replicas have it (Redis's `WAIT`,
    /// sent with the append in the same round trip), up to `timeout`: a mutation then
    /// returns `Ok` only once its entry is on the primary and that many replicas, so a
    /// failover to one of them keeps it. Without it (the default) a mutation returns
    /// once the primary has its entry (and, with `appendfsync always`, synced it).
    ///
    /// If fewer replicas acknowledge in time, the mutation fails with
    /// [`Error::Unavailable`] saying how many did — but, as Redis's `WAIT` never undoes
    /// a write, its entry is in the stream and every node applies it, this one included:
    /// the error says the acknowledgement is missing, not that the change is. Replies
    /// on the appending connection wait up to `timeout` longer than the usual
    /// [`timeout`](Replication::timeout).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use mutegate::{Engine, Replication};
    ///
    /// let engine = Engine::builder().replicate(
    ///     Replication::new("redis://10.0.0.5:6379")
    ///         .acknowledged_by(1, Duration::from_millis(100)),
    /// )?;
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    #[must_use]
    pub fn acknowledged_by(mut self, replicas: u32, timeout: Duration) -> Replication {
        self.replicas = (replicas > 0).then_some((replicas, timeout.max(Duration::from_millis(1))));
        self
    }

    /// Trusts this PEM root certificate (a private CA) for `rediss://` URLs instead of
    /// the system's trust store (feature `redis-tls`).
    #[cfg(feature = "redis-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-tls")))]
    #[must_use]
    pub fn tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Replication {
        self.root_cert = Some(pem.into());
        self
    }

    /// Keeps this node's own durable copy of its state in `dir` (created if missing,
    /// locked while the engine runs): a journal with one record per applied batch —
    /// its operations and the stream id they bring the node to, in the same record —
    /// and a checkpoint of the whole state with the id it covers, written at the
    /// snapshot cadence ([`snapshot_every`](Replication::snapshot_every)) and when the
    /// engine is dropped, which folds the journal. A restarted node (after a crash too)
    /// loads the checkpoint, replays the journal records that continue it, and reads
    /// only the entries after them. The journal is not synced per record: the stream
    /// holds every entry, so a power cut costs only re-reading the journal's lost tail.
    /// If the stream was trimmed past the node's position, it starts from the snapshot
    /// in Redis; if the stream lost the history the files belong to, it refuses to
    /// start ([`Error::Replication`]; remove the directory's files to rejoin). Without
    /// it (the default) a node starts from the snapshot in Redis and the stream after
    /// it.
    #[must_use]
    pub fn local_state(mut self, dir: impl Into<std::path::PathBuf>) -> Replication {
        self.local = Some(dir.into());
        self
    }

    /// How often a snapshot of the state is published to Redis (by one node at a time,
    /// under a lease): after `entries` new entries, or after `interval` if any came
    /// (default 100,000 entries or 60 s). After each, the stream is trimmed below the
    /// lowest position a live node reported, and never above the snapshot: a node that
    /// joins, or restarts, starts from the snapshot and reads only what follows it.
    #[must_use]
    pub fn snapshot_every(mut self, entries: u64, interval: Duration) -> Replication {
        self.snapshot_every = entries.max(1);
        self.snapshot_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// How often a node with [`local_state`](Self::local_state) writes its checkpoint
    /// (folding its journal): after `entries` new entries, or after `interval` if any
    /// came (default: the [`snapshot_every`](Self::snapshot_every) setting, itself
    /// 100,000 entries or 60 s by default). Each takes the state under the apply lock
    /// and writes it whole; the journal covers what comes between.
    #[must_use]
    pub fn checkpoint_every(mut self, entries: u64, interval: Duration) -> Replication {
        self.checkpoint = Some((entries.max(1), interval.max(Duration::from_millis(10))));
        self
    }

    /// How often the node holding the snapshot lease trims the stream below the
    /// published snapshot and the live nodes' positions when no snapshot is due
    /// (default: the [`snapshot_every`](Self::snapshot_every) interval, 60 s by
    /// default). Each published snapshot trims as well.
    #[must_use]
    pub fn trim_every(mut self, interval: Duration) -> Replication {
        self.trim_interval = Some(interval.max(Duration::from_millis(10)));
        self
    }

    /// The stream key (default `mutegate:ops`); its epoch key is `<stream>:epoch`.
    #[must_use]
    pub fn stream(mut self, key: impl Into<String>) -> Replication {
        self.stream = key.into();
        self
    }

    /// How long connecting, and each reply, may take before the call fails with
    /// [`Error::Unavailable`] (default 2 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Replication {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long a mutation whose entry Redis took waits for its own node to apply it
    /// before it returns [`Error::Unavailable`] (default 5 s). Its entry is in the
    /// stream: every node applies it when it reads that far.
    #[must_use]
    pub fn apply_timeout(mut self, timeout: Duration) -> Replication {
        self.apply_timeout = timeout;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_password() {
        let r = Replication::new("redis://mutegate:s3cret@10.0.0.5:6379/0");
        let shown = format!("{r:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("redis://mutegate:***@10.0.0.5:6379/0"),
            "{shown}"
        );
        assert_eq!(
            redacted("redis://127.0.0.1:6379/"),
            "redis://127.0.0.1:6379/"
        );
        assert_eq!(redacted("rediss://:pw@h:1"), "rediss://:***@h:1");
    }
}
