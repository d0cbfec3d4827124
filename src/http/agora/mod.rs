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
//! | is on the allow list | `GET .../white/users/{user}` | `{user, white}` |
//! | is muted | `GET .../mute/{user}`, `GET /{org}/{app}/sdk/chatrooms/{id}/mute/{user}` | `{user, mute, expire}` |
//! | app token | `POST /{org}/{app}/token` (see [`token`]) | `{access_token, expires_in, application}` |
//!
//! Mute all and unmute all also carry `mute` (`true`, `false`) beside the seed's
//! `result`: Agora's SDKs read `data.mute`. A body of JSON `null` where the call needs
//! none is taken as no body.
//!
//! `mute_duration` is in milliseconds; `-1` mutes for good and `0` lifts the mute (the
//! seed leaves 0 out; Agora's public docs give it). An `expire` of `-1` means "no end";
//! a lifted mute answers `expire: 0`. Batches hold 1 to 60 users of at most 64
//! characters, and are checked whole: muting or allow-listing a user the directory does
//! not know refuses the call (404) before anything changes. The allow-list calls follow
//! Agora's public docs, which the seed points to without quoting.
//!
//! Errors use Agora's error body: `{"error", "exception", "timestamp", "duration",
//! "error_description"}` with `illegal_argument` or `json_parse` (400), `unauthorized`
//! (401), `service_resource_not_found` (404), `request_entity_too_large` (413) and
//! `reach_limit` (429). Every unknown path under `/{org}/{app}/` answers in this body
//! too (see [`super::vendor_of`]).

mod allow;
mod members;
pub(crate) mod token;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde::de::Error as _;
use serde_json::{Value, json};

use super::admission::Admission;
use super::{Directory, MAX_END_MS, Shared, auth, body_problem, is_internal, shown};
use crate::{Error, MuteFor};

/// The most users one call may name.
const MAX_USERS: usize = 60;
/// Agora's limit on a username, in characters.
const MAX_USERNAME_CHARS: usize = 64;

use allow::{allow_list, allow_many, allow_one, disallow};
use members::{ban, list_muted, mute, unban, unmute};

pub(crate) fn routes<D: Directory>() -> Router<Arc<Shared<D>>> {
    let base = "/{org}/{app}/chatrooms/{room}";
    Router::new()
        .route(
            &format!("{base}/mute"),
            post(mute::<D>).get(list_muted::<D>),
        )
        .route(
            &format!("{base}/mute/{{members}}"),
            delete(unmute::<D>).get(members::member_muted::<D>),
        )
        .route(
            "/{org}/{app}/sdk/chatrooms/{room}/mute/{members}",
            get(members::member_muted::<D>),
        )
        .route(&format!("{base}/ban"), post(ban::<D>).delete(unban::<D>))
        .route(
            &format!("{base}/white/users"),
            post(allow_many::<D>).get(allow_list::<D>),
        )
        .route(
            &format!("{base}/white/users/{{members}}"),
            post(allow_one::<D>)
                .delete(disallow::<D>)
                .get(allow::is_allowed::<D>),
        )
        .route("/{org}/{app}/token", post(token::issue::<D>))
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

    fn reach_limit() -> Self {
        AgoraError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "reach_limit",
            "This request has reached api limit",
        )
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
    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => AgoraError::new(status, "method_not_allowed", message),
        StatusCode::REQUEST_TIMEOUT => AgoraError::new(status, "request_timeout", message),
        _ => AgoraError::not_found(message),
    };
    // No engine at hand here: the timestamp is the system's.
    let now_ms = crate::Clock::now_ms(&crate::SystemClock);
    error.render(Instant::now(), now_ms)
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// An admitted call on a chat room route: the org/app is served and the bearer token one
/// of its tokens (else 401, the same answer for both), the app is under its rate (else
/// 429), and the room is known to the directory (else 404). Extracted before the body is
/// read, so a refused call never gets further.
struct Call<D> {
    shared: Arc<Shared<D>>,
    /// Index of the app in the config (and of its limiter).
    app: usize,
    room: String,
    /// The trailing user list of `.../mute/{members}` and `.../white/users/{members}`.
    members: Option<String>,
    uri: String,
    action: &'static str,
    started: Instant,
}

