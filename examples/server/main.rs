//! The REST facade on 127.0.0.1 with the demo config: every vendor's routes, the seeds'
//! clients and rooms. See the README's "HTTP facade" section for curl calls.
//!
//! ```text
//! cargo run --example server --features http -- --port 8080
//! ```

mod demo;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use mutegate::Engine;

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
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let engine = match &args.dir {
        Some(dir) => Engine::builder().open(dir)?,
        None => Engine::new(),
    };
    let app = mutegate::http::router(Arc::new(engine), demo::config(), demo::directory());
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port))).await?;
    let addr = listener.local_addr()?;
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
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
