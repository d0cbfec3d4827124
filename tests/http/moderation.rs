//! Scoped member, room-wide and module mutes over mutegate's REST, through a real
//! client, and the checks' `action`.

use super::*;

#[tokio::test]
async fn scoped_mutes_over_rest_block_only_their_actions() {
    let s = start(SEED_000_MS).await;
    let path = "/v1/rooms/r/muted_members/bob";
    let (status, body) = send(s.rule(Method::PUT, path).json(&json!({
        "duration_ms": 60_000, "actions": ["react", "edit"]
    })))
    .await;
    assert_eq!(status, 200, "{body}");
    let until = SEED_000_MS + 60_000;
    assert_eq!(
        body,
        json!({
            "muted": true, "until": until, "actions": ["react", "edit"],
            "trail": { "actor": null, "reason": null, "source": "api" },
        })
    );
    assert_eq!(send(s.rule(Method::GET, path)).await.1, body);
    let can = |action: Option<&str>| {
        let mut req = json!({ "user": "bob", "target": "r" });
        if let Some(a) = action {
            req["action"] = json!(a);
        }
        s.check("/v1/can_send", req)
    };
    assert_eq!(send(can(None)).await.1, json!({ "allowed": true }));
    assert_eq!(
        send(can(Some("react"))).await.1,
        json!({ "allowed": false, "reason": "member_muted", "until": until })
    );
    assert_eq!(
        send(can(Some("join_voice"))).await.1,
        json!({ "allowed": true })
    );
    let (_, list) = send(s.rule(Method::GET, "/v1/rooms/r/muted_members?limit=10")).await;
    assert_eq!(
        list,
        json!({ "items": [{
            "user": "bob", "until": until, "actions": ["react", "edit"],
            // Made over the API with no actor or reason named.
            "trail": { "actor": null, "reason": null, "source": "api" },
        }], "next": null })
    );
    // Unscoped: every action.
    let (_, body) = send(s.rule(Method::PUT, path)).await;
    assert_eq!(body["actions"].as_array().unwrap().len(), 6, "{body}");
    assert_eq!(send(can(None)).await.1["allowed"], json!(false));
    assert_eq!(
        send(s.rule(Method::DELETE, path)).await.1,
        json!({ "lifted": true })
    );
    assert_eq!(
        send(s.rule(Method::GET, path)).await.1,
        json!({ "muted": false })
    );

    // A room-wide mute of voice, and a module mute of uploads.
    let (_, body) = send(
        s.rule(Method::PUT, "/v1/rooms/r/mute")
            .json(&json!({ "actions": ["join_voice"] })),
    )
    .await;
    assert_eq!(
        body,
        json!({ "muted": true, "until": -1, "actions": ["join_voice"] })
    );
    assert_eq!(
        send(can(Some("join_voice"))).await.1["reason"],
        json!("room_muted")
    );
    assert_eq!(send(can(None)).await.1, json!({ "allowed": true }));
    let module = "/v1/users/bob/modules/team/mute";
    let (_, body) = send(
        s.rule(Method::PUT, module)
            .json(&json!({ "actions": ["upload_media"] })),
    )
    .await;
    assert_eq!(body["actions"], json!(["upload_media"]));
    let upload =
        json!({ "user": "bob", "target": "t", "module": "team", "action": "upload_media" });
    let (_, verdict) = send(s.check("/v1/can_send", upload)).await;
    assert_eq!(
        (&verdict["reason"], &verdict["module"]),
        (&json!("module_muted"), &json!("team"))
    );
    assert_eq!(
        send(s.rule(Method::DELETE, module)).await.1,
        json!({ "lifted": true })
    );
    assert_eq!(
        send(s.rule(Method::DELETE, "/v1/rooms/r/mute")).await.1,
        json!({ "lifted": true })
    );
    assert_eq!(s.engine.room_mute("r"), None);
}

