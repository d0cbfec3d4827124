//! The REST facade end to end: a real server on 127.0.0.1 port 0, a real HTTP client.
//!
//! Each seed's example request is replayed and its example response compared field by
//! field; every documented error, the auth failures and the rate limits are exercised.
//! The engine runs on a `ManualClock`, so times in responses are exact and "the 101st
//! call in a second" is exactly that.

#[path = "../examples/server/demo.rs"]
#[allow(dead_code)]
mod demo;

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

// ----- IMKit -----

/// Seed 000's example response, with `mute` as given.
fn seed_000_client(mute: Value, updated_at: &str) -> Value {
    json!({
        "RC": 0,
        "RM": "OK",
        "result": {
            "mute": mute,
            "isRobot": false,
            "_id": "aaa",
            "__v": 0,
            "appID": "SampleApp",
            "description": "description la la #1541926309694",
            "avatarUrl": "http://loremflickr.com/240/240/style?1569804629",
            "nickname": "AAA",
            "email": "arielle.mckellar@coolgoose.ca",
            "address": { "address": "::1", "family": "IPv6", "port": 50392 },
            "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_3) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/80.0.3987.132 Safari/537.36",
            "updatedAt": updated_at,
            "id": "aaa",
            "lastLoginTimeMS": 1_583_726_632_592_u64
        }
    })
}

#[tokio::test]
async fn imkit_seed_000_and_001_replayed_exactly() {
    let s = start(SEED_000_MS).await;
    let (status, body) = send(s.imkit_admin(Method::POST, "aaa", "demo")).await;
    assert_eq!(status, 200);
    assert_like(
        &body,
        &seed_000_client(json!(["demo"]), "2020-10-09T15:11:17.153Z"),
        &[],
    );
    assert!(!s.engine.should_push("aaa", "demo"));
    assert!(
        s.engine.can_send("aaa", Target::room("demo")),
        "notifications only"
    );

    s.clock.set(SEED_001_MS);
    let (status, body) = send(s.imkit_admin(Method::DELETE, "aaa", "demo")).await;
    assert_eq!(status, 200);
    assert_like(
        &body,
        &seed_000_client(json!([]), "2020-10-09T15:11:34.216Z"),
        &[],
    );
    assert!(s.engine.should_push("aaa", "demo"));
}

#[tokio::test]
async fn imkit_seed_002_replayed_exactly() {
    let s = start(SEED_000_MS).await;
    let (status, body) =
        send(s.imkit_me(Method::POST, "58871b877390be11d5f1ab30", demo::IMKIT_TOKEN)).await;
    assert_eq!(status, 200);
    let expected = json!({
        "RC": 0,
        "RM": "OK",
        "result": {
            "_id": "1485248560558",
            "email": "test@test.com",
            "nickname": "Test AB",
            "appID": "SampleApp",
            "avatarUrl": "http://example.com/avatarUrl",
            "address": { "port": 56216, "family": "IPv6", "address": "::1" },
            "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6) AppleWebKit/537.36",
            "mute": ["58871b877390be11d5f1ab30"],
            "lastLoginTimeMS": 1_487_068_306_745_u64
        }
    });
    assert_like(&body, &expected, &[]);
    assert!(
        !s.engine
            .should_push("1485248560558", "58871b877390be11d5f1ab30")
    );
}

#[tokio::test]
async fn imkit_mute_list_keeps_order_and_one_entry_per_room() {
    let s = start(SEED_000_MS).await;
    for room in ["demo-room", "demo", "demo-room"] {
        let (status, _) = send(s.imkit_admin(Method::POST, "aaa", room)).await;
        assert_eq!(status, 200);
    }
    // `limit` and `skip` are accepted and change nothing.
    let req = s
        .request(Method::POST, "/admin/clients/aaa/mute/demo?limit=1&skip=5")
        .header("IM-API-KEY", demo::IMKIT_API_KEY);
    let (status, body) = send(req).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["mute"], json!(["demo-room", "demo"]));
    // /me for `aaa` sees and changes the same list.
    let (status, body) = send(s.imkit_me(Method::DELETE, "demo-room", demo::IMKIT_TOKEN_AAA)).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["mute"], json!(["demo"]));
    assert!(
        body["result"].get("updatedAt").is_none(),
        "/me answers as seed 002"
    );
    assert_eq!(s.engine.muted_rooms("aaa"), ["demo"]);
}

fn imkit_error(rc: u16, rm: &str, code: &str, message: &str) -> Value {
    json!({ "RC": rc, "RM": rm, "error": { "code": code, "message": message } })
}

