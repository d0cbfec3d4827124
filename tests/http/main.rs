//! The REST facade end to end: a real server on 127.0.0.1 port 0, a real HTTP client.
//!
//! Each seed's example request is replayed and its example response compared field by
//! field; every documented error, the auth failures and the rate limits are exercised.
//! The engine runs on a `ManualClock`, so times in responses are exact and "the 101st
//! call in a second" is exactly that.

#[path = "../common/demo.rs"]
#[allow(dead_code)]
mod demo;

mod agora;
mod checks;
mod imkit;
mod moderation;
mod netease;
mod rules;
mod trail;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mutegate::http::{Client, Directory, InMemoryDirectory};
use mutegate::{Clock, Engine, ManualClock, Module, MuteFor, Target};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

/// 2020-10-09T15:11:17.153Z: seed 000's `updatedAt`.
const SEED_000_MS: u64 = 1_602_256_277_153;
/// 2020-10-09T15:11:34.216Z: seed 001's `updatedAt`.
const SEED_001_MS: u64 = 1_602_256_294_216;

/// The demo directory, counting how often the facade consults it.
struct Counting {
    inner: InMemoryDirectory,
    calls: Arc<AtomicUsize>,
}

impl Directory for Counting {
    fn client(&self, uid: &str) -> impl Future<Output = Option<Client>> + Send {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.client(uid)
    }
    fn room_exists(&self, room: &str) -> impl Future<Output = bool> + Send {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.room_exists(room)
    }
    fn client_for_token(&self, token: &str) -> impl Future<Output = Option<String>> + Send {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.client_for_token(token)
    }
}

struct Server {
    base: String,
    engine: Arc<Engine>,
    clock: ManualClock,
    http: reqwest::Client,
    /// Events the engine emitted: any mutation shows here.
    events: Arc<AtomicUsize>,
    /// Directory look-ups.
    lookups: Arc<AtomicUsize>,
}

async fn start_with(now_ms: u64, config: mutegate::http::Config) -> Server {
    let clock = ManualClock::new(now_ms);
    let engine = Arc::new(Engine::builder().clock(clock.clone()).build());
    let events = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&events);
    engine.subscribe(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    let lookups = Arc::new(AtomicUsize::new(0));
    let long_id = Client::new("x".repeat(65));
    let directory = Counting {
        inner: demo::directory()
            .with_client(long_id)
            .with_client(Client::new("a".repeat(32)))
            .with_client(Client::new("a".repeat(33))),
        calls: Arc::clone(&lookups),
    };
    let app = mutegate::http::router(Arc::clone(&engine), config, directory);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        base: format!("http://{addr}"),
        engine,
        clock,
        http: reqwest::Client::new(),
        events,
        lookups,
    }
}

async fn start(now_ms: u64) -> Server {
    start_with(now_ms, demo::config()).await
}

impl Server {
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    fn imkit_admin(&self, method: Method, uid: &str, room: &str) -> RequestBuilder {
        self.request(method, &format!("/admin/clients/{uid}/mute/{room}"))
            .header("IM-API-KEY", demo::IMKIT_API_KEY)
    }

    fn imkit_me(&self, method: Method, room: &str, token: &str) -> RequestBuilder {
        self.request(method, &format!("/me/mute/{room}"))
            .header("IM-CLIENT-KEY", demo::IMKIT_CLIENT_KEY)
            .header("IM-Authorization", token)
    }

    /// A muteModule call signed with `secret` at `cur_time` (Unix seconds).
    fn netease_signed(&self, body: &str, secret: &str, cur_time: u64) -> RequestBuilder {
        let nonce = "4tgg23t23t";
        let sum: String = Sha1::digest(format!("{secret}{nonce}{cur_time}"))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.request(Method::POST, "/nimserver/user/muteModule.action")
            .header("AppKey", demo::NETEASE_APP_KEY)
            .header("Nonce", nonce)
            .header("CurTime", cur_time.to_string())
            .header("CheckSum", sum)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
    }

    /// A muteModule call signed now with the demo secret.
    fn netease(&self, body: &str) -> RequestBuilder {
        self.netease_signed(body, demo::NETEASE_APP_SECRET, self.clock.now_ms() / 1000)
    }

