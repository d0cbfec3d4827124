//! Agora's calls next to the seed, through the binary: app tokens, `data.mute`, the two
//! lookups, unknown paths in Agora's envelope, a `null` body; bad input is a typed 4xx.

use std::time::Duration;

use serde_json::{Value, json};

use super::{FULL, Http, SECRETS, Server, agora_mute_forever, keys, secret};

const APP: &str = "/acme/chat";
const ROOM: &str = "/acme/chat/chatrooms/12345678";

/// Agora's error body: exactly these fields, with `error` and a description containing
/// `names`.
fn assert_agora_error(answer: &(u16, Value), status: u16, error: &str, names: &str) {
    let (got, body) = answer;
    assert_eq!(*got, status, "{body}");
    assert_eq!(
        keys(body),
        [
            "duration",
            "error",
            "error_description",
            "exception",
            "timestamp"
        ],
        "{body}"
    );
    assert_eq!(body["error"], error, "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains(names),
        "{description:?} should name {names:?}"
    );
}

fn token_request(id: &str, secret: &str, ttl: Option<i64>) -> String {
    let mut body =
        json!({ "grant_type": "client_credentials", "client_id": id, "client_secret": secret });
    if let Some(ttl) = ttl {
        body["ttl"] = json!(ttl);
    }
    body.to_string()
}

