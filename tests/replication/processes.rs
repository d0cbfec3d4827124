//! Nodes in child processes on one Redis: they converge, agree with a model fed what
//! they acknowledged, and a node killed with SIGKILL mid-traffic comes back without
//! losing anything.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mutegate::{Engine, Error, Event, ManualClock, MuteFor, Replication};

use super::{NOW, Redis, SECOND, eventually, snapshot};

pub(super) const URL: &str = "MUTEGATE_NODE_URL";
pub(super) const NODE: &str = "MUTEGATE_NODE";
pub(super) const STOP: &str = "MUTEGATE_NODE_STOP";
pub(super) const OUT: &str = "MUTEGATE_NODE_OUT";
const LOCAL: &str = "MUTEGATE_NODE_LOCAL";
/// Set (to an instant in ms) for a node on the system clock, which writes its
/// [`Engine::digest`] at that instant instead of its snapshot.
pub(super) const DIGEST_AT: &str = "MUTEGATE_NODE_DIGEST_AT";
const THREADS: usize = 2;
/// The room a parent mutes when every child has stopped writing: a node that sees it
/// has applied everything before it.
pub(super) const MARKER: &str = "marker";

/// Mutation `i` of writer thread `t` of node `k`; each thread has keys of its own, so
/// a model can replay each thread's acknowledged mutations in any interleaving.
fn mutate(engine: &Engine, k: usize, t: usize, i: usize) -> Result<(), Error> {
    let room = format!("c{k}t{t}-r{}", i % 5);
    let user = format!("c{k}t{t}-u{}", i % 13);
    match i % 7 {
        0 => engine
            .mute_members(&room, [&user], MuteFor::minutes(30))
            .map(drop),
        1 => engine.unmute_members(&room, [&user]).map(drop),
        2 => engine.mute_notifications(&user, &room),
        3 => engine.unmute_notifications(&user, &room),
        4 => engine.mute_room(&room, MuteFor::Forever).map(drop),
        5 => engine.allow(&room, [&user]),
        _ => engine.unmute_room(&room).map(drop),
    }
}

fn replicated(url: &str, local: Option<PathBuf>) -> Engine {
    replicated_on(url, local, true)
}

/// The same, on the tests' manual clock or (`manual` false) the system clock.
pub(super) fn replicated_on(url: &str, local: Option<PathBuf>, manual: bool) -> Engine {
    let replication = Replication::new(url)
        .timeout(Duration::from_millis(500))
        .snapshot_every(300, Duration::from_millis(300));
    let replication = match local {
        Some(dir) => replication.local_state(dir),
        None => replication,
    };
    let builder = Engine::builder();
    let builder = if manual {
        builder.clock(ManualClock::new(NOW))
    } else {
        builder
    };
    builder.replicate(replication).expect("a replicated engine")
}

#[test]
#[ignore = "helper: run as a child process by the process tests"]
fn node_child() {
    let Ok(url) = std::env::var(URL) else {
        return;
    };
    let k: usize = std::env::var(NODE).expect("node").parse().expect("number");
    let stop = PathBuf::from(std::env::var(STOP).expect("stop file"));
    let out = PathBuf::from(std::env::var(OUT).expect("out file"));
    let digest_at: Option<u64> = std::env::var(DIGEST_AT)
        .ok()
        .map(|at| at.parse().expect("an instant in ms"));
    let local = std::env::var(LOCAL).ok().map(PathBuf::from);
    let engine = replicated_on(&url, local, digest_at.is_none());
    say("ready".into());
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (engine, stop, say) = (&engine, &stop, &say);
            s.spawn(move || {
                for i in 0.. {
                    if stop.exists() {
                        break;
                    }
                    match mutate(engine, k, t, i) {
                        Ok(()) => say(format!("ack {t} {i}")),
                        Err(Error::NotMuted { .. }) => say(format!("refused {t} {i}")),
                        Err(e) => panic!("node {k} thread {t} mutation {i}: {e}"),
                    }
                }
            });
        }
    });
    say("stopped".into());
    let deadline = Instant::now() + Duration::from_secs(20);
    while engine.room_mute(MARKER).is_none() {
        assert!(Instant::now() < deadline, "node {k} never saw the marker");
        std::thread::sleep(Duration::from_millis(5));
    }
    let written = match digest_at {
        Some(at) => engine.digest(at).into_bytes(),
        None => snapshot(&engine),
    };
    std::fs::write(&out, written).expect("write the snapshot");
    say("snapshot".into());
}

