//! Agora (seed 004): replays, durations, bad input, ban and allow list, auth, rate limit.

use super::*;

pub(crate) const ROOM: &str = "12345678";
/// Agora's public example: a 1 s mute answered with `expire` 1642148173726.
pub(crate) const AGORA_EXAMPLE_MS: u64 = 1_642_148_172_726;

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
        &agora_envelope(
            &s,
            "post",
            json!({ "result": true, "expire": -1, "mute": true }),
        ),
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
        &agora_envelope(&s, "delete", json!({ "result": true, "mute": false })),
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
