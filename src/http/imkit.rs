//! IMKit (FUNTEK) notification mutes: seeds 000, 001 and 002.
//!
//! `POST`/`DELETE /admin/clients/{uid}/mute/{room}` with `IM-API-KEY`, and
//! `POST`/`DELETE /me/mute/{room}` with `IM-CLIENT-KEY` + `IM-Authorization`. Each
//! answers with the client object and its `mute` list (rooms in the order they were
//! muted). `limit` and `skip` query parameters are accepted and, as the seeds say,
//! change nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::json;

use super::admission::{Admission, Admitted};
use super::directory::{Client, ClientAddress};
use super::{Directory, Shared, auth, is_internal};
use crate::Error;

pub(crate) fn routes<D: Directory>() -> Router<Arc<Shared<D>>> {
    Router::new()
        .route(
            "/admin/clients/{uid}/mute/{room}",
            post(mute::<D>).delete(unmute::<D>),
        )
        .route("/me/mute/{room}", post(mute::<D>).delete(unmute::<D>))
}

/// An IMKit failure, rendered as `{"RC":..,"RM":..,"error":{"code":..,"message":..}}`
/// with the HTTP status equal to `RC`.
#[derive(Debug)]
pub(crate) enum ImkitError {
    /// Seed 000: 401 `INVALID_API_KEY`.
    InvalidApiKey,
    /// `/me` without a valid `IM-CLIENT-KEY`. Seed 002 names the case ("invalid client
    /// key or authorization token") but not its body; this follows seed 000's shape.
    InvalidClientKey,
    /// `/me` without a valid `IM-Authorization` token (as above).
    InvalidToken,
    /// Seed 000: 404 `CLIENT_NOT_FOUND`.
    ClientNotFound,
    /// Seed 000: 404 `ROOM_NOT_FOUND`.
    RoomNotFound,
    /// Seed 001: 400 `ROOM_NOT_MUTED`.
    RoomNotMuted,
    /// A path or id the engine refuses (too long, say): 400 `INVALID_PARAMETER`.
    Invalid(String),
    /// Storage failed: 500 `INTERNAL_ERROR`; nothing was changed.
    Internal(String),
    /// No such route or method here.
    Route(StatusCode, String),
}

impl ImkitError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str, String) {
        use ImkitError as E;
        let fixed = |s: &str| s.to_owned();
        match self {
            E::InvalidApiKey => (
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "INVALID_API_KEY",
                fixed("Invalid or missing API key"),
            ),
            E::InvalidClientKey => (
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "INVALID_CLIENT_KEY",
                fixed("Invalid or missing client key"),
            ),
            E::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "INVALID_AUTHORIZATION",
                fixed("Invalid or missing authorization token"),
            ),
            E::ClientNotFound => (
                StatusCode::NOT_FOUND,
                "Client not found",
                "CLIENT_NOT_FOUND",
                fixed("The specified client does not exist"),
            ),
            E::RoomNotFound => (
                StatusCode::NOT_FOUND,
                "Room not found",
                "ROOM_NOT_FOUND",
                fixed("The specified room does not exist"),
            ),
            E::RoomNotMuted => (
                StatusCode::BAD_REQUEST,
                "Room is not muted",
                "ROOM_NOT_MUTED",
                fixed("The specified room is not in the mute list"),
            ),
            E::Invalid(m) => (
                StatusCode::BAD_REQUEST,
                "Bad request",
                "INVALID_PARAMETER",
                m.clone(),
            ),
            E::Internal(m) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error",
                "INTERNAL_ERROR",
                m.clone(),
            ),
            E::Route(status, m) if *status == StatusCode::METHOD_NOT_ALLOWED => (
                *status,
                "Method not allowed",
                "METHOD_NOT_ALLOWED",
                m.clone(),
            ),
            E::Route(status, m) => (*status, "Not found", "NOT_FOUND", m.clone()),
        }
    }
}