#[tokio::test]
async fn imkit_documented_errors_in_the_seed_envelope() {
    let s = start(SEED_000_MS).await;
    let unauthorized = imkit_error(
        401,
        "Unauthorized",
        "INVALID_API_KEY",
        "Invalid or missing API key",
    );
    let no_key = s.request(Method::POST, "/admin/clients/aaa/mute/demo");
    assert_eq!(send(no_key).await, (401, unauthorized.clone()));
    for wrong in ["demo-imkit-api-kez", "demo-imkit-api-keyy", "", "x"] {
        let req = s
            .request(Method::POST, "/admin/clients/aaa/mute/demo")
            .header("IM-API-KEY", wrong);
        assert_eq!(
            send(req).await,
            (401, unauthorized.clone()),
            "key {wrong:?}"
        );
    }
    // The client key is not an admin key.
    let req = s
        .request(Method::DELETE, "/admin/clients/aaa/mute/demo")
        .header("IM-API-KEY", demo::IMKIT_CLIENT_KEY);
    assert_eq!(send(req).await, (401, unauthorized));

    let client_nf = imkit_error(
        404,
        "Client not found",
        "CLIENT_NOT_FOUND",
        "The specified client does not exist",
    );
    assert_eq!(
        send(s.imkit_admin(Method::POST, "nobody", "demo")).await,
        (404, client_nf.clone())
    );
    assert_eq!(
        send(s.imkit_admin(Method::DELETE, "nobody", "demo")).await,
        (404, client_nf)
    );
    let room_nf = imkit_error(
        404,
        "Room not found",
        "ROOM_NOT_FOUND",
        "The specified room does not exist",
    );
    assert_eq!(
        send(s.imkit_admin(Method::POST, "aaa", "nowhere")).await,
        (404, room_nf.clone())
    );
    assert_eq!(
        send(s.imkit_me(Method::POST, "nowhere", demo::IMKIT_TOKEN)).await,
        (404, room_nf)
    );
    let not_muted = imkit_error(
        400,
        "Room is not muted",
        "ROOM_NOT_MUTED",
        "The specified room is not in the mute list",
    );
    assert_eq!(
        send(s.imkit_admin(Method::DELETE, "aaa", "demo")).await,
        (400, not_muted.clone())
    );
    assert_eq!(
        send(s.imkit_me(Method::DELETE, "demo", demo::IMKIT_TOKEN)).await,
        (400, not_muted)
    );

    // An id the engine refuses: a 400 naming it.
    let long = "x".repeat(65);
    let (status, body) = send(s.imkit_admin(Method::POST, &long, "demo")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "INVALID_PARAMETER");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("65 bytes"),
        "{body}"
    );

    assert_eq!(s.events(), 0, "no error changed anything");
    assert!(s.engine.muted_rooms("aaa").is_empty());
}

#[tokio::test]
async fn imkit_me_needs_client_key_and_token() {
    let s = start(SEED_000_MS).await;
    let path = "/me/mute/demo";
    let cases = [
        (None, Some(demo::IMKIT_TOKEN), "INVALID_CLIENT_KEY"),
        (Some("wrong"), Some(demo::IMKIT_TOKEN), "INVALID_CLIENT_KEY"),
        (
            Some(demo::IMKIT_API_KEY),
            Some(demo::IMKIT_TOKEN),
            "INVALID_CLIENT_KEY",
        ),
        (Some(demo::IMKIT_CLIENT_KEY), None, "INVALID_AUTHORIZATION"),
        (
            Some(demo::IMKIT_CLIENT_KEY),
            Some(""),
            "INVALID_AUTHORIZATION",
        ),
        (
            Some(demo::IMKIT_CLIENT_KEY),
            Some("demo-token-148524856055"),
            "INVALID_AUTHORIZATION",
        ),
    ];
    for (key, token, code) in cases {
        let mut req = s.request(Method::POST, path);
        if let Some(key) = key {
            req = req.header("IM-CLIENT-KEY", key);
        }
        if let Some(token) = token {
            req = req.header("IM-Authorization", token);
        }
        let (status, body) = send(req).await;
        assert_eq!(
            (status, body["RC"].clone()),
            (401, json!(401)),
            "{key:?} {token:?}"
        );
        assert_eq!(body["error"]["code"], code, "{key:?} {token:?}");
    }
    assert_eq!(s.events(), 0);
}

#[tokio::test]
async fn imkit_unknown_routes_and_methods_answer_in_its_envelope() {
    let s = start(SEED_000_MS).await;
    let req = s
        .request(Method::GET, "/admin/clients/aaa/mute/demo")
        .header("IM-API-KEY", demo::IMKIT_API_KEY);
    let (status, body) = send(req).await;
    assert_eq!((status, &body["RC"]), (405, &json!(405)));
    assert_eq!(body["error"]["code"], "METHOD_NOT_ALLOWED");
    let (status, body) = send(s.request(Method::POST, "/admin/clients/aaa/mutes/demo")).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("NOT_FOUND")));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/admin/clients/aaa/mutes/demo")
    );
}

// ----- NetEase -----

#[tokio::test]
async fn netease_seed_003_replayed() {
    let s = start(SEED_000_MS).await;
    let (status, body) = send(s.netease("accid=123123&muteP2P=true")).await;
    assert_eq!(status, 200);
    // The seed's sample response has these fields; its values (muteP2P false, muteTeam
    // true) contradict its own request, so the values compared are the request's.
    let sample = json!({ "code": 200, "data": {
        "muteP2P": false, "muteTeam": true, "muteRoom": false, "muteQChat": false } });
    assert_like(&body, &sample, &["muteP2P", "muteTeam"]);
    assert_eq!(
        body["data"],
        json!({ "muteP2P": true, "muteTeam": false, "muteRoom": false, "muteQChat": false })
    );
    assert!(!s.engine.can_send("123123", Target::p2p("bbb")));
    assert!(s.engine.can_send("123123", Target::team("t")));

    // The seed's curl URL doubles the prefix; that path works too.
    let mut req = s.netease("accid=123123&muteP2P=false&muteTeam=true");
    let built = req.build().unwrap();
    let mut doubled = built.try_clone().unwrap();
    *doubled.url_mut() = format!("{}/nimserver/nimserver/user/muteModule.action", s.base)
        .parse()
        .unwrap();
    let resp = s.http.execute(doubled).await.unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["data"],
        json!({ "muteP2P": false, "muteTeam": true, "muteRoom": false, "muteQChat": false })
    );
    assert_eq!(
        s.engine.module_status("123123").expiry(Module::Team),
        Some(mutegate::Expiry::Never)
    );
    req = s.netease("accid=123123&muteTeam=false&muteRoom=false&muteQChat=false");
    let (_, body) = send(req).await;
    assert_eq!(body["data"]["muteTeam"], false);
    assert!(s.engine.module_status("123123").is_clear());
}

