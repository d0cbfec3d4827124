//! The way out of a bad entry: node processes stopped at it, an operator who looks at it
//! and removes it by id, and nodes that resume by themselves and converge, with nothing
//! they refused in force anywhere.

use std::path::PathBuf;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mutegate::{Error, MuteFor, Replication};

use super::processes::{
    DIGEST_AT, MARKER, NODE, OUT, STOP, URL, child_test, replicated_on, say, spawn_reading, unix_ms,
};
use super::{MALFORMED_OP, Redis, SECOND, eventually, no_node_builds_past, xadd_malformed, xlen};

/// The room mutation `i` of node `k` mutes (each its own, so that its outcome can be
/// read off the final state).
fn room(k: usize, i: usize) -> String {
    format!("n{k}-r{i}")
}

/// A node that mutes one new room after another, saying how each ended (`ack`,
/// `refused` for `Error::Replication`, `unknown` for `Error::Unavailable`), and when its
/// health says it stopped (`halted-at <id>`) or resumed (`resumed`); then, once told to
/// stop and the marker came, writes its digest at `DIGEST_AT`.
#[test]
#[ignore = "helper: run as a child process by the recovery test"]
fn recovery_child() {
    let Ok(url) = std::env::var(URL) else {
        return;
    };
    let k: usize = std::env::var(NODE).expect("node").parse().expect("number");
    let stop = PathBuf::from(std::env::var(STOP).expect("stop file"));
    let out = PathBuf::from(std::env::var(OUT).expect("out file"));
    let at: u64 = std::env::var(DIGEST_AT)
        .expect("digest instant")
        .parse()
        .expect("ms");
    let engine = replicated_on(&url, None, false);
    say("ready".into());
    std::thread::scope(|s| {
        let (engine, stop) = (&engine, &stop);
        s.spawn(move || {
            let mut was = None;
            while !stop.exists() {
                let now = engine.health().stopped;
                match (&was, &now) {
                    (None, Some(Error::Replication { id, .. })) => say(format!("halted-at {id}")),
                    (None, Some(other)) => say(format!("stopped-by {other}")),
                    (Some(_), None) => say("resumed".into()),
                    _ => {}
                }
                was = now;
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        s.spawn(move || {
            for i in 0.. {
                if stop.exists() {
                    break;
                }
                match engine.mute_room(&room(k, i), MuteFor::Forever) {
                    Ok(_) => say(format!("ack {i}")),
                    Err(Error::Replication { .. }) => {
                        say(format!("refused {i}"));
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(Error::Unavailable { .. }) => say(format!("unknown {i}")),
                    Err(e) => panic!("node {k} mutation {i}: {e}"),
                }
            }
        });
    });
    say("stopped".into());
    eventually("the marker comes", 20 * SECOND, || {
        engine.room_mute(MARKER).is_some()
    });
    std::fs::write(&out, engine.digest(at)).expect("write the digest");
    say("digest".into());
}

/// One recovery child: its process and what it printed.
struct Node {
    child: Child,
    out: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Node {
    fn spawn(redis: &Redis, k: usize, dir: &std::path::Path, at: u64) -> Node {
        let out = dir.join(format!("node-{k}.digest"));
        let mut command = child_test("recovery::recovery_child");
        command
            .env(URL, redis.url())
            .env(NODE, k.to_string())
            .env(STOP, dir.join("stop"))
            .env(OUT, &out)
            .env(DIGEST_AT, at.to_string());
        let (child, lines) = spawn_reading(command);
        Node { child, out, lines }
    }

    /// Where `line` is among what the node said, if it said it.
    fn position(&self, line: &str) -> Option<usize> {
        self.lines
            .lock()
            .expect("lines")
            .iter()
            .position(|l| l.ends_with(line))
    }

    /// How many lines starting with `kind ` the node said from line `from` on.
    fn count(&self, kind: &str, from: usize) -> usize {
        let prefix = format!("{kind} ");
        let lines = self.lines.lock().expect("lines");
        lines
            .iter()
            .skip(from)
            .filter(|l| l.starts_with(&prefix))
            .count()
    }

    /// The mutations that ended as `kind`.
    fn ended(&self, kind: &str) -> Vec<usize> {
        let prefix = format!("{kind} ");
        let lines = self.lines.lock().expect("lines");
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix))
            .map(|i| i.parse().expect("a mutation number"))
            .collect()
    }
}

impl Drop for Node {
    /// A failed test does not leave its nodes running (they would wait for a stop file
    /// in a directory that is gone).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The README's recovery, done with the crate's own tool: two node processes write; a
/// foreign entry stops both and halts the cluster; the operator sees the entry
/// (`Replication::halted`), a removal by the wrong id changes nothing, the removal by
/// its id lets both nodes resume without being rebuilt, and they go on writing and
/// converge with a node built afterwards. No mutation answered `Error::Replication` is
/// in force anywhere.
#[test]
fn an_operator_removes_a_bad_entry_by_id_and_the_stopped_nodes_resume_and_converge() {
    let redis = redis_or_return!();
    let dir = tempfile::tempdir().expect("temp dir");
    // Ahead of every node's clock for the whole test.
    let at = unix_ms() + 120_000;
    let mut nodes: Vec<Node> = (0..2)
        .map(|k| Node::spawn(&redis, k, dir.path(), at))
        .collect();
    eventually("the nodes write", 20 * SECOND, || {
        nodes.iter().all(|n| n.count("ack", 0) > 200)
    });
    let bad = xadd_malformed(&redis);
    let halt_line = format!("halted-at {bad}");
    eventually("both nodes stop at the bad entry", 10 * SECOND, || {
        nodes.iter().all(|n| n.position(&halt_line).is_some())
    });

    // What the operator sees.
    let replication = Replication::new(redis.url());
    let seen = replication
        .halted()
        .expect("Redis answers")
        .expect("the cluster is halted");
    assert_eq!(seen.id, bad);
    assert!(seen.in_stream);
    let problem = seen.problem.as_deref().unwrap_or_default();
    assert!(problem.contains("does not decode"), "{problem}");
    assert!(
        seen.fields
            .iter()
            .any(|(name, value)| name == "op" && value == MALFORMED_OP),
        "{:?}",
        seen.fields
    );
    // While halted, the nodes refuse (and a new node cannot be built).
    eventually("both nodes refuse while halted", 10 * SECOND, || {
        nodes.iter().all(|n| {
            let from = n.position(&halt_line).expect("halted");
            n.count("refused", from) > 50
        })
    });
    no_node_builds_past(&redis, &bad);

    // A removal by the wrong id changes nothing.
    let len = xlen(&redis);
    let err = replication
        .remove_halted("1-1")
        .expect_err("not the halted entry");
    assert_eq!(
        err,
        Error::NotHalted {
            id: "1-1".into(),
            halted: Some(bad.clone())
        }
    );
    assert!(err.to_string().contains(&bad), "{err}");
    assert_eq!(xlen(&redis), len, "nothing was removed");
    assert_eq!(replication.halted().expect("Redis answers"), Some(seen));
    std::thread::sleep(SECOND);
    assert!(
        nodes.iter().all(|n| n.position("resumed").is_none()),
        "no node resumed while the entry is there"
    );

    // The decision.
    assert!(replication.remove_halted(&bad).expect("removed"), "deleted");
    assert_eq!(replication.halted().expect("Redis answers"), None);
    eventually("both nodes resume", 10 * SECOND, || {
        nodes.iter().all(|n| n.position("resumed").is_some())
    });
    eventually("both nodes write again", 20 * SECOND, || {
        nodes.iter().all(|n| {
            let from = n.position("resumed").expect("resumed");
            n.count("ack", from) > 200
        })
    });
    assert!(
        matches!(
            replication.remove_halted(&bad),
            Err(Error::NotHalted { halted: None, .. })
        ),
        "once removed, the cluster is not halted"
    );

    // A node built now converges with them.
    let parent = replicated_on(&redis.url(), None, false);
    std::fs::write(dir.path().join("stop"), b"").expect("stop file");
    for node in &nodes {
        eventually("the node stops writing", 20 * SECOND, || {
            node.position("stopped").is_some()
        });
    }
    parent.mute_room(MARKER, MuteFor::Forever).expect("marker");
    let mut digests = Vec::new();
    for node in &mut nodes {
        let status = node.child.wait().expect("wait for a node");
        assert!(status.success(), "a node failed: {status}");
        digests.push(std::fs::read_to_string(&node.out).expect("its digest"));
    }
    assert!(unix_ms() < at, "the test outran its instant");
    let ours = parent.digest(at);
    for (k, theirs) in digests.iter().enumerate() {
        assert_eq!(*theirs, ours, "node {k}'s digest differs from the parent's");
    }
    let (mut acked, mut refused, mut unknown) = (0, 0, 0);
    for (k, node) in nodes.iter().enumerate() {
        for i in node.ended("ack") {
            assert!(parent.room_mute(&room(k, i)).is_some(), "ack {k}/{i} lost");
            acked += 1;
        }
        for i in node.ended("refused") {
            assert!(
                parent.room_mute(&room(k, i)).is_none(),
                "refused {k}/{i} is in force"
            );
            refused += 1;
        }
        unknown += node.ended("unknown").len();
    }
    eprintln!(
        "recovery: {acked} acknowledged, {refused} refused (none in force), {unknown} of \
         unknown outcome; digest {ours}"
    );
}