impl IntoResponse for ImkitError {
    fn into_response(self) -> Response {
        let (status, rm, code, message) = self.parts();
        let body = json!({
            "RC": status.as_u16(),
            "RM": rm,
            "error": { "code": code, "message": message },
        });
        (status, Json(body)).into_response()
    }
}

impl From<ImkitError> for Response {
    fn from(e: ImkitError) -> Response {
        e.into_response()
    }
}

impl From<Error> for ImkitError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotMuted { .. } => ImkitError::RoomNotMuted,
            e if is_internal(&e) => ImkitError::Internal(e.to_string()),
            e => ImkitError::Invalid(e.to_string()),
        }
    }
}

/// IMKit's client object: the directory's profile plus the engine's `mute` list.
///
/// The admin calls (seeds 000/001) also return `id` (a copy of `_id`) and `updatedAt`
/// (the time of this change); `/me` (seed 002) returns neither. Profile fields the
/// directory leaves at `None` are left out.
#[derive(Serialize)]
struct ClientObject<'a> {
    mute: Vec<String>,
    #[serde(rename = "isRobot", skip_serializing_if = "Option::is_none")]
    is_robot: Option<bool>,
    #[serde(rename = "_id")]
    id: &'a str,
    #[serde(rename = "__v", skip_serializing_if = "Option::is_none")]
    version: Option<u64>,
    #[serde(rename = "appID", skip_serializing_if = "Option::is_none")]
    app_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(rename = "avatarUrl", skip_serializing_if = "Option::is_none")]
    avatar_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nickname: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<&'a ClientAddress>,
    #[serde(rename = "userAgent", skip_serializing_if = "Option::is_none")]
    user_agent: Option<&'a str>,
    #[serde(rename = "updatedAt", skip_serializing_if = "Option::is_none")]
    updated_at: Option<String>,
    #[serde(rename = "id", skip_serializing_if = "Option::is_none")]
    id_again: Option<&'a str>,
    #[serde(rename = "lastLoginTimeMS", skip_serializing_if = "Option::is_none")]
    last_login_time_ms: Option<u64>,
}

/// Which caller a response is for.
#[derive(Clone, Copy)]
enum Caller {
    Admin,
    Me,
}

fn ok<D: Directory>(shared: &Shared<D>, client: &Client, caller: Caller) -> Response {
    let admin = matches!(caller, Caller::Admin);
    let updated = UNIX_EPOCH + Duration::from_millis(shared.engine.now_ms());
    let object = ClientObject {
        mute: shared.engine.muted_rooms(&client.id),
        is_robot: client.is_robot,
        id: &client.id,
        version: client.version,
        app_id: client.app_id.as_deref(),
        description: client.description.as_deref(),
        avatar_url: client.avatar_url.as_deref(),
        nickname: client.nickname.as_deref(),
        email: client.email.as_deref(),
        address: client.address.as_ref(),
        user_agent: client.user_agent.as_deref(),
        updated_at: admin.then(|| humantime::format_rfc3339_millis(updated).to_string()),
        id_again: admin.then_some(client.id.as_str()),
        last_login_time_ms: client.last_login_time_ms,
    };
    Json(json!({ "RC": 0, "RM": "OK", "result": object })).into_response()
}

/// An authenticated IMKit call: the client it is for and the room. Admin routes carry
/// the client in the path and need `IM-API-KEY`; `/me` routes need `IM-CLIENT-KEY`, and
/// the `IM-Authorization` token names the client. Credentials are checked before the path
/// is looked at, and before the directory is asked anything but whose token it is.
struct Call<D> {
    shared: Arc<Shared<D>>,
    uid: String,
    room: String,
    caller: Caller,
}

impl<D: Directory> Admission<D> for Call<D> {
    /// `None` for an admin call; for `/me`, the client the token belongs to.
    type Caller = Option<String>;
    type Refusal = ImkitError;

