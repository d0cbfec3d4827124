//! The server's configuration: a TOML file (the tables of `file`) with secrets from
//! `MUTEGATE_...` environment variables, checked whole into [`Settings`] before anything
//! starts. Every failure is one [`ConfigError`]: the key and the problem.

mod file;
mod storage;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mutegate::http::{
    AgoraConfig, ChecksConfig, Client, Config, ImkitConfig, NeteaseConfig, Secret, ServerConfig,
};
use mutegate::{Replication, SyncPolicy};

pub use file::LogFormat;
use file::{File, read_file};

/// A config that cannot be served: which key, and what is wrong with it.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The key (`server.bind`), or the environment variable, at fault.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

fn bad(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        problem: problem.into(),
    }
}

/// The environment variables that hold secrets, and the key each one sets.
pub const SECRET_VARS: [(&str, &str); 8] = [
    ("MUTEGATE_CHECKS_TOKENS", "checks.tokens"),
    ("MUTEGATE_IMKIT_API_KEYS", "imkit.api_keys"),
    ("MUTEGATE_IMKIT_CLIENT_KEYS", "imkit.client_keys"),
    ("MUTEGATE_IMKIT_USER_TOKENS", "imkit.user_tokens"),
    ("MUTEGATE_NETEASE_APP_SECRET", "netease.app_secret"),
    ("MUTEGATE_AGORA_TOKENS", "agora.tokens"),
    ("MUTEGATE_AGORA_CLIENT_SECRET", "agora.client_secret"),
    ("MUTEGATE_REPLICATION_URL", "replication.url"),
];

/// Where the state lives.
#[derive(Debug)]
pub enum Storage {
    /// In memory: gone when the process ends.
    Memory,
    /// A durable store in `dir`, synced by `sync`.
    Durable { dir: PathBuf, sync: SyncPolicy },
    /// Replicated through Redis (the URL's password is not shown by `Debug`).
    Replicated {
        replication: Box<Replication>,
        /// `/readyz` answers 503 while the node is further behind than this.
        ready_max_behind: u64,
    },
}

/// Who exists, for the vendor facades.
#[derive(Debug)]
pub struct DirectorySettings {
    /// Whether any id is a user and a room (profiles come from `clients` where listed).
    pub open: bool,
    pub rooms: Vec<String>,
    pub clients: Vec<Client>,
    /// IMKit `IM-Authorization` tokens and the client each stands for.
    pub user_tokens: Vec<(Secret, String)>,
}

/// A config checked whole: everything the server needs to start.
#[derive(Debug)]
pub struct Settings {
    pub bind: SocketAddr,
    pub server: ServerConfig,
    pub facade: Config,
    pub directory: DirectorySettings,
    pub storage: Storage,
    pub log_format: LogFormat,
    pub log_level: String,
    pub metrics: bool,
}

