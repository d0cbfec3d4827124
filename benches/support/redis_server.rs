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
    /// Set for a server that takes TLS only: the CA certificate (PEM) clients trust.
    tls: Option<Vec<u8>>,
    /// The AOF's `appendfsync` policy (`always` unless changed).
    fsync: &'static str,
    /// Set for a replica: its primary's port.
    primary: Option<u16>,
}

/// Prints `line` on the process's real stderr (the test harness does not capture it),
/// once per process.
fn say_once(line: &str) {
    use std::io::Write;
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        let _ = writeln!(std::io::stderr(), "\n{line}\n");
    });
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
            say_once(&format!(
                "*** {what} DID NOT RUN (nor any other needing Redis here): redis-server is \
                 not on PATH (apt-get install redis-server) ***"
            ));
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
            tls: None,
            fsync: "always",
            primary: None,
        };
        redis.restart();
        Some(redis)
    }

    /// The same, taking TLS connections only (`rediss://`), with a certificate for
    /// 127.0.0.1 signed by a CA made for it (with the `openssl` command); `None` as for
    /// [`start`](Redis::start) when `redis-server` or `openssl` is missing outside CI.
    pub fn start_tls(what: &str) -> Option<Redis> {
        let found = Command::new("openssl")
            .arg("version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            assert!(!under_ci(), "openssl is not installed, and CI=true");
            say_once(&format!(
                "*** {what} DID NOT RUN: openssl is not on PATH ***"
            ));
            return None;
        }
        let mut redis = Redis::start(what)?;
        redis.kill();
        let dir = redis.dir.path().to_owned();
        let run = |args: &[&str]| {
            let ok = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "openssl {args:?} failed");
        };
        let subject = |cn: &str| format!("/CN={cn}");
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            &subject("mutegate test CA"),
        ]);
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            &subject("127.0.0.1"),
        ]);
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write ext.cnf");
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        redis.tls = Some(std::fs::read(dir.join("ca.pem")).expect("read ca.pem"));
        redis.restart();
        Some(redis)
    }

    /// The same, with the AOF synced once a second (`appendfsync everysec`, Redis's
    /// default): an acknowledged write can be lost in a Redis crash, for throughput.
    pub fn start_everysec(what: &str) -> Option<Redis> {
        let mut redis = Redis::start(what)?;
        redis.kill();
        redis.fsync = "everysec";
        redis.restart();
        Some(redis)
    }

    /// A second server, replicating `primary` (`replicaof`), on a port and directory
    /// of its own.
    pub fn start_replica_of(primary: &Redis) -> Option<Redis> {
        let mut redis = Redis::start("A REPLICA")?;
        redis.kill();
        redis.primary = Some(primary.port);
        redis.restart();
        Some(redis)
    }

    /// The CA certificate (PEM) of a TLS server.
    pub fn ca(&self) -> Option<&[u8]> {
        self.tls.as_deref()
    }

    /// Starts the server (again) on its port and directory, with AOF `appendfsync
    /// always`: what it acknowledged survives a SIGKILL.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        let port = self.port.to_string();
        let mut command = Command::new("redis-server");
        match self.tls {
            None => command.args(["--bind", "127.0.0.1", "--port", &port]),
            Some(_) => command
                .args(["--bind", "127.0.0.1", "--port", "0", "--tls-port", &port])
                .args([
                    "--tls-cert-file",
                    "server.pem",
                    "--tls-key-file",
                    "server.key",
                ])
                .args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"]),
        };
        if let Some(primary) = self.primary {
            command.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
        }
        let child = command
            .current_dir(self.dir.path())
            .args(["--dir", self.dir.path().to_str().expect("utf-8 temp path")])
            .args(["--appendonly", "yes", "--appendfsync", self.fsync])
            .args(["--save", "", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.tls.is_some() {
                // Listening is enough: the tests' own client speaks no TLS.
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    return;
                }
            } else if let Ok(mut c) = self.try_connect()
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
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}/", self.port)
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
