//! mutegate's own checks over HTTP, for services not written in Rust.
//!
//! - `POST /v1/can_send` `{"user", "target", "module"?, "role"?, "action"?}` →
//!   `{"allowed": true}` or `{"allowed": false, "reason", "module"?, "until"}`, where
//!   `reason` is `module_muted`, `member_muted`, `room_muted` or `slow_mode` and `until` is when
//!   sending becomes possible (Unix ms; `-1` for no end). `module` defaults to `room`,
//!   `role` to `member`, `action` to `send_message` (else `react`, `edit`,
//!   `upload_media`, `start_thread` or `join_voice`; an unknown name is a `400`).
//! - `POST /v1/try_send`, the same body and answer: `can_send` that also counts an
//!   allowed message against the room's slow mode (other actions are not counted).
//! - `POST /v1/should_push` `{"user", "room", "mentioned"?, "mention"?, "sender"?,
//!   "urgent"?}` → `{"push": bool}`. `mention` is `none`, `direct` or `room` (`@all`,
//!   `@here`); `mentioned: true` is the older spelling of `"mention": "direct"`.
//! - `POST /v1/push_targets` `{"room", "members": [..], "mentions"?: [..],
//!   "room_wide"?, "sender"?, "urgent"?}` → `{"targets": [..]}`, the members to push in
//!   the order given.
//!
//! All take `Authorization: Bearer <token>`, as do the rule endpoints of
//! `rules` module. Errors are `{"error": {"code", "message"}}` with a matching
//! HTTP status.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use super::admission::{Admission, Admitted};
use super::{Directory, Shared, auth, body_problem, end_ms};
use crate::error::{IdKind, check_id};
use crate::{Action, DenyReason, Engine, Message, Module, Role, Target};

pub(crate) fn routes<D: Directory>() -> Router<Arc<Shared<D>>> {
    Router::new()
        .route("/v1/can_send", post(can_send::<D>))
        .route("/v1/should_push", post(should_push::<D>))
        .route("/v1/push_targets", post(push_targets::<D>))
        .route("/v1/try_send", post(try_send::<D>))
}

/// A failed check call.
#[derive(Debug)]
pub(crate) enum CheckError {
    /// No valid bearer token.
    Unauthorized,
    /// A body that is not what the call takes.
    BadRequest(StatusCode, String),
    /// No such route or method.
    Route(StatusCode, String),
    /// The engine refused or failed a mutation.
    Engine(crate::Error),
}

impl From<crate::Error> for CheckError {
    fn from(e: crate::Error) -> CheckError {
        CheckError::Engine(e)
    }
}