#[tokio::test]
async fn netease_checksum_matches_an_independent_computation() {
    // sha1("demo-netease-app-secret" + "4tgg23t23t" + "1602256277"), from Python's hashlib.
    let s = start(1_602_256_277_000).await;
    let req = s
        .request(Method::POST, "/nimserver/user/muteModule.action")
        .header("AppKey", demo::NETEASE_APP_KEY)
        .header("Nonce", "4tgg23t23t")
        .header("CurTime", "1602256277")
        .header("CheckSum", "1d15d05542529ec45d60091d534098e9048f54bf")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("accid=123123&muteRoom=true");
    let (status, body) = send(req).await;
    assert_eq!((status, &body["code"]), (200, &json!(200)), "{body}");
    assert_eq!(body["data"]["muteRoom"], true);
}

fn netease_error(code: u16, desc: &str) -> Value {
    json!({ "code": code, "desc": desc })
}

#[tokio::test]
async fn netease_parameter_errors_are_414_and_change_nothing() {
    let s = start(SEED_000_MS).await;
    assert_eq!(
        send(s.netease("accid=123123")).await,
        (200, netease_error(414, "missing required parameter"))
    );
    let cases = [
        ("muteP2P=true", "accid"),
        ("accid=&muteP2P=true", "accid"),
        (
            &format!("accid={}&muteP2P=true", "a".repeat(33)),
            "33 characters",
        ),
        ("accid=123123&muteP2P=yes", "muteP2P"),
        ("accid=123123&muteTeam=1", "muteTeam"),
        ("accid=%FF%FE&muteTeam=true", "not a form"),
        (
            "accid=123123&accid=bbb&muteTeam=true",
            "accid is given twice",
        ),
        (
            "accid=123123&muteRoom=true&muteRoom=false",
            "muteRoom is given twice",
        ),
    ];
    for (body, named) in cases {
        let (status, resp) = send(s.netease(body)).await;
        assert_eq!(
            (status, &resp["code"]),
            (200, &json!(414)),
            "{body}: {resp}"
        );
        let desc = resp["desc"].as_str().unwrap();
        assert!(desc.contains(named), "{body}: {desc}");
    }
    // 32 characters is within the limit.
    let (_, resp) = send(s.netease(&format!("accid={}&muteP2P=true", "a".repeat(32)))).await;
    assert_eq!(resp["code"], 200);
    let before = s.events();
    // An accid the directory does not know.
    let (_, resp) = send(s.netease("accid=ghost&muteP2P=true")).await;
    assert_eq!(resp["code"], 404);
    // An oversized body.
    let big = format!("accid=123123&muteP2P=true&pad={}", "x".repeat(70_000));
    let (status, resp) = send(s.netease(&big)).await;
    assert_eq!((status, &resp["code"]), (200, &json!(414)), "{resp}");
    assert!(resp["desc"].as_str().unwrap().contains("size limit"));
    assert_eq!(s.events(), before);
    assert!(s.engine.module_status("123123").is_clear());
    assert!(s.engine.module_status("ghost").is_clear());
}

/// `req` with header `name` set to `value` (removed if `value` is empty).
fn replace(
    s: &Server,
    req: RequestBuilder,
    name: &str,
    value: impl Into<String>,
) -> RequestBuilder {
    let mut req = req.build().unwrap();
    let value = value.into();
    let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap();
    if value.is_empty() {
        req.headers_mut().remove(name);
    } else {
        req.headers_mut().insert(name, value.parse().unwrap());
    }
    RequestBuilder::from_parts(s.http.clone(), req)
}

