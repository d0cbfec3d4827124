//! The seed APIs over HTTP (feature `http`): an axum [`Router`] that speaks IMKit's,
//! NetEase Yunxin's and Agora Chat's mute endpoints, plus mutegate's own JSON checks,
//! on top of an [`Engine`].
//!
//! | vendor | routes | credentials |
//! |---|---|---|
//! | IMKit | `POST`/`DELETE /admin/clients/{uid}/mute/{room}` | `IM-API-KEY` |
//! | IMKit | `POST`/`DELETE /me/mute/{room}` | `IM-CLIENT-KEY` + `IM-Authorization` |
//! | NetEase | `POST /nimserver/user/muteModule.action`, `POST /nimserver/msg/sendMsg.action` (an admission check: 423 or 200, nothing delivered) | `AppKey`, `Nonce`, `CurTime`, `CheckSum` |
//! | Agora | `/{org}/{app}/chatrooms/{id}/mute`, `/mute/{user}`, `/ban`, `/white/users`, `/white/users/{user}`; `/{org}/{app}/sdk/chatrooms/{id}/mute/{user}` | `Authorization: Bearer` (configured, or issued by the next row) |
//! | Agora | `POST /{org}/{app}/token` (`grant_type: client_credentials`) | `client_id`, `client_secret` in the body |
//! | mutegate | `POST /v1/can_send`, `/v1/should_push`, `/v1/push_targets`; the [`rules`] REST under `/v1/users/..` and `/v1/rooms/..` | `Authorization: Bearer` |
//!
//! Every answer, errors included, is in the vendor's own envelope. Ids pass to the engine
//! as they come, in one id space for every vendor (an Agora mute-all on room `X` refuses
//! a NetEase team message to team `X`; the README's "HTTP facade" says why). Credentials are
//! checked (in constant time) before anything else is looked at, so a request without
//! them never reaches the [`Directory`] or the engine. The rate limits and NetEase's
//! `CurTime` window run on the engine's [`Clock`](crate::Clock).
//!
//! Handlers run checks on the runtime's worker threads (they take nanoseconds) and
//! await mutations through [`Engine::submit`](crate::Engine::submit): the log write and
//! any `fsync` happen on the engine's sequencer thread, never on a runtime worker.
//!
//! [`router`] is only the APIs; [`serve`] runs it with what a server facing clients
//! needs (header and body timeouts, a connection cap, `Connection: close` after a
//! refusal that left the body unread, graceful shutdown). TLS and logging are the
//! embedder's tower layers, as for any other axum service.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use mutegate::Engine;
//! use mutegate::http::{self, Client, Config, ImkitConfig, InMemoryDirectory};
//!
//! let directory = InMemoryDirectory::new().with_client(Client::new("aaa")).with_room("demo");
//! let config = Config::default().with_imkit(ImkitConfig::new(["admin-key"], ["client-key"]));
//! let app: axum::Router = http::router(Arc::new(Engine::new()), config, directory);
//! // axum::serve(listener, app).await
//! # let _ = app;
//! ```

mod admission;
mod agora;
mod auth;
mod calls;
mod checks;
mod config;
mod directory;
mod imkit;
mod limit;
mod moderation;
mod netease;
pub mod rules;
mod server;
pub mod trail;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;

pub use config::{
    AgoraApp, AgoraConfig, ChecksConfig, Config, ImkitConfig, NeteaseApp, NeteaseConfig, Secret,
};
pub use directory::{Client, ClientAddress, Directory, InMemoryDirectory};
pub use server::{ServerConfig, StartError, bind, serve, shutdown_signal};

use crate::{Engine, Error};
use limit::{AppLimiter, EngineClock};

/// What every handler shares.
pub(crate) struct Shared<D> {
    engine: Arc<Engine>,
    directory: D,
    config: Config,
    /// NetEase limiters by `AppKey`.
    netease_limits: HashMap<String, AppLimiter>,
    /// Agora limiters, one per entry of `config.agora.apps`, in that order.
    agora_limits: Vec<AppLimiter>,
}

/// The facade's routes for `config`, acting on `engine` and asking `directory` who exists.
///
/// Vendors missing from `config` are not routed. Unknown routes and methods get a 404 or
/// 405 in the envelope of the vendor whose path they resemble.
pub fn router<D: Directory>(engine: Arc<Engine>, config: Config, directory: D) -> Router {
    let clock = EngineClock(Arc::clone(&engine));
    let netease_limits = config
        .netease
        .iter()
        .flat_map(|n| {
            n.apps.iter().map(|app| {
                let limiter = AppLimiter::new(n.calls_per_second, n.block_for, clock.clone());
                (app.app_key.clone(), limiter)
            })
        })
        .collect();
    let agora_limits = config
        .agora
        .iter()
        .flat_map(|a| {
            a.apps
                .iter()
                .map(|_| AppLimiter::new(a.calls_per_second, Duration::ZERO, clock.clone()))
        })
        .collect();
    let body_limit = config.max_body_bytes;
    let shared = Arc::new(Shared {
        engine,
        directory,
        netease_limits,
        agora_limits,
        config,
    });
    let mut app = Router::new();
    if shared.config.imkit.is_some() {
        app = app.merge(imkit::routes());
    }
    if shared.config.netease.is_some() {
        app = app.merge(netease::routes());
    }
    if shared.config.agora.is_some() {
        app = app.merge(agora::routes());
    }
    if shared.config.checks.is_some() {
        app = app
            .merge(checks::routes())
            .merge(rules::routes())
            .merge(moderation::routes())
            .merge(trail::routes());
    }
    app.fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(shared)
}

