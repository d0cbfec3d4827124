//! loadgen's report: the side-by-side table of the three sides.

use super::*;

/// The sides that ran: mutegate in memory always, the others unless skipped.
pub(super) struct Sides<'s> {
    pub memory: &'s Side,
    pub honest: Option<&'s Side>,
    pub naive: Option<&'s Side>,
    pub durable: Option<&'s Side>,
}

/// Prints the side-by-side table.
pub(super) fn report(a: &Args, stats: &mutegate::Stats, sides: &Sides<'_>, disk: u64, timer: u64) {
    let Sides {
        memory,
        honest,
        naive,
        durable,
    } = *sides;
    println!();
    println!(
        "mutegate loadgen: {} users x {} rooms, {} threads, {:.0}s per side",
        a.users, a.rooms, a.threads, a.seconds
    );
    println!(
        "state: {} notification, {} member, {} module, {} room-wide mutes, {} allow entries",
        stats.notification_mutes,
        stats.member_mutes,
        stats.module_mutes,
        stats.room_mutes,
        stats.allow_entries
    );
    println!();
    println!("sides:");
    println!("  mutegate, in memory: the engine with no store");
    println!(
        "  honest naive:        what a competent engineer writes: one RwLock<ahash HashMap> per kind of mute, nested by room then user, borrowed &str lookups (benches/support/honest.rs); the ratio column"
    );
    println!(
        "  old naive:           one RwLock<HashMap<(String, String), u64>> per kind of mute, SipHash, owned keys built per lookup (benches/support); a flattering baseline, kept as an extra column"
    );
    println!(
        "  mutegate, durable:   the engine on its embedded store, {}: each mutation is also appended to the operation log",
        a.sync.name()
    );
    println!();
    println!(
        "| measure | mutegate, in memory | honest naive | mutegate / honest naive | old naive | mutegate / old naive | mutegate, durable |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let ratio = |mine: f64, theirs: Option<f64>, higher_better: bool| match theirs {
        Some(v) if v > 0.0 && mine > 0.0 => {
            let r = if higher_better { mine / v } else { v / mine };
            if r >= 1.0 {
                format!("{r:.2}x faster")
            } else {
                format!("{:.2}x slower", 1.0 / r)
            }
        }
        _ => "-".into(),
    };
    let cell = |s: Option<&Side>, f: &dyn Fn(&Side) -> String| s.map_or("-".into(), f);
    let per_second =
        |pick: fn(&Tally) -> u64| move |s: &Side| pick(&s.tally) as f64 / s.wall.as_secs_f64();
    for (label, rate) in [
        (
            "messages (can_send + fan-out) per second",
            per_second(|t| t.messages),
        ),
        (
            "members filtered per second (push fan-out)",
            per_second(|t| t.fanned),
        ),
    ] {
        println!(
            "| {label} | {} | {} | {} | {} | {} | {} |",
            count(rate(memory)),
            cell(honest, &|s| count(rate(s))),
            ratio(rate(memory), honest.map(rate), true),
            cell(naive, &|s| count(rate(s))),
            ratio(rate(memory), naive.map(rate), true),
            cell(durable, &|s| count(rate(s))),
        );
    }
    type Pick = fn(&Tally) -> &Histogram<u64>;
    for (label, pick) in [
        ("can_send", (|t: &Tally| &t.send) as Pick),
        ("push_targets (one message)", |t: &Tally| &t.push),
        ("mutation", |t: &Tally| &t.mutate),
    ] {
        for q in [0.5, 0.99, 0.999] {
            let at = |s: &Side| pick(&s.tally).value_at_quantile(q) as f64;
            println!(
                "| {label} p{} | {} | {} | {} | {} | {} | {} |",
                q * 100.0,
                time(at(memory)),
                cell(honest, &|s| time(at(s))),
                ratio(at(memory), honest.map(at), false),
                cell(naive, &|s| time(at(s))),
                ratio(at(memory), naive.map(at), false),
                cell(durable, &|s| time(at(s))),
            );
        }
    }
    let filtered = |s: &Side| {
        let t = &s.tally;
        format!(
            "{:.2}% of {}",
            100.0 * (t.fanned - t.pushed) as f64 / t.fanned.max(1) as f64,
            count(t.fanned as f64)
        )
    };
    println!(
        "| pushes filtered out | {} | {} | - | {} | - | {} |",
        filtered(memory),
        cell(honest, &filtered),
        cell(naive, &filtered),
        cell(durable, &filtered)
    );
    let mib = |b: i64| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0));
    let heap = |s: &Side| s.heap.map_or("-".into(), mib);
    let smaller =
        |mine: Option<i64>, theirs: Option<&Side>| match (mine, theirs.and_then(|s| s.heap)) {
            (Some(m), Some(t)) if m > 0 && t > 0 => {
                let r = t as f64 / m as f64;
                if r >= 1.0 {
                    format!("{r:.2}x smaller")
                } else {
                    format!("{:.2}x larger", 1.0 / r)
                }
            }
            _ => "-".into(),
        };
    println!(
        "| memory (live heap of the store) | {} | {} | {} | {} | {} | {} |",
        heap(memory),
        cell(honest, &heap),
        smaller(memory.heap, honest),
        cell(naive, &heap),
        smaller(memory.heap, naive),
        cell(durable, &|_| format!("{} on disk", mib(disk as i64))),
    );
    // Every side holds the same state, so each heap is divided by the same count.
    let entries = stats.notification_mutes
        + stats.member_mutes
        + stats.module_mutes
        + stats.room_mutes
        + stats.allow_entries;
    let per_entry = |s: &Side| {
        s.heap.map_or("-".into(), |b| {
            format!("{:.0} B", b as f64 / entries.max(1) as f64)
        })
    };
    println!(
        "| bytes per active entry (live heap / {entries} entries) | {} | {} | - | {} | - | - |",
        per_entry(memory),
        cell(honest, &per_entry),
        cell(naive, &per_entry),
    );
    println!();
    println!("Latencies are per call and include about {timer} ns of timer overhead each.");
    println!(
        "One run is one sample: on a shared machine, runs of this job have differed by up to 6x. \
         Repeat it (3 runs, say) and compare medians before drawing a conclusion."
    );
    for n in [honest, naive].into_iter().flatten() {
        assert_eq!(
            n.tally.pushed > 0,
            memory.tally.pushed > 0,
            "every side pushed"
        );
    }
}