#[tokio::test]
async fn netease_signature_failures_never_reach_directory_or_engine() {
    let s = start(SEED_000_MS).await;
    let now = SEED_000_MS / 1000;
    let body = "accid=123123&muteP2P=true";
    let mut failures = vec![
        s.netease_signed(body, "wrong-secret", now),
        s.netease_signed(body, "demo-netease-app-secre", now),
        s.netease_signed(body, demo::NETEASE_APP_SECRET, now - 301),
        s.netease_signed(body, demo::NETEASE_APP_SECRET, now + 301),
        replace(&s, s.netease(body), "AppKey", "other-app"),
        replace(&s, s.netease(body), "CheckSum", "0".repeat(40)),
        replace(&s, s.netease(body), "CurTime", "yesterday"),
        replace(&s, s.netease(body), "Nonce", "n".repeat(129)),
    ];
    for header in ["AppKey", "Nonce", "CurTime", "CheckSum"] {
        failures.push(replace(&s, s.netease(body), header, String::new()));
    }
    for req in failures {
        let (status, resp) = send(req).await;
        assert_eq!((status, &resp["code"]), (200, &json!(414)), "{resp}");
    }
    let (_, resp) = send(s.netease_signed(body, demo::NETEASE_APP_SECRET, now - 301)).await;
    assert!(
        resp["desc"]
            .as_str()
            .unwrap()
            .starts_with("CurTime is illegal"),
        "{resp}"
    );
    assert_eq!((s.events(), s.lookups()), (0, 0), "nothing was consulted");

    // At the edge of the window, and with an uppercase checksum, the call is good.
    let (_, resp) = send(s.netease_signed(body, demo::NETEASE_APP_SECRET, now - 300)).await;
    assert_eq!(resp["code"], 200, "{resp}");
    let req = s.netease("accid=123123&muteTeam=true");
    let upper = req.try_clone().unwrap().build().unwrap().headers()["CheckSum"]
        .to_str()
        .unwrap()
        .to_ascii_uppercase();
    let (_, resp) = send(replace(&s, req, "CheckSum", upper)).await;
    assert_eq!(resp["code"], 200, "{resp}");
}

#[tokio::test]
async fn netease_101st_call_in_a_second_is_refused_for_ten_seconds() {
    let s = start(SEED_000_MS).await;
    // Calls that fail the signature do not use up the app's allowance.
    for _ in 0..20 {
        let (_, resp) =
            send(s.netease_signed("accid=123123&muteP2P=true", "bad", SEED_000_MS / 1000)).await;
        assert_eq!(resp["code"], 414);
    }
    for i in 0..100 {
        let flag = if i % 2 == 0 { "true" } else { "false" };
        let (_, resp) = send(s.netease(&format!("accid=123123&muteP2P={flag}"))).await;
        assert_eq!(resp["code"], 200, "call {i}: {resp}");
    }
    let events = s.events();
    let (status, resp) = send(s.netease("accid=123123&muteTeam=true")).await;
    assert_eq!((status, &resp["code"]), (200, &json!(416)), "{resp}");
    assert!(
        s.engine
            .module_status("123123")
            .expiry(Module::Team)
            .is_none()
    );
    s.clock.advance(Duration::from_millis(9_999));
    let (_, resp) = send(s.netease("accid=123123&muteTeam=true")).await;
    assert_eq!(resp["code"], 416, "still blocked just before 10 s");
    s.clock.advance(Duration::from_millis(1));
    let (_, resp) = send(s.netease("accid=123123&muteTeam=true")).await;
    assert_eq!(resp["code"], 200, "recovered after the block: {resp}");
    assert_eq!(s.events(), events + 1, "refused calls changed nothing");
}

// ----- Agora -----

const ROOM: &str = "12345678";
/// Agora's public example: a 1 s mute answered with `expire` 1642148173726.
const AGORA_EXAMPLE_MS: u64 = 1_642_148_172_726;

/// The fields of the common envelope that differ by deployment and moment.
const AGORA_VARY: [&str; 6] = [
    "application",
    "applicationName",
    "organization",
    "uri",
    "timestamp",
    "duration",
];

fn agora_envelope(s: &Server, action: &str, data: Value) -> Value {
    json!({
        "action": action,
        "application": "52XXXXf0",
        "uri": "https://XXXX/XXXX/XXXX/chatrooms/12XXXX11/mute",
        "entities": [],
        "data": data,
        "timestamp": s.clock.now_ms(),
        "duration": 0,
        "organization": "XXXX",
        "applicationName": "testapp"
    })
}

/// The deployment-specific envelope fields hold this deployment's values.
fn assert_envelope_is_ours(s: &Server, body: &Value, path: &str) {
    assert_eq!(body["application"], demo::AGORA_APPLICATION);
    assert_eq!(body["organization"], demo::AGORA_ORG);
    assert_eq!(body["applicationName"], demo::AGORA_APP);
    assert_eq!(body["timestamp"], s.clock.now_ms());
    let uri = body["uri"].as_str().unwrap();
    assert!(uri.starts_with("http://127.0.0.1:"), "{uri}");
    assert!(
        uri.ends_with(&format!(
            "/{}/{}/chatrooms/{path}",
            demo::AGORA_ORG,
            demo::AGORA_APP
        )),
        "{uri}"
    );
}

#[tokio::test]
async fn agora_mute_list_unmute_replayed() {
    let s = start(AGORA_EXAMPLE_MS).await;
    let req = s
        .agora(Method::POST, &format!("{ROOM}/mute"))
        .json(&json!({ "usernames": ["user1", "user2"], "mute_duration": 1000 }));
    let (status, body) = send(req).await;
    assert_eq!(status, 200);
    let expected = agora_envelope(
        &s,
        "post",
        json!([
            { "result": true, "expire": 1_642_148_173_726_u64, "user": "user1" },
            { "result": true, "expire": 1_642_148_173_726_u64, "user": "user2" }
        ]),
    );
    assert_like(&body, &expected, &AGORA_VARY);
    assert_envelope_is_ours(&s, &body, &format!("{ROOM}/mute"));
    assert!(!s.engine.can_send("user1", Target::room(ROOM)));

    let (status, body) = send(s.agora(Method::GET, &format!("{ROOM}/mute"))).await;
    assert_eq!(status, 200);
    let expected = agora_envelope(
        &s,
        "get",
        json!([
            { "expire": 1_642_148_173_726_u64, "user": "user1" },
            { "expire": 1_642_148_173_726_u64, "user": "user2" }
        ]),
    );
    assert_like(&body, &expected, &AGORA_VARY);

    // Comma-separated, written as %2C.
    let (status, body) = send(s.agora(Method::DELETE, &format!("{ROOM}/mute/user1%2Cuser2"))).await;
    assert_eq!(status, 200);
    let expected = agora_envelope(
        &s,
        "delete",
        json!([{ "result": true, "user": "user1" }, { "result": true, "user": "user2" }]),
    );
    assert_like(&body, &expected, &AGORA_VARY);
    assert!(s.engine.muted_members(ROOM).is_empty());
    assert!(s.engine.can_send("user1", Target::room(ROOM)));
}

