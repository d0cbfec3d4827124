//! Contenders measured in short interleaved stretches (see `benches/interleaved.rs`):
//! each round every contender runs one untimed stretch, then one timed stretch of fresh
//! requests, the order rotating from round to round; ratios are taken per round, the
//! median over rounds is one run's figure, and three runs give the median and spread.

use std::hint::black_box;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Set by `--test` (what CI passes): every part runs once on small data, its
/// assertions checked, nothing worth quoting timed.
pub static QUICK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn quick() -> bool {
    QUICK.load(std::sync::atomic::Ordering::Relaxed)
}

/// Runs of every measure.
pub fn runs() -> usize {
    if quick() { 1 } else { 3 }
}

/// Rounds per run.
pub fn rounds() -> usize {
    if quick() { 2 } else { 25 }
}

/// One contender: runs requests `[start, start + len)` of its measure, returns a count
/// (so nothing is optimized away).
pub struct Contender<'a> {
    name: &'static str,
    run: Box<dyn FnMut(usize, usize) -> usize + 'a>,
}

impl<'a> Contender<'a> {
    pub fn new(name: &'static str, run: impl FnMut(usize, usize) -> usize + 'a) -> Contender<'a> {
        Contender {
            name,
            run: Box::new(run),
        }
    }
}

/// A contender that answers a yes/no question per request index, counting the yeses.
pub fn counting<'a>(name: &'static str, yes: impl Fn(usize) -> bool + 'a) -> Contender<'a> {
    Contender::new(name, move |s, n| (s..s + n).filter(|&i| yes(i)).count())
}

/// Per run, per contender: the median over rounds of its ns per request, and of its
/// ratio to the first contender (the baseline).
pub struct Measured {
    pub names: Vec<&'static str>,
    /// [run][contender] median ns per request.
    pub ns: Vec<Vec<f64>>,
    /// [run][contender] median ratio to contender 0.
    pub ratio: Vec<Vec<f64>>,
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Measures `contenders` over `total` requests, `stretch` per timed stretch.
pub fn interleave(
    contenders: &mut [Contender<'_>],
    total: usize,
    stretch: usize,
    seed: u64,
) -> Measured {
    let k = contenders.len();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Measured {
        names: contenders.iter().map(|c| c.name).collect(),
        ns: Vec::new(),
        ratio: Vec::new(),
    };
    let mut offset = || rng.random_range(0..total.saturating_sub(stretch).max(1));
    for _ in 0..runs() {
        let mut ns = vec![Vec::new(); k];
        let mut ratio = vec![Vec::new(); k];
        for round in 0..rounds() {
            let mut this = vec![0.0; k];
            for turn in 0..k {
                let i = (turn + round) % k;
                let c = &mut contenders[i];
                // Untimed on other requests, then timed on fresh ones: every contender
                // meets the same kind of (cold) keys, none warms another's.
                black_box((c.run)(offset(), stretch));
                let start = offset();
                let t = Instant::now();
                black_box((c.run)(start, stretch));
                this[i] = t.elapsed().as_nanos() as f64 / stretch as f64;
            }
            for i in 0..k {
                ns[i].push(this[i]);
                ratio[i].push(this[i] / this[0]);
            }
        }
        out.ns.push(ns.iter_mut().map(|v| median(v)).collect());
        out.ratio
            .push(ratio.iter_mut().map(|v| median(v)).collect());
    }
    out
}

/// Prints one measure: per contender, ns per request and ratio to the baseline, median of
/// the runs with the range.
pub fn report(title: &str, m: &Measured) {
    println!("\n{title}");
    println!(
        "  {:<34} {:>12} {:>24}",
        "contender", "ns/request", "/ baseline [range]"
    );
    for (i, name) in m.names.iter().enumerate() {
        let mut ns: Vec<f64> = m.ns.iter().map(|r| r[i]).collect();
        let mut ratio: Vec<f64> = m.ratio.iter().map(|r| r[i]).collect();
        let (lo, hi) = (
            ratio.iter().copied().fold(f64::INFINITY, f64::min),
            ratio.iter().copied().fold(0.0, f64::max),
        );
        println!(
            "  {:<34} {:>12.1} {:>10.2} [{:.2}-{:.2}]",
            name,
            median(&mut ns),
            median(&mut ratio),
            lo,
            hi
        );
    }
}
