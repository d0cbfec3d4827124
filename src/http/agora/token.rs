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
//! An issued token carries its own end and an HMAC-SHA256 over it, keyed with the app's
//! `client_secret`: `mg1.{end_ms}.{nonce}.{mac}`. Nothing is stored, so every node whose
//! config holds the same credentials accepts a token any of them issued, and a restart
//! keeps issued tokens valid. Changing `client_secret` revokes every token issued with
//! the old one; one token cannot be revoked alone (as with Agora's own app tokens, which
//! are signed with the app certificate).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hmac::{KeyInit, Mac};
use serde::Deserialize;
use serde_json::json;

use super::super::config::AgoraApp;
use super::super::{Directory, Shared, auth, shown};
use super::{AgoraError, Body, parse_json};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The token format's tag: a later format gets another.
const FORMAT: &str = "mg1";

/// What a presented token is, to `app`'s credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Signed with the app's credentials and not yet past its end.
    Valid,
    /// Signed with them, and past its end.
    Expired,
    /// Not a token issued with the app's current credentials.
    Unknown,
}

/// The MAC of a token's end and nonce, for `app` signed with `secret`.
fn mac(app: &AgoraApp, secret: &str, end_ms: u64, nonce: &str) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    for part in [
        FORMAT,
        &app.org_name,
        &app.app_name,
        &end_ms.to_string(),
        nonce,
    ] {
        // Each part with its length, so no two lists of parts sign the same bytes.
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    mac
}

/// A new token for `app`, valid until `end_ms`.
fn issue_token(app: &AgoraApp, secret: &str, end_ms: u64) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    let nonce = crate::hex::lower(&bytes);
    let tag = mac(app, secret, end_ms, &nonce).finalize().into_bytes();
    Ok(format!(
        "{FORMAT}.{end_ms}.{nonce}.{}",
        crate::hex::lower(&tag)
    ))
}

/// What `token` is to `app` at `now_ms`.
pub(crate) fn standing(app: &AgoraApp, token: &str, now_ms: u64) -> Standing {
    let Some((_, secret)) = &app.client_credentials else {
        return Standing::Unknown;
    };
    let mut parts = token.split('.');
    let (Some(FORMAT), Some(end), Some(nonce), Some(tag), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Standing::Unknown;
    };
    let (Ok(end_ms), Some(tag)) = (end.parse::<u64>(), crate::hex::decode(tag)) else {
        return Standing::Unknown;
    };
    // Constant-time comparison of the MAC.
    if mac(app, secret.expose(), end_ms, nonce)
        .verify_slice(&tag)
        .is_err()
    {
        return Standing::Unknown;
    }
    if end_ms > now_ms {
        Standing::Valid
    } else {
        Standing::Expired
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
        let end_ms = now_ms.saturating_add(ttl_s.saturating_mul(1000));
        let token = issue_token(&agora.apps[i], secret, end_ms).map_err(|e| {
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
    use crate::http::AgoraConfig;

    fn app(secret: &str) -> AgoraApp {
        let config = AgoraConfig::new("org", "app", "id", ["static"]);
        config.with_client_credentials("cid", secret).apps.remove(0)
    }

    #[test]
    fn tokens_are_valid_until_their_end_then_expired() {
        let app = app("s3cret");
        let t = issue_token(&app, "s3cret", 1_500).unwrap();
        assert!(t.starts_with("mg1.1500."), "{t}");
        assert_eq!(standing(&app, &t, 1_499), Standing::Valid);
        assert_eq!(standing(&app, &t, 1_500), Standing::Expired);
        assert_ne!(
            t,
            issue_token(&app, "s3cret", 1_500).unwrap(),
            "a fresh nonce each"
        );
    }

    #[test]
    fn a_changed_token_or_other_credentials_are_unknown() {
        let app = app("s3cret");
        let t = issue_token(&app, "s3cret", 1_500).unwrap();
        let later = t.replacen("mg1.1500.", "mg1.9500.", 1);
        assert_eq!(
            standing(&app, &later, 0),
            Standing::Unknown,
            "the end is signed"
        );
        assert_eq!(standing(&self::app("rotated"), &t, 0), Standing::Unknown);
        let mut other = self::app("s3cret");
        other.app_name = "other".into();
        assert_eq!(
            standing(&other, &t, 0),
            Standing::Unknown,
            "one app's token only"
        );
        let mut without = self::app("s3cret");
        without.client_credentials = None;
        assert_eq!(standing(&without, &t, 0), Standing::Unknown);
        for bad in [
            "",
            "mg1",
            "mg1.1.2",
            "mg1.x.n.00",
            "mg1.1.n.zz",
            &format!("{t}.x"),
            "mg2.1.n.00",
        ] {
            assert_eq!(standing(&app, bad, 0), Standing::Unknown, "{bad:?}");
        }
    }
}
