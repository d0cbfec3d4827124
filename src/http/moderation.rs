//! mutegate's own REST for moderators: member, room-wide and module mutes with an
//! optional action scope. Same bearer token, error envelope and body limit as the JSON
//! checks.
//!
//! | route | methods | body / answer |
//! |---|---|---|
//! | `/v1/rooms/{room}/muted_members` | `GET` | `?after=&limit=` → `{"items": [{"user", "until", "actions"}], "next"}` |
//! | `/v1/rooms/{room}/muted_members/{user}` | `GET`, `PUT`, `DELETE` | `{"duration_ms"?, "actions"?}` |
//! | `/v1/rooms/{room}/mute` | `GET`, `PUT`, `DELETE` | `{"duration_ms"?, "actions"?}` |
//! | `/v1/users/{user}/modules/{module}/mute` | `GET`, `PUT`, `DELETE` | `{"duration_ms"?, "actions"?}` |
//! | `/v1/rooms/{room}/strikes/{user}` | `GET`, `POST`, `DELETE` | `POST` strikes: `{"strikes", "until"}`; `GET` `{"strikes"}`; `DELETE` pardons: `{"pardoned": bool}` |
//! | `/v1/rooms/{room}/ladder` | `GET`, `PUT`, `DELETE` | `{"steps_ms": [..], "decay_ms"}`; reads back with `"own": bool` |
//!
//! `actions` is a list of action names (`send_message`, `react`, `edit`, `upload_media`,
//! `start_thread`, `join_voice`); absent, the mute blocks every action. An unknown name
//! or an empty list is a `400` naming what was wrong, and nothing changes. A mute reads
//! back (and `PUT` answers) as `{"muted": bool, "until": ms | -1, "actions": [..]}`;
//! `DELETE` answers `{"lifted": bool}`. `{module}` is `p2p`, `team`, `room` or `qchat`.
//!
//! Every request that changes state here may also carry a trail (`"actor"`, `"reason"`,
//! `"source"`: see [`trail`](super::trail)); a listed member whose mute was made with
//! one shows it as `"trail": {"actor", "reason", "source"}`, as does the member's mute
//! when it reads back.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::admission::Admitted;
use super::calls::{
    Body, Caller, NoFields, Paging, answer, bad, duration, ids, page_answer, room_path,
    room_user_path, trail_json, trailed, trailed_flag, user_path,
};
use super::checks::{Authorized, CheckError};
use super::{Directory, Shared, end_ms};
use crate::{Action, Actions, Engine, Expiry, Ladder, Module, ModuleChange, Submit};

pub(crate) fn routes<D: Directory>() -> Router<Arc<Shared<D>>> {
    Router::new()
        .route("/v1/rooms/{room}/muted_members", get(muted_members::<D>))
        .route(
            "/v1/rooms/{room}/muted_members/{user}",
            get(member::<D>)
                .put(mute_member::<D>)
                .delete(unmute_member::<D>),
        )
        .route(
            "/v1/rooms/{room}/mute",
            get(room::<D>).put(mute_room::<D>).delete(unmute_room::<D>),
        )
        .route(
            "/v1/rooms/{room}/strikes/{user}",
            get(strikes::<D>).post(strike::<D>).delete(pardon::<D>),
        )
        .route(
            "/v1/rooms/{room}/ladder",
            get(ladder::<D>)
                .put(set_ladder::<D>)
                .delete(clear_ladder::<D>),
        )
        .route(
            "/v1/users/{user}/modules/{module}/mute",
            get(module::<D>)
                .put(mute_module::<D>)
                .delete(unmute_module::<D>),
        )
}

/// A mute's duration and scope.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MuteBody {
    duration_ms: Option<u64>,
    actions: Option<Vec<String>>,
}

impl MuteBody {
    /// The scope named (every action if none is): an unknown name is the engine's
    /// typed error, an empty list its [`Error::NoActionGiven`](crate::Error::NoActionGiven).
    fn scope(&self) -> Result<Actions, CheckError> {
        let Some(names) = &self.actions else {
            return Ok(Actions::ALL);
        };
        let actions = names
            .iter()
            .map(|n| n.parse::<Action>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Actions::of(actions))
    }
}

