//! The moderation trail over mutegate's REST, through a real client: who, why and
//! through what travel with each moderation request into the subject's history, the
//! listing shows them, and a bad trail is refused by name with nothing changed.

use super::*;

#[tokio::test]
async fn trails_go_into_histories_and_the_listing() {
    let s = start(SEED_000_MS).await;
    let (status, body) = send(
        s.rule(Method::PUT, "/v1/rooms/r/muted_members/bob")
            .json(&json!({
                "duration_ms": 60_000, "actor": "mod-1", "reason": "flooding", "source": "manual"
            })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let trail = json!({ "actor": "mod-1", "reason": "flooding", "source": "manual" });
    assert_eq!(body["trail"], trail, "{body}");
    let (_, read) = send(s.rule(Method::GET, "/v1/rooms/r/muted_members/bob")).await;
    assert_eq!(read, body);
    let (_, list) = send(s.rule(Method::GET, "/v1/rooms/r/muted_members")).await;
    assert_eq!(list["items"][0]["trail"], trail, "{list}");

    // A strike with no body is the API's, with no actor.
    s.clock.advance(std::time::Duration::from_millis(5));
    let (status, _) = send(s.rule(Method::POST, "/v1/rooms/r/strikes/bob")).await;
    assert_eq!(status, 200);
    let (status, history) = send(s.rule(Method::GET, "/v1/rooms/r/history/bob")).await;
    assert_eq!(status, 200, "{history}");
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{history}");
    assert_eq!(items[0]["at"], json!(SEED_000_MS));
    assert_eq!(items[0]["kind"], json!("mute_members"));
    assert_eq!(items[0]["until"], json!(SEED_000_MS + 60_000));
    assert_eq!(items[0]["actions"].as_array().unwrap().len(), 6);
    assert_eq!(
        (&items[0]["actor"], &items[0]["reason"], &items[0]["source"]),
        (&json!("mod-1"), &json!("flooding"), &json!("manual"))
    );
    assert_eq!(items[1]["kind"], json!("strike"));
    assert_eq!(
        (&items[1]["actor"], &items[1]["source"]),
        (&json!(null), &json!("api"))
    );

    // A DELETE carries its trail as its body; rooms and users have their own histories.
    let (_, lifted) = send(
        s.rule(Method::DELETE, "/v1/rooms/r/muted_members/bob")
            .json(&json!({ "actor": "mod-2", "reason": "appeal granted" })),
    )
    .await;
    assert_eq!(lifted, json!({ "lifted": true }));
    let (_, history) = send(s.rule(Method::GET, "/v1/rooms/r/history/bob")).await;
    assert_eq!(history["items"][2]["reason"], json!("appeal granted"));
    send(s.rule(Method::PUT, "/v1/rooms/r/slow_mode").json(&json!({
        "cooldown_ms": 5_000, "source": "automatic"
    })))
    .await;
    send(
        s.rule(Method::PUT, "/v1/users/bob/modules/p2p/mute")
            .json(&json!({ "actor": "mod-3" })),
    )
    .await;
    let (_, room) = send(s.rule(Method::GET, "/v1/rooms/r/history")).await;
    assert_eq!(room["items"][0]["kind"], json!("set_slow_mode"), "{room}");
    assert_eq!(room["items"][0]["source"], json!("automatic"));
    assert_eq!(room["items"][0]["cooldown_ms"], json!(5_000));
    let (_, user) = send(s.rule(Method::GET, "/v1/users/bob/history")).await;
    assert_eq!(user["items"][0]["actor"], json!("mod-3"), "{user}");
    assert_eq!(user["items"][0]["modules"], json!({ "p2p": true }));
    assert_eq!(user["items"][0]["until"], json!(-1));
    let (_, none) = send(s.rule(Method::GET, "/v1/rooms/elsewhere/history/bob")).await;
    assert_eq!(none, json!({ "items": [] }));
}

#[tokio::test]
async fn bad_trails_are_refused_by_name_and_change_nothing() {
    let s = start(SEED_000_MS).await;
    let before = s.events();
    let path = "/v1/rooms/r/muted_members/bob";
    for (body, named) in [
        (json!({ "reason": "x".repeat(513) }), "513"),
        (json!({ "source": "robot" }), "robot"),
        (json!({ "actor": "" }), "empty"),
        (json!({ "actor": "a".repeat(200) }), "200"),
        (json!({ "reason": 5 }), "reason"),
        (json!({ "moderator": "x" }), "moderator"),
    ] {
        for method in [Method::PUT, Method::DELETE] {
            let (status, resp) = send(s.rule(method.clone(), path).json(&body)).await;
            assert_eq!(
                (status, &resp["error"]["code"]),
                (400, &json!("bad_request")),
                "{method} {body}"
            );
            let message = resp["error"]["message"].as_str().unwrap();
            assert!(message.contains(named), "{message}");
        }
    }
    let (status, _) = send(
        s.rule(Method::POST, "/v1/rooms/r/strikes/bob")
            .json(&json!({ "reason": "x".repeat(513) })),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(s.events(), before, "nothing changed");
    assert!(s.engine.muted_members("r").is_empty());
    assert_eq!(s.engine.strikes("r", "bob"), 0);
    let (_, history) = send(s.rule(Method::GET, "/v1/rooms/r/history/bob")).await;
    assert_eq!(history, json!({ "items": [] }));
    let (status, _) = send(s.rule(Method::GET, "/v1/rooms//history/bob")).await;
    assert!(status == 400 || status == 404, "{status}");
}
