//! Agora Chat (Easemob) chat room mutes: seed 004, under
//! `/{org_name}/{app_name}/chatrooms/{chatroom_id}/`.
//!
//! | call | route | `data` |
//! |---|---|---|
//! | mute members | `POST .../mute` `{"mute_duration": ms, "usernames": [..]}` | `[{result, expire, user}]` |
//! | unmute members | `DELETE .../mute/{a,b,..}` | `[{result, user}]` |
//! | list muted | `GET .../mute` | `[{expire, user}]` |
//! | mute all | `POST .../ban` | `{result, expire}` |
//! | unmute all | `DELETE .../ban` | `{result}` |
//! | allow list add | `POST .../white/users` `{"usernames": [..]}`, `POST .../white/users/{user}` | `[{result, action, user, chatroomid}]` |
//! | allow list remove | `DELETE .../white/users/{a,b,..}` | as above |
//! | allow list | `GET .../white/users` | `[user, ..]` and `count` |
//!
//! `mute_duration` is in milliseconds; `-1` mutes for good and `0` lifts the mute (the
//! seed leaves 0 out; Agora's public docs give it). An `expire` of `-1` means "no end";
//! a lifted mute answers `expire: 0`. Batches hold 1 to 60 users. The allow-list calls
//! follow Agora's public docs, which the seed points to without quoting.
//!
//! Errors use Agora's error body: `{"error", "exception", "timestamp", "duration",
//! "error_description"}` with `illegal_argument` or `json_parse` (400), `unauthorized`
//! (401), `service_resource_not_found` (404), `request_entity_too_large` (413) and
//! `reach_limit` (429).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::config::AgoraApp;
use super::{Directory, Shared, auth, body_problem, is_internal};
use crate::{Error, Expiry, MuteFor};

/// The most users one call may name.
const MAX_USERS: usize = 60;
/// Agora's limit on a username, in characters.
const MAX_USERNAME_CHARS: usize = 64;

pub(crate) fn routes<D: Directory>() -> Router<Arc<Shared<D>>> {
    let base = "/{org}/{app}/chatrooms/{room}";
    Router::new()
        .route(
            &format!("{base}/mute"),
            post(mute::<D>).get(list_muted::<D>),
        )
        .route(&format!("{base}/mute/{{members}}"), delete(unmute::<D>))
        .route(&format!("{base}/ban"), post(ban::<D>).delete(unban::<D>))
        .route(
            &format!("{base}/white/users"),
            post(allow_many::<D>).get(allow_list::<D>),
        )
        .route(
            &format!("{base}/white/users/{{members}}"),
            post(allow_one::<D>).delete(disallow::<D>),
        )
}

/// An Agora failure.
#[derive(Debug)]
struct AgoraError {
    status: StatusCode,
    error: &'static str,
    exception: &'static str,
    description: String,
}

impl AgoraError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        let exception = match error {
            "unauthorized" => "EasemobSecurityException",
            "json_parse" => "com.fasterxml.jackson.core.JsonParseException",
            "service_resource_not_found" => "ResourceNotFoundException",
            "reach_limit" => "EasemobRateLimitException",
            _ => "java.lang.IllegalArgumentException",
        };
        AgoraError {
            status,
            error,
            exception,
            description: description.into(),
        }
    }

    fn illegal(description: impl Into<String>) -> Self {
        AgoraError::new(StatusCode::BAD_REQUEST, "illegal_argument", description)
    }

    fn unauthorized(description: impl Into<String>) -> Self {
        AgoraError::new(StatusCode::UNAUTHORIZED, "unauthorized", description)
    }

    fn not_found(description: impl Into<String>) -> Self {
        AgoraError::new(
            StatusCode::NOT_FOUND,
            "service_resource_not_found",
            description,
        )
    }

    fn render(self, started: Instant, now_ms: u64) -> Response {
        let body = json!({
            "error": self.error,
            "exception": self.exception,
            "timestamp": now_ms,
            "duration": elapsed_ms(started),
            "error_description": self.description,
        });
        (self.status, Json(body)).into_response()
    }
}

impl From<Error> for AgoraError {
    fn from(e: Error) -> Self {
        if is_internal(&e) {
            AgoraError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                e.to_string(),
            )
        } else {
            AgoraError::illegal(e.to_string())
        }
    }
}

/// An unknown route or method under a chat room path.
pub(crate) fn route_error(status: StatusCode, message: String) -> Response {
    let error = if status == StatusCode::METHOD_NOT_ALLOWED {
        AgoraError::new(status, "method_not_allowed", message)
    } else {
        AgoraError::not_found(message)
    };
    // No engine at hand here: the timestamp is the system's.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    error.render(Instant::now(), now_ms)
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// One authenticated call: its app, room and what the envelope echoes.
struct Call<'s, D> {
    shared: &'s Shared<D>,
    app: &'s AgoraApp,
    room: String,
    uri: String,
    action: &'static str,
    started: Instant,
}

