//! A cluster halted at an entry no node can apply, and the way out: an operator looks
//! at the entry ([`Replication::halted`]), decides it is to go, and removes it by id
//! ([`Replication::remove_halted`]); the stopped nodes then resume by themselves.
//!
//! The first node whose reader meets such an entry sets the halt key (`S:halted`) to
//! its id, and from then on Redis refuses every append (see `append`), so nothing is
//! answered with an error and applied once the entry is gone. Every node stops at the
//! entry and waits there (see `reader`), checking a few times a second whether the entry
//! is still in the stream. Once it is not, the node clears the halt key (if it still
//! names that entry) and reads on from the entry before it.

use redis::{Connection, Value};

use super::config::Replication;
use super::entry::{self, StreamId};
use super::link::{self, Purpose, connect, unavailable};
use super::{Keys, Replica};
use crate::error::Error;

/// The entry a replicated cluster is halted at, as [`Replication::halted`] shows it.
///
/// # Examples
///
/// ```no_run
/// use mutegate::Replication;
///
/// let redis = Replication::new("redis://127.0.0.1:6379");
/// if let Some(entry) = redis.halted()? {
///     println!("halted at {}: {}", entry.id, entry.problem.as_deref().unwrap_or("?"));
///     for (name, value) in &entry.fields {
///         println!("  {name} = {}", String::from_utf8_lossy(value));
///     }
///     // Only after deciding that this entry is to go:
///     redis.remove_halted(&entry.id)?;
/// }
/// # Ok::<(), mutegate::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HaltedEntry {
    /// The entry's stream id (what the halt key holds).
    pub id: String,
    /// Whether the entry is still in the stream (`false`: it was removed, and the
    /// nodes clear the halt key as they resume).
    pub in_stream: bool,
    /// The entry's fields in stream order: names (as text, lossily) and raw values.
    pub fields: Vec<(String, Vec<u8>)>,
    /// Why this build cannot apply the entry (a missing field, a newer format, an
    /// operation that does not decode); `None` if this build can read it, or it is not
    /// in the stream.
    pub problem: Option<String>,
}

/// Removes the halted entry and the halt key, only if the halt key names the entry
/// (`ARGV[1]`): `KEYS` halt key, stream. Returns `{1, removed}` (removed: entries
/// deleted, 0 if it was gone already) or `{0, what the halt key holds}` ('' if none).
const REMOVE_SCRIPT: &str = r"
local halted = redis.call('GET', KEYS[1])
if halted ~= ARGV[1] then
  return {0, halted or ''}
end
local removed = redis.pcall('XDEL', KEYS[2], ARGV[1])
if type(removed) ~= 'number' then
  removed = 0
end
redis.call('DEL', KEYS[1])
return {1, removed}
";

/// Deletes the halt key if it names `ARGV[1]` (a node resuming after the entry was
/// removed by hand): `KEYS` halt key.
const CLEAR_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

impl Replication {
    /// The entry this stream's cluster is halted at, if it is halted: every node stopped
    /// there (its [`Health::stopped`](crate::Health::stopped) names the entry) and Redis
    /// refuses every append until the entry is removed with
    /// [`remove_halted`](Replication::remove_halted). Reads only; changes nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] if Redis cannot be reached or answers unexpectedly.
    pub fn halted(&self) -> Result<Option<HaltedEntry>, Error> {
        let (keys, mut conn) = self.operator()?;
        let Some(id) = link::get(&mut conn, &keys.halted)? else {
            return Ok(None);
        };
        let found = entry_at(&keys.stream, &mut conn, &id)?;
        let in_stream = found.is_some();
        let problem = found.as_ref().and_then(|f| entry::decode(f).err());
        let fields = found
            .unwrap_or_default()
            .into_iter()
            .map(|(name, value)| (String::from_utf8_lossy(&name).into_owned(), value))
            .collect::<Vec<_>>();
        Ok(Some(HaltedEntry {
            in_stream,
            id,
            fields,
            problem,
        }))
    }

