//! mutegate's rule REST and the push checks' new inputs, through a real client.

use super::*;

impl Server {
    pub(super) fn rule(&self, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path)
            .header("Authorization", format!("Bearer {}", demo::CHECK_TOKEN))
    }
}

/// SEED_000_MS is Friday 2020-10-09 15:11:17 UTC.
#[tokio::test]
async fn quiet_hours_snooze_and_bypass_over_rest() {
    let s = start(SEED_000_MS).await;
    let path = "/v1/users/ann/quiet_hours";
    let (status, body) = send(s.rule(Method::PUT, path).json(&json!({
        "zone": "Europe/Berlin", "windows": ["fri 17:00-18:00", "sat 22:00-07:00"]
    })))
    .await;
    assert_eq!(status, 200, "{body}");
    // 15:11 UTC is 17:11 in Berlin (CEST): quiet.
    assert_eq!(
        body,
        json!({
            "schedule": { "zone": "Europe/Berlin", "windows": ["fri 17:00-18:00", "sat 22:00-07:00"] },
            "snoozed_until": null,
            "bypass": { "mentions": false, "urgent": false },
            "quiet_now": true,
        })
    );
    let (_, get) = send(s.rule(Method::GET, path)).await;
    assert_eq!(get, body);
    let push = |mention: &str, urgent: bool| {
        s.check(
            "/v1/should_push",
            json!({ "user": "ann", "room": "r", "mention": mention, "urgent": urgent }),
        )
    };
    assert_eq!(send(push("direct", true)).await.1, json!({ "push": false }));
    let (_, body) = send(
        s.rule(Method::PUT, "/v1/users/ann/bypass")
            .json(&json!({ "urgent": true })),
    )
    .await;
    assert_eq!(body["bypass"], json!({ "mentions": false, "urgent": true }));
    assert_eq!(send(push("direct", true)).await.1, json!({ "push": true }));
    assert_eq!(send(push("room", false)).await.1, json!({ "push": false }));

    let (_, body) = send(s.rule(Method::DELETE, path)).await;
    assert_eq!(body, json!({ "removed": true }));
    let until = SEED_000_MS + 60_000;
    let (status, body) = send(
        s.rule(Method::PUT, "/v1/users/ann/snooze")
            .json(&json!({ "until": until })),
    )
    .await;
    assert_eq!((status, &body["snoozed_until"]), (200, &json!(until)));
    assert_eq!(send(push("none", false)).await.1, json!({ "push": false }));
    let (_, body) = send(s.rule(Method::DELETE, "/v1/users/ann/snooze")).await;
    assert_eq!(body, json!({ "lifted": true }));
    assert_eq!(send(push("none", false)).await.1, json!({ "push": true }));
}

#[tokio::test]
async fn sender_mutes_levels_and_room_mentions_over_rest() {
    let s = start(SEED_000_MS).await;
    for sender in ["bob", "cat", "dan"] {
        let (status, body) = send(s.rule(
            Method::PUT,
            &format!("/v1/users/ann/muted_senders/{sender}"),
        ))
        .await;
        assert_eq!((status, &body["until"]), (200, &json!(-1)), "{body}");
    }
    let (_, body) = send(
        s.rule(Method::PUT, "/v1/users/ann/muted_senders/eve")
            .json(&json!({ "duration_ms": 5_000 })),
    )
    .await;
    assert_eq!(
        body,
        json!({ "sender": "eve", "until": SEED_000_MS + 5_000 })
    );
    let (_, page) = send(s.rule(Method::GET, "/v1/users/ann/muted_senders?limit=2")).await;
    assert_eq!(
        page,
        json!({ "items": [{ "sender": "bob", "until": -1 }, { "sender": "cat", "until": -1 }], "next": "cat" })
    );
    let (_, page) =
        send(s.rule(Method::GET, "/v1/users/ann/muted_senders?limit=2&after=cat")).await;
    assert_eq!(page["next"], json!(null));
    assert_eq!(page["items"][1]["sender"], json!("eve"));
    let (_, body) = send(s.rule(Method::DELETE, "/v1/users/ann/muted_senders/cat")).await;
    assert_eq!(body, json!({ "lifted": true }));

    let members = json!(["ann", "bob", "cat"]);
    let targets = |extra: Value| {
        let mut body = json!({ "room": "r", "members": members, "sender": "bob" });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        s.check("/v1/push_targets", body)
    };
    assert_eq!(
        send(targets(json!({}))).await.1,
        json!({ "targets": ["bob", "cat"] })
    );
    // cat only wants direct mentions in r; r's @all is plain text once the admin says so.
    let (_, body) = send(
        s.rule(Method::PUT, "/v1/users/cat/rooms/r/level")
            .json(&json!({ "level": "direct_mentions" })),
    )
    .await;
    assert_eq!(body, json!({ "level": "direct_mentions", "until": -1 }));
    let (_, body) = send(s.rule(Method::GET, "/v1/users/cat/rooms/r/level")).await;
    assert_eq!(body["level"], json!("direct_mentions"));
    assert_eq!(
        send(targets(json!({ "room_wide": true }))).await.1,
        json!({ "targets": ["bob"] })
    );
    assert_eq!(
        send(targets(json!({ "mentions": ["cat"] }))).await.1,
        json!({ "targets": ["bob", "cat"] })
    );
    s.engine
        .set_notification_level(
            "bob",
            "r",
            mutegate::NotifyLevel::MentionsOnly,
            MuteFor::Forever,
        )
        .unwrap();
    assert_eq!(
        send(targets(json!({ "room_wide": true }))).await.1,
        json!({ "targets": ["bob"] })
    );
    let (_, body) = send(
        s.rule(Method::PUT, "/v1/rooms/r/mentions")
            .json(&json!({ "notify": false })),
    )
    .await;
    assert_eq!(body, json!({ "notify": false }));
    assert_eq!(
        send(s.rule(Method::GET, "/v1/rooms/r/mentions")).await.1,
        body
    );
    assert_eq!(
        send(targets(json!({ "room_wide": true }))).await.1,
        json!({ "targets": [] })
    );
}

