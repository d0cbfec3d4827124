//! loadgen's cluster mode (`--nodes N`, feature `redis`): the same pipeline on `N`
//! replicated engines sharing one Redis stream, as `N` server nodes would. Worker
//! threads are spread over the nodes; each node's subscribers time how long a mutation
//! made on another node took to reach it (replication lag); at the end, the nodes'
//! snapshots must become byte-identical (convergence).

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mutegate::{Engine, Event, ManualClock, Mute, NotifyLevel, Replication, Target};

use super::{Args, Backend, Setup, count, load_engine, run, time};

#[path = "../../benches/support/redis_server.rs"]
mod redis_server;

/// Which node the calling worker thread uses (given out round-robin at first use).
static NEXT: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static MINE: Cell<Option<usize>> = const { Cell::new(None) };
}

/// When each member mute or unmute was handed to a node, and which node.
type Sent = Mutex<HashMap<(String, String), (usize, Instant)>>;

/// The nodes, with what the lag measurement needs.
struct Cluster {
    nodes: Vec<Engine>,
    sent: &'static Sent,
}

impl Cluster {
    fn node(&self) -> (usize, &Engine) {
        let i = MINE.with(|m| {
            let i = m
                .get()
                .unwrap_or_else(|| NEXT.fetch_add(1, Ordering::Relaxed));
            m.set(Some(i));
            i
        }) % self.nodes.len();
        (i, &self.nodes[i])
    }
}

impl Backend for Cluster {
    fn can_send(&self, user: &str, room: &str) -> bool {
        self.node().1.can_send(user, Target::room(room))
    }
    fn push<'a, 'm>(&self, room: &str, members: &'a [&'m str], out: &mut Vec<&'a &'m str>) {
        self.node().1.push(room, members, out);
    }
    fn mutate(&self, user: &str, room: &str, mute: bool) {
        let (i, node) = self.node();
        self.sent
            .lock()
            .expect("sent")
            .insert((room.to_owned(), user.to_owned()), (i, Instant::now()));
        node.mutate(user, room, mute);
    }
}

/// Runs the pipeline on `a.nodes` replicated engines and prints throughput, latency,
/// replication lag and convergence.
pub fn main(a: &Args, setup: &Setup, notify: &[(u32, u32, NotifyLevel)], members: &[Vec<&str>]) {
    let own;
    let url = match &a.redis {
        Some(url) => url.clone(),
        None => {
            own = redis_server::Redis::start("LOADGEN'S CLUSTER MODE");
            match &own {
                Some(redis) => redis.url(),
                None => return,
            }
        }
    };
    let stream = format!("mutegate-loadgen:{}", std::process::id());
    let replication = Replication::new(&url).stream(&stream);
    let build = || {
        Engine::builder()
            .clock(ManualClock::new(super::NOW))
            .capacity_hint(a.users / 4)
            .replicate(replication.clone())
            .expect("a replicated engine (is Redis reachable?)")
    };
    // The world goes into the stream through the first node, as one restore (its
    // mutations go out in large batches); the other nodes read it when they start.
    let started = Instant::now();
    let first = build();
    let mut state = Vec::new();
    load_engine(a, setup, notify, None)
        .snapshot(&mut state)
        .expect("snapshot the world");
    first
        .restore(&mut state.as_slice())
        .expect("load the world");
    let mut nodes = vec![first];
    nodes.extend((1..a.nodes).map(|_| build()));
    eprintln!(
        "  {} nodes on {url}, stream {stream}: loaded and caught up in {:.1}s",
        a.nodes,
        started.elapsed().as_secs_f64()
    );
    let sent: &'static Sent = Box::leak(Box::default());
    let lag: &'static Mutex<Histogram<u64>> = Box::leak(Box::new(Mutex::new(
        Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("bounds"),
    )));
    for (j, node) in nodes.iter().enumerate() {
        node.subscribe(move |event| {
            let (Event::Muted {
                mute: Mute::Member { room, user },
                ..
            }
            | Event::Unmuted {
                mute: Mute::Member { room, user },
            }) = event
            else {
                return;
            };
            let origin = sent
                .lock()
                .expect("sent")
                .get(&(room.clone(), user.clone()))
                .copied();
            if let Some((i, at)) = origin
                && i != j
            {
                let ns = at.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
                lag.lock().expect("lag").record(ns.max(1)).ok();
            }
        });
    }
    let cluster = Cluster { nodes, sent };
    let name = format!("mutegate, {} replicated nodes", a.nodes);
    let (tally, wall) = run(&name, &cluster, setup, members, a);
    // Convergence: every node's snapshot the same bytes.
    let converging = Instant::now();
    let converged = loop {
        let snaps: Vec<Vec<u8>> = cluster
            .nodes
            .iter()
            .map(|n| {
                let mut out = Vec::new();
                n.snapshot(&mut out).expect("snapshot");
                out
            })
            .collect();
        if snaps.windows(2).all(|w| w[0] == w[1]) {
            break Some((converging.elapsed(), snaps[0].len()));
        }
        if converging.elapsed() > Duration::from_secs(30) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let lag = lag.lock().expect("lag");
    let q = |h: &Histogram<u64>, q: f64| time(h.value_at_quantile(q) as f64);
    println!(
        "\nmutegate loadgen, cluster mode: {} users x {} rooms, {} nodes on one Redis, {} threads, {:.0}s",
        a.users, a.rooms, a.nodes, a.threads, a.seconds
    );
    println!("\n| measure | value |\n|---|---:|");
    let row = |name: &str, value: String| println!("| {name} | {value} |");
    let per_s = |n: u64| count(n as f64 / wall.as_secs_f64());
    let p50_p99 = |h: &Histogram<u64>| format!("{} / {}", q(h, 0.5), q(h, 0.99));
    row(
        "messages (can_send + fan-out) per second",
        per_s(tally.messages),
    );
    row("can_send p50 / p99", p50_p99(&tally.send));
    row("mutations per second", per_s(tally.mutate.len()));
    row(
        "mutation p50 / p99 (through Redis, applied on its node)",
        p50_p99(&tally.mutate),
    );
    row(
        &format!(
            "replication lag to another node p50 / p99 / max ({} samples)",
            lag.len()
        ),
        format!("{} / {}", p50_p99(&lag), time(lag.max() as f64)),
    );
    match converged {
        Some((took, bytes)) => println!(
            "| converged (identical snapshots on every node) | yes, {:.0} ms after the run, {bytes} bytes |",
            took.as_secs_f64() * 1e3
        ),
        None => println!("| converged (identical snapshots on every node) | NO, not within 30 s |"),
    }
    for (i, node) in cluster.nodes.iter().enumerate() {
        let h = node.health();
        if !h.is_healthy() || h.replication_failures > 0 {
            println!("node {i} health: {h:?}");
        }
    }
    if converged.is_none() {
        std::process::exit(1);
    }
}
