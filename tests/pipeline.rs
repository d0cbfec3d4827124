//! The write pipeline: requests queued together go out as one batch, and the batch
//! answers each caller for itself; awaited tickets are run by the engine's sequencer
//! thread, never by the awaiting one.

mod common;

use std::sync::{Arc, Mutex};

use common::T0;
use mutegate::{Engine, Error, Event, ManualClock, MuteFor, SyncPolicy, Target, Ticket};

fn engine() -> Engine {
    Engine::builder().clock(ManualClock::new(T0)).build()
}

#[test]
fn a_batch_with_one_refused_request_refuses_only_that_caller() {
    let e = engine();
    // Queued without waiting: the first wait runs them as one batch.
    let a = e.submit().mute_notifications("ann", "lobby");
    let b = e.submit().unmute_notifications("bob", "lobby");
    let c = e.submit().mute_room("hall", MuteFor::Forever);
    assert_eq!(a.wait(), Ok(()));
    assert!(matches!(b.wait(), Err(Error::NotMuted { .. })));
    assert!(c.wait().is_ok());
    assert_eq!(e.muted_rooms("ann"), ["lobby"]);
    assert!(e.room_mute("hall").is_some());
    e.verify_consistency().unwrap();
}

#[test]
fn a_request_that_depends_on_an_earlier_one_in_the_queue_sees_it() {
    let e = engine();
    let mute = e.submit().mute_notifications("ann", "lobby");
    let unmute = e.submit().unmute_notifications("ann", "lobby");
    let again = e.submit().unmute_notifications("ann", "lobby");
    assert_eq!(mute.wait(), Ok(()));
    assert_eq!(
        unmute.wait(),
        Ok(()),
        "the unmute sees the mute queued before it"
    );
    assert!(
        matches!(again.wait(), Err(Error::NotMuted { .. })),
        "and the second unmute sees the first"
    );
    assert!(e.muted_rooms("ann").is_empty());
}

#[test]
fn answers_follow_the_order_of_the_queue() {
    let e = engine();
    let tickets: Vec<Ticket<usize>> = (0..50)
        .map(|i| {
            if i % 2 == 0 {
                e.submit()
                    .mute_members("r", ["u"], MuteFor::Forever)
                    .wait()
                    .unwrap();
            }
            e.submit().unmute_members("r", ["u"])
        })
        .collect();
    let lifted: Vec<usize> = tickets.into_iter().map(|t| t.wait().unwrap()).collect();
    let expected: Vec<usize> = (0..50).map(|i| usize::from(i % 2 == 0)).collect();
    assert_eq!(lifted, expected);
}

#[test]
fn a_refused_call_is_answered_at_once_and_changes_nothing() {
    let e = engine();
    let t = e.submit().mute_members("", ["u"], MuteFor::Forever);
    assert!(matches!(t.wait(), Err(Error::EmptyId { .. })));
    assert_eq!(e.stats().rooms, 0);
}

