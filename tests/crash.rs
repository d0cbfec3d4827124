//! Crash test: a child process mutates in a loop and prints each acknowledged mutation;
//! it is killed with SIGKILL at random moments, and every printed mutation must be there
//! when the directory is reopened. The log is compacted often, so kills also land in the
//! middle of a compaction.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mutegate::{Engine, Module, ModuleChange, MuteFor, NotifyLevel, Target};

const DIR: &str = "MUTEGATE_CRASH_DIR";
const START: &str = "MUTEGATE_CRASH_START";

fn open(dir: &str) -> Engine {
    Engine::builder()
        .compact_after(16 * 1024)
        .open(dir)
        .expect("open the store")
}

fn room(i: usize) -> String {
    format!("room{}", i % 37)
}

/// Mutation `i` touches only user `u{i}`, so each can be checked on its own.
fn mutate(e: &Engine, i: usize) {
    let (user, room) = (format!("u{i}"), room(i));
    match i % 4 {
        0 => e.mute_members(&room, [&user], MuteFor::Forever).map(drop),
        1 => e.set_notification_level(&user, &room, NotifyLevel::Off, MuteFor::Forever),
        2 => e.allow(&room, [&user]),
        _ => e
            .set_module_mutes(&user, ModuleChange::new().set(Module::P2p, true))
            .map(drop),
    }
    .expect("mutation");
}

fn present(e: &Engine, i: usize) -> bool {
    let (user, room) = (format!("u{i}"), room(i));
    match i % 4 {
        0 => !e.can_send(&user, Target::room(&room)),
        1 => !e.should_push(&user, &room),
        2 => e.is_allowed(&room, &user),
        _ => e.module_status(&user).is_muted(Module::P2p),
    }
}

#[test]
#[ignore = "helper: run as a child process by the crash test"]
fn crash_child() {
    let Ok(dir) = std::env::var(DIR) else {
        return;
    };
    let start: usize = std::env::var(START)
        .expect("start")
        .parse()
        .expect("number");
    let engine = open(&dir);
    let mut out = std::io::stdout().lock();
    for i in start.. {
        mutate(&engine, i);
        writeln!(out, "ack {i}").expect("stdout");
        out.flush().expect("stdout");
    }
}

#[test]
fn every_acknowledged_mutation_survives_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_str().expect("utf-8 path").to_owned();
    let mut acked: Vec<usize> = Vec::new();
    let mut next = 0usize;
    // Kill points vary by round: after a different number of acks, then a short pause.
    for (round, (acks, pause_us)) in [
        (40, 0),
        (700, 300),
        (1500, 50),
        (3000, 900),
        (200, 2000),
        (2500, 0),
    ]
    .into_iter()
    .enumerate()
    {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR, &path)
            .env(START, next.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let reader = BufReader::new(child.stdout.take().expect("stdout"));
        let started = Instant::now();
        let mut seen = 0;
        for line in reader.lines() {
            let line = line.expect("read");
            if let Some(n) = line.strip_prefix("ack ") {
                acked.push(n.parse().expect("number"));
                seen += 1;
                if seen == acks {
                    break;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "child too slow"
            );
        }
        std::thread::sleep(Duration::from_micros(pause_us));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        assert_eq!(
            seen, acks,
            "round {round}: the child acknowledged too little"
        );

        let engine = open(&path);
        let lost: Vec<usize> = acked
            .iter()
            .copied()
            .filter(|&i| !present(&engine, i))
            .collect();
        assert!(
            lost.is_empty(),
            "round {round}: lost acknowledged mutations {lost:?}"
        );
        engine
            .verify_consistency()
            .expect("consistent after recovery");
        next = acked.last().map_or(0, |&i| i + 1);
    }
    assert!(acked.len() > 7_000);
}
