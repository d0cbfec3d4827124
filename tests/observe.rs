//! What the engine reports through `tracing` and `metrics` (features of those names),
//! with a real subscriber and a real recorder installed for the whole process, as a
//! server installs them (the compaction is reported from the compactor thread): the
//! span and counters of one mutation, one denied check, one compaction. One test in this
//! binary, so nothing else reports into them.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use mutegate::{Engine, ManualClock, MuteFor, SyncPolicy, Target};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Writes every field as ` name=value`.
struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

/// Spans (with every field recorded over their life, written when they close) and
/// events, one line each.
#[derive(Clone, Default)]
struct Capture {
    lines: Arc<Mutex<Vec<String>>>,
    open: Arc<Mutex<HashMap<u64, String>>>,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut line = format!("span {}", attrs.metadata().name());
        attrs.record(&mut Fields(&mut line));
        self.open.lock().unwrap().insert(id.into_u64(), line);
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(line) = self.open.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(line));
        }
    }
    fn on_close(&self, id: Id, _: Context<'_, S>) {
        if let Some(line) = self.open.lock().unwrap().remove(&id.into_u64()) {
            self.lines.lock().unwrap().push(line);
        }
    }
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut line = format!("event {}", event.metadata().level());
        event.record(&mut Fields(&mut line));
        self.lines.lock().unwrap().push(line);
    }
}

/// One recorded metric: name, labels, value.
type Metric = (String, Vec<(String, String)>, DebugValue);

/// The counter (or gauge) with this name and these labels, if recorded.
fn value(snapshot: &[Metric], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    snapshot.iter().find_map(|(n, l, v)| {
        let matches = n == name
            && labels
                .iter()
                .all(|(k, val)| l.iter().any(|(lk, lv)| lk == k && lv == val));
        match (matches, v) {
            (true, DebugValue::Counter(c)) => Some(*c as f64),
            (true, DebugValue::Gauge(g)) => Some(g.into_inner()),
            (true, DebugValue::Histogram(h)) => Some(h.len() as f64),
            _ => None,
        }
    })
}

#[test]
fn one_mutation_one_denied_check_and_one_compaction_are_reported() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let dir = tempfile::tempdir().unwrap();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    metrics::set_global_recorder(recorder).unwrap();
    let engine = Engine::builder()
        .clock(ManualClock::new(1_700_000_000_000))
        .sync(SyncPolicy::EveryWrite)
        .compact_after(600)
        .open(dir.path())
        .unwrap();
    engine
        .mute_members("lobby", ["bob"], MuteFor::Forever)
        .unwrap();
    assert!(engine.check_send("ann", Target::room("lobby")).is_ok());
    assert!(engine.check_send("bob", Target::room("lobby")).is_err());
    assert!(engine.unmute_notifications("ann", "lobby").is_err());
    let before = capture.lines.lock().unwrap().len();
    let mut i = 0;
    while engine.health().compactions == 0 {
        engine.allow("lobby", [format!("u{i}")]).unwrap();
        i += 1;
    }
    drop(engine);
    let compaction_lines = capture.lines.lock().unwrap()[before..].to_vec();
    let lines = capture.lines.lock().unwrap().clone();
    let find = |needles: &[&str]| {
        lines
            .iter()
            .find(|l| needles.iter().all(|n| l.contains(n)))
            .unwrap_or_else(|| panic!("no line with {needles:?} in:\n{}", lines.join("\n")))
            .clone()
    };
    // The mutation's span: kind, ids, outcome and duration.
    let span = find(&[
        "span mutegate.mutation",
        "kind=mute_members",
        "room=lobby",
        "outcome=ok",
    ]);
    assert!(span.contains("duration_us="), "{span}");
    find(&[
        "span mutegate.mutation",
        "kind=set_notify",
        "user=ann",
        "outcome=refused",
    ]);
    // The denied check, at trace level; the allowed one says nothing.
    find(&[
        "event TRACE",
        "send denied",
        "user=bob",
        "reason=member_muted",
    ]);
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("event") && l.contains("user=ann")),
        "an allowed check was reported"
    );
    // Recovery on open, and the compaction with its size.
    find(&["event INFO", "mutegate store opened", "records=0"]);
    assert!(
        compaction_lines
            .iter()
            .any(|l| l.contains("mutegate compaction") && l.contains("snapshot_bytes=")),
        "{compaction_lines:?}"
    );

    let snapshot: Vec<Metric> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, v)| {
            let (_, key) = key.into_parts();
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            (key.name().to_owned(), labels, v)
        })
        .collect();
    let get = |name, labels: &[(&str, &str)]| value(&snapshot, name, labels);
    assert_eq!(
        get(
            "mutegate_mutations_total",
            &[("kind", "mute_members"), ("outcome", "ok")]
        ),
        Some(1.0)
    );
    assert_eq!(
        get(
            "mutegate_mutations_total",
            &[("kind", "set_notify"), ("outcome", "refused")]
        ),
        Some(1.0)
    );
    assert!(get("mutegate_mutation_seconds", &[("kind", "mute_members")]).unwrap() >= 1.0);
    assert_eq!(
        get(
            "mutegate_checks_denied_total",
            &[("reason", "member_muted")]
        ),
        Some(1.0)
    );
    assert_eq!(
        get("mutegate_compactions_total", &[("outcome", "ok")]),
        Some(1.0)
    );
    assert!(get("mutegate_fsyncs_total", &[("outcome", "ok")]).unwrap() >= 2.0);
    assert!(get("mutegate_log_bytes_total", &[]).unwrap() > 0.0);
    // Gauges of stored entries, kept from the changes (the engine never walked its state).
    assert_eq!(get("mutegate_entries", &[("kind", "member")]), Some(1.0));
    assert!(get("mutegate_entries", &[("kind", "allow")]).unwrap() >= 1.0);
}