/// Authenticates and admits a call: the org/app must be served and the bearer token one
/// of its tokens (else 401, the same answer for both), the app under its rate, and the
/// room known to the directory.
async fn open<'s, D: Directory>(
    shared: &'s Shared<D>,
    parts: &Parts,
    org: &str,
    app_name: &str,
    room: String,
) -> Result<Call<'s, D>, AgoraError> {
    let started = Instant::now();
    let apps = shared.config.agora.as_ref().map_or(&[][..], |a| &a.apps);
    let token = auth::bearer(&parts.headers).unwrap_or_default();
    let found = apps
        .iter()
        .position(|a| a.org_name == org && a.app_name == app_name);
    let tokens = found.map_or(&[][..], |i| &apps[i].tokens);
    let good = auth::any_matches(tokens, token.as_bytes());
    let index = found.filter(|_| good).ok_or_else(|| {
        AgoraError::unauthorized(format!("no valid bearer token for {org}/{app_name}"))
    })?;
    if !shared.agora_limits[index].admit() {
        return Err(AgoraError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "reach_limit",
            "This request has reached api limit",
        ));
    }
    if !shared.directory.room_exists(&room).await {
        return Err(AgoraError::not_found(format!(
            "chatroom {room} does not exist"
        )));
    }
    let host = auth::header(&parts.headers, "host").unwrap_or("localhost");
    let action = match parts.method {
        Method::GET => "get",
        Method::DELETE => "delete",
        Method::PUT => "put",
        _ => "post",
    };
    Ok(Call {
        shared,
        app: &apps[index],
        room,
        uri: format!("http://{host}{}", parts.uri.path()),
        action,
        started,
    })
}

impl<D> Call<'_, D> {
    fn reply(&self, data: Value, count: Option<usize>) -> Response {
        let mut body = json!({
            "action": self.action,
            "application": self.app.application,
            "uri": self.uri,
            "entities": [],
            "data": data,
            "timestamp": self.shared.engine.now_ms(),
            "duration": elapsed_ms(self.started),
            "organization": self.app.org_name,
            "applicationName": self.app.app_name,
        });
        if let Some(count) = count {
            body["count"] = json!(count);
        }
        Json(body).into_response()
    }
}

/// `-1` for a mute with no end, else its end in Unix milliseconds.
fn expire_json(expiry: Expiry) -> i64 {
    expiry
        .at_ms()
        .map_or(-1, |ms| i64::try_from(ms).unwrap_or(i64::MAX))
}

/// A batch of usernames, checked whole: 1 to 60 of them, each non-empty and at most 64
/// characters.
fn check_users(users: &[String]) -> Result<(), AgoraError> {
    if users.is_empty() {
        return Err(AgoraError::illegal("usernames is empty"));
    }
    if users.len() > MAX_USERS {
        return Err(AgoraError::illegal(format!(
            "{} usernames given, over the limit of {MAX_USERS}",
            users.len()
        )));
    }
    for user in users {
        if user.is_empty() {
            return Err(AgoraError::illegal("a username is empty"));
        }
        let chars = user.chars().count();
        if chars > MAX_USERNAME_CHARS {
            return Err(AgoraError::illegal(format!(
                "username {user:?} is {chars} characters, over the limit of {MAX_USERNAME_CHARS}"
            )));
        }
    }
    Ok(())
}

/// Users the directory does not know are refused (404), before anything changes.
async fn check_known<D: Directory>(shared: &Shared<D>, users: &[String]) -> Result<(), AgoraError> {
    for user in users {
        if shared.directory.client(user).await.is_none() {
            return Err(AgoraError::not_found(format!(
                "username {user} does not exist"
            )));
        }
    }
    Ok(())
}

/// A comma-separated path segment (`a,b` or `a%2Cb`), checked as a batch.
fn split_users(members: &str) -> Result<Vec<String>, AgoraError> {
    let users: Vec<String> = members.split(',').map(str::to_owned).collect();
    check_users(&users)?;
    Ok(users)
}

fn parse_json<T: for<'de> Deserialize<'de>>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, AgoraError> {
    let body = body.map_err(|e| {
        let (status, message) = body_problem(&e);
        let error = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "request_entity_too_large"
        } else {
            "illegal_argument"
        };
        AgoraError::new(status, error, message)
    })?;
    serde_json::from_slice(&body).map_err(|e| {
        if e.is_data() {
            AgoraError::illegal(format!("request body: {e}"))
        } else {
            AgoraError::new(
                StatusCode::BAD_REQUEST,
                "json_parse",
                format!("request body is not JSON: {e}"),
            )
        }
    })
}

