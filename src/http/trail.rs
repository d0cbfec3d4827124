//! The moderation trail over HTTP: every moderation request's body may name who acts,
//! why and through what, and each subject's history reads back.
//!
//! A moderation request (`PUT`/`DELETE` of a member, room-wide or module mute, `POST`
//! and `DELETE` of strikes, `PUT`/`DELETE` of a ladder or a slow mode) takes, beside its
//! own fields, `"actor"` (a user id), `"reason"` (at most
//! [`MAX_REASON_LEN`](crate::MAX_REASON_LEN) bytes) and `"source"` (`manual`,
//! `automatic`, `ladder` or `api`, the default): all optional, a `DELETE` or `POST` may
//! send them as its body. The operation is made with that trail, so it is in the
//! history of each subject it is about.
//!
//! | route | methods | answer |
//! |---|---|---|
//! | `/v1/rooms/{room}/history/{user}` | `GET` | the member's history |
//! | `/v1/rooms/{room}/history` | `GET` | the room's (its room-wide mute, slow mode, ladder) |
//! | `/v1/users/{user}/history` | `GET` | the user's (their module mutes) |
//!
//! A history is `{"items": [{"at", "kind", "actor", "reason", "source", ..}]}`, oldest
//! first, at most the engine's [`history_len`](crate::Engine::history_len) entries: `at`
//! the time in Unix ms, `kind` the operation's name, then what it did:
//!
//! | kind | fields |
//! |---|---|
//! | `mute_members`, `mute_room` | `until` (ms, `-1`: no end), `actions` |
//! | `set_modules` | `modules` (`{"p2p": true}`: muted, `false`: unmuted), `until`, `actions` |
//! | `unmute_members`, `unmute_room`, `allow`, `disallow` | none |
//! | `set_slow_mode` | `cooldown_ms` (`null`: lifted) |
//! | `set_ladder` | `ladder` (`{"steps_ms", "decay_ms"}`, `null`: back to the engine's) |
//! | `strike` | `ladder` (the one the strike climbed) |
//! | `set_strikes` | `strikes_end_ms` (`[]`: a pardon) |

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::admission::Admitted;
use super::calls::{Caller, answer, ids, room_path, room_user_path, trail_json, user_path};
use super::checks::Authorized;
use super::{Directory, Shared, end_ms};
use crate::{Engine, Ladder, ModerationEntry, Module, Op, Subject};

pub(crate) fn routes<D: Directory>() -> Router<Arc<Shared<D>>> {
    Router::new()
        .route("/v1/rooms/{room}/history/{user}", get(member_history::<D>))
        .route("/v1/rooms/{room}/history", get(room_history::<D>))
        .route("/v1/users/{user}/history", get(user_history::<D>))
}

fn ladder_json(ladder: &Ladder) -> Value {
    json!({ "steps_ms": ladder.steps_ms(), "decay_ms": ladder.decay_ms() })
}

/// What an operation of a history did, beside its subject (which the path names).
fn op_fields(op: &Op) -> Value {
    match op {
        Op::MuteMembers { until, actions, .. } | Op::MuteRoom { until, actions, .. } => {
            json!({ "until": end_ms(*until), "actions": actions })
        }
        Op::SetModules {
            change,
            until,
            actions,
            ..
        } => {
            let modules: Map<String, Value> = Module::ALL
                .into_iter()
                .zip(change)
                .filter_map(|(m, c)| Some((m.to_string(), json!((*c)?))))
                .collect();
            json!({ "modules": modules, "until": end_ms(*until), "actions": actions })
        }
        Op::SetSlowMode { cooldown_ms, .. } => json!({ "cooldown_ms": cooldown_ms }),
        Op::SetLadder { ladder, .. } => json!({ "ladder": ladder.as_ref().map(ladder_json) }),
        Op::Strike { ladder, .. } => json!({ "ladder": ladder_json(ladder) }),
        Op::SetStrikes { ends_ms, .. } => json!({ "strikes_end_ms": ends_ms }),
        _ => json!({}),
    }
}

fn entry_json(entry: &ModerationEntry) -> Value {
    let mut out = trail_json(&entry.trail);
    out["at"] = json!(entry.at_ms);
    out["kind"] = json!(entry.op.kind());
    if let Value::Object(fields) = op_fields(&entry.op) {
        for (key, value) in fields {
            out[key] = value;
        }
    }
    out
}

fn history(e: &Engine, subject: &Subject) -> Value {
    let items: Vec<Value> = e
        .moderation_history(subject)
        .iter()
        .map(entry_json)
        .collect();
    json!({ "items": items })
}

async fn member_history<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let e = &shared.engine;
    answer(ids(e, path, room_user_path).map(|(r, u)| history(e, &Subject::member(r, u))))
}

async fn room_history<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let e = &shared.engine;
    answer(ids(e, path, room_path).map(|r| history(e, &Subject::room(r))))
}

async fn user_history<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let e = &shared.engine;
    answer(ids(e, path, user_path).map(|u| history(e, &Subject::user(u))))
}
