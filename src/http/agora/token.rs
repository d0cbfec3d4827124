//! Agora's app tokens: `POST /{org}/{app}/token` with `grant_type: client_credentials`
//! issues one, and the app's routes accept it until it expires.
//!
//! The request body is `{"grant_type": "client_credentials", "client_id", "client_secret",
//! "ttl"}` (`ttl` in seconds, optional); the answer is `{"access_token", "expires_in",
//! "application"}`, `expires_in` in seconds. A `ttl` left out, 0, or over the configured
//! [`token_ttl`](crate::http::AgoraConfig::token_ttl) gets that longest life: Easemob's
//! "0 never expires" is not granted, by design. A wrong `client_id` or `client_secret`
//! and an app that is not served get the same 400 `invalid_grant`.
//!
//! Issued tokens live in this process's memory: a restart forgets them and another node
//! does not know them, so a client that gets a 401 asks for a new one (as Agora's docs
//! tell clients to). Only a digest of each token is kept, looked up by hash; at most
//! [`MAX_LIVE`] per app, the one closest to its end making room for a new one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::super::{Directory, Shared, auth, shown};
use super::{AgoraError, Body, parse_json};

/// The most live tokens kept per app.
pub(crate) const MAX_LIVE: usize = 10_000;

/// What a presented token is, to the tokens this process issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Issued and not yet expired.
    Valid,
    /// Issued, and past its end.
    Expired,
    /// Not issued here (or forgotten).
    Unknown,
}

/// One app's issued tokens: the SHA-256 of each and its end (Unix ms).
#[derive(Default)]
pub(crate) struct Issued {
    live: Mutex<HashMap<[u8; 32], u64>>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Issued {
    /// A new token for `ttl_ms`, from now.
    fn issue(&self, now_ms: u64, ttl_ms: u64) -> Result<String, getrandom::Error> {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes)?;
        let token = format!("mg{}", crate::hex::lower(&bytes));
        let mut live = self.live.lock();
        if live.len() >= MAX_LIVE {
            live.retain(|_, end| *end > now_ms);
        }
        if live.len() >= MAX_LIVE {
            let soonest = live.iter().min_by_key(|(_, end)| **end).map(|(k, _)| *k);
            if let Some(key) = soonest {
                live.remove(&key);
            }
        }
        live.insert(digest(&token), now_ms.saturating_add(ttl_ms));
        Ok(token)
    }

    /// What `token` is at `now_ms`. An expired token is forgotten once seen.
    pub(crate) fn standing(&self, token: &str, now_ms: u64) -> Standing {
        let key = digest(token);
        let mut live = self.live.lock();
        match live.get(&key) {
            None => Standing::Unknown,
            Some(end) if *end > now_ms => Standing::Valid,
            Some(_) => {
                live.remove(&key);
                Standing::Expired
            }
        }
    }
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: String,
    client_id: String,
    client_secret: String,
    #[serde(default)]
    ttl: Option<i64>,
}

fn invalid_grant() -> AgoraError {
    AgoraError::new(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "client_id or client_secret does not match",
    )
}

/// `POST /{org}/{app}/token`.
pub(crate) async fn issue<D: Directory>(
    State(shared): State<Arc<Shared<D>>>,
    Path((org, app_name)): Path<(String, String)>,
    body: Body,
) -> Response {
    let started = Instant::now();
    let now_ms = shared.engine.now_ms();
    let outcome = (|| {
        let Some(agora) = shared.config.agora.as_ref() else {
            return Err(invalid_grant());
        };
        let found = agora
            .apps
            .iter()
            .position(|a| a.org_name == org && a.app_name == app_name);
        if let Some(i) = found
            && !shared.agora_limits[i].admit()
        {
            return Err(AgoraError::reach_limit());
        }
        let request: TokenRequest = parse_json(body)?;
        if request.grant_type != "client_credentials" {
            return Err(AgoraError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!(
                    "grant_type {:?} is not supported: give client_credentials",
                    shown(&request.grant_type)
                ),
            ));
        }
        let longest = agora.token_ttl.as_secs();
        let ttl_s = match request.ttl {
            None | Some(0) => longest,
            Some(s) if s < 0 => {
                return Err(AgoraError::illegal(format!(
                    "ttl {s} is invalid: give seconds, or leave it out for {longest}"
                )));
            }
            Some(s) => s.unsigned_abs().min(longest),
        };
        // Unknown app and wrong credentials cost the same comparisons and get one answer.
        let creds = found.and_then(|i| agora.apps[i].client_credentials.as_ref());
        let (id, secret) = creds.map_or(("", ""), |(id, s)| (id.as_str(), s.expose()));
        let id_ok = auth::equal(id.as_bytes(), request.client_id.as_bytes());
        let secret_ok = auth::equal(secret.as_bytes(), request.client_secret.as_bytes());
        let (Some(i), true, true) = (found.filter(|_| creds.is_some()), id_ok, secret_ok) else {
            return Err(invalid_grant());
        };
        let token = shared.agora_issued[i]
            .issue(now_ms, ttl_s.saturating_mul(1000))
            .map_err(|e| {
                AgoraError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    format!("no randomness for a token: {e}"),
                )
            })?;
        Ok(json!({
            "access_token": token,
            "expires_in": ttl_s,
            "application": agora.apps[i].application,
        }))
    })();
    match outcome {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.render(started, now_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_valid_until_their_end_then_expired_then_unknown() {
        let issued = Issued::default();
        let t = issued.issue(1_000, 500).unwrap();
        assert_eq!(issued.standing(&t, 1_499), Standing::Valid);
        assert_eq!(issued.standing("mg00", 1_499), Standing::Unknown);
        assert_eq!(issued.standing(&t, 1_500), Standing::Expired);
        assert_eq!(issued.standing(&t, 1_500), Standing::Unknown);
    }

    #[test]
    fn a_full_app_drops_the_token_closest_to_its_end() {
        let issued = Issued::default();
        let first = issued.issue(0, 10).unwrap();
        let keep = issued.issue(0, 1_000_000).unwrap();
        for _ in 2..MAX_LIVE {
            issued.issue(0, 500_000).unwrap();
        }
        let newest = issued.issue(1, 500_000).unwrap();
        assert_eq!(issued.live.lock().len(), MAX_LIVE);
        assert_eq!(issued.standing(&first, 5), Standing::Unknown);
        assert_eq!(issued.standing(&keep, 5), Standing::Valid);
        assert_eq!(issued.standing(&newest, 5), Standing::Valid);
    }
}