    async fn authenticate(
        parts: &mut Parts,
        shared: &Arc<Shared<D>>,
    ) -> Result<Option<String>, ImkitError> {
        if parts.uri.path().starts_with("/admin/") {
            admin_key(shared, &parts.headers).map(|()| None)
        } else {
            me(shared, &parts.headers).await.map(Some)
        }
    }

    async fn admit(
        me_uid: Option<String>,
        parts: &mut Parts,
        shared: &Arc<Shared<D>>,
    ) -> Result<Self, ImkitError> {
        let Path(mut params) = Path::<HashMap<String, String>>::from_request_parts(parts, shared)
            .await
            .map_err(|e| ImkitError::Invalid(format!("bad path: {}", e.body_text())))?;
        let room = params.remove("room").unwrap_or_default();
        let (uid, caller) = match me_uid {
            Some(uid) => (uid, Caller::Me),
            None => (params.remove("uid").unwrap_or_default(), Caller::Admin),
        };
        Ok(Call {
            shared: Arc::clone(shared),
            uid,
            room,
            caller,
        })
    }

    fn refuse(refusal: ImkitError, _: &Shared<D>) -> Response {
        refusal.into()
    }
}

impl<D: Directory> Call<D> {
    /// Mutes (`true`) or unmutes the room's notifications, for a known client in a known
    /// room.
    async fn change(self, mute: bool) -> Response {
        let shared = &self.shared;
        let run = async {
            let client = shared
                .directory
                .client(&self.uid)
                .await
                .ok_or(ImkitError::ClientNotFound)?;
            if !shared.directory.room_exists(&self.room).await {
                return Err(ImkitError::RoomNotFound);
            }
            if mute {
                shared
                    .engine
                    .submit()
                    .mute_notifications(&self.uid, &self.room)
                    .await?;
            } else {
                shared
                    .engine
                    .submit()
                    .unmute_notifications(&self.uid, &self.room)
                    .await?;
            }
            Ok(ok(shared, &client, self.caller))
        };
        run.await.unwrap_or_else(Response::from)
    }
}

fn admin_key<D>(shared: &Shared<D>, headers: &HeaderMap) -> Result<(), ImkitError> {
    let keys = shared
        .config
        .imkit
        .as_ref()
        .map_or(&[][..], |c| &c.api_keys);
    let given = auth::header(headers, "im-api-key").unwrap_or_default();
    if auth::any_matches(keys, given.as_bytes()) {
        Ok(())
    } else {
        Err(ImkitError::InvalidApiKey)
    }
}

/// The client a `/me` call is for: a valid client key, then the token's owner.
async fn me<D: Directory>(shared: &Shared<D>, headers: &HeaderMap) -> Result<String, ImkitError> {
    let keys = shared
        .config
        .imkit
        .as_ref()
        .map_or(&[][..], |c| &c.client_keys);
    let key = auth::header(headers, "im-client-key").unwrap_or_default();
    if !auth::any_matches(keys, key.as_bytes()) {
        return Err(ImkitError::InvalidClientKey);
    }
    let token = auth::header(headers, "im-authorization")
        .filter(|t| !t.is_empty())
        .ok_or(ImkitError::InvalidToken)?;
    shared
        .directory
        .client_for_token(token)
        .await
        .ok_or(ImkitError::InvalidToken)
}

async fn mute<D: Directory>(Admitted(call): Admitted<Call<D>>) -> Response {
    call.change(true).await
}

async fn unmute<D: Directory>(Admitted(call): Admitted<Call<D>>) -> Response {
    call.change(false).await
}

#[cfg(test)]
mod tests {
    use super::super::testing::{io_error, parts};
    use super::*;

    #[test]
    fn storage_failures_are_500_in_the_envelope() {
        let (status, body) = parts(ImkitError::from(io_error()).into());
        assert_eq!(status, 500);
        assert_eq!(body["RC"], 500);
        assert_eq!(body["error"]["code"], "INTERNAL_ERROR");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("No space left")
        );
    }
}
