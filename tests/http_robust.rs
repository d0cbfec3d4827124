//! Whatever arrives, the facade answers in the envelope of the vendor whose path it hit,
//! never with a 5xx, and leaves the engine consistent: random methods, paths (vendor
//! routes with odd segments, percent-escapes, long ids), credentials (valid, wrong,
//! missing) and bodies (random bytes, near-miss JSON and forms).
//!
//! Requests go to the router in process (`tower::ServiceExt::oneshot`), so many cases
//! run in a few seconds.

#[path = "common/demo.rs"]
#[allow(dead_code)]
mod demo;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request};
use mutegate::{Clock, Engine, ManualClock};
use proptest::prelude::*;
use serde_json::Value;
use sha1::{Digest, Sha1};
use tower::ServiceExt;

const NOW_MS: u64 = 1_700_000_000_000;

/// A path segment or id: mostly ones the demo directory knows, sometimes odd ones.
fn segment() -> impl Strategy<Value = String> {
    let known = proptest::sample::select(
        &[
            "aaa",
            "bbb",
            "123123",
            "user1",
            "user2",
            "demo",
            "demo-room",
            "12345678",
        ][..],
    )
    .prop_map(str::to_owned);
    let odd = prop_oneof![
        Just("user1%2Cuser2".to_owned()),
        Just("user1,,".to_owned()),
        Just("%FF%FE".to_owned()),
        Just("%C3%A9".to_owned()),
        Just("%00".to_owned()),
        Just("..".to_owned()),
        Just("x".repeat(70)),
        "[a-z0-9_.-]{0,12}",
    ];
    prop_oneof![3 => known, 2 => odd]
}

/// A JSON value where an id belongs: usually a string, sometimes another type.
fn id() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => segment().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => Just(Value::Null),
    ]
}

/// One of `names`, something else, or nothing.
fn name(names: &'static [&'static str]) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        3 => proptest::sample::select(names).prop_map(|n| Some(Value::from(n))),
        1 => id().prop_map(Some),
        1 => Just(None),
    ]
}

fn json_bytes(v: &Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

fn users_body() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(-1i64), Just(0), 1..100_000i64, any::<i64>()],
        proptest::collection::vec(id(), 0..70),
    )
        .prop_map(|(d, users)| {
            json_bytes(&serde_json::json!({ "mute_duration": d, "usernames": users }))
        })
}

fn flag() -> impl Strategy<Value = String> {
    proptest::sample::select(&["true", "false", "TRUE", "yes", ""][..]).prop_map(str::to_owned)
}

fn form_body() -> impl Strategy<Value = Vec<u8>> {
    (
        segment(),
        proptest::collection::vec((0..4usize, flag()), 0..4),
    )
        .prop_map(|(accid, flags)| {
            let names = ["muteP2P", "muteTeam", "muteRoom", "muteQChat"];
            let mut body = format!("accid={accid}");
            for (i, v) in flags {
                body.push_str(&format!("&{}={v}", names[i]));
            }
            body.into_bytes()
        })
}

fn send_msg_body() -> impl Strategy<Value = Vec<u8>> {
    let ope = prop_oneof![Just("0".to_owned()), Just("1".to_owned()), segment()];
    let kind = prop_oneof![Just("0".to_owned()), Just("100".to_owned()), segment()];
    let body = prop_oneof![
        Just("%7B%22msg%22%3A%22hi%22%7D".to_owned()),
        Just("null".to_owned()),
        segment()
    ];
    (segment(), ope, segment(), kind, body, any::<u8>()).prop_map(
        |(from, ope, to, kind, body, drop)| {
            let fields = [
                ("from", from),
                ("ope", ope),
                ("to", to),
                ("type", kind),
                ("body", body),
            ];
            let kept: Vec<String> = fields
                .iter()
                .enumerate()
                .filter(|(i, _)| usize::from(drop) % 8 != *i)
                .map(|(_, (k, v))| format!("{k}={v}"))
                .collect();
            kept.join("&").into_bytes()
        },
    )
}

fn token_body() -> impl Strategy<Value = Vec<u8>> {
    let grant = prop_oneof![
        3 => Just(Some(Value::from("client_credentials"))),
        1 => name(&["password"]),
    ];
    let client = prop_oneof![
        3 => Just(Some(Value::from(demo::AGORA_CLIENT_ID))),
        1 => name(&["someone"]),
    ];
    let secret = prop_oneof![
        3 => Just(Some(Value::from(demo::AGORA_CLIENT_SECRET))),
        1 => name(&["wrong"]),
    ];
    let ttl = prop_oneof![
        Just(None),
        (-5..5i64).prop_map(|t| Some(Value::from(t))),
        any::<i64>().prop_map(|t| Some(Value::from(t))),
        id().prop_map(Some)
    ];
    prop_oneof![
        4 => (grant, client, secret, ttl).prop_map(|(g, i, s, t)| {
            let mut body = serde_json::json!({});
            for (k, v) in [("grant_type", g), ("client_id", i), ("client_secret", s), ("ttl", t)] {
                if let Some(v) = v {
                    body[k] = v;
                }
            }
            json_bytes(&body)
        }),
        1 => Just(b"null".to_vec()),
        1 => noise_body(),
    ]
}

