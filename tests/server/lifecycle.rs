//! The server's life: health endpoints, secrets kept out of every log line, a durable
//! restart, SIGTERM, and startup failures (exit 1).

use serde_json::json;

use super::{
    FULL, Http, SECRETS, Server, agora_mute_forever, config_file, demo, holds_files, run, secret,
};

#[test]
fn healthz_and_readyz_answer_and_sigterm_stops_with_exit_0() {
    let server = Server::start(FULL, &SECRETS);
    let http = Http::default();
    assert_eq!(
        http.get(&server.url("/healthz"), None),
        (200, json!({ "status": "ok" }))
    );
    assert_eq!(
        http.get(&server.url("/readyz"), None),
        (200, json!({ "status": "ready" }))
    );
    // /metrics is off in this config: the path is not served.
    assert_eq!(http.get(&server.url("/metrics"), None).0, 404);
    let (status, logs) = server.stop();
    assert_eq!(status.code(), Some(0), "{logs}");
    assert!(
        logs.lines().any(|l| l == "mutegate-server stopped"),
        "{logs}"
    );
}

#[test]
fn no_secret_reaches_the_logs_even_at_trace_level() {
    let config = FULL.replace(
        "[metrics]\nenabled = false",
        "[metrics]\nenabled = true\n[log]\nlevel = \"trace\"\nformat = \"json\"",
    );
    let server = Server::start(&config, &SECRETS);
    let http = Http::default();
    let client = http.client();
    // Every vendor, with the right credentials and with wrong ones.
    let token = http.json(
        "POST",
        &server.url("/acme/chat/token"),
        "",
        &json!({"grant_type": "client_credentials", "client_id": "acme-client-id",
                "client_secret": secret("MUTEGATE_AGORA_CLIENT_SECRET")})
        .to_string(),
    );
    assert_eq!(token.0, 200);
    let issued = token.1["access_token"].as_str().unwrap().to_owned();
    for bearer in [issued.as_str(), secret("MUTEGATE_AGORA_TOKENS"), "wrong"] {
        http.get(&server.url("/acme/chat/chatrooms/r1/mute"), Some(bearer));
    }
    for bearer in [secret("MUTEGATE_CHECKS_TOKENS"), "wrong"] {
        http.json(
            "POST",
            &server.url("/v1/can_send"),
            bearer,
            r#"{"user":"ann","target":"r1"}"#,
        );
    }
    for key in [secret("MUTEGATE_IMKIT_API_KEYS"), "wrong"] {
        http.send(
            client
                .post(server.url("/admin/clients/ann/mute/r1"))
                .header("IM-API-KEY", key),
        );
    }
    http.send(
        client
            .post(server.url("/me/mute/r1"))
            .header("IM-CLIENT-KEY", secret("MUTEGATE_IMKIT_CLIENT_KEYS"))
            .header("IM-Authorization", "s3cret-user-token"),
    );
    http.send(
        client
            .post(server.url("/nimserver/user/muteModule.action"))
            .header("AppKey", "nk-app")
            .header("Nonce", "n")
            .header("CurTime", "1")
            .header("CheckSum", "x")
            .body("accid=ann&muteP2P=true"),
    );
    let metrics = http.block_on(async {
        let response = client.get(server.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    });
    let (status, logs) = server.stop();
    assert_eq!(status.code(), Some(0));
    assert!(
        logs.contains("\"level\":\"TRACE\"") || logs.contains("\"level\":\"DEBUG\""),
        "trace logs on"
    );
    assert!(
        logs.contains("\"route\":\"/v1/can_send\""),
        "request lines logged: {logs}"
    );
    assert!(
        logs.contains("Secret(***)"),
        "the config's Debug is logged, masked"
    );
    let mut secrets: Vec<&str> = SECRETS.iter().map(|(_, v)| *v).collect();
    secrets.push("s3cret-user-token");
    secrets.push(&issued);
    for s in &secrets {
        assert!(!logs.contains(s), "{s} is in the logs:\n{logs}");
        assert!(!metrics.contains(s), "{s} is in /metrics");
    }
    // Nor in --check-config's line.
    let (_dir, path) = config_file(&config);
    let ran = run(
        &["--config", path.to_str().unwrap(), "--check-config"],
        &SECRETS,
    );
    assert_eq!(ran.status.code(), Some(0));
    for s in &secrets {
        assert!(!ran.stdout.contains(s) && !ran.stderr.contains(s));
    }
}

#[test]
fn a_durable_store_keeps_state_across_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("store");
    let config = FULL.replace(
        "[metrics]",
        &format!(
            "[store]\ndir = {:?}\nsync = \"every-write\"\n[metrics]",
            dir.display().to_string()
        ),
    );
    let token = secret("MUTEGATE_AGORA_TOKENS");
    let http = Http::default();
    let server = Server::start(&config, &SECRETS);
    agora_mute_forever(&http, &server, "r1", "bob");
    http.json(
        "POST",
        &server.url("/acme/chat/chatrooms/r1/ban"),
        token,
        "",
    );
    assert_eq!(http.get(&server.url("/readyz"), None).0, 200);
    let (status, logs) = server.stop();
    assert_eq!(status.code(), Some(0), "{logs}");
    assert!(holds_files(&dir));

    let server = Server::start(&config, &SECRETS);
    let (_, muted) = http.get(&server.url("/acme/chat/chatrooms/r1/mute/bob"), Some(token));
    assert_eq!(
        muted["data"],
        json!({ "user": "bob", "mute": true, "expire": -1 })
    );
    let (_, check) = http.json(
        "POST",
        &server.url("/v1/can_send"),
        secret("MUTEGATE_CHECKS_TOKENS"),
        r#"{"user":"ann","target":"r1"}"#,
    );
    assert_eq!(
        check["allowed"], false,
        "the mute-all came back too: {check}"
    );
    assert_eq!(http.get(&server.url("/readyz"), None).0, 200);
}

