//! mutegate's own JSON checks, and vendors left out of the config.

use super::agora::{AGORA_EXAMPLE_MS, ROOM};
use super::*;

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
