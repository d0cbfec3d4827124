//! `mutegate-server`, the real binary, as a child process with a config file, driven by a
//! real HTTP client on 127.0.0.1: config errors and their exit codes, secrets kept out of
//! the logs, the routes next to the seeds, the health endpoints, and a durable restart.

#[path = "../../benches/support/redis_server.rs"]
mod redis_server;

#[path = "../common/demo.rs"]
#[allow(dead_code)]
mod demo;

mod agora;
mod config;
mod lifecycle;
mod netease;
mod replicated;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_mutegate-server");

/// A config that serves every vendor with these (test-only) credentials.
pub const FULL: &str = r#"
[server]
bind = "127.0.0.1:0"
[metrics]
enabled = false
[directory]
open = false
rooms = ["r1", "t1", "12345678"]
[[directory.clients]]
id = "ann"
[[directory.clients]]
id = "bob"
[[directory.clients]]
id = "cat"
[checks]
[imkit]
[netease]
app_key = "nk-app"
[agora]
org = "acme"
app = "chat"
application = "app-uuid-1"
client_id = "acme-client-id"
"#;

/// The secrets of [`FULL`], given the way production gives them: in the environment.
pub const SECRETS: [(&str, &str); 7] = [
    ("MUTEGATE_CHECKS_TOKENS", "s3cret-check-token"),
    ("MUTEGATE_IMKIT_API_KEYS", "s3cret-imkit-admin"),
    ("MUTEGATE_IMKIT_CLIENT_KEYS", "s3cret-imkit-client"),
    ("MUTEGATE_IMKIT_USER_TOKENS", "s3cret-user-token=ann"),
    ("MUTEGATE_NETEASE_APP_SECRET", "s3cret-netease"),
    ("MUTEGATE_AGORA_TOKENS", "s3cret-agora-token"),
    ("MUTEGATE_AGORA_CLIENT_SECRET", "s3cret-agora-client"),
];

/// The value of secret `var` in [`SECRETS`].
pub fn secret(var: &str) -> &'static str {
    SECRETS.iter().find(|(v, _)| *v == var).unwrap().1
}

/// A command for the binary with `args`, no inherited `MUTEGATE_` variables, and `env`.
fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("MUTEGATE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("RUST_LOG");
    cmd.envs(env.iter().copied());
    cmd
}

/// What a run that ends by itself printed.
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary with `args` to its end (it must end within 20 s).
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut child = command(args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server binary starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("{args:?} did not end within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Ran {
        status,
        stdout,
        stderr,
    }
}

/// A config file holding `text` in a fresh directory.
pub fn config_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mutegate.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// A running server: killed (SIGKILL) if dropped before [`Server::stop`].
pub struct Server {
    child: Option<Child>,
    pub base: String,
    logs: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts the binary on `config` with `env`, and waits until it listens.
    pub fn start(config: &str, env: &[(&str, &str)]) -> Server {
        let (dir, path) = config_file(config);
        let logs = dir.path().join("out.log");
        let out = std::fs::File::create(&logs).unwrap();
        let child = command(&["--config", path.to_str().unwrap()], env)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("the server binary starts");
        let mut server = Server {
            child: Some(child),
            base: String::new(),
            logs,
            _dir: dir,
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            let text = server.logs();
            if let Some(rest) = text
                .lines()
                .find_map(|l| l.strip_prefix("mutegate-server listening on "))
            {
                server.base = rest.split(';').next().unwrap().to_owned();
                return server;
            }
            if let Some(status) = server.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the server ended ({status}) before listening:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the server did not listen within 30 s:\n{}", server.logs());
    }

    /// Everything the server printed so far (stdout and stderr).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.logs).unwrap_or_default()
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and waits for the exit; the status and the logs.
    pub fn stop(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no exit within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        (status, self.logs())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A blocking HTTP client (reqwest's async client on a runtime of its own).
pub struct Http {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

/// A response's status and JSON body.
pub type Answer = (u16, Value);

impl Default for Http {
    fn default() -> Http {
        Http {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            client: reqwest::Client::new(),
        }
    }
}

impl Http {
    /// Runs `future` on this client's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Sends `request` and reads the answer as JSON.
    pub fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        self.block_on(async {
            let response = request.send().await.expect("the server answers");
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            let body = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {status} {text:?}"));
            (status, body)
        })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// `GET url` with an optional bearer token.
    pub fn get(&self, url: &str, bearer: Option<&str>) -> Answer {
        let mut r = self.client.get(url);
        if let Some(t) = bearer {
            r = r.bearer_auth(t);
        }
        self.send(r)
    }

    /// `method url` with a bearer token and a raw JSON body.
    pub fn json(&self, method: &str, url: &str, bearer: &str, body: &str) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.send(
            self.client
                .request(method, url)
                .bearer_auth(bearer)
                .header("content-type", "application/json")
                .body(body.to_owned()),
        )
    }
}

/// The field names of JSON object `value`, sorted.
pub fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// Mutes `user` in Agora chat room `room` for good, through `server`.
pub fn agora_mute_forever(http: &Http, server: &Server, room: &str, user: &str) {
    let (status, body) = http.json(
        "POST",
        &server.url(&format!("/acme/chat/chatrooms/{room}/mute")),
        secret("MUTEGATE_AGORA_TOKENS"),
        &format!(r#"{{"mute_duration": -1, "usernames": ["{user}"]}}"#),
    );
    assert_eq!(status, 200, "{body}");
}

/// Unix seconds now.
pub fn unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Whether `dir` holds a store (for the restart test).
pub fn holds_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}