#[tokio::test]
async fn agora_mute_durations_forever_timed_and_cancel() {
    let s = start(AGORA_EXAMPLE_MS).await;
    let mute = |users: Value, ms: i64| {
        s.agora(Method::POST, &format!("{ROOM}/mute"))
            .json(&json!({ "usernames": users, "mute_duration": ms }))
    };
    let (_, body) = send(mute(json!(["user1"]), -1)).await;
    assert_eq!(
        body["data"],
        json!([{ "result": true, "expire": -1, "user": "user1" }])
    );
    let (_, body) = send(mute(json!(["user2"]), 500)).await;
    assert_eq!(body["data"][0]["expire"], AGORA_EXAMPLE_MS + 500);
    let (_, body) = send(s.agora(Method::GET, &format!("{ROOM}/mute"))).await;
    assert_eq!(
        body["data"],
        json!([{ "expire": -1, "user": "user1" }, { "expire": AGORA_EXAMPLE_MS + 500, "user": "user2" }])
    );
    // A timed mute ends by itself.
    s.clock.advance(Duration::from_millis(500));
    let (_, body) = send(s.agora(Method::GET, &format!("{ROOM}/mute"))).await;
    assert_eq!(body["data"], json!([{ "expire": -1, "user": "user1" }]));
    // 0 lifts.
    let (status, body) = send(mute(json!(["user1"]), 0)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        json!([{ "result": true, "expire": 0, "user": "user1" }])
    );
    assert!(s.engine.muted_members(ROOM).is_empty());
}

/// Asserts an Agora error body: status, `error`, a description naming `named`.
fn assert_agora_error(status: u16, body: &Value, want_status: u16, error: &str, named: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    let desc = body["error_description"].as_str().unwrap();
    assert!(desc.contains(named), "{desc:?} should name {named:?}");
    for field in ["exception", "timestamp", "duration"] {
        assert!(body.get(field).is_some(), "{field} in {body}");
    }
}

