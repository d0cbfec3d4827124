//! NetEase (seed 003): replay, CheckSum, parameter errors, signature failures, rate limit.

use super::*;

#[tokio::test]
async fn netease_seed_003_replayed() {
    let s = start(SEED_000_MS).await;
    let (status, body) = send(s.netease("accid=123123&muteP2P=true")).await;
    assert_eq!(status, 200);
    // The seed's sample response has these fields; its values (muteP2P false, muteTeam
    // true) contradict its own request, so the values compared are the request's.
    let sample = json!({ "code": 200, "data": {
        "muteP2P": false, "muteTeam": true, "muteRoom": false, "muteQChat": false } });
    assert_like(&body, &sample, &["muteP2P", "muteTeam"]);
    assert_eq!(
        body["data"],
        json!({ "muteP2P": true, "muteTeam": false, "muteRoom": false, "muteQChat": false })
    );
    assert!(!s.engine.can_send("123123", Target::p2p("bbb")));
    assert!(s.engine.can_send("123123", Target::team("t")));

    // The seed's curl URL doubles the prefix; that path works too.
    let mut req = s.netease("accid=123123&muteP2P=false&muteTeam=true");
    let built = req.build().unwrap();
    let mut doubled = built.try_clone().unwrap();
    *doubled.url_mut() = format!("{}/nimserver/nimserver/user/muteModule.action", s.base)
        .parse()
        .unwrap();
    let resp = s.http.execute(doubled).await.unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["data"],
        json!({ "muteP2P": false, "muteTeam": true, "muteRoom": false, "muteQChat": false })
    );
    assert_eq!(
        s.engine.module_status("123123").expiry(Module::Team),
        Some(mutegate::Expiry::Never)
    );
    req = s.netease("accid=123123&muteTeam=false&muteRoom=false&muteQChat=false");
    let (_, body) = send(req).await;
    assert_eq!(body["data"]["muteTeam"], false);
    assert!(s.engine.module_status("123123").is_clear());
}

#[tokio::test]
async fn netease_checksum_matches_an_independent_computation() {
    // sha1("demo-netease-app-secret" + "4tgg23t23t" + "1602256277"), from Python's hashlib.
    let s = start(1_602_256_277_000).await;
    let req = s
        .request(Method::POST, "/nimserver/user/muteModule.action")
        .header("AppKey", demo::NETEASE_APP_KEY)
        .header("Nonce", "4tgg23t23t")
        .header("CurTime", "1602256277")
        .header("CheckSum", "1d15d05542529ec45d60091d534098e9048f54bf")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("accid=123123&muteRoom=true");
    let (status, body) = send(req).await;
    assert_eq!((status, &body["code"]), (200, &json!(200)), "{body}");
    assert_eq!(body["data"]["muteRoom"], true);
}

fn netease_error(code: u16, desc: &str) -> Value {
    json!({ "code": code, "desc": desc })
}

#[tokio::test]
async fn netease_parameter_errors_are_414_and_change_nothing() {
    let s = start(SEED_000_MS).await;
    assert_eq!(
        send(s.netease("accid=123123")).await,
        (200, netease_error(414, "missing required parameter"))
    );
    let cases = [
        ("muteP2P=true", "accid"),
        ("accid=&muteP2P=true", "accid"),
        (
            &format!("accid={}&muteP2P=true", "a".repeat(33)),
            "33 characters",
        ),
        ("accid=123123&muteP2P=yes", "muteP2P"),
        ("accid=123123&muteTeam=1", "muteTeam"),
        ("accid=%FF%FE&muteTeam=true", "not a form"),
        (
            "accid=123123&accid=bbb&muteTeam=true",
            "accid is given twice",
        ),
        (
            "accid=123123&muteRoom=true&muteRoom=false",
            "muteRoom is given twice",
        ),
    ];
    for (body, named) in cases {
        let (status, resp) = send(s.netease(body)).await;
        assert_eq!(
            (status, &resp["code"]),
            (200, &json!(414)),
            "{body}: {resp}"
        );
        let desc = resp["desc"].as_str().unwrap();
        assert!(desc.contains(named), "{body}: {desc}");
    }
    // 32 characters is within the limit.
    let (_, resp) = send(s.netease(&format!("accid={}&muteP2P=true", "a".repeat(32)))).await;
    assert_eq!(resp["code"], 200);
    let before = s.events();
    // An accid the directory does not know.
    let (_, resp) = send(s.netease("accid=ghost&muteP2P=true")).await;
    assert_eq!(resp["code"], 404);
    // An oversized body.
    let big = format!("accid=123123&muteP2P=true&pad={}", "x".repeat(70_000));
    let (status, resp) = send(s.netease(&big)).await;
    assert_eq!((status, &resp["code"]), (200, &json!(414)), "{resp}");
    assert!(resp["desc"].as_str().unwrap().contains("size limit"));
    assert_eq!(s.events(), before);
    assert!(s.engine.module_status("123123").is_clear());
    assert!(s.engine.module_status("ghost").is_clear());
}