#[derive(Deserialize)]
struct MuteBody {
    mute_duration: i64,
    usernames: Vec<String>,
}

#[derive(Deserialize)]
struct UsersBody {
    usernames: Vec<String>,
}

/// A chat room route's path: org, app, room.
type RoomPath = Result<Path<(String, String, String)>, PathRejection>;
/// A chat room route's path with a trailing user list: org, app, room, users.
type MembersPath = Result<Path<(String, String, String, String)>, PathRejection>;

fn bad_path(e: &PathRejection) -> AgoraError {
    AgoraError::illegal(format!("bad path: {}", e.body_text()))
}

/// Admits a call on a room route.
async fn admit<'s, D: Directory>(
    shared: &'s Shared<D>,
    parts: &Parts,
    path: RoomPath,
) -> Result<Call<'s, D>, AgoraError> {
    let Path((org, app, room)) = path.map_err(|e| bad_path(&e))?;
    open(shared, parts, &org, &app, room).await
}

/// Admits a call on a route ending in a user list, and checks the list.
async fn admit_members<'s, D: Directory>(
    shared: &'s Shared<D>,
    parts: &Parts,
    path: MembersPath,
) -> Result<(Call<'s, D>, Vec<String>), AgoraError> {
    let Path((org, app, room, members)) = path.map_err(|e| bad_path(&e))?;
    let call = open(shared, parts, &org, &app, room).await?;
    Ok((call, split_users(&members)?))
}

/// The response for a call's outcome.
fn finish<D>(
    shared: &Shared<D>,
    started: Instant,
    outcome: Result<Response, AgoraError>,
) -> Response {
    outcome.unwrap_or_else(|e| e.render(started, shared.engine.now_ms()))
}

/// `POST .../mute`: mute members for `mute_duration` ms (`-1` for good, `0` lifts).
async fn mute<D: Directory>(
    State(shared): State<Arc<Shared<D>>>,
    parts: Parts,
    path: RoomPath,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let run = async {
        let call = admit(&shared, &parts, path).await?;
        let MuteBody {
            mute_duration,
            usernames,
        } = parse_json(body)?;
        check_users(&usernames)?;
        let duration = match mute_duration {
            -1 => Some(MuteFor::Forever),
            0 => None,
            ms if ms > 0 => Some(MuteFor::millis(ms.unsigned_abs())),
            ms => {
                return Err(AgoraError::illegal(format!(
                    "mute_duration {ms} is invalid: give -1 (no end), 0 (lift) or milliseconds"
                )));
            }
        };
        check_known(&shared, &usernames).await?;
        let expire = match duration {
            Some(d) => expire_json(shared.engine.mute_members(&call.room, &usernames, d)?),
            None => {
                shared.engine.unmute_members(&call.room, &usernames)?;
                0
            }
        };
        let data: Vec<Value> = usernames
            .iter()
            .map(|u| json!({ "result": true, "expire": expire, "user": u }))
            .collect();
        Ok(call.reply(Value::Array(data), None))
    };
    finish(&shared, started, run.await)
}

/// `DELETE .../mute/{members}`: lift the members' mutes.
async fn unmute<D: Directory>(
    State(shared): State<Arc<Shared<D>>>,
    parts: Parts,
    path: MembersPath,
) -> Response {
    let started = Instant::now();
    let run = async {
        let (call, users) = admit_members(&shared, &parts, path).await?;
        shared.engine.unmute_members(&call.room, &users)?;
        let data: Vec<Value> = users
            .iter()
            .map(|u| json!({ "result": true, "user": u }))
            .collect();
        Ok(call.reply(Value::Array(data), None))
    };
    finish(&shared, started, run.await)
}

/// `GET .../mute`: the muted members and when each mute ends.
async fn list_muted<D: Directory>(
    State(shared): State<Arc<Shared<D>>>,
    parts: Parts,
    path: RoomPath,
) -> Response {
    let started = Instant::now();
    let run = async {
        let call = admit(&shared, &parts, path).await?;
        let data: Vec<Value> = shared
            .engine
            .muted_members(&call.room)
            .into_iter()
            .map(|m| json!({ "expire": expire_json(m.expiry), "user": m.user }))
            .collect();
        Ok(call.reply(Value::Array(data), None))
    };
    finish(&shared, started, run.await)
}

