//! The config file as written: its tables, each key with its default, unknown keys
//! refused; and the TOML reader whose errors name the key and the line.

use std::collections::BTreeMap;
use std::path::PathBuf;

use mutegate::http::Client;
use serde::Deserialize;

use super::{ConfigError, bad};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    #[serde(default)]
    pub(super) server: ServerTable,
    #[serde(default)]
    pub(super) log: LogTable,
    #[serde(default)]
    pub(super) metrics: MetricsTable,
    #[serde(default)]
    pub(super) store: StoreTable,
    pub(super) replication: Option<ReplicationTable>,
    #[serde(default)]
    pub(super) directory: DirectoryTable,
    pub(super) checks: Option<ChecksTable>,
    pub(super) imkit: Option<ImkitTable>,
    pub(super) netease: Option<NeteaseTable>,
    pub(super) agora: Option<AgoraTable>,
}

/// `[server]`: a key left out keeps `mutegate::http::ServerConfig`'s default (and
/// `Config`'s, for the body limit), so the defaults are stated once, in the library.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct ServerTable {
    pub(super) bind: String,
    pub(super) max_connections: Option<usize>,
    pub(super) header_read_timeout: Option<String>,
    pub(super) body_read_timeout: Option<String>,
    pub(super) request_timeout: Option<String>,
    pub(super) shutdown_grace: Option<String>,
    pub(super) max_body_bytes: Option<usize>,
}

impl Default for ServerTable {
    fn default() -> Self {
        ServerTable {
            bind: "127.0.0.1:8080".into(),
            max_connections: None,
            header_read_timeout: None,
            body_read_timeout: None,
            request_timeout: None,
            shutdown_grace: None,
            max_body_bytes: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct LogTable {
    pub(super) format: LogFormat,
    pub(super) level: String,
}

impl Default for LogTable {
    fn default() -> Self {
        LogTable {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// How log lines are written (to stderr).
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct MetricsTable {
    pub(super) enabled: bool,
}

impl Default for MetricsTable {
    fn default() -> Self {
        MetricsTable { enabled: true }
    }
}

/// `[store]`: `sync` left out is `SyncPolicy::default()`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct StoreTable {
    pub(super) dir: Option<PathBuf>,
    pub(super) sync: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplicationTable {
    pub(super) url: Option<String>,
    pub(super) stream: Option<String>,
    pub(super) tls_root_certificate: Option<PathBuf>,
    pub(super) local_state: Option<PathBuf>,
    pub(super) timeout: Option<String>,
    pub(super) apply_timeout: Option<String>,
    pub(super) snapshot_every: Option<u64>,
    pub(super) snapshot_interval: Option<String>,
    pub(super) pipeline: Option<usize>,
    #[serde(default = "default_ready_max_behind")]
    pub(super) ready_max_behind: u64,
}

fn default_ready_max_behind() -> u64 {
    100
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct DirectoryTable {
    pub(super) open: bool,
    pub(super) rooms: Vec<String>,
    pub(super) clients: Vec<Client>,
}

impl Default for DirectoryTable {
    fn default() -> Self {
        DirectoryTable {
            open: true,
            rooms: Vec::new(),
            clients: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChecksTable {
    #[serde(default)]
    pub(super) tokens: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ImkitTable {
    #[serde(default)]
    pub(super) api_keys: Vec<String>,
    #[serde(default)]
    pub(super) client_keys: Vec<String>,
    #[serde(default)]
    pub(super) user_tokens: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NeteaseTable {
    pub(super) app_key: String,
    pub(super) app_secret: Option<String>,
    pub(super) calls_per_second: Option<u32>,
    pub(super) block_for: Option<String>,
    pub(super) max_clock_skew: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AgoraTable {
    pub(super) org: String,
    pub(super) app: String,
    pub(super) application: String,
    #[serde(default)]
    pub(super) tokens: Vec<String>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<String>,
    pub(super) token_ttl: Option<String>,
    pub(super) calls_per_second: Option<u32>,
}

pub(super) fn read_file(text: &str) -> Result<File, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| toml_error("(file)", text, &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { "(file)".to_owned() } else { key };
        toml_error(&key, text, e.inner())
    })
}

fn toml_error(key: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim().replace('\n', "; ");
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            bad(key, format!("{message} (line {line})"))
        }
        None => bad(key, message),
    }
}