/// `req` with header `name` set to `value` (removed if `value` is empty).
fn replace(
    s: &Server,
    req: RequestBuilder,
    name: &str,
    value: impl Into<String>,
) -> RequestBuilder {
    let mut req = req.build().unwrap();
    let value = value.into();
    let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap();
    if value.is_empty() {
        req.headers_mut().remove(name);
    } else {
        req.headers_mut().insert(name, value.parse().unwrap());
    }
    RequestBuilder::from_parts(s.http.clone(), req)
}

#[tokio::test]
async fn netease_signature_failures_never_reach_directory_or_engine() {
    let s = start(SEED_000_MS).await;
    let now = SEED_000_MS / 1000;
    let body = "accid=123123&muteP2P=true";
    let mut failures = vec![
        s.netease_signed(body, "wrong-secret", now),
        s.netease_signed(body, "demo-netease-app-secre", now),
        s.netease_signed(body, demo::NETEASE_APP_SECRET, now - 301),
        s.netease_signed(body, demo::NETEASE_APP_SECRET, now + 301),
        replace(&s, s.netease(body), "AppKey", "other-app"),
        replace(&s, s.netease(body), "CheckSum", "0".repeat(40)),
        replace(&s, s.netease(body), "CurTime", "yesterday"),
        replace(&s, s.netease(body), "Nonce", "n".repeat(129)),
    ];
    for header in ["AppKey", "Nonce", "CurTime", "CheckSum"] {
        failures.push(replace(&s, s.netease(body), header, String::new()));
    }
    for req in failures {
        let (status, resp) = send(req).await;
        assert_eq!((status, &resp["code"]), (200, &json!(414)), "{resp}");
    }
    let (_, resp) = send(s.netease_signed(body, demo::NETEASE_APP_SECRET, now - 301)).await;
    assert!(
        resp["desc"]
            .as_str()
            .unwrap()
            .starts_with("CurTime is illegal"),
        "{resp}"
    );
    assert_eq!((s.events(), s.lookups()), (0, 0), "nothing was consulted");

    // At the edge of the window, and with an uppercase checksum, the call is good.
    let (_, resp) = send(s.netease_signed(body, demo::NETEASE_APP_SECRET, now - 300)).await;
    assert_eq!(resp["code"], 200, "{resp}");
    let req = s.netease("accid=123123&muteTeam=true");
    let upper = req.try_clone().unwrap().build().unwrap().headers()["CheckSum"]
        .to_str()
        .unwrap()
        .to_ascii_uppercase();
    let (_, resp) = send(replace(&s, req, "CheckSum", upper)).await;
    assert_eq!(resp["code"], 200, "{resp}");
}

#[tokio::test]
async fn netease_101st_call_in_a_second_is_refused_for_ten_seconds() {
    let s = start(SEED_000_MS).await;
    // Calls that fail the signature do not use up the app's allowance.
    for _ in 0..20 {
        let (_, resp) =
            send(s.netease_signed("accid=123123&muteP2P=true", "bad", SEED_000_MS / 1000)).await;
        assert_eq!(resp["code"], 414);
    }
    for i in 0..100 {
        let flag = if i % 2 == 0 { "true" } else { "false" };
        let (_, resp) = send(s.netease(&format!("accid=123123&muteP2P={flag}"))).await;
        assert_eq!(resp["code"], 200, "call {i}: {resp}");
    }
    let events = s.events();
    let (status, resp) = send(s.netease("accid=123123&muteTeam=true")).await;
    assert_eq!((status, &resp["code"]), (200, &json!(416)), "{resp}");
    assert!(
        s.engine
            .module_status("123123")
            .expiry(Module::Team)
            .is_none()
    );
    s.clock.advance(Duration::from_millis(9_999));
    let (_, resp) = send(s.netease("accid=123123&muteTeam=true")).await;
    assert_eq!(resp["code"], 416, "still blocked just before 10 s");
    s.clock.advance(Duration::from_millis(1));
    let (_, resp) = send(s.netease("accid=123123&muteTeam=true")).await;
    assert_eq!(resp["code"], 200, "recovered after the block: {resp}");
    assert_eq!(s.events(), events + 1, "refused calls changed nothing");
}
