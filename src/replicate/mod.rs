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
mod append;
mod apply;
mod checkpoint;
mod config;
mod entry;
mod halt;
mod journal;
mod link;
mod reader;
mod snapshot;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::{Client, Connection, Value};

pub use config::Replication;
pub use halt::HaltedEntry;
use reader::Reader;

use crate::Engine;
use crate::engine::EngineBuilder;
use crate::error::Error;
use crate::health::Monitor;
use crate::observe::Mutation;
use crate::write::{Batch, Derive, Finished, Pipeline, Slot, Stream};
use append::Appender;
use link::{connect, unavailable};

/// The Redis keys of one stream, named once (the README's "Running several nodes"
/// lists them).
#[derive(Clone)]
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
    /// Set (to an entry's id) by the first node that met an entry it could not apply:
    /// while it exists, every append is refused.
    pub halted: String,
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
            halted: key("halted"),
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
        let mut tries = 1;
        loop {
            let replica = Arc::new(Replica::connect(replication.clone())?);
            let mut engine = self.clone().build_with(Arc::new(Monitor::default()), false);
            if engine
                .inner
                .stream
                .set(Arc::clone(&replica) as Arc<dyn Stream>)
                .is_err()
            {
                unreachable!("a new engine has no replica yet");
            }
            let monitor = Arc::clone(&engine.pipeline().monitor);
            let publishing = reader::Publishing::Lease {
                builder: self.clone(),
                publisher: None,
                retired: Vec::new(),
            };
            let mut state = reader::State::new(Arc::clone(&replica), monitor, publishing);
            match state.catch_up(engine.pipeline()) {
                Ok(()) => {
                    let reader = Reader::spawn(state, Arc::clone(engine.pipeline()));
                    engine.attach(reader);
                    return Ok(engine);
                }
                // Trimmed past while catching up (a load slower than the liveness
                // window): start again from the newest snapshot, as a new node.
                Err(e) if state.behind && tries < JOIN_TRIES => {
                    crate::observe::replication_failed(&e);
                    state.forget();
                    tries += 1;
                }
                Err(e) => {
                    state.forget();
                    return Err(e);
                }
            }
        }
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
    announcer: announce::Announcer,
    /// This node's own durable copy of its state, if it keeps one.
    local: Option<checkpoint::Local>,
}

/// How many times a new engine starts catching up from the newest snapshot when the
/// stream is trimmed past it meanwhile.
const JOIN_TRIES: u32 = 3;

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
        let client = Replica::client(&config)?;
        let mut conn = connect(&client, config.timeout, config.appending())?;
        let node = new_node_id();
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
            appender: Mutex::new(Appender::new(conn)),
            parked: Mutex::new(HashMap::new()),
            applied: Mutex::new(apply::Applied::default()),
            announcer: announce::Announcer::default(),
            local,
        })
    }

    /// The link of this node's snapshot publisher (see `reader::publishing`): the same stream,
    /// client and epoch, its own op number and name, no local copy, no appends.
    fn publisher(&self) -> Replica {
        let node = new_node_id();
        let mut config = self.config.clone();
        config.local = None;
        Replica {
            config,
            client: self.client.clone(),
            node,
            me: format!("{}-snapshots", self.me),
            keys: self.keys.clone(),
            epoch: self.epoch.clone(),
            appender: Mutex::new(Appender::idle()),
            parked: Mutex::new(HashMap::new()),
            applied: Mutex::new(apply::Applied::default()),
            announcer: announce::Announcer::default(),
            local: None,
        }
    }

    /// The client for `config`'s URL (and, with `redis-tls`, its root certificate).
    fn client(config: &Replication) -> Result<Client, Error> {
        Replica::open(config).map_err(|e| unavailable(format_args!("Redis URL refused: {e}")))
    }

    /// [`Replica::client`], with redis-rs's own error.
    fn open(config: &Replication) -> redis::RedisResult<Client> {
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
        link::get(conn, &keys.epoch)
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
}

impl Stream for Replica {
    fn pump(
        &self,
        pipe: &Pipeline,
        batch: Batch,
        more_queued: &dyn Fn() -> bool,
    ) -> Option<Finished> {
        self.append_batch(pipe, batch, more_queued)
    }

    fn sweep_plan(&self, now: u64) -> (u64, Option<u64>) {
        self.announcer.sweep_plan(now)
    }

    fn swept(&self, now: u64) {
        self.announcer.swept(now);
    }
}

/// A node id of its own for a new link (random; its hex is the node's name).
fn new_node_id() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(Instant::now())
}
