//! The REST facade on 127.0.0.1 with the demo config: every vendor's routes, the seeds'
//! clients and rooms. See the README's "HTTP facade" section for curl calls.
//!
//! ```text
//! cargo run --example server --features http -- --port 8080
//! ```

mod demo;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use mutegate::Engine;
use mutegate::http::{self, ServerConfig, StartError};

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

async fn run(args: Args) -> Result<(), StartError> {
    let engine = match &args.dir {
        Some(dir) => Engine::builder()
            .open(dir)
            .map_err(|e| StartError::store(dir, e))?,
        None => Engine::new(),
    };
    let app = mutegate::http::router(Arc::new(engine), demo::config(), demo::directory());
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
