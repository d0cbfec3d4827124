//! Appending: the pipeline's leader sends each batch to the stream in one script call
//! fenced by the stream's epoch, reads Redis's replies in order, applies its own batch
//! when nothing came between (see `apply`), and answers the callers whose entries Redis
//! did not take.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use redis::{Connection, Value};
use smallvec::SmallVec;

use super::entry::{self, StreamId};
use super::link::{self, EPOCH_REFUSAL, connect, unavailable};
use super::{FIRST_BACKOFF, MAX_BACKOFF, Parked, Replica};
use crate::error::Error;
use crate::write::Pipeline;
use crate::write::{Answer, Batch, Finished};

/// The writer's connection and numbering (touched by the pipeline's leader only).
pub(super) struct Appender {
    pub(super) conn: Option<Connection>,
    /// The last op number given out.
    pub(super) seq: u64,
    /// While connecting fails: no attempt before this.
    pub(super) retry_at: Option<Instant>,
    pub(super) backoff: Duration,
    /// Batches sent on `conn` whose replies have not been read yet, oldest first.
    pub(super) in_flight: VecDeque<InFlight>,
}

impl Appender {
    /// An appender that never appends (a snapshot publisher's: it has no writers).
    pub(super) fn idle() -> Appender {
        Appender {
            conn: None,
            seq: 0,
            retry_at: None,
            backoff: FIRST_BACKOFF,
            in_flight: VecDeque::new(),
        }
    }

    /// An appender on `conn`, nothing sent yet.
    pub(super) fn new(conn: Connection) -> Appender {
        Appender {
            conn: Some(conn),
            seq: 0,
            retry_at: None,
            backoff: FIRST_BACKOFF,
            in_flight: VecDeque::new(),
        }
    }
}

/// A batch sent to Redis, waiting for its reply.
pub(super) struct InFlight {
    seqs: SmallVec<[u64; 8]>,
    /// Its entries, for applying them at once when the reply allows.
    entries: Vec<entry::Entry>,
    /// This node's position when it was sent (what the script fenced on).
    position: StreamId,
}

/// What Redis answers an append from a node whose position the stream was trimmed
/// past (it would apply the batch across a gap it can never read).
const BEHIND_REFUSAL: &str = "MUTEGATE_BEHIND";

/// What Redis answers an append while a node has halted the cluster at an entry it
/// could not apply (the halt key holds that entry's id).
const HALTED_REFUSAL: &str = "MUTEGATE_HALTED";

/// Appends a batch only where every node that applies it can also apply what came
/// before it, so a refused append is one that no node will ever apply:
///
/// - the stream still has the history its writer joined (the epoch key holds the
///   epoch it read);
/// - no node halted the cluster at an entry it could not apply (the halt key is
///   absent);
/// - the stream was not trimmed past the writer's position (`trimmed` in the snapshot
///   hash is not above it): a node that was frozen past the liveness window cannot
///   append what it would then fail to apply.
///
/// It then records the writer's position as a heartbeat, so the trim waits for its
/// reader to apply what it appended. `KEYS`: stream, epoch key, snapshot hash, halt
/// key, nodes hash; `ARGV`: the epoch, the writer's position (ms, seq), the writer's
/// name, then per entry its field count and its fields. Returns the id of the entry
/// before the batch (`0-0` if none), then the new ids.
const APPEND_SCRIPT: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('MUTEGATE_EPOCH the epoch key changed')
end
local halted = redis.call('GET', KEYS[4])
if halted then
  return redis.error_reply('MUTEGATE_HALTED ' .. halted)
end
local pos_ms, pos_seq = tonumber(ARGV[2]), tonumber(ARGV[3])
local trimmed = redis.call('HGET', KEYS[3], 'trimmed')
if trimmed then
  local ms, seq = string.match(trimmed, '^(%d+)-(%d+)$')
  ms, seq = tonumber(ms), tonumber(seq)
  if ms and (ms > pos_ms or (ms == pos_ms and seq > pos_seq)) then
    return redis.error_reply('MUTEGATE_BEHIND ' .. trimmed)
  end
end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('HSET', KEYS[5], ARGV[4], ARGV[2] .. '-' .. ARGV[3] .. ' ' .. now)
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local ids = {newest[1] and newest[1][1] or '0-0'}
local i = 5
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return ids
";

/// The error for an append Redis refused by one of [`APPEND_SCRIPT`]'s fences, if `e`
/// is one: the batch was not appended, so no node ever applies it.
fn fenced(replica: &Replica, position: StreamId, e: &redis::RedisError) -> Option<Error> {
    let text = e.to_string();
    let detail = |tag: &str| {
        let at = text.find(tag)? + tag.len();
        // The id that follows the tag, however the client quotes the reply.
        let rest = text[at..].trim_start_matches(|c: char| !c.is_ascii_digit());
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '-'))
            .unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    };
    if text.contains(EPOCH_REFUSAL) {
        return Some(Error::Replication {
            id: "(appending)".into(),
            what: format!(
                "the stream lost its history: {} is no longer {} ({e}); Redis restarted \
                 without its data, or failed over to a copy that lacked it; the batch was \
                 not appended",
                replica.keys.epoch, replica.epoch
            ),
        });
    }
    if let Some(trimmed) = detail(BEHIND_REFUSAL) {
        return Some(Error::Replication {
            id: position.to_string(),
            what: format!(
                "the stream was trimmed below {trimmed}, past this node's position: it was \
                 silent (stalled or cut off) for over {} s, and the batch was not appended; \
                 build the engine again: a new one starts from the published snapshot",
                super::snapshot::FRESH_MS / 1000
            ),
        });
    }
    let halted = detail(HALTED_REFUSAL)?;
    Some(Error::Replication {
        id: halted.clone(),
        what: format!(
            "replication is halted cluster-wide at entry {halted}, which a node could not \
             apply ({} is set); the batch was not appended. An operator can look at the \
             entry with `Replication::halted` and remove it with `Replication::remove_halted`",
            replica.keys.halted
        ),
    })
}

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

