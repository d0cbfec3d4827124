//! `mutegate-server`: mutegate's vendor-compatible REST facade as a deployable server,
//! configured by a TOML file and `MUTEGATE_...` environment variables for secrets.
//!
//! ```text
//! mutegate-server --config /etc/mutegate/mutegate.toml
//! mutegate-server --config mutegate.toml --check-config   # validate, exit 0 or 2
//! mutegate-server --print-default-config                  # every key, documented
//! ```
//!
//! Exit codes: 0 after a clean stop (SIGTERM or Ctrl-C drain the requests in flight),
//! 2 for a bad command line or config (one line naming the key), 1 when the server
//! cannot start (the store will not open, Redis cannot be reached, the port is taken).

#![forbid(unsafe_code)]

mod directory;
mod probes;
mod settings;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request};
use axum::routing::get;
use clap::Parser;
use metrics_exporter_prometheus::PrometheusBuilder;
use mutegate::Engine;
use mutegate::http::{self, StartError};
use tower_http::LatencyUnit;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use tracing_subscriber::EnvFilter;

use directory::ConfiguredDirectory;
use probes::Readiness;
use settings::{LogFormat, Settings, Storage};

/// The default config, every key with its default and what it does.
const DEFAULT_CONFIG: &str = include_str!("default.toml");

#[derive(Parser)]
#[command(
    name = "mutegate-server",
    version,
    about = "mutegate's vendor-compatible REST facade (IMKit, NetEase Yunxin, Agora Chat) and JSON checks"
)]
struct Args {
    /// The config file (TOML). Secrets may instead come from MUTEGATE_... variables.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check the config file and the MUTEGATE_... variables, then exit: 0 if good, 2 if not.
    #[arg(long)]
    check_config: bool,
    /// Print the default config, every key documented, and exit.
    #[arg(long)]
    print_default_config: bool,
}

/// Why the server did not run: a config error (exit 2) or a startup failure (exit 1).
enum Failure {
    Config(String),
    Start(String),
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(line)) => {
            eprintln!("mutegate-server: config error: {line}");
            ExitCode::from(2)
        }
        Err(Failure::Start(line)) => {
            eprintln!("mutegate-server: cannot start: {line}");
            ExitCode::from(1)
        }
    }
}

fn load(path: &PathBuf) -> Result<Settings, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Config(format!("{}: cannot read it: {e}", path.display())))?;
    let names: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .collect();
    settings::parse(&text, &|name| std::env::var(name).ok(), &names)
        .map_err(|e| Failure::Config(e.to_string()))
}

fn run(args: Args) -> Result<(), Failure> {
    if args.print_default_config {
        print!("{DEFAULT_CONFIG}");
        return Ok(());
    }
    let Some(path) = &args.config else {
        return Err(Failure::Config(
            "--config FILE is required (--print-default-config shows every key)".into(),
        ));
    };
    let settings = load(path)?;
    if args.check_config {
        println!(
            "config ok: {} on {}; {}",
            settings.served().join(", "),
            settings.bind,
            describe(&settings.storage)
        );
        return Ok(());
    }
    init_logs(settings.log_format, &settings.log_level);
    tracing::debug!(config = ?settings, "config");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Start(format!("no async runtime: {e}")))?;
    let (engine, readiness) = open(&settings.storage)?;
    let engine = Arc::new(engine);
    runtime.block_on(serve(settings, Arc::clone(&engine), readiness))?;
    engine
        .sync()
        .map_err(|e| Failure::Start(format!("the last sync failed: {e}")))?;
    println!("mutegate-server stopped");
    Ok(())
}

fn describe(storage: &Storage) -> String {
    match storage {
        Storage::Memory => "state in memory".into(),
        Storage::Durable { dir, sync } => {
            format!("durable store in {} (sync {sync:?})", dir.display())
        }
        Storage::Replicated { replication, .. } => format!("replicated: {replication:?}"),
    }
}

fn init_logs(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

fn open(storage: &Storage) -> Result<(Engine, Readiness), Failure> {
    let start = |what: String| move |e: mutegate::Error| Failure::Start(format!("{what}: {e}"));
    Ok(match storage {
        Storage::Memory => (Engine::new(), Readiness { max_behind: None }),
        Storage::Durable { dir, sync } => {
            let engine = Engine::builder()
                .sync(*sync)
                .open(dir)
                .map_err(start(format!("the store in {}", dir.display())))?;
            (engine, Readiness { max_behind: None })
        }
        Storage::Replicated {
            replication,
            ready_max_behind,
        } => {
            let engine = Engine::builder()
                .replicate((**replication).clone())
                .map_err(start("replication".into()))?;
            let readiness = Readiness {
                max_behind: Some(*ready_max_behind),
            };
            (engine, readiness)
        }
    })
}

/// `router` with one log line per request: method, route template (not the raw path:
/// ids stay out of the logs), status and latency.
fn with_request_log(router: axum::Router) -> axum::Router {
    router.layer(
        TraceLayer::new_for_http()
            .make_span_with(|req: &Request| {
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("(no route)", MatchedPath::as_str);
                tracing::info_span!("request", method = %req.method(), route = %route)
            })
            .on_request(())
            .on_response(
                DefaultOnResponse::new()
                    .level(Level::INFO)
                    .latency_unit(LatencyUnit::Micros),
            ),
    )
}

async fn serve(
    settings: Settings,
    engine: Arc<Engine>,
    readiness: Readiness,
) -> Result<(), Failure> {
    let served = settings.served().join(", ");
    let directory = ConfiguredDirectory::new(&settings.directory);
    let mut app = http::router(Arc::clone(&engine), settings.facade, directory)
        .merge(probes::routes(Arc::clone(&engine), readiness));
    if settings.metrics {
        let handle = PrometheusBuilder::new()
            .install_recorder()
            .map_err(|e| Failure::Start(format!("metrics: {e}")))?;
        let route = get(move || std::future::ready(handle.render()));
        app = app.merge(axum::Router::new().route("/metrics", route));
    }
    let app = with_request_log(app);
    let listener = http::bind(settings.bind)
        .await
        .map_err(|e: StartError| Failure::Start(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::Start(format!("the listener has no address: {e}")))?;
    println!("mutegate-server listening on http://{addr}; serving {served}");
    tracing::info!(%addr, served, "listening");
    http::serve(listener, app, settings.server, http::shutdown_signal())
        .await
        .map_err(|e| Failure::Start(format!("serving: {e}")))?;
    Ok(())
}