/// An Agora caller whose token holds: the app (index in the config and of its limiter)
/// and what the path names.
struct Caller {
    app: usize,
    room: String,
    members: Option<String>,
    started: Instant,
}

impl<D: Directory> Admission<D> for Call<D> {
    type Caller = Caller;
    type Refusal = AgoraError;

    async fn authenticate(
        parts: &mut Parts,
        shared: &Arc<Shared<D>>,
    ) -> Result<Caller, AgoraError> {
        let started = Instant::now();
        let Path(mut params) = Path::<HashMap<String, String>>::from_request_parts(parts, shared)
            .await
            .map_err(|e| AgoraError::illegal(format!("bad path: {}", e.body_text())))?;
        let mut take = |name: &str| params.remove(name).unwrap_or_default();
        let (org, app_name, room) = (take("org"), take("app"), take("room"));
        let apps = shared.config.agora.as_ref().map_or(&[][..], |a| &a.apps);
        let token = auth::bearer(&parts.headers).unwrap_or_default();
        let found = apps
            .iter()
            .position(|a| a.org_name == org && a.app_name == app_name);
        let tokens = found.map_or(&[][..], |i| &apps[i].tokens);
        let configured = auth::any_matches(tokens, token.as_bytes());
        // An issued token's MAC (and the clock) only for a token the config does not hold.
        let issued = match found {
            Some(i) if !configured => token::standing(&apps[i], token, shared.engine.now_ms()),
            _ => token::Standing::Unknown,
        };
        let app = found
            .filter(|_| configured || issued == token::Standing::Valid)
            .ok_or_else(|| {
                AgoraError::unauthorized(if issued == token::Standing::Expired {
                    "Unable to authenticate due to expired access token".to_owned()
                } else {
                    format!(
                        "no valid bearer token for {}/{}",
                        shown(&org),
                        shown(&app_name)
                    )
                })
            })?;
        Ok(Caller {
            app,
            room,
            members: params.remove("members"),
            started,
        })
    }

    fn within_rate(caller: &Caller, shared: &Shared<D>) -> Result<(), AgoraError> {
        if shared.agora_limits[caller.app].admit() {
            Ok(())
        } else {
            Err(AgoraError::reach_limit())
        }
    }

    async fn admit(
        caller: Caller,
        parts: &mut Parts,
        shared: &Arc<Shared<D>>,
    ) -> Result<Self, AgoraError> {
        if !shared.directory.room_exists(&caller.room).await {
            return Err(AgoraError::not_found(format!(
                "chatroom {} does not exist",
                shown(&caller.room)
            )));
        }
        let host = auth::header(&parts.headers, "host").unwrap_or("localhost");
        let action = match parts.method {
            Method::GET => "get",
            Method::DELETE => "delete",
            _ => "post",
        };
        Ok(Call {
            shared: Arc::clone(shared),
            app: caller.app,
            room: caller.room,
            members: caller.members,
            uri: format!("http://{host}{}", parts.uri.path()),
            action,
            started: caller.started,
        })
    }

    fn refuse(refusal: AgoraError, shared: &Shared<D>) -> Response {
        refusal.render(Instant::now(), shared.engine.now_ms())
    }
}

/// A call's `data`, and for lists the `count` beside it.
struct Data(Value, Option<usize>);

impl From<Value> for Data {
    fn from(data: Value) -> Self {
        Data(data, None)
    }
}

impl<D> Call<D> {
    fn engine(&self) -> &crate::Engine {
        &self.shared.engine
    }

    /// The trailing user list, checked as a batch.
    fn members(&self) -> Result<Vec<String>, AgoraError> {
        split_users(self.members.as_deref().unwrap_or_default())
    }

