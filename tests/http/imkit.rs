//! IMKit (seeds 000, 001, 002): replays, documented errors, `/me` credentials, routes.

use super::*;

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