/// How a mute reads back: whether there is one, until when, what it blocks.
fn mute_json(mute: Option<(Expiry, Actions)>) -> Value {
    match mute {
        Some((until, actions)) => json!({
            "muted": true,
            "until": end_ms(until),
            "actions": actions,
        }),
        None => json!({ "muted": false }),
    }
}

/// A module by its name in the path.
fn module_named(name: &str) -> Result<Module, CheckError> {
    Module::ALL
        .into_iter()
        .find(|m| m.to_string() == name)
        .ok_or_else(|| {
            bad(format!(
                "unknown module {name:?} (expected p2p, team, room or qchat)"
            ))
        })
}

async fn muted_members<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Paging>, QueryRejection>,
) -> Response {
    let e = &shared.engine;
    page_answer(
        e,
        path,
        room_path,
        query,
        |room, after, limit| e.muted_members_page(room, after, limit),
        |m| {
            let mut item =
                json!({ "user": m.user, "until": end_ms(m.expiry), "actions": m.actions });
            if let Some(trail) = &m.trail {
                item["trail"] = trail_json(trail);
            }
            item
        },
    )
}

/// A member's mute as it reads back, with its trail if it has one.
fn member_json(e: &Engine, room: &str, user: &str) -> Value {
    let muted = e.muted_member(room, user);
    let mut out = mute_json(muted.as_ref().map(|m| (m.expiry, m.actions)));
    if let Some(trail) = muted.and_then(|m| m.trail) {
        out["trail"] = trail_json(&trail);
    }
    out
}

async fn member<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let e = &shared.engine;
    answer(ids(e, path, room_user_path).map(|(r, u)| member_json(e, &r, &u)))
}

async fn mute_member<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Body,
) -> Response {
    let e = &shared.engine;
    let made = async {
        let (room, user) = ids(e, path, room_user_path)?;
        let (body, trail): (MuteBody, _) = trailed(body)?;
        let until = duration(body.duration_ms);
        let submit = e.submit().with_trail(&trail);
        submit
            .mute_members_scoped(&room, [&user], until, body.scope()?)
            .await?;
        Ok::<_, CheckError>(member_json(e, &room, &user))
    };
    answer(made.await)
}

async fn unmute_member<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Body,
) -> Response {
    let e = &shared.engine;
    let call = |s: Submit<'_>, (r, u): &(String, String)| s.unmute_members(r, [u]);
    trailed_flag(e, path, room_user_path, body, "lifted", call, |n| n > 0).await
}

fn room_json(e: &Engine, room: &str) -> Value {
    mute_json(e.room_mute(room).zip(e.room_mute_actions(room)))
}

async fn room<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let e = &shared.engine;
    answer(ids(e, path, room_path).map(|r| room_json(e, &r)))
}

async fn mute_room<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let e = &shared.engine;
    let made = async {
        let room = ids(e, path, room_path)?;
        let (body, trail): (MuteBody, _) = trailed(body)?;
        let submit = e.submit().with_trail(&trail);
        submit
            .mute_room_scoped(&room, duration(body.duration_ms), body.scope()?)
            .await?;
        Ok::<_, CheckError>(room_json(e, &room))
    };
    answer(made.await)
}

async fn unmute_room<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let e = &shared.engine;
    let call = |s: Submit<'_>, r: &String| s.unmute_room(r);
    trailed_flag(e, path, room_path, body, "lifted", call, |b| b).await
}

/// The user and the module of the path, each checked.
fn user_module(
    e: &Engine,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, Module), CheckError> {
    let (user, module) = ids(e, path, |(u, _)| user_path(u))?;
    Ok((user, module_named(&module)?))
}

fn module_json(e: &Engine, user: &str, module: Module) -> Value {
    let status = e.module_status(user);
    mute_json(status.expiry(module).zip(status.actions(module)))
}

async fn module<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let e = &shared.engine;
    answer(user_module(e, path).map(|(u, m)| module_json(e, &u, m)))
}

