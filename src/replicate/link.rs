//! Connections to Redis: opened with timeouts, checked against the stream's history
//! before use, and the replies this module reads (stream entries, ids).

use std::time::Duration;

use redis::{Client, Connection, Value};

use super::entry::StreamId;
use crate::error::Error;

/// What Redis answers a script (an append, a snapshot's upload) run with an epoch
/// that is not the stream's.
pub(crate) const EPOCH_REFUSAL: &str = "MUTEGATE_EPOCH";

/// What a connection is for: its reply timeout must outlast any `BLOCK` it sends.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Purpose {
    /// `XADD`s and small commands.
    Commands,
    /// Blocking `XREAD`s of up to this long.
    Reading(Duration),
}

/// A connection failure, as mutations see it.
pub(crate) fn unavailable(what: impl std::fmt::Display) -> Error {
    Error::Unavailable {
        what: what.to_string(),
    }
}

/// Opens a connection for `purpose`, within `timeout` (connect, and each reply beyond
/// any block time).
pub(crate) fn connect(
    client: &Client,
    timeout: Duration,
    purpose: Purpose,
) -> Result<Connection, Error> {
    let conn = client
        .get_connection_with_timeout(timeout)
        .map_err(|e| unavailable(format_args!("connecting to Redis: {e}")))?;
    let reply = match purpose {
        Purpose::Commands => timeout,
        // redis-rs's reply timeout would cut a blocking read short: it waits for the
        // block time plus the usual timeout.
        Purpose::Reading(block) => block + timeout,
    };
    conn.set_read_timeout(Some(reply))
        .and_then(|()| conn.set_write_timeout(Some(timeout)))
        .map_err(|e| unavailable(format_args!("setting Redis timeouts: {e}")))?;
    Ok(conn)
}

/// The text of a bulk or simple string reply.
pub(crate) fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn bytes(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}

/// What the string key `key` holds, if it is set.
pub(crate) fn get(conn: &mut Connection, key: &str) -> Result<Option<String>, Error> {
    let value: Value = redis::cmd("GET")
        .arg(key)
        .query(conn)
        .map_err(|e| unavailable(format_args!("GET {key}: {e}")))?;
    Ok(text(&value))
}

/// A stream entry's fields: names and values as bytes.
pub(crate) type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// One stream entry as read: its id and its fields.
pub(crate) type RawEntry = (String, Fields);

/// The entries of an `XRANGE`-shaped reply: `[[id, [field, value, ...]], ...]`.
pub(crate) fn entries(value: Value) -> Result<Vec<RawEntry>, String> {
    let Value::Array(items) = value else {
        return match value {
            Value::Nil => Ok(Vec::new()),
            other => Err(format!("expected stream entries, got {other:?}")),
        };
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(mut pair) = item else {
            return Err("a stream entry is not an [id, fields] pair".into());
        };
        if pair.len() != 2 {
            return Err("a stream entry is not an [id, fields] pair".into());
        }
        let flat = pair.pop().expect("two items");
        let id = text(&pair[0]).ok_or("a stream entry id is not a string")?;
        let flat = match flat {
            Value::Array(flat) => flat,
            // An entry deleted from the stream but still referenced.
            Value::Nil => Vec::new(),
            other => return Err(format!("stream entry {id} has fields {other:?}")),
        };
        let mut fields = Vec::with_capacity(flat.len() / 2);
        let mut it = flat.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            match (bytes(k), bytes(v)) {
                (Some(k), Some(v)) => fields.push((k, v)),
                _ => {
                    return Err(format!(
                        "stream entry {id} has a field that is not a string"
                    ));
                }
            }
        }
        out.push((id, fields));
    }
    Ok(out)
}

/// The entries of an `XREAD` reply for one stream: `[[key, entries]]` (RESP2) or
/// `{key: entries}` (RESP3); nothing on a timeout.
pub(crate) fn read_reply(value: Value) -> Result<Vec<RawEntry>, String> {
    match value {
        Value::Nil => Ok(Vec::new()),
        Value::Array(mut streams) => match streams.pop() {
            None => Ok(Vec::new()),
            Some(Value::Array(mut pair)) if pair.len() == 2 => {
                entries(pair.pop().expect("two items"))
            }
            Some(other) => Err(format!("unexpected XREAD reply {other:?}")),
        },
        Value::Map(mut streams) => match streams.pop() {
            None => Ok(Vec::new()),
            Some((_, list)) => entries(list),
        },
        other => Err(format!("unexpected XREAD reply {other:?}")),
    }
}

/// The id of the stream's newest entry, if it has one.
pub(crate) fn last_id(conn: &mut Connection, stream: &str) -> Result<Option<StreamId>, Error> {
    let reply: Value = redis::cmd("XREVRANGE")
        .arg(stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query(conn)
        .map_err(|e| unavailable(format_args!("XREVRANGE {stream}: {e}")))?;
    let list = entries(reply).map_err(unavailable)?;
    Ok(list.first().and_then(|(id, _)| StreamId::parse(id)))
}

/// How many entries the stream holds after `after`, counted up to `most`.
pub(crate) fn count_after(
    conn: &mut Connection,
    stream: &str,
    after: StreamId,
    most: u64,
) -> Result<u64, Error> {
    let reply: Value = redis::cmd("XRANGE")
        .arg(stream)
        .arg(format!("({after}"))
        .arg("+")
        .arg("COUNT")
        .arg(most)
        .query(conn)
        .map_err(|e| unavailable(format_args!("XRANGE {stream}: {e}")))?;
    match reply {
        Value::Array(items) => Ok(items.len() as u64),
        _ => Err(unavailable(format_args!("XRANGE {stream}: not a list"))),
    }
}

/// Takes the lease `KEYS[1]` for `ARGV[1]` for `ARGV[2]` ms if nobody holds it, or
/// renews it if `ARGV[1]` does; 1 if it is `ARGV[1]`'s now.
const LEASE: &str = r"
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// Takes or renews the lease `key` for `node` (its hex id), for `hold`; whether `node`
/// holds it.
pub(crate) fn lease(
    conn: &mut Connection,
    key: &str,
    node: &str,
    hold: Duration,
) -> Result<bool, Error> {
    let held: i64 = redis::cmd("EVAL")
        .arg(LEASE)
        .arg(1)
        .arg(key)
        .arg(node)
        .arg(hold.as_millis().max(1) as u64)
        .query(conn)
        .map_err(|e| unavailable(format_args!("lease {key}: {e}")))?;
    Ok(held == 1)
}