fn can_send_body() -> impl Strategy<Value = Vec<u8>> {
    let modules = name(&["p2p", "team", "room", "qchat"]);
    let roles = name(&["member", "admin", "owner"]);
    (id(), id(), modules, roles).prop_map(|(u, t, m, r)| {
        let mut body = serde_json::json!({ "user": u, "target": t });
        for (k, v) in [("module", m), ("role", r)] {
            if let Some(v) = v {
                body[k] = v;
            }
        }
        json_bytes(&body)
    })
}

fn should_push_body() -> impl Strategy<Value = Vec<u8>> {
    (id(), id(), any::<bool>()).prop_map(|(u, r, m)| {
        json_bytes(&serde_json::json!({ "user": u, "room": r, "mentioned": m }))
    })
}

fn noise_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        Just(Vec::new()),
        Just(b"{".to_vec()),
    ]
}

/// One call: mostly a route's own method and body shape with random values, sometimes
/// noise.
fn call() -> impl Strategy<Value = (Method, String, Vec<u8>)> {
    let agora = |tail: &str| format!("/{}/{}/chatrooms/", demo::AGORA_ORG, demo::AGORA_APP) + tail;
    let shaped = prop_oneof![
        (
            prop_oneof![Just(Method::POST), Just(Method::DELETE)],
            segment(),
            segment()
        )
            .prop_map(|(m, u, r)| (m, format!("/admin/clients/{u}/mute/{r}"), Vec::new())),
        (
            prop_oneof![Just(Method::POST), Just(Method::DELETE)],
            segment()
        )
            .prop_map(|(m, r)| (m, format!("/me/mute/{r}"), Vec::new())),
        form_body().prop_map(|b| (
            Method::POST,
            "/nimserver/user/muteModule.action".to_owned(),
            b
        )),
        (segment(), users_body()).prop_map(move |(r, b)| (
            Method::POST,
            agora(&format!("{r}/mute")),
            b
        )),
        (segment(), segment()).prop_map(move |(r, m)| (
            Method::DELETE,
            agora(&format!("{r}/mute/{m}")),
            Vec::new()
        )),
        segment().prop_map(move |r| (Method::GET, agora(&format!("{r}/mute")), Vec::new())),
        (
            prop_oneof![Just(Method::POST), Just(Method::DELETE)],
            segment()
        )
            .prop_map(move |(m, r)| (m, agora(&format!("{r}/ban")), Vec::new())),
        (segment(), users_body()).prop_map(move |(r, b)| (
            Method::POST,
            agora(&format!("{r}/white/users")),
            b
        )),
        (
            prop_oneof![Just(Method::POST), Just(Method::DELETE)],
            segment(),
            segment()
        )
            .prop_map(move |(m, r, u)| (
                m,
                agora(&format!("{r}/white/users/{u}")),
                Vec::new()
            )),
        segment().prop_map(move |r| (Method::GET, agora(&format!("{r}/white/users")), Vec::new())),
        (segment(), segment()).prop_map(move |(r, u)| (
            Method::GET,
            agora(&format!("{r}/white/users/{u}")),
            Vec::new()
        )),
        (segment(), segment()).prop_map(move |(r, u)| (
            Method::GET,
            agora(&format!("{r}/mute/{u}")),
            Vec::new()
        )),
        (segment(), segment()).prop_map(|(r, u)| (
            Method::GET,
            format!(
                "/{}/{}/sdk/chatrooms/{r}/mute/{u}",
                demo::AGORA_ORG,
                demo::AGORA_APP
            ),
            Vec::new()
        )),
        token_body().prop_map(|b| (
            Method::POST,
            format!("/{}/{}/token", demo::AGORA_ORG, demo::AGORA_APP),
            b
        )),
        send_msg_body().prop_map(|b| (Method::POST, "/nimserver/msg/sendMsg.action".to_owned(), b)),
        can_send_body().prop_map(|b| (Method::POST, "/v1/can_send".to_owned(), b)),
        should_push_body().prop_map(|b| (Method::POST, "/v1/should_push".to_owned(), b)),
    ];
    let method = prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::DELETE),
        Just(Method::PUT),
        Just(Method::PATCH)
    ];
    let noise =
        (method, segment(), segment(), segment(), noise_body()).prop_map(|(m, a, b, c, body)| {
            let path = match a.len() % 4 {
                0 => format!("/{a}/{b}/chatrooms/{c}/mute"),
                1 => format!("/admin/clients/{a}/mute/{b}"),
                2 => format!("/nimserver/user/{a}"),
                _ => format!("/{a}/{b}"),
            };
            (m, path, body)
        });
    prop_oneof![4 => shaped, 1 => noise]
}