async fn mute_module<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Body,
) -> Response {
    let e = &shared.engine;
    let made = async {
        let (user, module) = user_module(e, path)?;
        let (body, trail): (MuteBody, _) = trailed(body)?;
        let change = ModuleChange::new()
            .set(module, true)
            .lasting(duration(body.duration_ms))
            .only(body.scope()?);
        e.submit()
            .with_trail(&trail)
            .set_module_mutes(&user, change)
            .await?;
        Ok::<_, CheckError>(module_json(e, &user, module))
    };
    answer(made.await)
}

async fn unmute_module<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Body,
) -> Response {
    let e = &shared.engine;
    let made = async {
        let (user, module) = user_module(e, path)?;
        let (NoFields {}, trail) = trailed(body)?;
        // Read before the write: a mute another request lifts in between is reported
        // by both (the lift itself is idempotent).
        let was = e.module_status(&user).is_muted(module);
        let change = ModuleChange::new().set(module, false);
        e.submit()
            .with_trail(&trail)
            .set_module_mutes(&user, change)
            .await?;
        Ok::<_, CheckError>(json!({ "lifted": was }))
    };
    answer(made.await)
}

async fn strikes<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let e = &shared.engine;
    answer(ids(e, path, room_user_path).map(|(r, u)| json!({ "strikes": e.strikes(&r, &u) })))
}

async fn strike<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Body,
) -> Response {
    let e = &shared.engine;
    let made = async {
        let (room, user) = ids(e, path, room_user_path)?;
        let (NoFields {}, trail) = trailed(body)?;
        let s = e.submit().with_trail(&trail).strike(&room, &user).await?;
        Ok::<_, CheckError>(json!({ "strikes": s.strikes, "until": end_ms(s.expiry) }))
    };
    answer(made.await)
}

async fn pardon<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Body,
) -> Response {
    let e = &shared.engine;
    let call = |s: Submit<'_>, (r, u): &(String, String)| s.clear_strikes(r, u);
    trailed_flag(e, path, room_user_path, body, "pardoned", call, |b| b).await
}

/// A ladder in a request body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LadderBody {
    steps_ms: Vec<u64>,
    decay_ms: u64,
}

fn ladder_json(e: &Engine, room: &str) -> Value {
    let ladder = e.ladder(room);
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let steps: Vec<u64> = ladder.steps().map(ms).collect();
    json!({
        "steps_ms": steps,
        "decay_ms": ms(ladder.decay()),
        "own": e.has_own_ladder(room),
    })
}

async fn ladder<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let e = &shared.engine;
    answer(ids(e, path, room_path).map(|r| ladder_json(e, &r)))
}

async fn set_ladder<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let e = &shared.engine;
    let made = async {
        let room = ids(e, path, room_path)?;
        let (body, trail): (LadderBody, _) = trailed(body)?;
        let steps = body.steps_ms.iter().map(|&ms| Duration::from_millis(ms));
        let ladder = Ladder::new(steps, Duration::from_millis(body.decay_ms))?;
        e.submit()
            .with_trail(&trail)
            .set_ladder(&room, ladder)
            .await?;
        Ok::<_, CheckError>(ladder_json(e, &room))
    };
    answer(made.await)
}

async fn clear_ladder<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let e = &shared.engine;
    let call = |s: Submit<'_>, r: &String| s.clear_ladder(r);
    trailed_flag(e, path, room_path, body, "cleared", call, |b| b).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_names_its_scope_or_every_action() {
        let body = |actions: Option<&[&str]>| MuteBody {
            duration_ms: None,
            actions: actions.map(|a| a.iter().map(|s| (*s).to_owned()).collect()),
        };
        assert_eq!(body(None).scope().unwrap(), Actions::ALL);
        assert_eq!(
            body(Some(&["react", "edit"])).scope().unwrap(),
            Actions::of([Action::React, Action::Edit])
        );
        assert!(body(Some(&[])).scope().unwrap().is_empty());
        let err = body(Some(&["react", "wave"])).scope().unwrap_err();
        assert!(
            matches!(err, CheckError::Engine(crate::Error::UnknownAction { name }) if name == "wave")
        );
        assert!(module_named("voice").is_err());
        assert_eq!(module_named("qchat").unwrap(), Module::QChat);
    }
}