    fn agora(&self, method: Method, tail: &str) -> RequestBuilder {
        let path = format!("/{}/{}/chatrooms/{tail}", demo::AGORA_ORG, demo::AGORA_APP);
        self.request(method, &path)
            .header("Authorization", format!("Bearer {}", demo::AGORA_TOKEN))
            .header("Accept", "application/json")
    }

    fn check(&self, path: &str, body: Value) -> RequestBuilder {
        self.request(Method::POST, path)
            .header("Authorization", format!("Bearer {}", demo::CHECK_TOKEN))
            .json(&body)
    }

    fn events(&self) -> usize {
        self.events.load(Ordering::SeqCst)
    }

    fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }
}

/// Sends a request; the HTTP status and the JSON body.
async fn send(req: RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, body)
}

/// Asserts `actual` has exactly `expected`'s fields, recursively, with equal values,
/// except under the keys in `vary`, where only the JSON type must agree.
fn assert_like(actual: &Value, expected: &Value, vary: &[&str]) {
    fn walk(a: &Value, e: &Value, vary: &[&str], at: &str) {
        match (a, e) {
            (Value::Object(a), Value::Object(e)) => {
                let ak: Vec<&String> = a.keys().collect();
                let ek: Vec<&String> = e.keys().collect();
                let (mut aks, mut eks) = (ak.clone(), ek.clone());
                aks.sort();
                eks.sort();
                assert_eq!(aks, eks, "fields at {at}");
                for (k, ev) in e {
                    let path = format!("{at}.{k}");
                    if vary.contains(&k.as_str()) {
                        assert_eq!(
                            std::mem::discriminant(&a[k]),
                            std::mem::discriminant(ev),
                            "type at {path}"
                        );
                    } else {
                        walk(&a[k], ev, vary, &path);
                    }
                }
            }
            (Value::Array(a), Value::Array(e)) => {
                assert_eq!(a.len(), e.len(), "length at {at}");
                for (i, (a, e)) in a.iter().zip(e).enumerate() {
                    walk(a, e, vary, &format!("{at}[{i}]"));
                }
            }
            _ => assert_eq!(a, e, "value at {at}"),
        }
    }
    walk(actual, expected, vary, "$");
}

// ----- across vendors -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_are_linearizable() {
    let rooms: Vec<String> = (0..120).map(|i| format!("room-{i}")).collect();
    let clock = ManualClock::new(SEED_000_MS);
    let engine = Arc::new(Engine::builder().clock(clock).build());
    let directory = rooms
        .iter()
        .fold(demo::directory(), |d, r| d.with_room(r.clone()));
    let app = mutegate::http::router(Arc::clone(&engine), demo::config(), directory);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let call = |method: Method, room: &str| {
        http.request(method, format!("{base}/admin/clients/aaa/mute/{room}"))
            .header("IM-API-KEY", demo::IMKIT_API_KEY)
            .send()
    };

    // Six clients mute disjoint rooms at once: every mute lands, once.
    let mut tasks = Vec::new();
    for chunk in rooms.chunks(20) {
        let futures: Vec<_> = chunk.iter().map(|r| call(Method::POST, r)).collect();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            for f in futures {
                ok += usize::from(f.await.unwrap().status() == 200);
            }
            ok
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap();
    }
    assert_eq!(ok, rooms.len());
    let mut muted = engine.muted_rooms("aaa");
    muted.sort();
    let mut want = rooms.clone();
    want.sort();
    assert_eq!(muted, want);

    // Two clients race to unmute each room: exactly one wins, the other is told
    // ROOM_NOT_MUTED.
    let mut racers = Vec::new();
    for _ in 0..2 {
        let futures: Vec<_> = rooms.iter().map(|r| call(Method::DELETE, r)).collect();
        racers.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for f in futures {
                statuses.push(f.await.unwrap().status().as_u16());
            }
            statuses
        }));
    }
    let a = racers.remove(0).await.unwrap();
    let b = racers.remove(0).await.unwrap();
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let mut pair = [*x, *y];
        pair.sort_unstable();
        assert_eq!(pair, [200, 400], "room {i}");
    }
    assert!(engine.muted_rooms("aaa").is_empty());
    engine.verify_consistency().unwrap();
}
