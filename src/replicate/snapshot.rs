//! Snapshots in Redis, trimming, and bootstrapping from them.
//!
//! One node at a time (the holder of the lease `<stream>:snapshot-lease`) writes the
//! state it has applied up to a stream id into the hash `<stream>:snapshot`, every so
//! many entries or seconds, and then trims the stream below the lowest position any
//! live node reported (and never above the snapshot's id). Each reader reports its
//! position about once a second into the hash `<stream>:nodes`; a node silent for
//! longer than [`FRESH_MS`] no longer holds the trim back.
//!
//! The snapshot hash's fields:
//!
//! | field | value |
//! |---|---|
//! | `v` | `1` |
//! | `id` | the stream id the state covers: every entry up to it, none after |
//! | `seen` | the highest op number applied per node, `node:seq` pairs (hex node) joined by `,` |
//! | `state` | the state, in the snapshot format of [`Engine::snapshot`](crate::Engine::snapshot) (expired entries included) |
//! | `trimmed` | entries below this id may be gone from the stream (`0-0`: none trimmed) |
//! | `at` | when it was written, ms on Redis's clock (absent in snapshots of earlier versions) |
//!
//! A node whose position is below `trimmed` would read across a gap: at build it loads
//! the snapshot instead; a running node that fell that far behind stops, reporting it.

use std::collections::HashMap;
use std::time::Duration;

use redis::{Connection, Value};

use super::Replica;
use super::entry::StreamId;
use super::link::{self, unavailable};
use crate::error::Error;

/// How long a node's reported position holds the trim back.
pub(crate) const FRESH_MS: u64 = 30_000;

/// Records a reader's position, on Redis's clock.
const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local ms = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ms)
return ms
";

/// Writes a snapshot (unless `ARGV[5]`, the state, is empty: then only trims below the
/// snapshot already there) and trims. `KEYS`: stream, snapshot hash, nodes hash, epoch
/// key; `ARGV`: epoch, snapshot id (ms, seq), seen, state, fresh ms. Returns the trim
/// id.
const PUBLISH: &str = r"
if redis.call('GET', KEYS[4]) ~= ARGV[1] then
  return redis.error_reply('MUTEGATE_EPOCH the epoch key changed')
end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local min_ms, min_seq = tonumber(ARGV[2]), tonumber(ARGV[3])
if ARGV[5] == '' then
  local id = redis.call('HGET', KEYS[2], 'id')
  if not id then
    return '0-0'
  end
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  min_ms, min_seq = tonumber(ms), tonumber(seq)
end
local nodes = redis.call('HGETALL', KEYS[3])
for i = 1, #nodes, 2 do
  local ms, seq, seen = string.match(nodes[i + 1], '^(%d+)-(%d+) (%d+)$')
  if ms then
    seen = tonumber(seen)
    if now - seen <= tonumber(ARGV[6]) then
      ms, seq = tonumber(ms), tonumber(seq)
      if ms < min_ms or (ms == min_ms and seq < min_seq) then
        min_ms, min_seq = ms, seq
      end
    elseif now - seen > 10 * tonumber(ARGV[6]) then
      redis.call('HDEL', KEYS[3], nodes[i])
    end
  end
end
local trimmed = string.format('%d-%d', min_ms, min_seq)
local before = redis.call('HGET', KEYS[2], 'trimmed')
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[2], 'v', '1', 'id', ARGV[2] .. '-' .. ARGV[3], 'seen', ARGV[4],
    'state', ARGV[5], 'at', now)
end
redis.call('XTRIM', KEYS[1], 'MINID', trimmed)
if before then
  local bms, bseq = string.match(before, '^(%d+)-(%d+)$')
  bms, bseq = tonumber(bms), tonumber(bseq)
  if bms > min_ms or (bms == min_ms and bseq > min_seq) then
    trimmed = before
  end
end
redis.call('HSET', KEYS[2], 'trimmed', trimmed)
return trimmed
";

/// A snapshot read from Redis.
pub(crate) struct Published {
    pub id: StreamId,
    pub seen: HashMap<u64, u64>,
    pub state: Vec<u8>,
}

/// Encodes the per-node op numbers.
fn encode_seen(seen: &HashMap<u64, u64>) -> String {
    let mut pairs: Vec<_> = seen.iter().collect();
    pairs.sort_unstable();
    pairs
        .iter()
        .map(|(node, seq)| format!("{node:016x}:{seq}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn decode_seen(text: &str) -> Option<HashMap<u64, u64>> {
    text.split(',')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (node, seq) = pair.split_once(':')?;
            Some((u64::from_str_radix(node, 16).ok()?, seq.parse().ok()?))
        })
        .collect()
}

/// Reports this node's position (`id`) to the trimmer; Redis's time then, in ms.
pub(crate) fn heartbeat(
    replica: &Replica,
    conn: &mut Connection,
    id: StreamId,
) -> Result<u64, Error> {
    redis::cmd("EVAL")
        .arg(HEARTBEAT)
        .arg(1)
        .arg(&replica.keys.nodes)
        .arg(&replica.me)
        .arg(id.to_string())
        .query::<u64>(conn)
        .map_err(|e| unavailable(format_args!("position heartbeat: {e}")))
}