/// The system clock's now, in Unix ms.
pub(super) fn unix_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    u64::try_from(since.expect("after 1970").as_millis()).expect("ms")
}

/// Prints `line` on a child's stdout, whole and at once (the parent reads it as it
/// comes; several threads may say things at the same time).
pub(super) fn say(line: String) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .expect("stdout");
}

/// This test binary, set to run only the helper `test` (an ignored test) as a child.
pub(super) fn child_test(test: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("test binary"));
    command
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// Starts `command`; its stdout lines collect in the returned list as they come.
pub(super) fn spawn_reading(mut command: Command) -> (Child, Arc<Mutex<Vec<String>>>) {
    let mut child = command.spawn().expect("spawn a child process");
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let reader = BufReader::new(child.stdout.take().expect("stdout"));
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            sink.lock().expect("lines").push(line);
        }
    });
    (child, lines)
}

/// One child node: its process and what it printed.
struct Node {
    child: Child,
    k: usize,
    out: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Node {
    /// Node `k`, keeping its own copy of its state in `local` if given.
    fn spawn(redis: &Redis, k: usize, dir: &Path, local: Option<&Path>) -> Node {
        Node::spawn_with(redis, k, dir, local, None)
    }

    /// The same, on the system clock if `digest_at` is given (see [`DIGEST_AT`]).
    fn spawn_with(
        redis: &Redis,
        k: usize,
        dir: &Path,
        local: Option<&Path>,
        digest_at: Option<u64>,
    ) -> Node {
        let out = dir.join(format!("node-{k}.snap"));
        let mut command = child_test("processes::node_child");
        if let Some(at) = digest_at {
            command.env(DIGEST_AT, at.to_string());
        }
        if let Some(local) = local {
            command.env(LOCAL, local);
        }
        command
            .env(URL, redis.url())
            .env(NODE, k.to_string())
            .env(STOP, dir.join("stop"))
            .env(OUT, &out);
        let (child, lines) = spawn_reading(command);
        Node {
            child,
            k,
            out,
            lines,
        }
    }

    fn said(&self, what: &str) -> bool {
        self.lines.lock().expect("lines").iter().any(|l| l == what)
    }

    fn acks(&self) -> usize {
        self.lines
            .lock()
            .expect("lines")
            .iter()
            .filter(|l| l.starts_with("ack "))
            .count()
    }

    /// Per thread, the outcome of each mutation it finished, in order (true: acknowledged).
    fn outcomes(&self) -> Vec<Vec<bool>> {
        let mut per: Vec<Vec<bool>> = vec![Vec::new(); THREADS];
        for line in self.lines.lock().expect("lines").iter() {
            let mut parts = line.split(' ');
            let (Some(kind @ ("ack" | "refused")), Some(t), Some(i)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let (t, i): (usize, usize) = (t.parse().expect("thread"), i.parse().expect("index"));
            assert_eq!(per[t].len(), i, "thread {t}'s mutations come in order");
            per[t].push(kind == "ack");
        }
        per
    }
}

impl Drop for Node {
    /// A node the test did not stop (it failed first) is killed and reaped, so no child
    /// outlives the test run.
    fn drop(&mut self) {
        // Killing a child that already exited (or was reaped) fails harmlessly.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A node's part in a model: its number, per thread the outcome of each finished
/// mutation, and per thread whether a mutation in flight counts as applied.
type Fed = (usize, Vec<Vec<bool>>, Vec<bool>);

/// A model: a plain engine fed, per thread, the mutations each node finished, checking
/// that each had the same outcome; plus, for thread `t` of a killed node, the mutation
/// in flight when it died if `in_flight[t]`.
fn model(nodes: &[Fed]) -> Vec<u8> {
    let engine = Engine::builder().clock(ManualClock::new(NOW)).build();
    for (k, per, in_flight) in nodes {
        for (t, outcomes) in per.iter().enumerate() {
            for (i, acked) in outcomes.iter().enumerate() {
                let got = mutate(&engine, *k, t, i);
                assert_eq!(
                    got.is_ok(),
                    *acked,
                    "node {k} thread {t} mutation {i}: {got:?}"
                );
            }
            if in_flight.get(t).copied().unwrap_or(false) {
                let _ = mutate(&engine, *k, t, outcomes.len());
            }
        }
    }
    engine.mute_room(MARKER, MuteFor::Forever).expect("marker");
    snapshot(&engine)
}

/// Stops every node's traffic, mutes the marker through `parent`, and collects each
/// node's snapshot.
fn finish(parent: &Engine, nodes: &mut [Node], dir: &Path) -> Vec<Vec<u8>> {
    std::fs::write(dir.join("stop"), b"").expect("stop file");
    for node in nodes.iter() {
        eventually("the node stops writing", 20 * SECOND, || {
            node.said("stopped")
        });
    }
    parent.mute_room(MARKER, MuteFor::Forever).expect("marker");
    nodes
        .iter_mut()
        .map(|node| {
            let status = node.child.wait().expect("wait for a node");
            assert!(status.success(), "node {} failed: {status}", node.k);
            std::fs::read(&node.out).expect("its snapshot")
        })
        .collect()
}

#[test]
fn three_node_processes_converge_and_agree_with_a_model() {
    let redis = redis_or_return!();
    let dir = tempfile::tempdir().expect("temp dir");
    let parent = replicated(&redis.url(), None);
    let mut nodes: Vec<Node> = (0..3)
        .map(|k| Node::spawn(&redis, k, dir.path(), None))
        .collect();
    eventually("the nodes write", 20 * SECOND, || {
        nodes.iter().all(|n| n.acks() > 300)
    });
    std::thread::sleep(2 * SECOND);
    let snapshots = finish(&parent, &mut nodes, dir.path());
    eventually("the parent converges", 10 * SECOND, || {
        parent.room_mute(MARKER).is_some()
    });
    let ours = snapshot(&parent);
    for (k, s) in snapshots.iter().enumerate() {
        assert!(*s == ours, "node {k}'s snapshot differs from the parent's");
    }
    let fed: Vec<_> = nodes
        .iter()
        .map(|n| (n.k, n.outcomes(), Vec::new()))
        .collect();
    assert!(
        model(&fed) == ours,
        "the model fed the acknowledged mutations disagrees"
    );
    eprintln!(
        "three processes: {} acknowledged mutations, snapshot {} bytes",
        nodes.iter().map(Node::acks).sum::<usize>(),
        ours.len()
    );
}

/// On the system clock, converged nodes' `snapshot()` bytes differ (each stamps its own
/// now), but their digests at one instant ahead of every clock are equal: three node
/// processes and the parent, after traffic from all three, agree on one.
#[test]
fn three_node_processes_on_the_system_clock_agree_on_one_digest() {
    let redis = redis_or_return!();
    let dir = tempfile::tempdir().expect("temp dir");
    let parent = replicated_on(&redis.url(), None, false);
    // Ahead of every node's clock for the whole test; the mutes last 30 minutes.
    let at = unix_ms() + 120_000;
    let empty = parent.digest(at);
    let mut nodes: Vec<Node> = (0..3)
        .map(|k| Node::spawn_with(&redis, k, dir.path(), None, Some(at)))
        .collect();
    eventually("the nodes write", 20 * SECOND, || {
        nodes.iter().all(|n| n.acks() > 300)
    });
    std::thread::sleep(SECOND);
    let digests = finish(&parent, &mut nodes, dir.path());
    eventually("the parent converges", 10 * SECOND, || {
        parent.room_mute(MARKER).is_some()
    });
    assert!(unix_ms() < at, "the test outran its instant");
    let ours = parent.digest(at);
    assert_ne!(ours, empty, "the traffic changed the digest");
    for (k, theirs) in digests.iter().enumerate() {
        assert_eq!(
            String::from_utf8_lossy(theirs),
            ours,
            "node {k}'s digest differs from the parent's"
        );
    }
    eprintln!(
        "three processes on the system clock: {} acknowledged mutations, digest {ours}",
        nodes.iter().map(Node::acks).sum::<usize>()
    );
}

#[test]
fn a_node_killed_mid_traffic_comes_back_and_nothing_acknowledged_is_lost() {
    let redis = redis_or_return!();
    let dir = tempfile::tempdir().expect("temp dir");
    let parent = replicated(&redis.url(), None);
    let own = dir.path().join("victim-state");
    let mut victim = Node::spawn(&redis, 0, dir.path(), Some(&own));
    let other = Node::spawn(&redis, 1, dir.path(), None);
    eventually("both write", 20 * SECOND, || {
        victim.acks() > 500 && other.acks() > 500
    });
    victim.child.kill().expect("SIGKILL the node");
    victim.child.wait().expect("reap it");
    std::thread::sleep(Duration::from_millis(100));
    let killed = victim.outcomes();
    // The node comes back (a new process on the same directory: it starts from its own
    // last copy of its state, or the published snapshot if the stream was trimmed past
    // it, and the stream after it) and writes again, under new keys.
    assert!(
        own.join("replica.ckpt").exists(),
        "the killed node wrote its state"
    );
    let back = Node::spawn(&redis, 2, dir.path(), Some(&own));
    eventually("the restarted node writes", 20 * SECOND, || {
        back.acks() > 300
    });
    let mut nodes = vec![other, back];
    let snapshots = finish(&parent, &mut nodes, dir.path());
    let ours = snapshot(&parent);
    for (node, s) in nodes.iter().zip(&snapshots) {
        assert!(
            *s == ours,
            "node {}'s snapshot differs from the parent's",
            node.k
        );
    }
    // Every acknowledged mutation of the killed node is there; beyond them, at most the
    // one each of its threads had in flight.
    let rest: Vec<_> = nodes
        .iter()
        .map(|n| (n.k, n.outcomes(), Vec::new()))
        .collect();
    let matched = (0..1u32 << THREADS).any(|mask| {
        let in_flight: Vec<bool> = (0..THREADS).map(|t| mask & (1 << t) != 0).collect();
        let mut fed = vec![(0, killed.clone(), in_flight)];
        fed.extend(rest.iter().cloned());
        model(&fed) == ours
    });
    assert!(
        matched,
        "no model of the acknowledged mutations (plus those in flight) agrees"
    );
    assert!(parent.health().stopped.is_none(), "{:?}", parent.health());
}

/// A node on the system clock with a sweeper, logging each end it announces.
fn announcing(url: &str, log: impl Fn(String) + Send + Sync + 'static) -> Engine {
    let engine = Engine::builder()
        .sweeper(Duration::from_millis(20))
        .replicate(Replication::new(url).timeout(Duration::from_millis(500)))
        .expect("a replicated engine");
    engine.subscribe(move |event| {
        if let Event::Expired { mute, at_ms } = event {
            log(format!("expired {mute:?} {at_ms}"));
        }
    });
    engine
}

#[test]
#[ignore = "helper: run as a child process by the announcer test"]
fn announcer_child() {
    let Ok(url) = std::env::var(URL) else {
        return;
    };
    let _engine = announcing(&url, say);
    say("ready".into());
    // Until it is killed.
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_killed_announcer_is_replaced_and_every_end_is_announced() {
    let redis = redis_or_return!();
    let mut command = child_test("processes::announcer_child");
    command.env(URL, redis.url());
    let (mut child, theirs) = spawn_reading(command);
    let said = |what: &str| {
        theirs
            .lock()
            .expect("lines")
            .iter()
            .filter(|l| l.contains(what))
            .count()
    };
    eventually(
        "the first node is up (and holds the lease)",
        20 * SECOND,
        || said("ready") > 0,
    );
    let ours: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&ours);
    let parent = announcing(&redis.url(), move |line| {
        sink.lock().expect("ours").push(line)
    });
    let count = |log: &Mutex<Vec<String>>, what: &str| {
        log.lock()
            .expect("log")
            .iter()
            .filter(|l| l.contains(what))
            .count()
    };
    for i in 0..5 {
        parent
            .mute_members("r1", [format!("m{i}")], MuteFor::millis(300))
            .expect("mute");
    }
    eventually("the announcer announces the five ends", 10 * SECOND, || {
        said("\"m") >= 5
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        count(&ours, "\"m"),
        0,
        "only the lease holder announces: {:?}",
        ours.lock()
    );
    child.kill().expect("SIGKILL the announcer");
    child.wait().expect("reap it");
    for i in 0..3 {
        parent
            .mute_members("r2", [format!("n{i}")], MuteFor::millis(300))
            .expect("mute");
    }
    eventually(
        "the other node takes over and announces the new ends",
        15 * SECOND,
        || count(&ours, "\"n") >= 3,
    );
    // At least once: any end announced twice is announced with the same key.
    let theirs = theirs.lock().expect("lines").clone();
    for line in ours
        .lock()
        .expect("ours")
        .iter()
        .filter(|l| l.contains("\"m"))
    {
        assert!(
            theirs.contains(line),
            "a repeated end differs from the first: {line}"
        );
    }
}

/// A child process killed when the test is done with it, passed or failed.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The members a journal child mutes, one mutation each.
const JOURNALED: usize = 200;

fn journaling(url: &str, local: &Path) -> Engine {
    // No checkpoint comes due while the test runs: what the node applied is in its
    // journal only.
    Engine::builder()
        .clock(ManualClock::new(NOW))
        .replicate(
            Replication::new(url)
                .stream("journal")
                .snapshot_every(u64::MAX, Duration::from_secs(3600))
                .local_state(local),
        )
        .expect("a replicated engine")
}

#[test]
#[ignore = "helper: run as a child process by the journal test"]
fn journal_child() {
    let Ok(url) = std::env::var(URL) else {
        return;
    };
    let local = PathBuf::from(std::env::var(LOCAL).expect("local dir"));
    let engine = journaling(&url, &local);
    for i in 0..JOURNALED {
        engine
            .mute_members("j", [format!("u{i}")], MuteFor::minutes(30))
            .expect("mute");
    }
    println!("done");
    std::io::stdout().flush().expect("stdout");
    std::thread::sleep(Duration::from_secs(3600));
}

#[test]
fn a_killed_node_restarts_from_its_journal_without_the_stream_entries_it_covers() {
    let redis = redis_or_return!();
    let dir = tempfile::tempdir().expect("temp dir");
    let local = dir.path().join("state");
    let mut command = child_test("processes::journal_child");
    command.env(URL, redis.url()).env(LOCAL, &local);
    let (child, lines) = spawn_reading(command);
    let mut child = Killed(child);
    // The harness's "test ... " starts the child's first line.
    eventually("the child writes", 20 * SECOND, || {
        lines
            .lock()
            .expect("lines")
            .iter()
            .any(|l| l.ends_with("done"))
    });
    child.0.kill().expect("SIGKILL the node");
    child.0.wait().expect("reap it");
    assert!(
        !local.join("replica.ckpt").exists(),
        "no checkpoint was due: the state is in the journal only"
    );
    // The stream loses every entry but the newest: only the journal still has them.
    let mut conn = redis.conn();
    let ids: Vec<String> = redis::cmd("XRANGE")
        .arg("journal")
        .arg("-")
        .arg("+")
        .query::<Vec<(String, Vec<(String, Vec<u8>)>)>>(&mut conn)
        .expect("XRANGE")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids.len(), JOURNALED);
    let deleted: usize = redis::cmd("XDEL")
        .arg("journal")
        .arg(&ids[..JOURNALED - 1])
        .query(&mut conn)
        .expect("XDEL");
    assert_eq!(deleted, JOURNALED - 1);
    let from_stream = journaling(&redis.url(), &dir.path().join("empty"));
    assert_eq!(
        from_stream.muted_members("j").len(),
        1,
        "the stream lost them"
    );
    let back = journaling(&redis.url(), &local);
    assert_eq!(back.muted_members("j").len(), JOURNALED);
    assert!(back.health().is_healthy(), "{:?}", back.health());
    // It carries on from there: a new mutation reaches both.
    back.mute_members("j", ["late"], MuteFor::minutes(30))
        .expect("mute");
    eventually("the other node applies it", 10 * SECOND, || {
        from_stream.muted_members("j").len() == 2
    });
    // Dropped, it writes its checkpoint; reopened, it has everything again.
    drop(back);
    assert!(local.join("replica.ckpt").exists());
    let again = journaling(&redis.url(), &local);
    assert_eq!(again.muted_members("j").len(), JOURNALED + 1);
}