impl Replica {
    /// A connection for `XADD`s: the open one, or a new one unless the last attempt
    /// failed too recently.
    pub(super) fn appending<'a>(
        &self,
        appender: &'a mut Appender,
    ) -> Result<&'a mut Connection, Error> {
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
    pub(super) fn append_batch(
        &self,
        pipe: &Pipeline,
        batch: Batch,
        more_queued: &dyn Fn() -> bool,
    ) -> Option<Finished> {
        let mut answers = SmallVec::new();
        let mut appender = self.appender.lock();
        let appender = &mut *appender;
        if batch.is_empty() && appender.in_flight.is_empty() {
            return None;
        }
        if !batch.is_empty() {
            self.send(pipe, appender, batch, &mut answers);
        }
        while let Some(oldest) = appender.in_flight.pop_front() {
            if appender.in_flight.len() < self.config.pipeline - 1 && more_queued() {
                appender.in_flight.push_front(oldest);
                break;
            }
            self.receive(pipe, appender, oldest, &mut answers);
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
        pipe: &Pipeline,
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
        if let Some(stopped) = pipe.monitor.stopped() {
            return fail(batch, &stopped, answers);
        }
        if let Err(e) = self.appending(appender) {
            pipe.monitor.replication_failed(e.clone());
            return fail(batch, &e, answers);
        }
        // The leader's lock is taken before the applied one wherever both are held.
        let position = self.applied.lock().last;
        let mut append = redis::cmd("EVAL");
        append
            .arg(APPEND_SCRIPT)
            .arg(5)
            .arg(&self.keys.stream)
            .arg(&self.keys.epoch)
            .arg(&self.keys.snapshot)
            .arg(&self.keys.halted)
            .arg(&self.keys.nodes)
            .arg(&self.epoch)
            .arg(position.ms)
            .arg(position.seq)
            .arg(&self.me);
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
        appender.in_flight.push_back(InFlight {
            seqs,
            entries,
            position,
        });
        let mut packed = append.get_packed_command();
        if let Some((replicas, wait)) = self.config.replicas {
            redis::cmd("WAIT")
                .arg(replicas)
                .arg(wait.as_millis() as u64)
                .write_packed_command(&mut packed);
        }
        if let Err(e) = conn.send_packed_command(&packed) {
            let error = unavailable(format_args!("appending to {}: {e}", self.keys.stream));
            self.lost_connection(pipe, appender, &error, answers);
        }
    }

    /// Reads the reply to `sent`: applies its entries if nothing came between them and
    /// what this node applied, else leaves them to the reader; answers its callers with
    /// the error if Redis refused the batch or the reply was lost.
    fn receive(
        &self,
        pipe: &Pipeline,
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
            (Ok(reply), None) => return self.applied_here(pipe, &reply, sent.entries),
            (Ok(reply), Some(Ok(got))) => {
                let (wanted, wait) = self.config.replicas.expect("asked for replicas");
                if got < wanted {
                    let error = unavailable(format_args!(
                        "{got} of the {wanted} Redis replicas asked for acknowledged the entry \
                         within {wait:?}; it is in the stream all the same, and every node \
                         applies it"
                    ));
                    pipe.monitor.replication_failed(error.clone());
                    self.fail_parked(&sent.seqs, &error, answers);
                }
                let InFlight { seqs, entries, .. } = sent;
                self.applied_here(pipe, &reply, entries);
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
        if let Some(error) = fenced(self, sent.position, &e) {
            // A halted cluster is one this node's reader stops at too, and waits at
            // until the entry is removed (see `halt`); the other fences are for good.
            if !e.to_string().contains(HALTED_REFUSAL) {
                pipe.monitor.stop(error.clone());
            }
            return self.fail_parked(&sent.seqs, &error, answers);
        }
        let error = unavailable(format_args!("appending to {}: {e}", self.keys.stream));
        if lost(&e) {
            appender.in_flight.push_front(sent);
            self.lost_connection(pipe, appender, &error, answers);
        } else {
            pipe.monitor.replication_failed(error.clone());
            self.fail_parked(&sent.seqs, &error, answers);
        }
    }

    /// Applies a batch's `entries` at once if Redis's `reply` says nothing came between it and what
    /// this node applied; else leaves it to the reader.
    fn applied_here(&self, pipe: &Pipeline, reply: &Value, entries: Vec<entry::Entry>) {
        if let Some((before, ids)) = appended_ids(reply) {
            self.apply_own(pipe, before, &ids, entries);
        }
    }

    /// Drops the appending connection after `error`: the replies to every batch in
    /// flight on it are lost, and their callers (those the reader has not answered:
    /// their entries may still be in the stream, see `Error::Unavailable`) get `error`.
    fn lost_connection(
        &self,
        pipe: &Pipeline,
        appender: &mut Appender,
        error: &Error,
        answers: &mut SmallVec<[Answer; 4]>,
    ) {
        appender.conn = None;
        pipe.monitor.replication_failed(error.clone());
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