/// The published snapshot's id and when it was written (ms, Redis's clock), if there
/// is one.
pub(crate) fn published(
    replica: &Replica,
    conn: &mut Connection,
) -> Result<(Option<StreamId>, Option<u64>), Error> {
    let key = &replica.keys.snapshot;
    let (id, at): (Option<String>, Option<u64>) = redis::cmd("HMGET")
        .arg(key)
        .arg("id")
        .arg("at")
        .query(conn)
        .map_err(|e| unavailable(format_args!("HMGET {key}: {e}")))?;
    Ok((id.as_deref().and_then(StreamId::parse), at))
}

/// Below which id entries may have been trimmed away.
pub(crate) fn trimmed(replica: &Replica, conn: &mut Connection) -> Result<StreamId, Error> {
    let key = &replica.keys.snapshot;
    let value: Value = redis::cmd("HGET")
        .arg(key)
        .arg("trimmed")
        .query(conn)
        .map_err(|e| unavailable(format_args!("HGET {key}: {e}")))?;
    Ok(link::text(&value)
        .and_then(|t| StreamId::parse(&t))
        .unwrap_or_default())
}

/// The published snapshot, if there is one.
pub(crate) fn read(replica: &Replica, conn: &mut Connection) -> Result<Option<Published>, Error> {
    let key = &replica.keys.snapshot;
    let fields: HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
        .arg(key)
        .query(conn)
        .map_err(|e| unavailable(format_args!("HGETALL {key}: {e}")))?;
    let Some(id) = fields.get("id") else {
        return Ok(None);
    };
    let bad = |what: &str| Error::Replication {
        id: String::from_utf8_lossy(id).into_owned(),
        what: format!("the snapshot in {key} is unusable: {what}"),
    };
    let text = |name: &str| {
        fields
            .get(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .ok_or_else(|| bad(&format!("field {name:?} is missing or not text")))
    };
    if text("v")? != "1" {
        return Err(bad(&format!(
            "format version {} is not one this build reads (1)",
            text("v")?
        )));
    }
    let id = StreamId::parse(text("id")?).ok_or_else(|| bad("its id is not a stream id"))?;
    let seen = decode_seen(text("seen")?).ok_or_else(|| bad("field \"seen\" does not parse"))?;
    let state = fields
        .get("state")
        .cloned()
        .ok_or_else(|| bad("field \"state\" is missing"))?;
    Ok(Some(Published { id, seen, state }))
}

/// Tries to take (or keep) the snapshot lease for `hold`; whether this node has it.
pub(crate) fn lease(
    replica: &Replica,
    conn: &mut Connection,
    hold: Duration,
) -> Result<bool, Error> {
    link::lease(conn, &replica.keys.snapshot_lease, &replica.me, hold)
}

/// Trims the stream below the published snapshot and the live nodes' positions,
/// publishing nothing; the id below which entries may now be gone.
pub(crate) fn trim(replica: &Replica, conn: &mut Connection) -> Result<StreamId, Error> {
    publish(
        replica,
        conn,
        StreamId::default(),
        &HashMap::new(),
        Vec::new(),
    )
}

/// Writes `state` as the snapshot at `id` (if given; else keeps the one there) and
/// trims the stream; the id below which entries may now be gone.
pub(crate) fn publish(
    replica: &Replica,
    conn: &mut Connection,
    id: StreamId,
    seen: &HashMap<u64, u64>,
    state: Vec<u8>,
) -> Result<StreamId, Error> {
    let reply: Value = redis::cmd("EVAL")
        .arg(PUBLISH)
        .arg(4)
        .arg(&replica.keys.stream)
        .arg(&replica.keys.snapshot)
        .arg(&replica.keys.nodes)
        .arg(&replica.keys.epoch)
        .arg(&replica.epoch)
        .arg(id.ms)
        .arg(id.seq)
        .arg(encode_seen(seen))
        .arg(state)
        .arg(FRESH_MS)
        .query(conn)
        .map_err(|e| {
            if e.to_string().contains(super::link::EPOCH_REFUSAL) {
                Error::Replication {
                    id: id.to_string(),
                    what: format!("the stream lost its history while publishing a snapshot: {e}"),
                }
            } else {
                unavailable(format_args!("publishing a snapshot: {e}"))
            }
        })?;
    Ok(link::text(&reply)
        .and_then(|t| StreamId::parse(&t))
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_round_trips_in_a_fixed_order() {
        let seen: HashMap<u64, u64> = [(0xff, 3), (0x1, 12)].into_iter().collect();
        let text = encode_seen(&seen);
        assert_eq!(text, "0000000000000001:12,00000000000000ff:3");
        assert_eq!(decode_seen(&text), Some(seen));
        assert_eq!(decode_seen(""), Some(HashMap::new()));
        assert_eq!(decode_seen("zz:1"), None);
    }
}
