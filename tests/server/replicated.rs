//! Two `mutegate-server` processes replicating through one real `redis-server`: the
//! config's `[replication]` table, the URL from `MUTEGATE_REPLICATION_URL`, `/readyz`
//! once caught up, and a mute made on one node answered by the other.

use std::time::{Duration, Instant};

use serde_json::json;

use super::redis_server::Redis;
use super::{FULL, Http, SECRETS, Server, agora_mute_forever, secret};

#[test]
fn two_servers_share_state_through_redis_and_report_ready() {
    let Some(redis) = Redis::start("THIS SERVER REPLICATION TEST") else {
        return;
    };
    let url = redis.url();
    let local = tempfile::tempdir().unwrap();
    let config = |node: &str| {
        let dir = local.path().join(node);
        FULL.replace(
            "[metrics]",
            &format!(
                "[replication]\nlocal_state = {:?}\nready_max_behind = 0\n[metrics]",
                dir.display().to_string()
            ),
        )
    };
    let mut env: Vec<(&str, &str)> = SECRETS.to_vec();
    env.push(("MUTEGATE_REPLICATION_URL", &url));
    let a = Server::start(&config("a"), &env);
    let b = Server::start(&config("b"), &env);
    let http = Http::default();
    let ready = |s: &Server| {
        let started = Instant::now();
        loop {
            let (status, body) = http.get(&s.url("/readyz"), None);
            if status == 200 {
                return body;
            }
            assert_eq!(status, 503, "{body}");
            assert!(
                body["problems"][0]
                    .as_str()
                    .unwrap()
                    .starts_with("replication")
            );
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "never ready: {body}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert_eq!(ready(&a), json!({ "status": "ready" }));
    ready(&b);
    let token = secret("MUTEGATE_AGORA_TOKENS");
    agora_mute_forever(&http, &a, "r1", "bob");
    let started = Instant::now();
    loop {
        let (_, body) = http.get(&b.url("/acme/chat/chatrooms/r1/mute/bob"), Some(token));
        if body["data"]["mute"] == true {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "b never saw a's mute"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, logs) = a.stop();
    assert_eq!(status.code(), Some(0), "{logs}");
    b.stop();
}