    /// The one user the path's trailing segment names.
    fn member(&self) -> Result<String, AgoraError> {
        let mut users = self.members()?;
        if users.len() != 1 {
            return Err(AgoraError::illegal(format!(
                "one username per call here, not {}",
                users.len()
            )));
        }
        Ok(users.swap_remove(0))
    }

    /// The answer: the common envelope around `data`, or Agora's error body.
    fn respond(&self, outcome: Result<Data, AgoraError>) -> Response {
        let now_ms = self.shared.engine.now_ms();
        let Data(data, count) = match outcome {
            Ok(data) => data,
            Err(e) => return e.render(self.started, now_ms),
        };
        let app = &self.shared.config.agora.as_ref().expect("admitted").apps[self.app];
        let mut body = json!({
            "action": self.action,
            "application": app.application,
            "uri": self.uri,
            "entities": [],
            "data": data,
            "timestamp": now_ms,
            "duration": elapsed_ms(self.started),
            "organization": app.org_name,
            "applicationName": app.app_name,
        });
        if let Some(count) = count {
            body["count"] = json!(count);
        }
        Json(body).into_response()
    }
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
                "username {:?} is {chars} characters, over the limit of {MAX_USERNAME_CHARS}",
                shown(user)
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
                "username {} does not exist",
                shown(user)
            )));
        }
    }
    Ok(())
}

/// A comma-separated path segment (`a,b` or `a%2Cb`), checked as a batch, each user
/// once.
fn split_users(members: &str) -> Result<Vec<String>, AgoraError> {
    let users: Vec<String> = members.split(',').map(str::to_owned).collect();
    check_users(&users)?;
    Ok(once_each(users))
}

/// The users in the order given, each once: `[a, a, b]` mutes `a` once and lists it once.
fn once_each(mut users: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::with_capacity(users.len());
    users.retain(|u| seen.insert(u.clone()));
    users
}

/// A `mute_duration` as the engine takes it: `-1` for no end, `0` to lift (`None`), or
/// milliseconds, whose end must be a time a JSON client can read exactly.
fn duration(mute_duration: i64, now_ms: u64) -> Result<Option<MuteFor>, AgoraError> {
    match mute_duration {
        -1 => Ok(Some(MuteFor::Forever)),
        0 => Ok(None),
        ms if ms > 0 && now_ms.saturating_add(ms.unsigned_abs()) <= MAX_END_MS => {
            Ok(Some(MuteFor::millis(ms.unsigned_abs())))
        }
        ms if ms > 0 => Err(AgoraError::illegal(format!(
            "mute_duration {ms} ends after {MAX_END_MS} ms, the latest time a JSON client can read exactly"
        ))),
        ms => Err(AgoraError::illegal(format!(
            "mute_duration {ms} is invalid: give -1 (no end), 0 (lift) or milliseconds"
        ))),
    }
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
    // The path names the field at fault (`client_id: invalid type: ...`).
    let mut de = serde_json::Deserializer::from_slice(&body);
    let parsed = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let at = e.path().to_string();
        let e = e.into_inner();
        if e.is_data() && at != "." {
            serde_json::Error::custom(format!("{at}: {e}"))
        } else {
            e
        }
    });
    parsed.and_then(|v| de.end().map(|()| v)).map_err(|e| {
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

type Body = Result<Bytes, BytesRejection>;

#[cfg(test)]
mod tests {
    use super::super::end_ms;
    use super::super::testing::{io_error, parts};
    use super::*;
    use crate::Expiry;

    #[test]
    fn storage_failures_are_500_in_the_error_body() {
        let (status, body) = parts(AgoraError::from(io_error()).render(Instant::now(), 7));
        assert_eq!(status, 500);
        assert_eq!(body["error"], "internal_error");
        assert_eq!(body["timestamp"], 7);
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("No space left")
        );
    }

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
        assert_eq!(end_ms(Expiry::Never), -1);
        assert_eq!(end_ms(Expiry::At(1_642_148_173_726)), 1_642_148_173_726);
    }
}