#[test]
fn an_issued_app_token_is_accepted_until_it_expires_by_every_node_with_the_credentials() {
    let config = FULL.replace("[agora]\n", "[agora]\ntoken_ttl = \"2h\"\n");
    let server = Server::start(&config, &SECRETS);
    let http = Http::default();
    let client_secret = secret("MUTEGATE_AGORA_CLIENT_SECRET");
    let (status, body) = http.json(
        "POST",
        &server.url(&format!("{APP}/token")),
        "",
        &token_request("acme-client-id", client_secret, None),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(keys(&body), ["access_token", "application", "expires_in"]);
    assert_eq!(body["expires_in"], 7200, "no ttl: the configured longest");
    assert_eq!(body["application"], "app-uuid-1");
    let token = body["access_token"].as_str().unwrap().to_owned();

    let (status, body) = http.json(
        "POST",
        &server.url(&format!("{ROOM}/mute")),
        &token,
        r#"{"mute_duration": 60000, "usernames": ["bob"]}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["user"], "bob");

    // ttl over the longest is cut to it; a short one is kept, and then refused with
    // Agora's "expired" answer.
    let over = http.json(
        "POST",
        &server.url(&format!("{APP}/token")),
        "",
        &token_request("acme-client-id", client_secret, Some(100_000)),
    );
    assert_eq!(over.1["expires_in"], 7200);
    let (_, short) = http.json(
        "POST",
        &server.url(&format!("{APP}/token")),
        "",
        &token_request("acme-client-id", client_secret, Some(1)),
    );
    assert_eq!(short["expires_in"], 1);
    let short = short["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        http.get(&server.url(&format!("{ROOM}/mute")), Some(&short))
            .0,
        200
    );
    std::thread::sleep(Duration::from_millis(1100));
    let expired = http.get(&server.url(&format!("{ROOM}/mute")), Some(&short));
    assert_agora_error(&expired, 401, "unauthorized", "expired access token");
    assert_eq!(
        http.get(&server.url(&format!("{ROOM}/mute")), Some(&token))
            .0,
        200
    );
    assert_agora_error(
        &http.get(&server.url(&format!("{ROOM}/mute")), Some("made-up")),
        401,
        "unauthorized",
        "no valid bearer token",
    );
    // Tokens are signed, not stored: another node with the same credentials (or this
    // one restarted) accepts them; a node whose client_secret was changed does not.
    drop(server);
    let other = Server::start(&config, &SECRETS);
    assert_eq!(
        http.get(&other.url(&format!("{ROOM}/mute")), Some(&token))
            .0,
        200
    );
    let mut rotated: Vec<(&str, &str)> = SECRETS.to_vec();
    rotated.retain(|(k, _)| *k != "MUTEGATE_AGORA_CLIENT_SECRET");
    rotated.push(("MUTEGATE_AGORA_CLIENT_SECRET", "rotated-secret"));
    let rotated = Server::start(&config, &rotated);
    let refused = http.get(&rotated.url(&format!("{ROOM}/mute")), Some(&token));
    assert_agora_error(&refused, 401, "unauthorized", "no valid bearer token");
}

#[test]
fn bad_token_requests_are_typed_4xx_naming_the_field_and_issue_nothing() {
    let server = Server::start(FULL, &SECRETS);
    let http = Http::default();
    let url = server.url(&format!("{APP}/token"));
    let good_secret = secret("MUTEGATE_AGORA_CLIENT_SECRET");
    let cases: Vec<(String, String, u16, &str, &str)> = vec![
        (url.clone(), token_request("acme-client-id", "wrong", None), 400, "invalid_grant", "client_secret"),
        (url.clone(), token_request("someone-else", good_secret, None), 400, "invalid_grant", "client_id"),
        (server.url("/acme/other/token"), token_request("acme-client-id", good_secret, None), 400, "invalid_grant", "client_id"),
        (url.clone(), json!({"grant_type": "password", "client_id": "acme-client-id", "client_secret": good_secret}).to_string(), 400, "unsupported_grant_type", "grant_type"),
        (url.clone(), json!({"grant_type": "client_credentials", "client_id": "acme-client-id"}).to_string(), 400, "illegal_argument", "client_secret"),
        (url.clone(), json!({"grant_type": "client_credentials", "client_id": 7, "client_secret": "x"}).to_string(), 400, "illegal_argument", "client_id"),
        (url.clone(), token_request("acme-client-id", good_secret, Some(-5)), 400, "illegal_argument", "ttl"),
        (url.clone(), "null".into(), 400, "illegal_argument", "request body"),
        (url.clone(), "{not json".into(), 400, "json_parse", "not JSON"),
        (url.clone(), "x".repeat(70_000), 413, "request_entity_too_large", "size limit"),
    ];
    for (url, body, status, error, names) in &cases {
        let answer = http.json("POST", url, "", body);
        assert!(answer.0 < 500);
        assert_agora_error(&answer, *status, error, names);
    }
    // Nothing was issued: the only way in is still the configured token.
    assert_eq!(
        http.get(
            &server.url(&format!("{ROOM}/mute")),
            Some(secret("MUTEGATE_AGORA_TOKENS"))
        )
        .0,
        200
    );
}

#[test]
fn mute_all_carries_mute_and_the_lookups_answer_per_member() {
    let server = Server::start(FULL, &SECRETS);
    let http = Http::default();
    let token = secret("MUTEGATE_AGORA_TOKENS");
    // A JSON `null` where no body is needed is taken as none.
    let (status, ban) = http.json("POST", &server.url(&format!("{ROOM}/ban")), token, "null");
    assert_eq!(status, 200, "{ban}");
    assert_eq!(
        ban["data"],
        json!({ "result": true, "expire": -1, "mute": true })
    );

    let lookup = |path: &str| http.get(&server.url(path), Some(token));
    let (status, white) = lookup(&format!("{ROOM}/white/users/ann"));
    assert_eq!(status, 200);
    assert_eq!(white["data"], json!({ "user": "ann", "white": false }));
    http.json(
        "POST",
        &server.url(&format!("{ROOM}/white/users/ann")),
        token,
        "",
    );
    assert_eq!(
        lookup(&format!("{ROOM}/white/users/ann")).1["data"]["white"],
        true
    );

    for path in [
        format!("{ROOM}/mute/bob"),
        "/acme/chat/sdk/chatrooms/12345678/mute/bob".into(),
    ] {
        assert_eq!(
            lookup(&path).1["data"],
            json!({ "user": "bob", "mute": false, "expire": 0 })
        );
    }
    agora_mute_forever(&http, &server, "12345678", "bob");
    for path in [
        format!("{ROOM}/mute/bob"),
        "/acme/chat/sdk/chatrooms/12345678/mute/bob".into(),
    ] {
        let (status, body) = lookup(&path);
        assert_eq!(status, 200);
        assert_eq!(
            body["data"],
            json!({ "user": "bob", "mute": true, "expire": -1 })
        );
        assert_eq!(body["organization"], "acme");
        assert_eq!(body["applicationName"], "chat");
        assert_eq!(body["action"], "get");
    }

    let (status, unban) = http.send(
        http.client()
            .delete(server.url(&format!("{ROOM}/ban")))
            .bearer_auth(token),
    );
    assert_eq!(status, 200);
    assert_eq!(unban["data"], json!({ "result": true, "mute": false }));
}

#[test]
fn unknown_paths_and_bad_lookups_answer_in_agoras_envelope_and_change_nothing() {
    let server = Server::start(FULL, &SECRETS);
    let http = Http::default();
    let token = secret("MUTEGATE_AGORA_TOKENS");
    for path in [
        "/acme/chat/users",
        "/acme/chat/chatgroups/1/mute",
        "/acme/chat/",
        "/other/app/x",
    ] {
        let answer = http.get(&server.url(path), Some(token));
        assert_agora_error(&answer, 404, "service_resource_not_found", "no route");
    }
    let answer = http.send(http.client().put(server.url(&format!("{ROOM}/token"))));
    assert_eq!(answer.0, 404, "{}", answer.1);
    let answer = http.send(http.client().get(server.url(&format!("{APP}/token"))));
    assert_agora_error(&answer, 405, "method_not_allowed", "GET");

    let before = http
        .get(&server.url(&format!("{ROOM}/mute")), Some(token))
        .1["data"]
        .clone();
    let cases = [
        (
            format!("{ROOM}/mute/nobody"),
            404,
            "service_resource_not_found",
            "nobody",
        ),
        (
            format!("{ROOM}/mute/ann,bob"),
            400,
            "illegal_argument",
            "one username",
        ),
        (
            format!("{ROOM}/white/users/nobody"),
            404,
            "service_resource_not_found",
            "nobody",
        ),
        (
            format!("{ROOM}/white/users/{}", "x".repeat(65)),
            400,
            "illegal_argument",
            "65 characters",
        ),
        (
            "/acme/chat/sdk/chatrooms/nowhere/mute/bob".into(),
            404,
            "service_resource_not_found",
            "nowhere",
        ),
    ];
    for (path, status, error, names) in &cases {
        let answer = http.get(&server.url(path), Some(token));
        assert_agora_error(&answer, *status, error, names);
    }
    let after = http
        .get(&server.url(&format!("{ROOM}/mute")), Some(token))
        .1["data"]
        .clone();
    assert_eq!(before, after);
    assert!(!server.logs().contains(" 500 "), "{}", server.logs());
}