#[test]
fn a_store_that_will_not_open_or_a_taken_port_is_exit_1() {
    let (file_dir, not_a_dir) = config_file("not a directory");
    let config = FULL.replace(
        "[metrics]",
        &format!(
            "[store]\ndir = {:?}\n[metrics]",
            not_a_dir.display().to_string()
        ),
    );
    let (_d, path) = config_file(&config);
    let ran = run(&["--config", path.to_str().unwrap()], &SECRETS);
    assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("mutegate-server: cannot start: the store in"),
        "{}",
        ran.stderr
    );
    drop(file_dir);

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = FULL.replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let (_d, path) = config_file(&config);
    let ran = run(&["--config", path.to_str().unwrap()], &SECRETS);
    assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("cannot start"), "{}", ran.stderr);
    assert!(ran.stderr.contains(&port.to_string()), "{}", ran.stderr);
}

/// The README's demo (`examples/mutegate.toml`) is the deployment the in-process tests
/// use (`tests/common/demo.rs`): the same credentials, clients and rooms.
#[test]
fn the_example_config_serves_the_demo_deployment() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/mutegate.toml"
    ))
    .unwrap()
    .replace("bind = \"127.0.0.1:8080\"", "bind = \"127.0.0.1:0\"");
    let server = Server::start(&text, &[]);
    let http = Http::default();
    let directory = demo::directory();
    for id in [
        "aaa",
        "1485248560558",
        "bbb",
        "123123",
        "user1",
        "user2",
        "user3",
    ] {
        let (status, body) = http.send(
            http.client()
                .post(server.url(&format!("/admin/clients/{id}/mute/demo")))
                .header("IM-API-KEY", demo::IMKIT_API_KEY),
        );
        assert_eq!(status, 200, "{id}: {body}");
        let want = http
            .block_on(mutegate::http::Directory::client(&directory, id))
            .unwrap();
        let got = &body["result"];
        let text = |k: &str| got.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        assert_eq!(text("nickname"), want.nickname, "{id}");
        assert_eq!(text("email"), want.email, "{id}");
        assert_eq!(text("avatarUrl"), want.avatar_url, "{id}");
        assert_eq!(text("userAgent"), want.user_agent, "{id}");
        assert_eq!(
            got.get("lastLoginTimeMS").and_then(|v| v.as_u64()),
            want.last_login_time_ms,
            "{id}"
        );
        assert_eq!(
            got.get("address")
                .map(|a| (a["address"].clone(), a["port"].clone())),
            want.address.map(|a| (json!(a.address), json!(a.port))),
            "{id}"
        );
    }
    for room in ["demo", "demo-room", "58871b877390be11d5f1ab30", "12345678"] {
        let (status, body) = http.send(
            http.client()
                .post(server.url(&format!("/admin/clients/aaa/mute/{room}")))
                .header("IM-API-KEY", demo::IMKIT_API_KEY),
        );
        assert_eq!(status, 200, "{room}: {body}");
    }
    let checks = http.json(
        "POST",
        &server.url("/v1/can_send"),
        demo::CHECK_TOKEN,
        r#"{"user":"aaa","target":"demo"}"#,
    );
    assert_eq!(checks.0, 200);
    let agora = http.get(
        &server.url(&format!(
            "/{}/{}/chatrooms/12345678/mute",
            demo::AGORA_ORG,
            demo::AGORA_APP
        )),
        Some(demo::AGORA_TOKEN),
    );
    assert_eq!(
        (agora.0, agora.1["application"].clone()),
        (200, json!(demo::AGORA_APPLICATION))
    );
    let me = http.send(
        http.client()
            .post(server.url("/me/mute/demo-room"))
            .header("IM-CLIENT-KEY", demo::IMKIT_CLIENT_KEY)
            .header("IM-Authorization", demo::IMKIT_TOKEN_AAA),
    );
    assert_eq!((me.0, me.1["result"]["_id"].clone()), (200, json!("aaa")));
}
