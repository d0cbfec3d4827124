//! A real `redis-server` for the replication tests, the benches and `loadgen`: started
//! on a free loopback port with a temporary directory (AOF on, `appendfsync always`),
//! stopped (SIGKILL) by its PID, restartable on the same port and directory. Included
//! with `#[path]` where it is needed.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One `redis-server` process (or none, between a kill and a restart).
pub struct Redis {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

/// Whether the tests run under CI, where a missing `redis-server` is a failure.
fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

impl Redis {
    /// A started server, or `None` (after one loud line naming `what` did not run) when
    /// `redis-server` is not installed outside CI. Under `CI=true` a missing
    /// `redis-server` fails instead.
    pub fn start(what: &str) -> Option<Redis> {
        let found = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            assert!(
                !under_ci(),
                "redis-server is not installed, and CI=true: .ci/run installs it with apt-get"
            );
            eprintln!(
                "\n*** {what} DID NOT RUN: redis-server is not on PATH \
                 (apt-get install redis-server) ***\n"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut redis = Redis {
            child: None,
            port,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        redis.restart();
        Some(redis)
    }

    /// Starts the server (again) on its port and directory, with AOF `appendfsync
    /// always`: what it acknowledged survives a SIGKILL.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--dir", self.dir.path().to_str().expect("utf-8 temp path")])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .args(["--save", "", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut c) = self.try_connect()
                && redis::cmd("PING").query::<String>(&mut c).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server did not answer on port {} within 10 s",
            self.port
        );
    }

    /// Kills the server with SIGKILL (by its PID) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL redis-server");
            child.wait().expect("reap redis-server");
        }
    }

    /// The URL engines connect to.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn try_connect(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection_with_timeout(Duration::from_secs(1))
    }

    /// A plain client connection, for the tests' own commands.
    pub fn conn(&self) -> redis::Connection {
        self.try_connect()
            .expect("connect to the test's redis-server")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
