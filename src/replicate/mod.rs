//! Many nodes, one state: replication over a Redis stream (feature `redis`).
//!
//! A replicated engine's sequencer is the stream. A mutation is validated on the
//! caller's thread and queued as usual; the pipeline appends each batch to the stream
//! in one script call (an `XADD` per operation, each entry carrying the encoded
//! operation with absolute expiries and an op id, see `entry`; with
//! [`Replication::pipeline`], the next batch may be sent before the last one's reply is
//! read). Every node's stream reader applies the
//! entries in stream order; the writing node applies its own batch as soon as Redis
//! answers, when nothing came between it and what the node applied (see `apply`). The
//! caller is answered once its own node applied its entry, so a check on that node
//! right after sees it (read your writes). Checks read local state only: they never
//! touch Redis, and keep answering from the last applied state when Redis is away.
//!
//! What this module does not do is listed in [`Replication`].

mod announce;
mod apply;
mod checkpoint;
mod entry;
mod journal;
mod link;
mod reader;
mod snapshot;

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::{Client, Connection, Value};
use smallvec::SmallVec;

pub(crate) use reader::Reader;

use crate::Engine;
use crate::engine::{EngineBuilder, Inner};
use crate::error::Error;
use crate::health::Monitor;
use crate::observe::Mutation;
use crate::write::{Answer, Batch, Derive, Finished, Slot};
use entry::StreamId;
use link::{Purpose, connect, unavailable};

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
    url: String,
    stream: String,
    timeout: Duration,
    apply_timeout: Duration,
    snapshot_every: u64,
    snapshot_interval: Duration,
    local: Option<std::path::PathBuf>,
    /// Redis replicas that must acknowledge each append (`WAIT`), and how long to wait.
    replicas: Option<(u32, Duration)>,
    /// How many appends may be in flight at once.
    pipeline: usize,
    /// A PEM root certificate to trust for `rediss://` instead of the system's.
    #[cfg_attr(not(feature = "redis-tls"), expect(dead_code, reason = "TLS only"))]
    root_cert: Option<Vec<u8>>,
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
            .field("local", &self.local)
            .field("replicas", &self.replicas)
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl Replication {
    /// What the appending connection waits for beyond a reply: replicas' `WAIT`.
    fn appending(&self) -> Purpose {
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
    /// Replication through the Redis at `url` (`redis://[user:password@]host:port[/db]`,
    /// with a Redis ACL user and password, or `rediss://...` for TLS with the feature
    /// `redis-tls`), on the stream `mutegate:ops`.
    pub fn new(url: impl Into<String>) -> Replication {
        Replication {
            url: url.into(),
            stream: "mutegate:ops".into(),
            timeout: Duration::from_secs(2),
            apply_timeout: Duration::from_secs(5),
            snapshot_every: 100_000,
            snapshot_interval: Duration::from_secs(60),
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

/// The Redis keys of one stream, named once (the README's "Running several nodes"
/// lists them).
pub(crate) struct Keys {
    /// The stream itself.
    pub stream: String,
    /// The stream's epoch: changes only when its history is lost.
    pub epoch: String,
    /// The published snapshot (a hash; see `snapshot`).
    pub snapshot: String,
    /// The lease of the node that publishes snapshots.
    pub snapshot_lease: String,
    /// Each reader's position (a hash; see `snapshot`).
    pub nodes: String,
    /// The lease of the node that announces ended mutes.
    pub announcer: String,
    /// How far the announcer has announced (see `announce`).
    pub announced: String,
}

impl Keys {
    fn new(stream: &str) -> Keys {
        let key = |suffix: &str| format!("{stream}:{suffix}");
        Keys {
            stream: stream.to_owned(),
            epoch: key("epoch"),
            snapshot: key("snapshot"),
            snapshot_lease: key("snapshot-lease"),
            nodes: key("nodes"),
            announcer: key("announcer"),
            announced: key("announced"),
        }
    }
}

impl EngineBuilder {
    /// Builds a replicated engine: its state is the stream's (read whole before this
    /// returns), and its mutations go through the stream (see [`Replication`]).
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] if Redis cannot be reached or refuses the URL's
    /// credentials; [`Error::Replication`] if an entry of the stream cannot be applied.
    pub fn replicate(self, replication: Replication) -> Result<Engine, Error> {
        let replica = Arc::new(Replica::connect(replication)?);
        let mut engine = self.build_with(Arc::new(Monitor::default()), false);
        if engine.inner.replica.set(Arc::clone(&replica)).is_err() {
            unreachable!("a new engine has no replica yet");
        }
        let mut state = reader::State::new(replica);
        state.catch_up(&engine.inner)?;
        engine._reader = Some(Reader::spawn(state, Arc::clone(&engine.inner)));
        Ok(engine)
    }
}

/// A caller waiting for its node to apply its entry.
struct Parked {
    slot: Option<Arc<Slot>>,
    mutation: Mutation,
    derive: Derive,
    since: Instant,
    /// The answer, kept while the replicas' acknowledgement is awaited (the reader
    /// applied the entry before it came).
    held: Option<Result<crate::write::Outcome, Error>>,
    /// The replicas acknowledged the entry: whoever applies it answers at once.
    acknowledged: bool,
}

/// The writer's connection and numbering (touched by the pipeline's leader only).
struct Appender {
    conn: Option<Connection>,
    /// The last op number given out.
    seq: u64,
    /// While connecting fails: no attempt before this.
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Batches sent on `conn` whose replies have not been read yet, oldest first.
    in_flight: VecDeque<InFlight>,
}

/// A batch sent to Redis, waiting for its reply.
struct InFlight {
    seqs: SmallVec<[u64; 8]>,
    /// Its entries, for applying them at once when the reply allows.
    entries: Vec<entry::Entry>,
}

/// A replicated engine's link to its stream, shared by the pipeline and the reader.
pub(crate) struct Replica {
    config: Replication,
    client: Client,
    /// This engine's id in op ids (random per engine).
    node: u64,
    /// `node` as entries, leases and positions name it: 16 lowercase hex digits.
    me: String,
    /// The keys of the stream and its companions.
    keys: Keys,
    /// The stream's epoch when this engine joined: a different one means the history
    /// it applied is gone.
    epoch: String,
    appender: Mutex<Appender>,
    parked: Mutex<HashMap<u64, Parked>>,
    /// What this node applied; locked before the stripes by whoever applies.
    applied: Mutex<apply::Applied>,
    /// This node's part in announcing ended mutes once per cluster.
    pub(crate) announcer: announce::Announcer,
    /// This node's own durable copy of its state, if it keeps one.
    local: Option<checkpoint::Local>,
}

/// What Redis answers an append whose epoch is not the stream's.
const EPOCH_REFUSAL: &str = "MUTEGATE_EPOCH";

/// Appends a batch only if the stream still has the history its writer joined (the
/// epoch key holds the epoch it read): an append can never land on a stream that lost
/// entries its node applied. `KEYS`: stream, epoch key; `ARGV`: the epoch, then per
/// entry its field count and its fields. Returns the id of the entry before the batch
/// (`0-0` if none), then the new ids.
const APPEND_SCRIPT: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('MUTEGATE_EPOCH the epoch key changed')
end
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local ids = {newest[1] and newest[1][1] or '0-0'}
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return ids
";

/// Whether `e` leaves the connection unusable (and the replies in flight on it lost).
fn lost(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped()
}

/// What [`APPEND_SCRIPT`] answered: the id before the batch, then the batch's ids.
fn appended_ids(reply: &Value) -> Option<(StreamId, Vec<StreamId>)> {
    let Value::Array(items) = reply else {
        return None;
    };
    let mut ids = items.iter().map(|item| StreamId::parse(&link::text(item)?));
    let before = ids.next()??;
    Some((before, ids.collect::<Option<_>>()?))
}

/// How long a failed connection waits before the next try, at first and at most.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl Replica {
    fn connect(config: Replication) -> Result<Replica, Error> {
        let local = config
            .local
            .as_deref()
            .map(checkpoint::Local::open)
            .transpose()?;
        let client = Replica::client(&config)
            .map_err(|e| unavailable(format_args!("Redis URL refused: {e}")))?;
        let mut conn = connect(&client, config.timeout, config.appending())?;
        let node = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
        let me = format!("{node:016x}");
        let keys = Keys::new(&config.stream);
        // The first engine of a cluster names its epoch; every later one reads it.
        let _: Value = redis::cmd("SET")
            .arg(&keys.epoch)
            .arg(&me)
            .arg("NX")
            .query(&mut conn)
            .map_err(|e| unavailable(format_args!("SET {}: {e}", keys.epoch)))?;
        let epoch = Replica::read_epoch(&keys, &mut conn)?
            .ok_or_else(|| unavailable(format_args!("{} vanished", keys.epoch)))?;
        Ok(Replica {
            config,
            client,
            node,
            me,
            keys,
            epoch,
            appender: Mutex::new(Appender {
                conn: Some(conn),
                seq: 0,
                retry_at: None,
                backoff: FIRST_BACKOFF,
                in_flight: VecDeque::new(),
            }),
            parked: Mutex::new(HashMap::new()),
            applied: Mutex::new(apply::Applied::default()),
            announcer: announce::Announcer::default(),
            local,
        })
    }

    /// The client for `config`'s URL (and, with `redis-tls`, its root certificate).
    fn client(config: &Replication) -> redis::RedisResult<Client> {
        #[cfg(feature = "redis-tls")]
        {
            // redis-rs takes rustls's process-wide crypto provider: ring's, unless the
            // embedder installed one already (then this does nothing).
            let _ = rustls::crypto::ring::default_provider().install_default();
            if let Some(pem) = &config.root_cert {
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                };
                return Client::build_with_tls(config.url.as_str(), certs);
            }
        }
        Client::open(config.url.as_str())
    }

    fn read_epoch(keys: &Keys, conn: &mut Connection) -> Result<Option<String>, Error> {
        let value: Value = redis::cmd("GET")
            .arg(&keys.epoch)
            .query(conn)
            .map_err(|e| unavailable(format_args!("GET {}: {e}", keys.epoch)))?;
        Ok(link::text(&value))
    }

    /// Checks that the stream still has the history this engine joined: its epoch key
    /// is the one it read when it was built.
    fn check_epoch(&self, conn: &mut Connection, applied: &str) -> Result<(), Error> {
        let now = Replica::read_epoch(&self.keys, conn)?;
        if now.as_deref() == Some(self.epoch.as_str()) {
            return Ok(());
        }
        Err(Error::Replication {
            id: applied.to_owned(),
            what: format!(
                "the stream lost its history: {} is {} (was {}); Redis restarted without its \
                 data, or failed over to a copy that lacked it",
                self.keys.epoch,
                now.map_or_else(|| "missing".to_owned(), |e| format!("{e:?}")),
                self.epoch
            ),
        })
    }

    /// A connection for `XADD`s: the open one, or a new one unless the last attempt
    /// failed too recently.
    fn appending<'a>(&self, appender: &'a mut Appender) -> Result<&'a mut Connection, Error> {
        if appender.conn.is_none() {
            if let Some(at) = appender.retry_at
                && Instant::now() < at
            {
                return Err(unavailable(
                    "Redis is unreachable; reconnecting with backoff",
                ));
            }
            let attempt = connect(&self.client, self.config.timeout, self.config.appending())
                .and_then(|mut conn| self.check_epoch(&mut conn, "(appending)").map(|()| conn));
            match attempt {
                Ok(conn) => {
                    appender.conn = Some(conn);
                    appender.retry_at = None;
                    appender.backoff = FIRST_BACKOFF;
                }
                Err(e) => {
                    appender.retry_at = Some(Instant::now() + appender.backoff);
                    appender.backoff = (appender.backoff * 2).min(MAX_BACKOFF);
                    return Err(e);
                }
            }
        }
        Ok(appender.conn.as_mut().expect("connected above"))
    }

    /// Appends `batch` to the stream and reads Redis's replies (held by the pipeline's
    /// leader). With a pipeline deeper than one, appends overlap: a batch is sent before
    /// the reply to the one sent before it is read, and a leader leaves up to
    /// `pipeline - 1` batches in flight for the next leader when `more_queued` says
    /// there is one (a caller waiting for its
    /// answer leads again within a millisecond, and the sequencer thread leads until
    /// nothing is in flight). A batch whose reply says nothing came between it and what
    /// this node applied is applied at once; otherwise the reader applies it. Callers
    /// whose entries Redis did not take are answered here with the error. `None` if
    /// there was nothing to send or read.
    pub(crate) fn pump(
        &self,
        inner: &Inner,
        batch: Batch,
        more_queued: impl Fn() -> bool,
    ) -> Option<Finished> {
        let mut answers = SmallVec::new();
        let mut appender = self.appender.lock();
        let appender = &mut *appender;
        if batch.is_empty() && appender.in_flight.is_empty() {
            return None;
        }
        if !batch.is_empty() {
            self.send(inner, appender, batch, &mut answers);
        }
        while let Some(oldest) = appender.in_flight.pop_front() {
            if appender.in_flight.len() < self.config.pipeline - 1 && more_queued() {
                appender.in_flight.push_front(oldest);
                break;
            }
            self.receive(inner, appender, oldest, &mut answers);
        }
        Some(Finished {
            answers,
            events: Vec::new(),
        })
    }

    /// Sends `batch` as one script call, its callers parked until their entries are
    /// applied; or answers them with the error if it cannot be sent.
    fn send(
        &self,
        inner: &Inner,
        appender: &mut Appender,
        batch: Batch,
        answers: &mut SmallVec<[Answer; 4]>,
    ) {
        let fail = |batch: Batch, error: &Error, answers: &mut SmallVec<_>| {
            answers.extend(
                batch
                    .into_iter()
                    .map(|r| (r.slot, r.mutation, Err(error.clone()))),
            );
        };
        if let Some(stopped) = inner.monitor.stopped() {
            return fail(batch, &stopped, answers);
        }
        if let Err(e) = self.appending(appender) {
            inner.monitor.replication_failed(e.clone());
            return fail(batch, &e, answers);
        }
        let mut append = redis::cmd("EVAL");
        append
            .arg(APPEND_SCRIPT)
            .arg(2)
            .arg(&self.keys.stream)
            .arg(&self.keys.epoch)
            .arg(&self.epoch);
        let mut seqs: SmallVec<[u64; 8]> = SmallVec::new();
        let mut entries = Vec::with_capacity(batch.len());
        {
            let mut parked = self.parked.lock();
            let since = Instant::now();
            for request in batch {
                appender.seq += 1;
                let seq = appender.seq;
                let fields = entry::encode(&self.me, seq, &request.check, request.now, &request.op);
                append.arg(fields.len() * 2);
                for (name, value) in fields {
                    append.arg(name).arg(value);
                }
                parked.insert(
                    seq,
                    Parked {
                        slot: request.slot,
                        mutation: request.mutation,
                        derive: request.derive,
                        since,
                        held: None,
                        acknowledged: false,
                    },
                );
                seqs.push(seq);
                entries.push(entry::Entry {
                    node: self.node,
                    seq,
                    check: request.check,
                    at: request.now,
                    op: request.op,
                });
            }
        }
        let conn = appender.conn.as_mut().expect("connected above");
        appender.in_flight.push_back(InFlight { seqs, entries });
        let mut packed = append.get_packed_command();
        if let Some((replicas, wait)) = self.config.replicas {
            redis::cmd("WAIT")
                .arg(replicas)
                .arg(wait.as_millis() as u64)
                .write_packed_command(&mut packed);
        }
        if let Err(e) = conn.send_packed_command(&packed) {
            let error = unavailable(format_args!("appending to {}: {e}", self.keys.stream));
            self.lost_connection(inner, appender, &error, answers);
        }
    }

    /// Reads the reply to `sent`: applies its entries if nothing came between them and
    /// what this node applied, else leaves them to the reader; answers its callers with
    /// the error if Redis refused the batch or the reply was lost.
    fn receive(
        &self,
        inner: &Inner,
        appender: &mut Appender,
        sent: InFlight,
        answers: &mut SmallVec<[Answer; 4]>,
    ) {
        let Some(conn) = appender.conn.as_mut() else {
            return self.fail_parked(&sent.seqs, &unavailable("the connection was lost"), answers);
        };
        let appended = conn.recv_response().and_then(Value::extract_error);
        // The replicas' count follows the append's reply, whatever that was (unless the
        // connection is gone): read it so the connection stays in step.
        let acknowledged = match (self.config.replicas, &appended) {
            (Some(_), Err(e)) if lost(e) => None,
            (Some(_), _) => Some(conn.recv_response().and_then(|v| {
                let v = v.extract_error()?;
                redis::from_redis_value::<u32>(v).map_err(redis::RedisError::from)
            })),
            (None, _) => None,
        };
        let e = match (appended, acknowledged) {
            (Ok(reply), None) => return self.applied_here(inner, &reply, sent),
            (Ok(reply), Some(Ok(got))) => {
                let (wanted, wait) = self.config.replicas.expect("asked for replicas");
                if got < wanted {
                    let error = unavailable(format_args!(
                        "{got} of the {wanted} Redis replicas asked for acknowledged the entry \
                         within {wait:?}; it is in the stream all the same, and every node \
                         applies it"
                    ));
                    inner.monitor.replication_failed(error.clone());
                    self.fail_parked(&sent.seqs, &error, answers);
                }
                let seqs = sent.seqs.clone();
                self.applied_here(inner, &reply, sent);
                // Those the reader applied while the acknowledgement was awaited are
                // answered now; the rest by whoever applies them (acknowledged).
                let mut parked = self.parked.lock();
                for seq in seqs {
                    let Some(p) = parked.get_mut(&seq) else {
                        continue;
                    };
                    p.acknowledged = true;
                    if let Some(answer) = p.held.take() {
                        let p = parked.remove(&seq).expect("looked up above");
                        answers.push((p.slot, p.mutation, answer));
                    }
                }
                return;
            }
            (Ok(_), Some(Err(e))) | (Err(e), _) => e,
        };
        if e.to_string().contains(EPOCH_REFUSAL) {
            let error = Error::Replication {
                id: "(appending)".into(),
                what: format!(
                    "the stream lost its history: {} is no longer {} ({e}); Redis restarted \
                     without its data, or failed over to a copy that lacked it",
                    self.keys.epoch, self.epoch
                ),
            };
            inner.monitor.stop(error.clone());
            return self.fail_parked(&sent.seqs, &error, answers);
        }
        let error = unavailable(format_args!("appending to {}: {e}", self.keys.stream));
        if lost(&e) {
            appender.in_flight.push_front(sent);
            self.lost_connection(inner, appender, &error, answers);
        } else {
            inner.monitor.replication_failed(error.clone());
            self.fail_parked(&sent.seqs, &error, answers);
        }
    }

    /// Applies `sent` at once if Redis's `reply` says nothing came between it and what
    /// this node applied; else leaves it to the reader.
    fn applied_here(&self, inner: &Inner, reply: &Value, sent: InFlight) {
        if let Some((before, ids)) = appended_ids(reply) {
            self.apply_own(inner, before, &ids, sent.entries);
        }
    }

    /// Drops the appending connection after `error`: the replies to every batch in
    /// flight on it are lost, and their callers (those the reader has not answered:
    /// their entries may still be in the stream, see `Error::Unavailable`) get `error`.
    fn lost_connection(
        &self,
        inner: &Inner,
        appender: &mut Appender,
        error: &Error,
        answers: &mut SmallVec<[Answer; 4]>,
    ) {
        appender.conn = None;
        inner.monitor.replication_failed(error.clone());
        for sent in appender.in_flight.drain(..) {
            self.fail_parked(&sent.seqs, error, answers);
        }
    }

    /// Answers with `error` the callers of `seqs` the reader has not answered.
    fn fail_parked(&self, seqs: &[u64], error: &Error, answers: &mut SmallVec<[Answer; 4]>) {
        let mut parked = self.parked.lock();
        for seq in seqs {
            if let Some(p) = parked.remove(seq) {
                answers.push((p.slot, p.mutation, Err(error.clone())));
            }
        }
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