impl From<CheckError> for Response {
    fn from(e: CheckError) -> Response {
        let (status, code, message) = match e {
            CheckError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or invalid bearer token".to_owned(),
            ),
            CheckError::BadRequest(status, m) => {
                let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "payload_too_large"
                } else {
                    "bad_request"
                };
                (status, code, m)
            }
            CheckError::Route(status, m) if status == StatusCode::METHOD_NOT_ALLOWED => {
                (status, "method_not_allowed", m)
            }
            CheckError::Route(status, m) => (status, "not_found", m),
            CheckError::Engine(e) if super::is_internal(&e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            ),
            CheckError::Engine(e) => (StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
        };
        let body = json!({ "error": { "code": code, "message": message } });
        (status, Json(body)).into_response()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CanSend {
    user: String,
    target: String,
    #[serde(default = "room_module")]
    module: ModuleName,
    #[serde(default)]
    role: RoleName,
    action: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum ModuleName {
    P2p,
    Team,
    Room,
    Qchat,
}

fn room_module() -> ModuleName {
    ModuleName::Room
}

impl From<ModuleName> for Module {
    fn from(m: ModuleName) -> Module {
        match m {
            ModuleName::P2p => Module::P2p,
            ModuleName::Team => Module::Team,
            ModuleName::Room => Module::Room,
            ModuleName::Qchat => Module::QChat,
        }
    }
}

#[derive(Deserialize, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
enum RoleName {
    #[default]
    Member,
    Admin,
    Owner,
}

impl From<RoleName> for Role {
    fn from(r: RoleName) -> Role {
        match r {
            RoleName::Member => Role::Member,
            RoleName::Admin => Role::Admin,
            RoleName::Owner => Role::Owner,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShouldPush {
    user: String,
    room: String,
    #[serde(default)]
    mentioned: bool,
    mention: Option<MentionName>,
    sender: Option<String>,
    #[serde(default)]
    urgent: bool,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum MentionName {
    None,
    Direct,
    Room,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushTargets {
    room: String,
    members: Vec<String>,
    #[serde(default)]
    mentions: Vec<String>,
    #[serde(default)]
    room_wide: bool,
    sender: Option<String>,
    #[serde(default)]
    urgent: bool,
}

/// A call with a valid bearer token. Extracted before the body is read.
pub(super) struct Authorized<D> {
    pub(super) shared: Arc<Shared<D>>,
}

impl<D: Directory> Admission<D> for Authorized<D> {
    type Caller = ();
    type Refusal = CheckError;

    async fn authenticate(parts: &mut Parts, shared: &Arc<Shared<D>>) -> Result<(), CheckError> {
        let tokens = shared.config.checks.as_ref().map_or(&[][..], |c| &c.tokens);
        let token = auth::bearer(&parts.headers).unwrap_or_default();
        if auth::any_matches(tokens, token.as_bytes()) {
            Ok(())
        } else {
            Err(CheckError::Unauthorized)
        }
    }

    async fn admit((): (), _: &mut Parts, shared: &Arc<Shared<D>>) -> Result<Self, CheckError> {
        Ok(Authorized {
            shared: Arc::clone(shared),
        })
    }

    fn refuse(refusal: CheckError, _: &Shared<D>) -> Response {
        refusal.into()
    }
}

/// The body as `T`.
pub(super) fn parse<T: for<'de> Deserialize<'de>>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, CheckError> {
    let body = body.map_err(|e| {
        let (status, message) = body_problem(&e);
        CheckError::BadRequest(status, message)
    })?;
    serde_json::from_slice(&body)
        .map_err(|e| CheckError::BadRequest(StatusCode::BAD_REQUEST, format!("request body: {e}")))
}

/// Ids are held to the engine's rules (not empty, not over its length limit): a check
/// on an id no mutation could have stored is the caller's mistake, not "allowed".
pub(super) fn check_ids(engine: &Engine, ids: &[(IdKind, &str)]) -> Result<(), CheckError> {
    let max = engine.limits().max_id_len();
    ids.iter()
        .try_for_each(|&(kind, id)| check_id(kind, id, max))
        .map_err(|e| CheckError::BadRequest(StatusCode::BAD_REQUEST, e.to_string()))
}

async fn can_send<D: Directory>(
    Admitted(Authorized { shared }): Admitted<Authorized<D>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    send_check(&shared.engine, body, false)
}

async fn try_send<D: Directory>(
    Admitted(Authorized { shared }): Admitted<Authorized<D>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    send_check(&shared.engine, body, true)
}

/// `can_send`, or with `count` the counting `try_send`.
fn send_check(engine: &Engine, body: Result<Bytes, BytesRejection>, count: bool) -> Response {
    let ids = |r: &CanSend| {
        check_ids(
            engine,
            &[(IdKind::User, &r.user), (IdKind::Target, &r.target)],
        )
    };
    let req: CanSend = match parse(body).and_then(|r| ids(&r).map(|()| r)) {
        Ok(r) => r,
        Err(e) => return e.into(),
    };
    let action = match req.action.as_deref().map(str::parse::<Action>).transpose() {
        Ok(a) => a.unwrap_or(Action::SendMessage),
        Err(e) => return CheckError::Engine(e).into(),
    };
    let target = Target::new(req.module.into(), &req.target);
    let verdict = if count && action == Action::SendMessage {
        engine.try_send_as(&req.user, target, req.role.into())
    } else {
        engine.check_act_as(&req.user, target, action, req.role.into())
    };
    let body = match verdict {
        Ok(()) => json!({ "allowed": true }),
        Err(denied) => {
            let (reason, module) = match denied.reason {
                DenyReason::ModuleMuted(m) => ("module_muted", Value::from(m.to_string())),
                DenyReason::MemberMuted => ("member_muted", Value::Null),
                DenyReason::RoomMuted => ("room_muted", Value::Null),
                DenyReason::SlowMode => ("slow_mode", Value::Null),
            };
            let until = end_ms(denied.until);
            let mut body = json!({ "allowed": false, "reason": reason, "until": until });
            if !module.is_null() {
                body["module"] = module;
            }
            body
        }
    };
    Json(body).into_response()
}

async fn should_push<D: Directory>(
    Admitted(Authorized { shared }): Admitted<Authorized<D>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let checked = |r: ShouldPush| -> Result<ShouldPush, CheckError> {
        check_ids(
            &shared.engine,
            &[(IdKind::User, &r.user), (IdKind::Room, &r.room)],
        )?;
        if let Some(s) = &r.sender {
            check_ids(&shared.engine, &[(IdKind::User, s)])?;
        }
        if r.mentioned && r.mention.is_some_and(|m| m != MentionName::Direct) {
            return Err(CheckError::BadRequest(
                StatusCode::BAD_REQUEST,
                "\"mentioned\": true and \"mention\" other than \"direct\" disagree".into(),
            ));
        }
        Ok(r)
    };
    match parse::<ShouldPush>(body).and_then(checked) {
        Ok(req) => {
            let me = [req.user.as_str()];
            let mention = match (req.mentioned, req.mention) {
                (true, _) => MentionName::Direct,
                (false, m) => m.unwrap_or(MentionName::None),
            };
            let mut msg = match mention {
                MentionName::None => Message::new(),
                MentionName::Direct => Message::new().mentioning(&me),
                MentionName::Room => Message::new().mentioning_everyone(),
            };
            msg = from_and_urgency(msg, req.sender.as_deref(), req.urgent);
            let push = shared
                .engine
                .should_push_message(&req.user, &req.room, &msg);
            Json(json!({ "push": push })).into_response()
        }
        Err(e) => e.into(),
    }
}

/// `msg` with the request's sender (if named) and urgency.
fn from_and_urgency<'a>(msg: Message<'a>, sender: Option<&'a str>, urgent: bool) -> Message<'a> {
    let msg = match sender {
        Some(s) => msg.sent_by(s),
        None => msg,
    };
    if urgent { msg.urgent() } else { msg }
}

async fn push_targets<D: Directory>(
    Admitted(Authorized { shared }): Admitted<Authorized<D>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let checked = |r: PushTargets| -> Result<PushTargets, CheckError> {
        check_ids(&shared.engine, &[(IdKind::Room, &r.room)])?;
        let mut users = r.members.iter().chain(&r.mentions).chain(&r.sender);
        users.try_for_each(|u| check_ids(&shared.engine, &[(IdKind::User, u)]))?;
        Ok(r)
    };
    match parse::<PushTargets>(body).and_then(checked) {
        Ok(req) => {
            let mentions: Vec<&str> = req.mentions.iter().map(String::as_str).collect();
            let mut msg = Message::new().mentioning(&mentions);
            if req.room_wide {
                msg = msg.mentioning_everyone();
            }
            msg = from_and_urgency(msg, req.sender.as_deref(), req.urgent);
            let targets = shared
                .engine
                .push_targets_for(&req.room, &req.members, &msg);
            Json(json!({ "targets": targets })).into_response()
        }
        Err(e) => e.into(),
    }
}
