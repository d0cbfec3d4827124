//! What a check costs over the HTTP facade, beside the same check in process, in the same
//! run: one `POST /v1/can_send` round trip on loopback (keep-alive, reqwest client, server
//! on its own 2-worker tokio runtime), and one IMKit admin mute+unmute pair.
//!
//! `cargo bench --features http --bench http`

#[path = "../tests/common/demo.rs"]
#[allow(dead_code)]
mod demo;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mutegate::{Engine, MuteFor, Role, Target};

fn http(c: &mut Criterion) {
    let engine = Arc::new(Engine::new());
    engine
        .mute_members("12345678", ["user1"], MuteFor::Forever)
        .unwrap();
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = mutegate::http::router(Arc::clone(&engine), demo::config(), demo::directory());
    let listener = server
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    server.spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let body = r#"{"user":"user1","target":"12345678"}"#;
    let check = || {
        client
            .post(format!("{base}/v1/can_send"))
            .header("Authorization", format!("Bearer {}", demo::CHECK_TOKEN))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let admin = |method: reqwest::Method| {
        client
            .request(method, format!("{base}/admin/clients/aaa/mute/demo"))
            .header("IM-API-KEY", demo::IMKIT_API_KEY)
            .send()
    };
    // The answer is what the bench claims to measure.
    let answer: serde_json::Value =
        client_rt.block_on(async { check().await.unwrap().json().await.unwrap() });
    assert_eq!(answer["reason"], "member_muted", "{answer}");

    let mut g = c.benchmark_group("http");
    g.bench_function("can_send_in_process", |b| {
        b.iter(|| {
            black_box(engine.check_send_as(
                black_box("user1"),
                Target::room(black_box("12345678")),
                Role::Member,
            ))
        })
    });
    g.bench_function("can_send_over_http", |b| {
        b.iter(|| {
            client_rt.block_on(async {
                let resp = check().await.unwrap();
                black_box(resp.bytes().await.unwrap())
            })
        })
    });
    g.bench_function("imkit_mute_unmute_over_http", |b| {
        b.iter(|| {
            client_rt.block_on(async {
                let muted = admin(reqwest::Method::POST).await.unwrap();
                assert_eq!(muted.status(), 200);
                black_box(muted.bytes().await.unwrap());
                let unmuted = admin(reqwest::Method::DELETE).await.unwrap();
                assert_eq!(unmuted.status(), 200);
                black_box(unmuted.bytes().await.unwrap())
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    targets = http
}
criterion_main!(benches);
