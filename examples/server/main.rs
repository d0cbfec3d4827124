//! The REST facade on 127.0.0.1 with the demo config: every vendor's routes, the seeds'
//! clients and rooms. See the README's "HTTP facade" section for curl calls.
//!
//! It logs one line per request and the engine's spans and events to stderr (filter
//! with `RUST_LOG`, default `info`), and serves the engine's metrics in Prometheus's
//! text format on `/metrics`.
//!
//! ```text
//! cargo run --example server --features http,tracing,metrics -- --port 8080
//! ```

mod demo;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request};
use axum::routing::get;
use clap::Parser;
use metrics_exporter_prometheus::PrometheusBuilder;
use mutegate::Engine;
use mutegate::http::{self, ServerConfig, StartError};
use tower_http::LatencyUnit;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(about = "mutegate's vendor-compatible REST facade, with the demo config")]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Keep the mutes in this directory (durable); in memory if not given.
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `GET /metrics`: the engine's metrics in Prometheus's text format.
fn metrics_route() -> axum::Router {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .expect("the only metrics recorder of this process");
    axum::Router::new().route("/metrics", get(move || std::future::ready(handle.render())))
}

/// `router` with one log line per request: method, route template (not the raw path:
/// ids stay out of the logs and the line stays short), status and latency.
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

async fn run(args: Args) -> Result<(), StartError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let engine = match &args.dir {
        Some(dir) => Engine::builder()
            .open(dir)
            .map_err(|e| StartError::store(dir, e))?,
        None => Engine::new(),
    };
    let app = mutegate::http::router(Arc::new(engine), demo::config(), demo::directory())
        .merge(metrics_route());
    let app = with_request_log(app);
    let listener = http::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port))).await?;
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    println!("mutegate facade on http://{addr}");
    println!(
        "  IMKit   IM-API-KEY: {}   IM-CLIENT-KEY: {}   IM-Authorization: {}",
        demo::IMKIT_API_KEY,
        demo::IMKIT_CLIENT_KEY,
        demo::IMKIT_TOKEN
    );
    println!(
        "  NetEase AppKey: {}   AppSecret: {}",
        demo::NETEASE_APP_KEY,
        demo::NETEASE_APP_SECRET
    );
    println!(
        "  Agora   /{}/{}/chatrooms/12345678/...   Authorization: Bearer {}",
        demo::AGORA_ORG,
        demo::AGORA_APP,
        demo::AGORA_TOKEN
    );
    println!("  checks  Authorization: Bearer {}", demo::CHECK_TOKEN);
    println!(
        "try: curl -X POST http://{addr}/admin/clients/aaa/mute/demo -H 'IM-API-KEY: {}'",
        demo::IMKIT_API_KEY
    );
    // Serving never fails as a whole; one connection's failure ends only that one.
    let _ = http::serve(
        listener,
        app,
        ServerConfig::default(),
        http::shutdown_signal(),
    )
    .await;
    println!("mutegate facade stopped");
    Ok(())
}