#[tokio::test]
async fn agora_bad_input_is_refused_whole() {
    let s = start(AGORA_EXAMPLE_MS).await;
    let sixty_one: Vec<String> = (0..61).map(|i| format!("user{i}")).collect();
    let post_mute = |body: &str| {
        s.agora(Method::POST, &format!("{ROOM}/mute"))
            .header("Content-Type", "application/json")
            .body(body.to_owned())
    };
    let cases: Vec<(RequestBuilder, u16, &str, &str)> = vec![
        (
            post_mute(r#"{"usernames":["user1"]"#),
            400,
            "json_parse",
            "not JSON",
        ),
        (
            post_mute(r#"{"usernames":["user1"]}"#),
            400,
            "illegal_argument",
            "mute_duration",
        ),
        (
            post_mute(r#"{"mute_duration":1000}"#),
            400,
            "illegal_argument",
            "usernames",
        ),
        (
            post_mute(r#"{"mute_duration":"1000","usernames":["user1"]}"#),
            400,
            "illegal_argument",
            "invalid type",
        ),
        (
            post_mute(r#"{"mute_duration":-2,"usernames":["user1"]}"#),
            400,
            "illegal_argument",
            "mute_duration -2",
        ),
        (
            post_mute(r#"{"mute_duration":1000,"usernames":[]}"#),
            400,
            "illegal_argument",
            "empty",
        ),
        (
            post_mute(r#"{"mute_duration":1000,"usernames":["user1",""]}"#),
            400,
            "illegal_argument",
            "empty",
        ),
        (
            post_mute(
                &json!({"mute_duration":1000,"usernames":["user1","x".repeat(65)]}).to_string(),
            ),
            400,
            "illegal_argument",
            "65 characters",
        ),
        (
            post_mute(&json!({"mute_duration":1000,"usernames":sixty_one}).to_string()),
            400,
            "illegal_argument",
            "61 usernames",
        ),
        (
            post_mute(r#"{"mute_duration":1000,"usernames":["user1","ghost"]}"#),
            404,
            "service_resource_not_found",
            "ghost",
        ),
        (
            post_mute(&format!(
                r#"{{"mute_duration":1000,"usernames":["user1"],"pad":"{}"}}"#,
                "x".repeat(70_000)
            )),
            413,
            "request_entity_too_large",
            "size limit",
        ),
        (
            s.agora(
                Method::DELETE,
                &format!("{ROOM}/mute/{}", sixty_one.join(",")),
            ),
            400,
            "illegal_argument",
            "61 usernames",
        ),
        (
            s.agora(Method::DELETE, &format!("{ROOM}/mute/user1,,user2")),
            400,
            "illegal_argument",
            "empty",
        ),
        (
            s.agora(Method::POST, &format!("{ROOM}/white/users"))
                .json(&json!({"names": ["user1"]})),
            400,
            "illegal_argument",
            "usernames",
        ),
        (
            s.agora(Method::POST, &format!("{ROOM}/white/users/user1,user2")),
            400,
            "illegal_argument",
            "one username",
        ),
        (
            s.agora(Method::POST, &format!("{ROOM}/white/users"))
                .json(&json!({"usernames": ["user1", "ghost"]})),
            404,
            "service_resource_not_found",
            "ghost",
        ),
        (
            s.agora(Method::POST, &format!("{ROOM}/white/users/ghost")),
            404,
            "service_resource_not_found",
            "ghost",
        ),
        (
            s.agora(Method::POST, "nowhere/mute")
                .json(&json!({"mute_duration":1,"usernames":["user1"]})),
            404,
            "service_resource_not_found",
            "nowhere",
        ),
        (
            s.agora(Method::POST, &format!("{ROOM}/muted")),
            404,
            "service_resource_not_found",
            "no route",
        ),
        (
            s.agora(Method::PUT, &format!("{ROOM}/ban")),
            405,
            "method_not_allowed",
            "PUT",
        ),
    ];
    for (req, status, error, named) in cases {
        let (got, body) = send(req).await;
        assert_agora_error(got, &body, status, error, named);
    }
    assert_eq!(s.events(), 0, "nothing changed");
    assert!(s.engine.muted_members(ROOM).is_empty());
    assert!(s.engine.allow_list(ROOM).is_empty());

    // Exactly 60 is fine.
    let sixty: Vec<String> = (0..60).map(|i| format!("user{}", 1 + i % 3)).collect();
    let req = s
        .agora(Method::POST, &format!("{ROOM}/mute"))
        .json(&json!({ "mute_duration": -1, "usernames": sixty }));
    let (status, body) = send(req).await;
    // Sixty names of three users: each muted and listed once.
    assert_eq!((status, body["data"].as_array().unwrap().len()), (200, 3));
}

#[tokio::test]
async fn facade_answers_found_surprising_in_the_field() {
    let s = start(AGORA_EXAMPLE_MS).await;
    let ban = |body: &str| {
        s.agora(Method::POST, &format!("{ROOM}/ban"))
            .header("Content-Type", "application/json")
            .body(body.to_owned())
    };
    // Mute-all takes a duration, and refuses a body that does not parse.
    let (status, body) = send(ban(r#"{"mute_duration":60000}"#)).await;
    assert_eq!(
        (status, &body["data"]["expire"]),
        (200, &json!(AGORA_EXAMPLE_MS + 60_000))
    );
    let (status, body) = send(ban("{{{garbage")).await;
    assert_agora_error(status, &body, 400, "json_parse", "not JSON");
    let (status, body) = send(ban(r#"{"mute_duration":0}"#)).await;
    assert_agora_error(status, &body, 400, "illegal_argument", "DELETE");
    let (status, body) = send(ban("")).await;
    assert_eq!((status, &body["data"]["expire"]), (200, &json!(-1)));
    // An end past what JSON clients read exactly is refused, and changes nothing.
    let events = s.events();
    let huge = s
        .agora(Method::POST, &format!("{ROOM}/mute"))
        .json(&json!({ "mute_duration": i64::MAX, "usernames": ["user1"] }));
    let (status, body) = send(huge).await;
    assert_agora_error(
        status,
        &body,
        400,
        "illegal_argument",
        "9223372036854775807",
    );
    assert_eq!(s.events(), events);
    // A name given twice is muted and listed once.
    let twice = s
        .agora(Method::POST, &format!("{ROOM}/mute"))
        .json(&json!({ "mute_duration": -1, "usernames": ["user1", "user1", "user2"] }));
    let (status, body) = send(twice).await;
    let users: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["user"].as_str().unwrap())
        .collect();
    assert_eq!((status, users), (200, vec!["user1", "user2"]));
    // Unmuting or disallowing an unknown user is a 404, as muting one is.
    for tail in ["mute/nobody", "white/users/nobody"] {
        let (status, body) = send(s.agora(Method::DELETE, &format!("{ROOM}/{tail}"))).await;
        assert_agora_error(status, &body, 404, "service_resource_not_found", "nobody");
    }
    // An empty id in a check is a bad request, not "allowed".
    for body in [
        json!({ "user": "", "target": "r" }),
        json!({ "user": "a", "target": "" }),
    ] {
        let (status, resp) = send(s.check("/v1/can_send", body)).await;
        assert_eq!(
            (status, &resp["error"]["code"]),
            (400, &json!("bad_request")),
            "{resp}"
        );
    }
    let (status, _) = send(s.check("/v1/should_push", json!({ "user": "", "room": "r" }))).await;
    assert_eq!(status, 400);
    // A 10,000-character id is not echoed back whole.
    let long = "r".repeat(10_000);
    let (status, body) = send(s.agora(Method::GET, &format!("{long}/mute"))).await;
    assert_eq!(status, 404);
    let desc = body["error_description"].as_str().unwrap();
    assert!(desc.len() < 200 && desc.contains("10000 bytes"), "{desc}");
    let (status, body) = send(s.request(Method::GET, &format!("/v1/{long}"))).await;
    assert_eq!(status, 404);
    assert!(body.to_string().len() < 400, "{body}");
}

#[tokio::test]
async fn agora_ban_and_allow_list() {
    let s = start(AGORA_EXAMPLE_MS).await;
    let (status, body) = send(s.agora(Method::POST, &format!("{ROOM}/ban"))).await;
    assert_eq!(status, 200);
    assert_like(
        &body,
        &agora_envelope(&s, "post", json!({ "result": true, "expire": -1 })),
        &AGORA_VARY,
    );
    assert_eq!(s.engine.room_mute(ROOM), Some(mutegate::Expiry::Never));
    assert!(
        s.engine.muted_members(ROOM).is_empty(),
        "mute-all is not the mute list"
    );

    let req = s
        .agora(Method::POST, &format!("{ROOM}/white/users"))
        .json(&json!({ "usernames": ["user1", "user2"] }));
    let (status, body) = send(req).await;
    assert_eq!(status, 200);
    let entry = |u: &str, action: &str| json!({ "result": true, "action": action, "user": u, "chatroomid": ROOM });
    assert_like(
        &body,
        &agora_envelope(
            &s,
            "post",
            json!([
                entry("user1", "add_user_whitelist"),
                entry("user2", "add_user_whitelist")
            ]),
        ),
        &AGORA_VARY,
    );
    let (_, body) = send(s.agora(Method::POST, &format!("{ROOM}/white/users/user3"))).await;
    assert_eq!(body["data"], entry("user3", "add_user_whitelist"));
    let (_, body) = send(s.agora(Method::GET, &format!("{ROOM}/white/users"))).await;
    assert_eq!(
        (&body["data"], &body["count"]),
        (&json!(["user1", "user2", "user3"]), &json!(3))
    );
    assert_eq!(body["action"], "get");

    assert!(
        s.engine.can_send("user1", Target::room(ROOM)),
        "allow-listed"
    );
    assert!(!s.engine.can_send("bbb", Target::room(ROOM)), "room muted");
    // An individual mute beats the allow list.
    let req = s
        .agora(Method::POST, &format!("{ROOM}/mute"))
        .json(&json!({ "usernames": ["user1"], "mute_duration": -1 }));
    send(req).await;
    assert!(!s.engine.can_send("user1", Target::room(ROOM)));

    let (_, body) =
        send(s.agora(Method::DELETE, &format!("{ROOM}/white/users/user2%2Cuser3"))).await;
    assert_eq!(
        body["data"],
        json!([
            entry("user2", "remove_user_whitelist"),
            entry("user3", "remove_user_whitelist")
        ])
    );
    assert_eq!(s.engine.allow_list(ROOM), ["user1"]);

    let (status, body) = send(s.agora(Method::DELETE, &format!("{ROOM}/ban"))).await;
    assert_eq!(status, 200);
    assert_like(
        &body,
        &agora_envelope(&s, "delete", json!({ "result": true })),
        &AGORA_VARY,
    );
    assert_eq!(s.engine.room_mute(ROOM), None);
    assert!(s.engine.can_send("user2", Target::room(ROOM)));
}

#[tokio::test]
async fn agora_auth_failures_never_reach_directory_or_engine() {
    let s = start(AGORA_EXAMPLE_MS).await;
    let body = json!({ "usernames": ["user1"], "mute_duration": -1 });
    let path = format!(
        "/{}/{}/chatrooms/{ROOM}/mute",
        demo::AGORA_ORG,
        demo::AGORA_APP
    );
    let other_app = format!("/{}/other/chatrooms/{ROOM}/mute", demo::AGORA_ORG);
    let cases = [
        s.request(Method::POST, &path).json(&body),
        s.request(Method::POST, &path)
            .header("Authorization", "Bearer wrong")
            .json(&body),
        s.request(Method::POST, &path)
            .header("Authorization", demo::AGORA_TOKEN)
            .json(&body),
        s.request(Method::POST, &path)
            .header("Authorization", format!("Bearer {}", demo::CHECK_TOKEN))
            .json(&body),
        s.request(Method::POST, &other_app)
            .header("Authorization", format!("Bearer {}", demo::AGORA_TOKEN))
            .json(&body),
        s.request(Method::GET, &path),
        s.request(Method::DELETE, &format!("{path}/user1")),
    ];
    for req in cases {
        let (status, body) = send(req).await;
        assert_agora_error(status, &body, 401, "unauthorized", "bearer token");
    }
    // Credentials are checked before the body is read: no token and an oversized body
    // is a 401, not a 413.
    let big = "x".repeat(70_000);
    let (status, body) = send(s.request(Method::POST, &path).body(big.clone())).await;
    assert_agora_error(status, &body, 401, "unauthorized", "bearer token");
    let (status, body) = send(s.request(Method::POST, "/v1/can_send").body(big.clone())).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("unauthorized"))
    );
    let req = s.netease_signed(&big, "wrong-secret", AGORA_EXAMPLE_MS / 1000);
    let (_, body) = send(req).await;
    assert_eq!(
        body,
        json!({ "code": 414, "desc": "AppKey or CheckSum is invalid" })
    );
    assert_eq!((s.events(), s.lookups()), (0, 0));
    assert!(s.engine.muted_members(ROOM).is_empty());
}

#[tokio::test]
async fn agora_101st_call_in_a_second_is_refused() {
    let s = start(AGORA_EXAMPLE_MS).await;
    for i in 0..100 {
        let (status, _) = send(s.agora(Method::GET, &format!("{ROOM}/mute"))).await;
        assert_eq!(status, 200, "call {i}");
    }
    let (status, body) = send(s.agora(Method::POST, &format!("{ROOM}/ban"))).await;
    assert_agora_error(status, &body, 429, "reach_limit", "api limit");
    assert_eq!(
        s.engine.room_mute(ROOM),
        None,
        "refused call changed nothing"
    );
    // No block: the allowance refills at 100/s.
    s.clock.advance(Duration::from_millis(10));
    assert_eq!(
        send(s.agora(Method::GET, &format!("{ROOM}/mute"))).await.0,
        200
    );
    assert_eq!(
        send(s.agora(Method::GET, &format!("{ROOM}/mute"))).await.0,
        429
    );
    s.clock.advance(Duration::from_secs(1));
    for _ in 0..100 {
        assert_eq!(
            send(s.agora(Method::GET, &format!("{ROOM}/mute"))).await.0,
            200
        );
    }
}

// ----- checks -----

#[tokio::test]
async fn checks_answer_with_reason_and_until() {
    let s = start(AGORA_EXAMPLE_MS).await;
    s.engine
        .mute_members(ROOM, ["user1"], MuteFor::millis(5_000))
        .unwrap();
    s.engine.mute_room("r2", MuteFor::Forever).unwrap();
    let (status, body) =
        send(s.check("/v1/can_send", json!({ "user": "user1", "target": ROOM }))).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({ "allowed": false, "reason": "member_muted", "until": AGORA_EXAMPLE_MS + 5_000 })
    );
    let (_, body) = send(s.check("/v1/can_send", json!({ "user": "user2", "target": ROOM }))).await;
    assert_eq!(body, json!({ "allowed": true }));
    let (_, body) = send(s.check(
        "/v1/can_send",
        json!({ "user": "bbb", "target": "r2", "module": "team" }),
    ))
    .await;
    assert_eq!(
        body,
        json!({ "allowed": false, "reason": "room_muted", "until": -1 })
    );
    let (_, body) = send(s.check(
        "/v1/can_send",
        json!({ "user": "bbb", "target": "r2", "module": "team", "role": "owner" }),
    ))
    .await;
    assert_eq!(body, json!({ "allowed": true }));
    s.engine
        .set_module_mutes("bbb", mutegate::ModuleChange::new().set(Module::P2p, true))
        .unwrap();
    let (_, body) = send(s.check(
        "/v1/can_send",
        json!({ "user": "bbb", "target": "ann", "module": "p2p" }),
    ))
    .await;
    assert_eq!(
        body,
        json!({ "allowed": false, "reason": "module_muted", "until": -1, "module": "p2p" })
    );

    s.engine.mute_notifications("aaa", "demo").unwrap();
    let (_, body) =
        send(s.check("/v1/should_push", json!({ "user": "aaa", "room": "demo" }))).await;
    assert_eq!(body, json!({ "push": false }));
    let (_, body) = send(s.check(
        "/v1/should_push",
        json!({ "user": "bbb", "room": "demo", "mentioned": true }),
    ))
    .await;
    assert_eq!(body, json!({ "push": true }));
}

#[tokio::test]
async fn checks_refuse_bad_calls() {
    let s = start(AGORA_EXAMPLE_MS).await;
    let unauth = s
        .request(Method::POST, "/v1/can_send")
        .json(&json!({ "user": "a", "target": "r" }));
    let (status, body) = send(unauth).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("unauthorized"))
    );
    let cases = [
        (json!({ "user": "a" }), "target"),
        (
            json!({ "user": "a", "target": "r", "module": "fax" }),
            "fax",
        ),
        (
            json!({ "user": "a", "target": "r", "role": "king" }),
            "king",
        ),
        (
            json!({ "user": "a", "target": "r", "mentioned": true }),
            "mentioned",
        ),
        (json!({ "user": 7, "target": "r" }), "invalid type"),
    ];
    for (body, named) in cases {
        let (status, resp) = send(s.check("/v1/can_send", body.clone())).await;
        assert_eq!(
            (status, &resp["error"]["code"]),
            (400, &json!("bad_request")),
            "{body}"
        );
        assert!(
            resp["error"]["message"].as_str().unwrap().contains(named),
            "{resp}"
        );
    }
    let (status, resp) = send(s.check("/v1/nope", json!({}))).await;
    assert_eq!((status, &resp["error"]["code"]), (404, &json!("not_found")));
}

#[tokio::test]
async fn vendors_left_out_of_the_config_are_not_served() {
    let config = mutegate::http::Config::default()
        .with_checks(mutegate::http::ChecksConfig::new([demo::CHECK_TOKEN]));
    let s = start_with(SEED_000_MS, config).await;
    let (status, body) = send(s.imkit_admin(Method::POST, "aaa", "demo")).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("NOT_FOUND")));
    let (status, body) = send(s.netease("accid=123123&muteP2P=true")).await;
    assert_eq!((status, &body["code"]), (200, &json!(404)));
    let (status, _) = send(s.agora(Method::GET, &format!("{ROOM}/mute"))).await;
    assert_eq!(status, 404);
    assert_eq!((s.events(), s.lookups()), (0, 0));
}

// ----- concurrency -----

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
