//! Two server nodes sharing one mute state through Redis (feature `redis`).
//!
//! Each node of a chat cluster embeds its own engine, built with
//! [`EngineBuilder::replicate`](mutegate::EngineBuilder::replicate) on the same Redis URL
//! and stream. A mute set through one node stops the sender on every node; checks stay
//! in-process (no Redis round trip per message).
//!
//! ```sh
//! cargo run --features redis --example cluster -- redis://127.0.0.1:6379/
//! ```
//!
//! Without a URL it starts its own `redis-server` (from PATH) on a free loopback port
//! and stops it at the end.

#[path = "../benches/support/redis_server.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use mutegate::{Engine, Error, MuteFor, Replication, Target};

fn main() -> Result<(), Error> {
    // A URL from the command line, or a local redis-server of our own.
    let own;
    let url = match std::env::args().nth(1) {
        Some(url) => url,
        None => {
            own = redis_server::Redis::start("THE CLUSTER EXAMPLE");
            match &own {
                Some(redis) => redis.url(),
                None => return Ok(()),
            }
        }
    };
    // One stream per cluster (the default is "mutegate:ops"); a fresh one here, so the
    // example can run twice against the same Redis.
    let stream = format!("mutegate-example:{}", std::process::id());
    let replication = Replication::new(&url).stream(&stream);

    // In production each of these lives in its own server process.
    let node_a = Engine::builder().replicate(replication.clone())?;
    let node_b = Engine::builder().replicate(replication)?;

    // A moderator's request lands on node A.
    node_a.mute_members("lobby", ["bob"], MuteFor::minutes(10))?;
    // Node A has applied it when the call returns (read your writes).
    assert!(!node_a.can_send("bob", Target::room("lobby")));

    // Bob's next message arrives at node B: it knows within the replication lag.
    let started = Instant::now();
    while node_b.can_send("bob", Target::room("lobby")) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "node B never saw the mute"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    println!(
        "node B stops bob after {:?}; ann can still send: {}",
        started.elapsed(),
        node_b.can_send("ann", Target::room("lobby"))
    );

    // Converged nodes hold the same state: on the system clock, compare digests at
    // one instant ahead of both clocks (their snapshot() bytes stamp each one's now).
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
        + 5_000;
    let started = Instant::now();
    while node_a.digest(at) != node_b.digest(at) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the nodes never converged"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    println!("both nodes' digest: {}", node_a.digest(at));

    // If Redis goes away, checks keep answering and mutations fail fast with
    // Error::Unavailable instead of being queued; health() says what happened.
    println!("node B health: {:?}", node_b.health());
    Ok(())
}