#[tokio::test]
async fn unknown_actions_and_empty_scopes_are_refused_by_name_and_change_nothing() {
    let s = start(SEED_000_MS).await;
    let before = s.events();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/v1/rooms/r/muted_members/bob",
            json!({ "actions": ["react", "dance"] }),
            "\"dance\"",
        ),
        (
            "/v1/rooms/r/muted_members/bob",
            json!({ "actions": [] }),
            "empty action scope",
        ),
        (
            "/v1/rooms/r/mute",
            json!({ "actions": ["shout"] }),
            "\"shout\"",
        ),
        (
            "/v1/rooms/r/mute",
            json!({ "actions": [] }),
            "empty action scope",
        ),
        (
            "/v1/users/bob/modules/team/mute",
            json!({ "actions": ["wave"] }),
            "\"wave\"",
        ),
        ("/v1/users/bob/modules/voice/mute", json!({}), "\"voice\""),
        (
            "/v1/rooms/r/muted_members/bob",
            json!({ "duration_ms": 0 }),
            "under 1 ms",
        ),
        (
            "/v1/rooms/r/mute",
            json!({ "scope": ["react"] }),
            "unknown field",
        ),
    ];
    for (path, body, named) in cases {
        let (status, resp) = send(s.rule(Method::PUT, path).json(&body)).await;
        assert_eq!(
            (status, &resp["error"]["code"]),
            (400, &json!("bad_request")),
            "{path} {body}: {resp}"
        );
        let message = resp["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{path}: {message}");
    }
    let (status, resp) = send(s.check(
        "/v1/can_send",
        json!({ "user": "bob", "target": "r", "action": "teleport" }),
    ))
    .await;
    assert_eq!(status, 400, "{resp}");
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"teleport\"")
    );
    let (status, _) = send(s.request(Method::GET, "/v1/rooms/r/mute")).await;
    assert_eq!(status, 401);
    assert_eq!(s.events(), before, "nothing changed");
    assert_eq!(
        s.engine.stats().member_mutes + s.engine.stats().room_mutes,
        0
    );
    assert!(s.engine.module_status("bob").is_clear());
}

#[tokio::test]
async fn strikes_and_ladders_over_rest() {
    let s = start(SEED_000_MS).await;
    let (status, body) = send(s.rule(Method::PUT, "/v1/rooms/r/ladder").json(&json!({
        "steps_ms": [60_000, 600_000], "decay_ms": 86_400_000
    })))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "steps_ms": [60_000, 600_000], "decay_ms": 86_400_000, "own": true })
    );
    let path = "/v1/rooms/r/strikes/bob";
    let (_, first) = send(s.rule(Method::POST, path)).await;
    assert_eq!(
        first,
        json!({ "strikes": 1, "until": SEED_000_MS + 60_000 })
    );
    s.clock.advance(std::time::Duration::from_millis(1));
    let (_, second) = send(s.rule(Method::POST, path)).await;
    assert_eq!(
        second,
        json!({ "strikes": 2, "until": SEED_000_MS + 1 + 600_000 })
    );
    assert_eq!(
        send(s.rule(Method::GET, path)).await.1,
        json!({ "strikes": 2 })
    );
    let (_, verdict) = send(s.check("/v1/can_send", json!({ "user": "bob", "target": "r" }))).await;
    assert_eq!(verdict["reason"], json!("member_muted"));
    assert_eq!(
        send(s.rule(Method::DELETE, path)).await.1,
        json!({ "pardoned": true })
    );
    assert_eq!(
        send(s.rule(Method::GET, path)).await.1,
        json!({ "strikes": 0 })
    );
    assert_eq!(
        send(s.rule(Method::DELETE, "/v1/rooms/r/ladder")).await.1,
        json!({ "cleared": true })
    );
    assert_eq!(
        send(s.rule(Method::GET, "/v1/rooms/r/ladder")).await.1["own"],
        json!(false)
    );
}

#[tokio::test]
async fn bad_ladders_over_rest_are_refused_by_name_and_change_nothing() {
    let s = start(SEED_000_MS).await;
    let before = s.events();
    for (body, named) in [
        (json!({ "steps_ms": [], "decay_ms": 1_000 }), "no steps"),
        (
            json!({ "steps_ms": [0], "decay_ms": 1_000 }),
            "step 1 of 0 ms",
        ),
        (
            json!({ "steps_ms": [1_000], "decay_ms": 0 }),
            "decay of 0 ms",
        ),
        (
            json!({ "steps_ms": vec![1_000; 17], "decay_ms": 1_000 }),
            "17 steps",
        ),
        (json!({ "steps_ms": [1_000] }), "decay_ms"),
    ] {
        let (status, resp) = send(s.rule(Method::PUT, "/v1/rooms/r/ladder").json(&body)).await;
        assert_eq!(
            (status, &resp["error"]["code"]),
            (400, &json!("bad_request")),
            "{body}"
        );
        let message = resp["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{message}");
    }
    let (status, _) = send(s.rule(
        Method::POST,
        &format!("/v1/rooms/r/strikes/{}", "x".repeat(200)),
    ))
    .await;
    assert_eq!(status, 400);
    assert_eq!(s.events(), before, "nothing changed");
    assert!(!s.engine.has_own_ladder("r"));
}
