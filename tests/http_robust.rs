//! Whatever arrives, the facade answers in the envelope of the vendor whose path it hit,
//! never with a 5xx, and leaves the engine consistent: random methods, paths (vendor
//! routes with odd segments, percent-escapes, long ids), credentials (valid, wrong,
//! missing) and bodies (random bytes, near-miss JSON and forms).
//!
//! Requests go to the router in process (`tower::ServiceExt::oneshot`), so many cases
//! run in a few seconds.

#[path = "../examples/server/demo.rs"]
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

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("aaa".to_owned()),
        Just("123123".to_owned()),
        Just("user1".to_owned()),
        Just("demo".to_owned()),
        Just("user1".to_owned()),
        Just("12345678".to_owned()),
        Just("user1%2Cuser2".to_owned()),
        Just("user1,,".to_owned()),
        Just("%FF%FE".to_owned()),
        Just("%C3%A9".to_owned()),
        Just("%00".to_owned()),
        Just("..".to_owned()),
        Just("x".repeat(70)),
        "[a-z0-9_.-]{0,12}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    let agora_base = prop_oneof![
        Just(format!("/{}/{}", demo::AGORA_ORG, demo::AGORA_APP)),
        (segment(), segment()).prop_map(|(o, a)| format!("/{o}/{a}")),
    ];
    prop_oneof![
        (segment(), segment()).prop_map(|(u, r)| format!("/admin/clients/{u}/mute/{r}")),
        segment().prop_map(|r| format!("/me/mute/{r}")),
        Just("/nimserver/user/muteModule.action".to_owned()),
        Just("/nimserver/user/other.action".to_owned()),
        (agora_base, segment(), segment(), 0..6usize).prop_map(|(base, room, s, tail)| {
            let tail = match tail {
                0 => "mute".to_owned(),
                1 => format!("mute/{s}"),
                2 => "ban".to_owned(),
                3 => "white/users".to_owned(),
                4 => format!("white/users/{s}"),
                _ => s.clone(),
            };
            format!("{base}/chatrooms/{room}/{tail}")
        }),
        Just("/v1/can_send".to_owned()),
        Just("/v1/should_push".to_owned()),
        (segment(), segment()).prop_map(|(a, b)| format!("/{a}/{b}")),
    ]
}

fn id() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => segment().prop_map(Value::from),
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

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..64),
        2 => (any::<i64>(), proptest::collection::vec(id(), 0..70)).prop_map(|(d, users)| {
            serde_json::json!({ "mute_duration": d % 5_000, "usernames": users })
                .to_string()
                .into_bytes()
        }),
        2 => (id(), id(), name(&["p2p", "team", "room", "qchat"]), name(&["member", "admin", "owner"]))
            .prop_map(|(u, t, m, r)| {
                let mut body = serde_json::json!({ "user": u, "target": t });
                for (k, v) in [("module", m), ("role", r)] {
                    if let Some(v) = v {
                        body[k] = v;
                    }
                }
                body.to_string().into_bytes()
            }),
        1 => (id(), id(), any::<bool>()).prop_map(|(u, r, m)| {
            serde_json::json!({ "user": u, "room": r, "mentioned": m })
                .to_string()
                .into_bytes()
        }),
        2 => (segment(), segment(), segment()).prop_map(|(a, f, v)| {
            format!("accid={a}&muteP2P={f}&muteTeam={v}&muteRoom=true").into_bytes()
        }),
        1 => Just(Vec::new()),
    ]
}

#[derive(Clone, Debug)]
enum Creds {
    Valid,
    Wrong,
    None,
}

fn creds() -> impl Strategy<Value = Creds> {
    prop_oneof![Just(Creds::Valid), Just(Creds::Wrong), Just(Creds::None)]
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
    let third = segs.nth(1);
    if first == "admin" || first == "me" {
        body.get("RC").is_some() && body.get("RM").is_some()
    } else if first == "nimserver" {
        body.get("code").is_some()
    } else if third == Some("chatrooms") {
        body.get("action").is_some() || body.get("error_description").is_some()
    } else {
        body.get("error").is_some() || body.get("allowed").is_some() || body.get("push").is_some()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_request_gets_a_vendor_envelope_and_never_a_5xx(
        calls in proptest::collection::vec(
            (prop_oneof![
                Just(Method::GET), Just(Method::POST), Just(Method::DELETE),
                Just(Method::PUT), Just(Method::PATCH)
            ], path(), creds(), body()),
            1..8,
        )
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
        for (method, path, creds, body) in calls {
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
            if !matches!(creds, Creds::Valid) {
                prop_assert_eq!(
                    events.load(std::sync::atomic::Ordering::SeqCst), before,
                    "{} {} without valid credentials changed the engine", method, path
                );
            }
        }
        prop_assert!(engine.verify_consistency().is_ok());
    }
}
