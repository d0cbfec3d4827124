//! The facade's server (`mutegate::http::serve`) against real clients on 127.0.0.1:
//! keep-alive after refusals, slow clients cut off, the connection cap, a graceful
//! shutdown, and startup errors a person can read.

#[path = "common/demo.rs"]
#[allow(dead_code)]
mod demo;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mutegate::http::{self, ServerConfig, StartError};
use mutegate::{Engine, MuteFor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

struct Running {
    addr: SocketAddr,
    engine: Arc<Engine>,
    stop: Option<oneshot::Sender<()>>,
    done: JoinHandle<std::io::Result<()>>,
}

async fn start(config: ServerConfig) -> Running {
    let engine = Arc::new(Engine::new());
    let app = http::router(Arc::clone(&engine), demo::config(), demo::directory());
    let listener = http::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(http::serve(listener, app, config, async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        engine,
        stop: Some(stop),
        done,
    }
}

fn check_request(body: &str, token: &str) -> String {
    format!(
        "POST /v1/can_send HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Reads one response (headers and a `Content-Length` body) from `stream`.
async fn read_response(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                return Ok(String::from_utf8_lossy(&buf[..end + 4 + len]).into_owned());
            }
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Waits until the server closes `stream`; how long that took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut sink = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut sink)).await {
            Err(_) => panic!("still open after {limit:?}"),
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

/// A request whose answer is a refusal before the body is read, `i` choosing which.
fn refused_request(i: usize) -> String {
    let post = |path: &str, headers: &str, body: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    // A body of 60 KiB: more than a server reads ahead with the headers.
    let json = format!(
        r#"{{"mute_duration":-1,"usernames":["user1"],"padding":"{}"}}"#,
        "x".repeat(60 * 1024)
    );
    let json = json.as_str();
    match i % 4 {
        // A bad bearer token (401).
        0 => post("/v1/can_send", "Authorization: Bearer wrong\r\n", json),
        // An Agora room the directory does not know (404).
        1 => post(
            &format!(
                "/{}/{}/chatrooms/nowhere/mute",
                demo::AGORA_ORG,
                demo::AGORA_APP
            ),
            &format!("Authorization: Bearer {}\r\n", demo::AGORA_TOKEN),
            json,
        ),
        // IMKit without its key (401).
        2 => post("/admin/clients/aaa/mute/demo", "", json),
        // NetEase with a bad signature (HTTP 200, code 414 in the body).
        _ => post(
            "/nimserver/user/muteModule.action",
            &format!(
                "AppKey: {}\r\nNonce: n\r\nCurTime: 1\r\nCheckSum: bad\r\n",
                demo::NETEASE_APP_KEY
            ),
            "accid=123123&muteP2P=true",
        ),
    }
}

/// A keep-alive client as HTTP/1.1 asks for: requests one after another on one
/// connection, opening a new one only when the server answers `Connection: close`.
/// Returns how many requests failed (the connection dropped under them).
async fn keep_alive_client(addr: SocketAddr, requests: &[String]) -> (usize, Vec<String>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let (mut failures, mut answers) = (0, Vec::new());
    for request in requests {
        let sent = stream.write_all(request.as_bytes()).await;
        match (sent, read_response(&mut stream).await) {
            (Ok(()), Ok(answer)) => {
                if answer.to_lowercase().contains("\r\nconnection: close") {
                    stream = TcpStream::connect(addr).await.unwrap();
                }
                answers.push(answer);
            }
            _ => {
                failures += 1;
                stream = TcpStream::connect(addr).await.unwrap();
            }
        }
    }
    (failures, answers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_client_sees_no_failures_after_early_refusals() {
    let server = start(ServerConfig::default()).await;
    let mut requests: Vec<String> = (0..200).map(refused_request).collect();
    requests.push(check_request(
        r#"{"user":"a","target":"r"}"#,
        demo::CHECK_TOKEN,
    ));
    let (failures, answers) = keep_alive_client(server.addr, &requests).await;
    assert_eq!(
        failures,
        0,
        "{failures} of {} requests failed",
        requests.len()
    );
    let refused = answers[..200]
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 40") || a.contains(r#""code":414"#))
        .count();
    assert_eq!(refused, 200);
    assert!(answers[200].starts_with("HTTP/1.1 200"), "{}", answers[200]);
    assert!(
        answers[200].contains(r#""allowed":true"#),
        "{}",
        answers[200]
    );
}

#[tokio::test]
async fn a_client_that_sends_half_its_headers_is_closed_within_the_timeout() {
    let timeout = Duration::from_millis(300);
    let server = start(ServerConfig::default().header_read_timeout(timeout)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST /v1/can_send HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    let took = closed_within(&mut stream, Duration::from_secs(10)).await;
    assert!(
        took >= timeout / 2,
        "closed after {took:?}, before the timeout"
    );
}

#[tokio::test]
async fn a_body_slower_than_announced_is_refused_and_the_connection_closed() {
    let server = start(ServerConfig::default().body_read_timeout(Duration::from_millis(300))).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let full = check_request(r#"{"user":"a","target":"r"}"#, demo::CHECK_TOKEN);
    // Headers and half the announced body, then nothing.
    stream
        .write_all(&full.as_bytes()[..full.len() - 10])
        .await
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), read_response(&mut stream))
        .await
        .expect("an answer within the body timeout")
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("could not be read"), "{response}");
    assert!(
        response.to_lowercase().contains("connection: close"),
        "{response}"
    );
    closed_within(&mut stream, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_for_a_free_one() {
    let server = start(ServerConfig::default().max_connections(2)).await;
    let request = check_request(r#"{"user":"a","target":"r"}"#, demo::CHECK_TOKEN);
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        assert!(
            read_response(&mut s)
                .await
                .unwrap()
                .starts_with("HTTP/1.1 200")
        );
        open.push(s);
    }
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    third.write_all(request.as_bytes()).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(500), read_response(&mut third)).await;
    assert!(
        waited.is_err(),
        "a third connection was served past the cap of 2"
    );
    drop(open.pop());
    let answer = tokio::time::timeout(Duration::from_secs(10), read_response(&mut third))
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_in_flight_then_stops_accepting() {
    let mut server = start(ServerConfig::default()).await;
    server.engine.mute_room("r", MuteFor::Forever).unwrap();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let full = check_request(r#"{"user":"a","target":"r"}"#, demo::CHECK_TOKEN);
    let (first, rest) = full.as_bytes().split_at(full.len() - 5);
    stream.write_all(first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop.take().unwrap().send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The request in flight completes...
    stream.write_all(rest).await.unwrap();
    let response = read_response(&mut stream).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("room_muted"), "{response}");
    // ...the server returns, and nothing listens any more.
    tokio::time::timeout(Duration::from_secs(10), server.done)
        .await
        .expect("serve returned")
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test]
async fn startup_errors_are_one_readable_line() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let err = http::bind(addr).await.unwrap_err();
    assert_eq!(err.to_string(), format!("port {} is in use", addr.port()));

    let dir = tempfile::tempdir().unwrap();
    let holder = Engine::builder().open(dir.path()).unwrap();
    let locked = Engine::builder().open(dir.path()).unwrap_err();
    let err = StartError::store(dir.path(), locked);
    assert_eq!(
        err.to_string(),
        format!(
            "cannot open store at {}: another engine holds its lock",
            dir.path().display()
        )
    );
    drop(holder);
}