#[derive(Clone, Debug)]
enum Creds {
    Valid,
    Wrong,
    None,
}

fn creds() -> impl Strategy<Value = Creds> {
    prop_oneof![3 => Just(Creds::Valid), 1 => Just(Creds::Wrong), 1 => Just(Creds::None)]
}

fn request(method: Method, path: &str, creds: &Creds, body: Vec<u8>, now_ms: u64) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(path);
    let secret = match creds {
        Creds::Valid => Some(demo::NETEASE_APP_SECRET),
        Creds::Wrong => Some("wrong"),
        Creds::None => None,
    };
    if let Some(secret) = secret {
        let pick = |good: &'static str| {
            if matches!(creds, Creds::Valid) {
                good
            } else {
                "wrong"
            }
        };
        let cur = (now_ms / 1000).to_string();
        let sum: String = Sha1::digest(format!("{secret}n0nce{cur}"))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let bearer = if path.starts_with("/v1/") {
            demo::CHECK_TOKEN
        } else {
            demo::AGORA_TOKEN
        };
        req = req
            .header("IM-API-KEY", pick(demo::IMKIT_API_KEY))
            .header("IM-CLIENT-KEY", pick(demo::IMKIT_CLIENT_KEY))
            .header("IM-Authorization", pick(demo::IMKIT_TOKEN))
            .header("AppKey", demo::NETEASE_APP_KEY)
            .header("Nonce", "n0nce")
            .header("CurTime", cur)
            .header("CheckSum", sum)
            .header("Authorization", format!("Bearer {}", pick(bearer)));
    }
    req.body(Body::from(body)).unwrap()
}

/// Which envelope the path's vendor uses, and whether `body` is in it.
fn in_envelope(path: &str, body: &Value) -> bool {
    let mut segs = path.trim_start_matches('/').split('/');
    let first = segs.next().unwrap_or_default();
    let second = segs.next().unwrap_or_default();
    if first == "admin" || first == "me" {
        body.get("RC").is_some() && body.get("RM").is_some()
    } else if first == "nimserver" {
        body.get("code").is_some()
    } else if first != "v1" && !first.is_empty() && !second.is_empty() {
        body.get("action").is_some()
            || body.get("error_description").is_some()
            || body.get("access_token").is_some()
    } else {
        body.get("error").is_some() || body.get("allowed").is_some() || body.get("push").is_some()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_request_gets_a_vendor_envelope_and_never_a_5xx(
        calls in proptest::collection::vec((call(), creds()), 1..12),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let clock = ManualClock::new(NOW_MS);
        let engine = Arc::new(Engine::builder().clock(clock.clone()).build());
        let events = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&events);
        engine.subscribe(move |_| {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        let app = mutegate::http::router(Arc::clone(&engine), demo::config(), demo::directory());
        for ((method, path, body), creds) in calls {
            let before = events.load(std::sync::atomic::Ordering::SeqCst);
            let req = request(method.clone(), &path, &creds, body, clock.now_ms());
            let (status, bytes) = runtime.block_on(async {
                let resp = app.clone().oneshot(req).await.unwrap();
                let status = resp.status();
                (status, axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap())
            });
            prop_assert!(!status.is_server_error(), "{method} {path}: {status}");
            let json: Value = serde_json::from_slice(&bytes)
                .map_err(|e| TestCaseError::fail(format!("{method} {path}: not JSON ({e})")))?;
            prop_assert!(in_envelope(&path, &json), "{method} {path}: {json}");
            // The calls next to the seeds only read (a token is the facade's, not the
            // engine's): valid or not, they change nothing.
            let reads = method == Method::GET
                || path.ends_with("/token")
                || path.ends_with("/sendMsg.action");
            if reads || !matches!(creds, Creds::Valid) {
                prop_assert_eq!(
                    events.load(std::sync::atomic::Ordering::SeqCst), before,
                    "{} {} without valid credentials changed the engine", method, path
                );
            }
        }
        prop_assert!(engine.verify_consistency().is_ok());
    }
}
