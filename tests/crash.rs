//! Crash test: a child process mutates in a loop and prints each acknowledged mutation;
//! it is killed with SIGKILL at random moments, and every printed mutation must be there
//! when the directory is reopened. The log is compacted often, so kills also land in the
//! middle of a compaction.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mutegate::{
    Action, Engine, Expiry, Message, Module, ModuleChange, MuteFor, NotifyLevel, Schedule, Subject,
    Target, Trail, Weekday, Window,
};

const DIR: &str = "MUTEGATE_CRASH_DIR";
const START: &str = "MUTEGATE_CRASH_START";
const THREADS: &str = "MUTEGATE_CRASH_THREADS";

fn open(dir: &str) -> Engine {
    Engine::builder()
        .compact_after(16 * 1024)
        .open(dir)
        .expect("open the store")
}

fn room(i: usize) -> String {
    format!("room{}", i % 37)
}

/// Quiet all week: seven touching windows in a zone with DST.
fn always_quiet() -> Schedule {
    let windows = Weekday::ALL.map(|d| Window::new(d, 0, 23 * 60 + 59));
    let mut windows = windows.to_vec();
    windows.extend(Weekday::ALL.map(|d| Window::new(d, 23 * 60 + 59, 0)));
    Schedule::new("Europe/Berlin", windows).expect("a valid schedule")
}

/// The trail of mutation `i`.
fn trail(i: usize) -> Trail {
    Trail::by("mod").reason(format!("reason {i}"))
}

/// Mutation `i` touches only user `u{i}`, so each can be checked on its own.
fn mutate(e: &Engine, i: usize) {
    let (user, room) = (format!("u{i}"), room(i));
    match i % 14 {
        0 => e.mute_members(&room, [&user], MuteFor::Forever).map(drop),
        // A strike (its 5 s mute may be over by the check; its count lasts 30 days).
        12 => e.strike(&room, &user).map(drop),
        // A mute with its trail: the member's history holds it.
        13 => e
            .with_trail(&trail(i))
            .mute_members(&room, [&user], MuteFor::Forever)
            .wait()
            .map(drop),
        // Scoped mutes: the scope survives with the mute.
        9 => e
            .mute_members_scoped(&room, [&user], MuteFor::Forever, Action::React)
            .map(drop),
        10 => e
            .set_module_mutes(
                &user,
                ModuleChange::new()
                    .set(Module::Team, true)
                    .only(Action::JoinVoice),
            )
            .map(drop),
        11 => e
            .mute_room_scoped(&format!("scoped{i}"), MuteFor::Forever, Action::Edit)
            .map(drop),
        1 => e.set_notification_level(&user, &room, NotifyLevel::Off, MuteFor::Forever),
        2 => e.allow(&room, [&user]),
        3 => e
            .set_module_mutes(&user, ModuleChange::new().set(Module::P2p, true))
            .map(drop),
        4 => e.set_quiet_hours(&user, always_quiet()),
        5 => e.mute_sender(&user, &room, MuteFor::Forever).map(drop),
        6 => e.snooze_until(&user, Expiry::Never),
        7 => e.set_room_mentions(&format!("plain{i}"), false),
        // Slow mode's setting is logged; its last sends are soft state (not checked).
        _ => e.set_slow_mode(&format!("slow{i}"), Duration::from_secs(5)),
    }
    .expect("mutation");
}

fn present(e: &Engine, i: usize) -> bool {
    let (user, room) = (format!("u{i}"), room(i));
    match i % 14 {
        0 => !e.can_send(&user, Target::room(&room)),
        // At least one: the next child may make mutation i again (it starts past the
        // last ack its parent read, not past the last one made), and a strike counts.
        12 => e.strikes(&room, &user) >= 1,
        13 => e
            .moderation_history(&Subject::member(&room, &user))
            .iter()
            .any(|h| h.trail == trail(i)),
        9 => {
            e.member_mute_actions(&room, &user) == Some(Action::React.into())
                && e.can_send(&user, Target::room(&room))
        }
        10 => e.module_status(&user).actions(Module::Team) == Some(Action::JoinVoice.into()),
        11 => e.room_mute_actions(&format!("scoped{i}")) == Some(Action::Edit.into()),
        1 => !e.should_push(&user, &room),
        2 => e.is_allowed(&room, &user),
        3 => e.module_status(&user).is_muted(Module::P2p),
        4 => e.quiet_hours(&user).schedule == Some(always_quiet()),
        5 => !e.should_push_message(&user, "any", &Message::new().sent_by(&room)),
        6 => e.quiet_hours(&user).snoozed_until == Some(Expiry::Never),
        7 => !e.room_mentions(&format!("plain{i}")),
        _ => e.slow_mode(&format!("slow{i}")) == Some(Duration::from_secs(5)),
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
    let threads: usize = std::env::var(THREADS).map_or(1, |t| t.parse().expect("number"));
    let engine = open(&dir);
    let out = std::sync::Mutex::new(std::io::stdout());
    std::thread::scope(|s| {
        for t in 0..threads {
            let (engine, out) = (&engine, &out);
            // Thread t takes every threads-th mutation: disjoint keys per thread.
            s.spawn(move || {
                for i in (start + t..).step_by(threads) {
                    let line = if threads > 1 && i % 14 == 0 {
                        // Refused: an id over the length limit. It must never show up.
                        let refused = engine.mute_members(&room(i), [long(i)], MuteFor::Forever);
                        assert!(refused.is_err());
                        format!("refused {i}")
                    } else {
                        mutate(engine, i);
                        format!("ack {i}")
                    };
                    let mut out = out.lock().expect("stdout");
                    writeln!(out, "{line}").expect("stdout");
                    out.flush().expect("stdout");
                }
            });
        }
    });
}

/// An id over the default limit of 64 bytes, unique to `i`.
fn long(i: usize) -> String {
    format!("{i:0>70}")
}

#[test]
fn every_acknowledged_mutation_survives_sigkill() {
    sigkill_rounds(1);
}

#[test]
fn every_acknowledged_mutation_of_four_writer_threads_survives_sigkill() {
    sigkill_rounds(4);
}

/// Children with `threads` writer threads, killed with SIGKILL at varied moments; after
/// each, every acknowledged mutation is there and no refused one is.
fn sigkill_rounds(threads: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_str().expect("utf-8 path").to_owned();
    let mut acked: Vec<usize> = Vec::new();
    let mut refused: Vec<usize> = Vec::new();
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
            .env(THREADS, threads.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let reader = BufReader::new(child.stdout.take().expect("stdout"));
        let started = Instant::now();
        let mut seen = 0;
        for line in reader.lines() {
            let line = line.expect("read");
            if let Some(n) = line.strip_prefix("refused ") {
                refused.push(n.parse().expect("number"));
            }
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

        let found_prev = dir.path().join("ops.prev.log").exists();
        eprintln!("round {round}: ops.prev.log after the kill: {found_prev}");
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
        let planted: Vec<usize> = refused
            .iter()
            .copied()
            .filter(|&i| engine.member_mute(&room(i), &long(i)).is_some())
            .collect();
        assert!(
            planted.is_empty(),
            "round {round}: refused mutations present {planted:?}"
        );
        engine
            .verify_consistency()
            .expect("consistent after recovery");
        // Every index up to the largest seen was handed to some thread; start past it.
        next = acked.iter().chain(&refused).max().map_or(0, |&i| i + 1) + threads;
    }
    assert!(acked.len() > 7_000);
}
