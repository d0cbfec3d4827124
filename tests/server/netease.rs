//! NetEase's `sendMsg.action` as an admission check, through the binary: signed as
//! NetEase signs, 423 for a sender muted in that module, 200 otherwise, 414 naming the
//! parameter for bad input.

use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use super::{FULL, Http, SECRETS, Server, keys, secret, unix_s};

/// A NetEase call signed as NetEase's own server SDKs sign: `CheckSum` is the hex SHA-1
/// of `AppSecret + Nonce + CurTime`.
fn signed(http: &Http, server: &Server, path: &str, form: &str) -> Value {
    let nonce = "4tgg23t23t";
    let cur_time = unix_s().to_string();
    let digest = Sha1::new()
        .chain_update(secret("MUTEGATE_NETEASE_APP_SECRET"))
        .chain_update(nonce)
        .chain_update(&cur_time)
        .finalize();
    let sum: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let (status, body) = http.send(
        http.client()
            .post(server.url(path))
            .header("AppKey", "nk-app")
            .header("Nonce", nonce)
            .header("CurTime", cur_time)
            .header("CheckSum", sum)
            .header(
                "Content-Type",
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(form.to_owned()),
    );
    assert_eq!(
        status, 200,
        "NetEase answers HTTP 200 and puts the outcome in code"
    );
    body
}

const SEND: &str = "/nimserver/msg/sendMsg.action";
const MUTE: &str = "/nimserver/user/muteModule.action";
const BODY: &str = "body=%7B%22msg%22%3A%22hello%22%7D";

fn send(http: &Http, server: &Server, from: &str, ope: u8, to: &str) -> Value {
    signed(
        http,
        server,
        SEND,
        &format!("from={from}&ope={ope}&to={to}&type=0&{BODY}"),
    )
}

#[test]
fn a_sender_muted_in_a_module_gets_423_there_and_200_elsewhere() {
    let server = Server::start(FULL, &SECRETS);
    let http = Http::default();
    let ok = send(&http, &server, "ann", 0, "bob");
    assert_eq!(ok["code"], 200, "{ok}");
    assert_eq!(keys(&ok["data"]), ["antispam", "msgid", "timetag"]);
    assert_eq!(ok["data"]["antispam"], false);
    assert!(ok["data"]["msgid"].as_u64().unwrap() >= 1);

    let muted = signed(&http, &server, MUTE, "accid=ann&muteTeam=true");
    assert_eq!(muted["data"]["muteTeam"], true, "{muted}");
    let refused = send(&http, &server, "ann", 1, "t1");
    assert_eq!(refused["code"], 423, "{refused}");
    let desc = refused["desc"].as_str().unwrap();
    assert!(desc.contains("ann") && desc.contains("team"), "{desc}");
    assert_eq!(
        send(&http, &server, "ann", 0, "bob")["code"],
        200,
        "P2P is another module"
    );
    assert_eq!(
        send(&http, &server, "bob", 1, "t1")["code"],
        200,
        "only ann is muted"
    );

    signed(
        &http,
        &server,
        MUTE,
        "accid=ann&muteP2P=true&muteTeam=false",
    );
    assert_eq!(send(&http, &server, "ann", 0, "bob")["code"], 423);
    assert_eq!(send(&http, &server, "ann", 1, "t1")["code"], 200);

    // One id space: an Agora mute-all on room "t1" refuses NetEase team "t1" too (the
    // README's "Run the server" says why).
    let token = secret("MUTEGATE_AGORA_TOKENS");
    let (status, _) = http.json(
        "POST",
        &server.url("/acme/chat/chatrooms/t1/ban"),
        token,
        "",
    );
    assert_eq!(status, 200);
    let refused = send(&http, &server, "bob", 1, "t1");
    assert_eq!(refused["code"], 423, "{refused}");
}

#[test]
fn bad_send_calls_are_414_naming_the_parameter_and_change_nothing() {
    let server = Server::start(FULL, &SECRETS);
    let http = Http::default();
    signed(&http, &server, MUTE, "accid=cat&muteP2P=true");
    let cases = [
        (format!("ope=0&to=bob&type=0&{BODY}"), 414, "from"),
        (format!("from=ann&to=bob&type=0&{BODY}"), 414, "ope"),
        (format!("from=ann&ope=3&to=bob&type=0&{BODY}"), 414, "ope"),
        (format!("from=ann&ope=0&type=0&{BODY}"), 414, "to"),
        (format!("from=ann&ope=0&to=bob&type=7&{BODY}"), 414, "type"),
        ("from=ann&ope=0&to=bob&type=0".to_owned(), 414, "body"),
        (
            "from=ann&ope=0&to=bob&type=0&body=hello".to_owned(),
            414,
            "body is not JSON",
        ),
        (
            format!("from=ann&ope=0&to=bob&to=cat&type=0&{BODY}"),
            414,
            "to is given twice",
        ),
        (
            format!("from=nobody&ope=0&to=bob&type=0&{BODY}"),
            404,
            "nobody",
        ),
        (
            format!("from=ann&ope=1&to=no-team&type=0&{BODY}"),
            404,
            "no-team",
        ),
        (format!("from=ann&ope=0&to=%FF&type=0&{BODY}"), 414, "UTF-8"),
    ];
    for (form, code, names) in &cases {
        let answer = signed(&http, &server, SEND, form);
        assert_eq!(answer["code"], *code, "{form}: {answer}");
        assert!(
            answer["desc"].as_str().unwrap().contains(names),
            "{form}: {answer}"
        );
    }
    // A bad signature is refused before the form is read.
    let (status, answer) = http.send(
        http.client()
            .post(server.url(SEND))
            .header("AppKey", "nk-app")
            .header("Nonce", "n")
            .header("CurTime", unix_s().to_string())
            .header("CheckSum", "0".repeat(40))
            .body(format!("from=ann&ope=0&to=bob&type=0&{BODY}")),
    );
    assert_eq!((status, answer["code"].clone()), (200, json!(414)));
    // Nothing changed: cat is still muted in P2P, ann in nothing.
    assert_eq!(send(&http, &server, "cat", 0, "bob")["code"], 423);
    assert_eq!(send(&http, &server, "ann", 0, "bob")["code"], 200);
    assert!(!server.logs().contains(" 500 "));
}