/// `POST .../ban`: mute the whole room (only the allow list may speak).
async fn ban<D: Directory>(
    State(shared): State<Arc<Shared<D>>>,
    parts: Parts,
    path: RoomPath,
) -> Response {
    let started = Instant::now();
    let run = async {
        let call = admit(&shared, &parts, path).await?;
        let until = shared.engine.mute_room(&call.room, MuteFor::Forever)?;
        Ok(call.reply(
            json!({ "result": true, "expire": expire_json(until) }),
            None,
        ))
    };
    finish(&shared, started, run.await)
}

/// `DELETE .../ban`: lift the room-wide mute.
async fn unban<D: Directory>(
    State(shared): State<Arc<Shared<D>>>,
    parts: Parts,
    path: RoomPath,
) -> Response {
    let started = Instant::now();
    let run = async {
        let call = admit(&shared, &parts, path).await?;
        shared.engine.unmute_room(&call.room)?;
        Ok(call.reply(json!({ "result": true }), None))
    };
    finish(&shared, started, run.await)
}

/// One allow-list entry of a response.
fn allow_entry(room: &str, user: &str, action: &str) -> Value {
    json!({ "result": true, "action": action, "user": user, "chatroomid": room })
}

/// Adds users to the allow list; the answer lists each.
async fn add_allowed<D: Directory>(
    call: &Call<'_, D>,
    users: &[String],
) -> Result<Vec<Value>, AgoraError> {
    check_known(call.shared, users).await?;
    call.shared.engine.allow(&call.room, users)?;
    Ok(users
        .iter()
        .map(|u| allow_entry(&call.room, u, "add_user_whitelist"))
        .collect())
}

/// `POST .../white/users` `{"usernames": [..]}`: add up to 60 users to the allow list.
async fn allow_many<D: Directory>(
    State(shared): State<Arc<Shared<D>>>,
    parts: Parts,
    path: RoomPath,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let run = async {
        let call = admit(&shared, &parts, path).await?;
        let UsersBody { usernames } = parse_json(body)?;
        check_users(&usernames)?;
        let data = add_allowed(&call, &usernames).await?;
        Ok(call.reply(Value::Array(data), None))
    };
    finish(&shared, started, run.await)
}

/// `POST .../white/users/{username}`: add one user; `data` is that user's entry.
async fn allow_one<D: Directory>(
    State(shared): State<Arc<Shared<D>>>,
    parts: Parts,
    path: MembersPath,
) -> Response {
    let started = Instant::now();
    let run = async {
        let (call, users) = admit_members(&shared, &parts, path).await?;
        if users.len() != 1 {
            return Err(AgoraError::illegal(
                "one username per call here; POST .../white/users with usernames for several",
            ));
        }
        let mut data = add_allowed(&call, &users).await?;
        Ok(call.reply(data.swap_remove(0), None))
    };
    finish(&shared, started, run.await)
}

/// `DELETE .../white/users/{members}`: remove up to 60 users from the allow list.
async fn disallow<D: Directory>(
    State(shared): State<Arc<Shared<D>>>,
    parts: Parts,
    path: MembersPath,
) -> Response {
    let started = Instant::now();
    let run = async {
        let (call, users) = admit_members(&shared, &parts, path).await?;
        shared.engine.disallow(&call.room, &users)?;
        let data: Vec<Value> = users
            .iter()
            .map(|u| allow_entry(&call.room, u, "remove_user_whitelist"))
            .collect();
        Ok(call.reply(Value::Array(data), None))
    };
    finish(&shared, started, run.await)
}

/// `GET .../white/users`: the allow list, sorted, and its size.
async fn allow_list<D: Directory>(
    State(shared): State<Arc<Shared<D>>>,
    parts: Parts,
    path: RoomPath,
) -> Response {
    let started = Instant::now();
    let run = async {
        let call = admit(&shared, &parts, path).await?;
        let users = shared.engine.allow_list(&call.room);
        let count = users.len();
        Ok(call.reply(json!(users), Some(count)))
    };
    finish(&shared, started, run.await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_lists_are_checked_whole() {
        assert_eq!(split_users("a,b").unwrap(), ["a", "b"]);
        assert!(split_users("a,,b").is_err());
        assert!(split_users("").is_err());
        let sixty: Vec<String> = (0..60).map(|i| format!("u{i}")).collect();
        assert!(split_users(&sixty.join(",")).is_ok());
        assert!(split_users(&format!("{},x", sixty.join(","))).is_err());
        assert!(check_users(&["x".repeat(65)]).is_err());
        assert!(
            check_users(&["é".repeat(64)]).is_ok(),
            "characters, not bytes"
        );
    }

    #[test]
    fn expire_is_minus_one_for_no_end() {
        assert_eq!(expire_json(Expiry::Never), -1);
        assert_eq!(
            expire_json(Expiry::At(1_642_148_173_726)),
            1_642_148_173_726
        );
    }
}