impl Settings {
    /// The vendors served, for the startup line.
    pub fn served(&self) -> Vec<&'static str> {
        let f = &self.facade;
        [
            (f.checks.is_some(), "checks (/v1)"),
            (f.imkit.is_some(), "imkit"),
            (f.netease.is_some(), "netease"),
            (f.agora.is_some(), "agora"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// The config in `text`, with the secrets `env` holds (a lookup such as
/// `std::env::var`), checked whole.
pub fn parse(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    env_names: &[String],
) -> Result<Settings, ConfigError> {
    let file = read_file(text)?;
    for name in env_names {
        if name.starts_with("MUTEGATE_") && !SECRET_VARS.iter().any(|(v, _)| v == name) {
            let known: Vec<&str> = SECRET_VARS.iter().map(|(v, _)| *v).collect();
            return Err(bad(
                name.as_str(),
                format!("unknown variable; the server reads {}", known.join(", ")),
            ));
        }
    }
    check(file, &|name| env(name))
}

/// A secret: the environment's value, else the file's.
fn secret(
    env: &dyn Fn(&str) -> Option<String>,
    key: &str,
    file: Option<String>,
) -> Result<Option<String>, ConfigError> {
    let var = SECRET_VARS
        .iter()
        .find(|(_, k)| *k == key)
        .map(|(v, _)| *v)
        .expect("a secret key");
    match env(var) {
        Some(v) if v.trim().is_empty() => Err(bad(var, "is set but empty")),
        Some(v) => Ok(Some(v)),
        None => Ok(file),
    }
}

/// A list of secrets: the environment's (comma-separated), else the file's.
fn secret_list(
    env: &dyn Fn(&str) -> Option<String>,
    key: &str,
    file: Vec<String>,
) -> Result<Vec<String>, ConfigError> {
    let list = match secret(env, key, None)? {
        Some(v) => v.split(',').map(|s| s.trim().to_owned()).collect(),
        None => file,
    };
    if list.iter().any(String::is_empty) {
        return Err(bad(key, "holds an empty value"));
    }
    Ok(list)
}

fn duration(key: &str, text: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(text).map_err(|e| {
        bad(
            key,
            format!("{text:?} is not a duration such as \"10s\" or \"250ms\": {e}"),
        )
    })
}

fn positive(key: &str, text: &str) -> Result<Duration, ConfigError> {
    let d = duration(key, text)?;
    if d.is_zero() {
        return Err(bad(key, "must be longer than zero"));
    }
    Ok(d)
}

fn check(file: File, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
    let File {
        server,
        log,
        metrics,
        store,
        replication,
        directory,
        checks,
        imkit,
        netease,
        agora,
    } = file;
    for (var, key) in SECRET_VARS {
        let table = key.split('.').next().unwrap_or_default();
        let present = match table {
            "checks" => checks.is_some(),
            "imkit" => imkit.is_some(),
            "netease" => netease.is_some(),
            "agora" => agora.is_some(),
            _ => replication.is_some(),
        };
        if env(var).is_some() && !present {
            return Err(bad(
                var,
                format!("is set, but the config has no [{table}] table"),
            ));
        }
    }
    let bind: SocketAddr = server.bind.parse().map_err(|_| {
        bad(
            "server.bind",
            format!(
                "{:?} is not an address and port such as \"0.0.0.0:8080\"",
                server.bind
            ),
        )
    })?;
    let mut server_config = ServerConfig::default();
    if let Some(n) = server.max_connections {
        if n == 0 {
            return Err(bad("server.max_connections", "must be at least 1"));
        }
        server_config.max_connections = n;
    }
    for (key, value, slot) in [
        (
            "server.header_read_timeout",
            &server.header_read_timeout,
            &mut server_config.header_read_timeout,
        ),
        (
            "server.body_read_timeout",
            &server.body_read_timeout,
            &mut server_config.body_read_timeout,
        ),
        (
            "server.request_timeout",
            &server.request_timeout,
            &mut server_config.request_timeout,
        ),
    ] {
        if let Some(text) = value {
            *slot = positive(key, text)?;
        }
    }
    if let Some(text) = &server.shutdown_grace {
        server_config.shutdown_grace = duration("server.shutdown_grace", text)?;
    }
    let mut facade = Config::default();
    if let Some(bytes) = server.max_body_bytes {
        if bytes == 0 {
            return Err(bad("server.max_body_bytes", "must be at least 1"));
        }
        facade.max_body_bytes = bytes;
    }
    tracing_subscriber::EnvFilter::try_new(&log.level).map_err(|e| {
        bad(
            "log.level",
            format!("{:?} is not a log filter: {e}", log.level),
        )
    })?;

    if let Some(t) = checks {
        let tokens = secret_list(env, "checks.tokens", t.tokens)?;
        if tokens.is_empty() {
            return Err(bad(
                "checks.tokens",
                "is empty: no caller could use /v1 (set it, or MUTEGATE_CHECKS_TOKENS)",
            ));
        }
        facade = facade.with_checks(ChecksConfig::new(tokens));
    }
    let mut user_tokens = Vec::new();
    if let Some(t) = imkit {
        let api_keys = secret_list(env, "imkit.api_keys", t.api_keys)?;
        let client_keys = secret_list(env, "imkit.client_keys", t.client_keys)?;
        if api_keys.is_empty() {
            return Err(bad(
                "imkit.api_keys",
                "is empty: no admin could call /admin (set it, or MUTEGATE_IMKIT_API_KEYS)",
            ));
        }
        user_tokens = match secret(env, "imkit.user_tokens", None)? {
            Some(pairs) => pairs
                .split(',')
                .map(|pair| {
                    pair.split_once('=')
                        .map(|(t, u)| (t.trim().to_owned(), u.trim().to_owned()))
                        .filter(|(t, u)| !t.is_empty() && !u.is_empty())
                        .ok_or_else(|| {
                            bad(
                                "MUTEGATE_IMKIT_USER_TOKENS",
                                "must be token=uid pairs, comma-separated",
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
            None => t.user_tokens.into_iter().collect(),
        };
        facade = facade.with_imkit(ImkitConfig::new(api_keys, client_keys));
    }
    if let Some(t) = netease {
        if t.app_key.is_empty() {
            return Err(bad("netease.app_key", "is empty"));
        }
        let app_secret = secret(env, "netease.app_secret", t.app_secret)?.ok_or_else(|| {
            bad(
                "netease.app_secret",
                "is missing (set it, or MUTEGATE_NETEASE_APP_SECRET)",
            )
        })?;
        let mut n = NeteaseConfig::new(t.app_key, app_secret);
        if let Some(rate) = t.calls_per_second {
            if rate == 0 {
                return Err(bad("netease.calls_per_second", "must be at least 1"));
            }
            n.calls_per_second = rate;
        }
        if let Some(d) = t.block_for {
            n.block_for = duration("netease.block_for", &d)?;
        }
        if let Some(d) = t.max_clock_skew {
            n.max_clock_skew = duration("netease.max_clock_skew", &d)?;
        }
        facade = facade.with_netease(n);
    }
    if let Some(t) = agora {
        for (key, value) in [
            ("agora.org", &t.org),
            ("agora.app", &t.app),
            ("agora.application", &t.application),
        ] {
            if value.is_empty() || value.contains('/') {
                return Err(bad(
                    key,
                    format!("{value:?} must be a non-empty path segment"),
                ));
            }
        }
        let tokens = secret_list(env, "agora.tokens", t.tokens)?;
        let client_secret = secret(env, "agora.client_secret", t.client_secret)?;
        let mut a = AgoraConfig::new(t.org, t.app, t.application, tokens.clone());
        match (t.client_id, client_secret) {
            (Some(id), Some(s)) if !id.is_empty() => a = a.with_client_credentials(id, s),
            (None, None) => {}
            (Some(_), Some(_)) => return Err(bad("agora.client_id", "is empty")),
            (Some(_), None) => {
                return Err(bad(
                    "agora.client_secret",
                    "is missing while agora.client_id is set (set it, or MUTEGATE_AGORA_CLIENT_SECRET)",
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "agora.client_id",
                    "is missing while agora.client_secret is set",
                ));
            }
        }
        if tokens.is_empty() && a.apps[0].client_credentials.is_none() {
            return Err(bad(
                "agora.tokens",
                "is empty and no client_id/client_secret is set: no caller could get in",
            ));
        }
        if let Some(ttl) = t.token_ttl {
            a.token_ttl = positive("agora.token_ttl", &ttl)?;
        }
        if let Some(rate) = t.calls_per_second {
            if rate == 0 {
                return Err(bad("agora.calls_per_second", "must be at least 1"));
            }
            a.calls_per_second = rate;
        }
        facade = facade.with_agora(a);
    }
    if facade.checks.is_none()
        && facade.imkit.is_none()
        && facade.netease.is_none()
        && facade.agora.is_none()
    {
        return Err(bad(
            "(file)",
            "serves nothing: add at least one of the tables [checks], [imkit], [netease], [agora]",
        ));
    }
    for client in &directory.clients {
        if client.id.is_empty() {
            return Err(bad("directory.clients", "a client has an empty id"));
        }
    }
    let storage = storage::storage(store, replication, env)?;
    Ok(Settings {
        bind,
        server: server_config,
        facade,
        directory: DirectorySettings {
            open: directory.open,
            rooms: directory.rooms,
            clients: directory.clients,
            user_tokens: user_tokens
                .into_iter()
                .map(|(t, u)| (Secret::new(t), u))
                .collect(),
        },
        storage,
        log_format: log.format,
        log_level: log.level,
        metrics: metrics.enabled,
    })
}