#[tokio::test]
async fn rule_calls_refuse_bad_input_by_name_and_change_nothing() {
    let s = start(SEED_000_MS).await;
    let before = s.events();
    let cases: Vec<(Method, String, Value, &str)> = vec![
        (
            Method::PUT,
            "/v1/users/ann/quiet_hours".into(),
            json!({ "zone": "Mars/Base", "windows": [] }),
            "Mars/Base",
        ),
        (
            Method::PUT,
            "/v1/users/ann/quiet_hours".into(),
            json!({ "zone": "UTC", "windows": ["mon 07:00-07:00"] }),
            "mon 07:00-07:00",
        ),
        (
            Method::PUT,
            "/v1/users/ann/quiet_hours".into(),
            json!({ "zone": "UTC", "windows": ["mon 22:00-07:00", "tue 06:00-08:00"] }),
            "overlap",
        ),
        (
            Method::PUT,
            "/v1/users/ann/quiet_hours".into(),
            json!({ "zone": "UTC", "windows": ["someday 01:00-02:00"] }),
            "someday",
        ),
        (
            Method::PUT,
            "/v1/users/ann/quiet_hours".into(),
            json!({ "zone": "UTC", "windows": vec!["mon 00:00-00:01"; 29] }),
            "29 windows",
        ),
        (
            Method::PUT,
            "/v1/users/ann/snooze".into(),
            json!({ "until": SEED_000_MS }),
            "not after now",
        ),
        (
            Method::PUT,
            "/v1/users/ann/snooze".into(),
            json!({ "until": -5 }),
            "-5",
        ),
        (
            Method::PUT,
            "/v1/users/ann/muted_senders/bob".into(),
            json!({ "duration_ms": 0 }),
            "under 1 ms",
        ),
        (
            Method::PUT,
            "/v1/users/ann/rooms/r/level".into(),
            json!({ "level": "loud" }),
            "loud",
        ),
        (
            Method::PUT,
            "/v1/rooms/r/mentions".into(),
            json!({ "notify": "yes" }),
            "invalid type",
        ),
        (
            Method::PUT,
            format!("/v1/users/{}/bypass", "x".repeat(200)),
            json!({}),
            "over the limit",
        ),
    ];
    for (method, path, body, named) in cases {
        let (status, resp) = send(s.rule(method, &path).json(&body)).await;
        assert_eq!(
            (status, &resp["error"]["code"]),
            (400, &json!("bad_request")),
            "{path} {body}: {resp}"
        );
        let message = resp["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{path}: {message}");
    }
    let (status, resp) = send(s.rule(Method::GET, "/v1/users/ann/muted_senders?limit=0")).await;
    assert_eq!(
        (status, &resp["error"]["code"]),
        (400, &json!("bad_request"))
    );
    let (status, _) = send(s.request(Method::GET, "/v1/users/ann/quiet_hours")).await;
    assert_eq!(status, 401);
    let (status, resp) = send(s.rule(Method::POST, "/v1/users/ann/quiet_hours")).await;
    assert_eq!(
        (status, &resp["error"]["code"]),
        (405, &json!("method_not_allowed"))
    );
    let (status, resp) = send(s.check(
        "/v1/should_push",
        json!({ "user": "a", "room": "r", "mentioned": true, "mention": "room" }),
    ))
    .await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(s.events(), before, "nothing changed");
    assert_eq!(s.engine.quiet_hours("ann"), mutegate::QuietHours::default());
}

#[tokio::test]
async fn slow_mode_over_rest_counts_only_in_try_send() {
    let s = start(SEED_000_MS).await;
    let path = "/v1/rooms/r/slow_mode";
    let (status, body) = send(
        s.rule(Method::PUT, path)
            .json(&json!({ "cooldown_ms": 30_000 })),
    )
    .await;
    assert_eq!((status, body), (200, json!({ "cooldown_ms": 30_000 })));
    let send_as = |path: &str| s.check(path, json!({ "user": "ann", "target": "r" }));
    assert_eq!(
        send(send_as("/v1/can_send")).await.1,
        json!({ "allowed": true })
    );
    assert_eq!(
        send(send_as("/v1/try_send")).await.1,
        json!({ "allowed": true })
    );
    let denied = json!({ "allowed": false, "reason": "slow_mode", "until": SEED_000_MS + 30_000 });
    assert_eq!(send(send_as("/v1/try_send")).await.1, denied);
    assert_eq!(send(send_as("/v1/can_send")).await.1, denied);
    for bad in [0, 999, 21_600_001] {
        let (status, body) = send(
            s.rule(Method::PUT, path)
                .json(&json!({ "cooldown_ms": bad })),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("{bad} ms")), "{message}");
    }
    assert_eq!(
        send(s.rule(Method::GET, path)).await.1,
        json!({ "cooldown_ms": 30_000 })
    );
    assert_eq!(
        send(s.rule(Method::DELETE, path)).await.1,
        json!({ "lifted": true })
    );
    assert_eq!(
        send(s.rule(Method::GET, path)).await.1,
        json!({ "cooldown_ms": null })
    );
    assert_eq!(
        send(send_as("/v1/try_send")).await.1,
        json!({ "allowed": true })
    );
}