#[test]
fn a_dropped_ticket_still_has_its_mutation_applied() {
    for durable in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let builder = Engine::builder().clock(ManualClock::new(T0));
        let e = if durable {
            builder.open(dir.path()).unwrap()
        } else {
            builder.build()
        };
        drop(e.submit().mute_room("r", MuteFor::Forever));
        // The sequencer thread runs it (or the next blocking call, whichever comes first).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while e.room_mute("r").is_none() {
            assert!(std::time::Instant::now() < deadline, "never applied");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

#[test]
fn awaited_tickets_are_run_by_the_sequencer_thread() {
    let dir = tempfile::tempdir().unwrap();
    let e = Arc::new(
        Engine::builder()
            .clock(ManualClock::new(T0))
            .sync(SyncPolicy::EveryWrite)
            .open(dir.path())
            .unwrap(),
    );
    let threads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&threads);
    e.subscribe(move |_: &Event| {
        let name = std::thread::current().name().unwrap_or("").to_owned();
        seen.lock().unwrap().push(name);
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = Arc::clone(&e);
    runtime.block_on(async move {
        for i in 0..20 {
            engine
                .submit()
                .mute_members("r", [format!("u{i}")], MuteFor::Forever)
                .await
                .unwrap();
        }
    });
    assert!(!e.can_send("u7", Target::room("r")));
    let threads = threads.lock().unwrap();
    assert_eq!(threads.len(), 20);
    assert!(
        threads.iter().all(|t| t == "mutegate-sequencer"),
        "the log write and fsync ran on {threads:?}"
    );
}

#[test]
fn many_writer_threads_are_answered_exactly_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::builder()
        .clock(ManualClock::new(T0))
        .sync(SyncPolicy::EveryWrite)
        .compact_after(8 << 10)
        .open(dir.path())
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let e = &e;
            s.spawn(move || {
                for i in 0..150 {
                    let user = format!("t{t}-u{i}");
                    e.mute_members("r", [&user], MuteFor::Forever).unwrap();
                    assert_eq!(e.unmute_members("r", [&user, &user]).unwrap(), 1);
                    e.allow("r", [&user]).unwrap();
                }
            });
        }
    });
    assert_eq!(e.allow_list("r").len(), 8 * 150);
    assert!(e.muted_members("r").is_empty());
    e.verify_consistency().unwrap();
    // One more record, so the explicit compaction below always has a log to fold (the
    // last automatic switch may have left it empty), on top of the automatic ones.
    e.mute_room("other", MuteFor::Forever).unwrap();
    e.compact().unwrap();
    assert!(e.health().compactions > 1, "{:?}", e.health());
    drop(e);
    let e = Engine::builder().open(dir.path()).unwrap();
    assert_eq!(e.allow_list("r").len(), 8 * 150);
}

#[test]
fn writers_keep_writing_while_a_large_state_is_compacted() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Engine::builder()
            .clock(ManualClock::new(T0))
            .compact_after(1 << 40)
            .open(dir.path())
            .unwrap()
    };
    let e = open();
    // A state large enough that folding it takes a while: queued together, written in
    // large batches.
    let tickets: Vec<Ticket<_>> = (0..50_000)
        .map(|i| {
            e.submit().mute_members(
                &format!("room{}", i % 500),
                [format!("big{i}")],
                MuteFor::Forever,
            )
        })
        .collect();
    for t in tickets {
        t.wait().unwrap();
    }
    // The finished log is there from the switch until the compactor has folded it.
    let prev = dir.path().join("ops.prev.log");
    let done = AtomicBool::new(false);
    let during = AtomicUsize::new(0);
    let (written, worst) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let (mut n, mut worst) = (0usize, Duration::ZERO);
            while !done.load(Ordering::Acquire) {
                let started = Instant::now();
                e.mute_members("lobby", [format!("w{n}")], MuteFor::Forever)
                    .unwrap();
                worst = worst.max(started.elapsed());
                if prev.exists() {
                    during.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
            (n, worst)
        });
        std::thread::sleep(Duration::from_millis(20));
        e.compact().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        done.store(true, Ordering::Release);
        writer.join().unwrap()
    });
    let during = during.load(Ordering::Relaxed);
    eprintln!("{written} writes, {during} of them during the compaction; worst wait {worst:?}");
    // A compaction that held the writer for its whole run would let no write finish
    // while the finished log waits to be folded.
    assert!(during > 0, "the writer was held up during the compaction");
    assert_eq!(e.health().compactions, 1);
    assert_eq!(e.muted_members("lobby").len(), written);
    drop(e);
    let e = open();
    assert_eq!(e.muted_members("lobby").len(), written);
    assert_eq!(e.muted_members("room7").len(), 100);
}

#[test]
fn a_blocking_call_never_overtakes_requests_queued_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::builder()
        .clock(ManualClock::new(T0))
        .sync(SyncPolicy::Never)
        .open(dir.path())
        .unwrap();
    for i in 0..50 {
        let room = format!("r{i}");
        // Queued, not yet run: the pipeline is idle, so the blocking call below could
        // run at once on its own thread, but only after what is queued.
        let queued = e.submit().mute_notifications("ann", &room);
        e.unmute_notifications("ann", &room)
            .expect("the queued mute was applied first");
        queued.wait().unwrap();
        assert!(e.should_push("ann", &room));
    }
}