/// Which vendor's envelope a path belongs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vendor {
    Imkit,
    Netease,
    Agora,
    Checks,
}

/// IMKit under `/admin` and `/me`, NetEase under `/nimserver`, mutegate's own under
/// `/v1`; every other path of two or more segments is under an Agora `/{org}/{app}/`.
fn vendor_of(path: &str) -> Vendor {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next()) {
        (Some("admin" | "me"), _) => Vendor::Imkit,
        (Some("nimserver"), _) => Vendor::Netease,
        (Some("v1"), _) => Vendor::Checks,
        (Some(org), Some(app)) if !org.is_empty() && !app.is_empty() => Vendor::Agora,
        _ => Vendor::Checks,
    }
}

/// A failure of routing or transport (404, 405, 408) in the envelope of the vendor whose
/// path `uri` resembles.
pub(crate) fn route_error(method: &Method, uri: &Uri, status: StatusCode) -> Response {
    let path = shown(uri.path());
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => format!("method {method} is not allowed on {path}"),
        StatusCode::REQUEST_TIMEOUT => {
            format!("{method} {path} took longer than the server allows")
        }
        _ => format!("no route for {method} {path}"),
    };
    match vendor_of(uri.path()) {
        Vendor::Imkit => imkit::ImkitError::Route(status, message).into(),
        Vendor::Netease => netease::NeteaseError::new(status.as_u16(), message).into(),
        Vendor::Agora => agora::route_error(status, message),
        Vendor::Checks => checks::CheckError::Route(status, message).into(),
    }
}

async fn no_route(method: Method, uri: Uri) -> Response {
    route_error(&method, &uri, StatusCode::NOT_FOUND)
}

async fn wrong_method(method: Method, uri: Uri) -> Response {
    route_error(&method, &uri, StatusCode::METHOD_NOT_ALLOWED)
}

/// Why a request body could not be read: the status (413 for an oversized body) and a
/// message naming the problem.
fn body_problem(rejection: &BytesRejection) -> (StatusCode, String) {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        (status, "request body is over the size limit".to_owned())
    } else {
        (
            status,
            format!("request body could not be read: {rejection}"),
        )
    }
}

/// How many characters of a caller's value an error message quotes.
const SHOWN_CHARS: usize = 64;

/// A caller's value as an error message quotes it: at most [`SHOWN_CHARS`] characters,
/// with the length of the whole when it was cut, so a 10,000-character id is not echoed
/// back whole.
pub(crate) fn shown(value: &str) -> String {
    match value.char_indices().nth(SHOWN_CHARS) {
        None => value.to_owned(),
        Some((cut, _)) => format!("{}… ({} bytes)", &value[..cut], value.len()),
    }
}

/// The latest end, in Unix milliseconds, that the JSON APIs accept: the largest integer
/// a JavaScript client reads exactly (2^53 - 1, the year 287396).
pub(crate) const MAX_END_MS: u64 = (1 << 53) - 1;

/// An expiry as the JSON APIs write it: Unix milliseconds, or `-1` for no end.
fn end_ms(expiry: crate::Expiry) -> i64 {
    expiry
        .at_ms()
        .map_or(-1, |ms| i64::try_from(ms).unwrap_or(i64::MAX))
}

/// Whether an engine error is the server's fault (storage, replication) rather than the
/// caller's.
fn is_internal(error: &Error) -> bool {
    matches!(
        error,
        Error::Io { .. }
            | Error::Corrupt { .. }
            | Error::Unavailable { .. }
            | Error::Replication { .. }
    )
}

/// Test helpers shared by the vendor modules.
#[cfg(test)]
pub(crate) mod testing {
    use axum::response::Response;

    /// A storage failure, as the engine reports one.
    pub(crate) fn io_error() -> crate::Error {
        crate::Error::Io {
            op: "write",
            path: "/data/ops.log".into(),
            message: "No space left on device".into(),
        }
    }

    /// A response's status and JSON body.
    pub(crate) fn parts(response: Response) -> (u16, serde_json::Value) {
        let status = response.status().as_u16();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = runtime
            .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_quoted_cut_short() {
        assert_eq!(shown("room1"), "room1");
        let long = "x".repeat(10_000);
        let quoted = shown(&long);
        assert!(quoted.len() < 100, "{quoted}");
        assert!(quoted.ends_with("… (10000 bytes)"), "{quoted}");
        assert_eq!(
            shown(&"é".repeat(64)),
            "é".repeat(64),
            "characters, not bytes"
        );
    }

    #[test]
    fn paths_map_to_their_vendor() {
        assert_eq!(vendor_of("/admin/clients/a/mute/b"), Vendor::Imkit);
        assert_eq!(vendor_of("/me/mute/x"), Vendor::Imkit);
        assert_eq!(vendor_of("/nimserver/user/nope.action"), Vendor::Netease);
        assert_eq!(vendor_of("/org/app/chatrooms/1/bogus"), Vendor::Agora);
        assert_eq!(vendor_of("/org/app/users"), Vendor::Agora);
        assert_eq!(vendor_of("/org/app/"), Vendor::Agora);
        assert_eq!(vendor_of("/org/"), Vendor::Checks);
        assert_eq!(vendor_of("/v1/nope"), Vendor::Checks);
        assert_eq!(vendor_of("/"), Vendor::Checks);
    }
}
