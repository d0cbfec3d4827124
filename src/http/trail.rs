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
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::admission::Admitted;
use super::checks::{Authorized, CheckError, parse};
use super::moderation::room_user_path;
use super::rules::{Body, Caller, answer, bad, ids, room_path, user_path};
use super::{Directory, Shared, end_ms};
use crate::error::IdKind;
use crate::{Engine, Ladder, ModerationEntry, Module, Op, Source, Subject, Submit, Ticket, Trail};

pub(crate) fn routes<D: Directory>() -> Router<Arc<Shared<D>>> {
    Router::new()
        .route("/v1/rooms/{room}/history/{user}", get(member_history::<D>))
        .route("/v1/rooms/{room}/history", get(room_history::<D>))
        .route("/v1/users/{user}/history", get(user_history::<D>))
}

/// A body with no fields of its own (a `DELETE` or `POST` that may carry a trail).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NoFields {}

/// Takes a trail field out of a body, typed.
fn take<T: DeserializeOwned>(body: &mut Map<String, Value>, key: &str) -> Result<T, CheckError> {
    let value = body.remove(key).unwrap_or(Value::Null);
    serde_json::from_value(value).map_err(|e| bad(format!("request body: {key}: {e}")))
}

/// A moderation request's own fields and its trail (source `api` unless it names one).
/// An empty body is an empty object: its own fields must then all be optional.
pub(super) fn trailed<T: DeserializeOwned>(body: Body) -> Result<(T, Trail), CheckError> {
    let blank = matches!(&body, Ok(b) if b.iter().all(u8::is_ascii_whitespace));
    let mut value = if blank {
        Value::Object(Map::new())
    } else {
        parse::<Value>(body)?
    };
    let Some(fields) = value.as_object_mut() else {
        return Err(bad("request body: expected a JSON object".to_owned()));
    };
    let trail = Trail {
        actor: take(fields, "actor")?,
        reason: take(fields, "reason")?,
        source: take::<Option<Source>>(fields, "source")?.unwrap_or(Source::Api),
    };
    let own = serde_json::from_value(value).map_err(|e| bad(format!("request body: {e}")))?;
    Ok((own, trail))
}

/// `{key: flag}` for a moderation call on the path's ids, made with the body's trail
/// and awaited (the log write is the sequencer thread's, not the runtime's).
pub(super) async fn trailed_flag<T: DeserializeOwned, X>(
    e: &Engine,
    path: Result<Path<T>, PathRejection>,
    kinds: impl Fn(&T) -> Vec<(IdKind, &str)>,
    body: Body,
    key: &str,
    call: impl FnOnce(Submit<'_>, &T) -> Ticket<X>,
    flag: fn(X) -> bool,
) -> Response {
    let made = async {
        let id = ids(e, path, kinds)?;
        let (NoFields {}, trail) = trailed(body)?;
        let ticket = call(e.submit().with_trail(&trail), &id);
        Ok::<_, CheckError>(json!({ key: flag(ticket.await?) }))
    };
    answer(made.await)
}

/// A trail as JSON (inside a listing's entry).
pub(super) fn trail_json(trail: &Trail) -> Value {
    json!({ "actor": trail.actor, "reason": trail.reason, "source": trail.source })
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;

    fn body(s: &str) -> Body {
        Ok(Bytes::from(s.to_owned()))
    }

    #[derive(Deserialize, Debug, Default)]
    #[serde(deny_unknown_fields)]
    struct Own {
        duration_ms: Option<u64>,
    }

    #[test]
    fn a_body_gives_its_own_fields_and_its_trail() {
        let (own, trail): (Own, Trail) = trailed(body(
            r#"{"duration_ms": 5, "actor": "m", "reason": "spam", "source": "automatic"}"#,
        ))
        .unwrap();
        assert_eq!(own.duration_ms, Some(5));
        assert_eq!(
            trail,
            Trail::by("m").reason("spam").source(Source::Automatic)
        );
        let (own, trail): (Own, Trail) = trailed(body("  ")).unwrap();
        assert_eq!((own.duration_ms, trail), (None, Trail::new(Source::Api)));
        let err = |s: &str| match trailed::<Own>(body(s)) {
            Err(CheckError::BadRequest(_, m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(err(r#"{"source": "robot"}"#).contains("robot"));
        assert!(err(r#"{"colour": 1}"#).contains("colour"));
        assert!(err(r#"{"reason": 7}"#).contains("reason"));
        assert!(err("[1]").contains("object"));
    }
}