    /// Removes the entry `id` the cluster is halted at from the stream, with the halt
    /// key, in one step and only if the halt key names `id`: the operator's explicit
    /// decision, after looking at it with [`halted`](Replication::halted). The stopped
    /// nodes then resume by themselves within about a second, each from the entry
    /// before it, and apply what follows (the entry is skipped everywhere, as if it had
    /// never been written). Returns whether an entry was deleted (`false` if it was
    /// gone already; the halt key is removed either way).
    ///
    /// # Errors
    ///
    /// [`Error::NotHalted`] (and nothing is removed) if the cluster is not halted at
    /// `id`; [`Error::Unavailable`] if Redis cannot be reached.
    pub fn remove_halted(&self, id: &str) -> Result<bool, Error> {
        let (keys, mut conn) = self.operator()?;
        let reply: Value = redis::cmd("EVAL")
            .arg(REMOVE_SCRIPT)
            .arg(2)
            .arg(&keys.halted)
            .arg(&keys.stream)
            .arg(id)
            .query(&mut conn)
            .map_err(|e| unavailable(format_args!("removing entry {id}: {e}")))?;
        let unexpected = || {
            unavailable(format_args!(
                "removing entry {id}: Redis answered {reply:?}"
            ))
        };
        let Value::Array(items) = &reply else {
            return Err(unexpected());
        };
        match items.as_slice() {
            [Value::Int(1), Value::Int(removed)] => Ok(*removed > 0),
            [Value::Int(0), holds] => Err(Error::NotHalted {
                id: id.to_owned(),
                halted: link::text(holds).filter(|h| !h.is_empty()),
            }),
            _ => Err(unexpected()),
        }
    }

    /// The keys and a connection for an operator's call.
    fn operator(&self) -> Result<(Keys, Connection), Error> {
        let client = Replica::client(self)?;
        let conn = connect(&client, self.timeout, Purpose::Commands)?;
        Ok((Keys::new(&self.stream), conn))
    }
}

/// The fields of the entry `id` of `stream`, if it is there (an id that is not a stream
/// id names no entry).
fn entry_at(stream: &str, conn: &mut Connection, id: &str) -> Result<Option<link::Fields>, Error> {
    if StreamId::parse(id).is_none() {
        return Ok(None);
    }
    let reply: Value = redis::cmd("XRANGE")
        .arg(stream)
        .arg(id)
        .arg(id)
        .query(conn)
        .map_err(|e| unavailable(format_args!("XRANGE {stream} {id}: {e}")))?;
    let mut found =
        link::entries(reply).map_err(|e| unavailable(format_args!("XRANGE {stream} {id}: {e}")))?;
    Ok(found.pop().map(|(_, fields)| fields))
}

/// Sets the halt key to `id` unless it is set: from then on Redis refuses appends.
pub(super) fn set(keys: &Keys, conn: &mut Connection, id: &str) -> Result<(), Error> {
    redis::cmd("SET")
        .arg(&keys.halted)
        .arg(id)
        .arg("NX")
        .query::<Value>(conn)
        .map(drop)
        .map_err(|e| unavailable(format_args!("SET {}: {e}", keys.halted)))
}

/// Whether the entry `id` a node stopped at is gone from the stream, so the node may
/// resume. While it is there the halt key is kept set (set again if it was deleted
/// without the entry); once it is gone the halt key is deleted if it still names it.
pub(super) fn removed(keys: &Keys, conn: &mut Connection, id: &str) -> Result<bool, Error> {
    if StreamId::parse(id).is_none() {
        // Not an id Redis gives: no removal can be seen, so the node stays stopped.
        return Ok(false);
    }
    if entry_at(&keys.stream, conn, id)?.is_some() {
        set(keys, conn, id)?;
        return Ok(false);
    }
    redis::cmd("EVAL")
        .arg(CLEAR_SCRIPT)
        .arg(1)
        .arg(&keys.halted)
        .arg(id)
        .query::<Value>(conn)
        .map(drop)
        .map_err(|e| unavailable(format_args!("clearing {}: {e}", keys.halted)))?;
    Ok(true)
}
