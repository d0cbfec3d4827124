//! mutegate's own REST for the rules a user or an admin sets: quiet hours, snoozes,
//! bypass rules, sender mutes, a user's level for a room (whose `direct_mentions` keeps
//! `@all` out) and a room's policy for room-wide mentions. Same bearer token, error
//! envelope and body limit as the JSON checks (`/v1/can_send`, `/v1/should_push`).
//!
//! | route | methods | body / answer |
//! |---|---|---|
//! | `/v1/users/{user}/quiet_hours` | `GET`, `PUT`, `DELETE` | `{"zone", "windows": ["mon 22:00-07:00", ..]}` → the user's quiet hours |
//! | `/v1/users/{user}/snooze` | `PUT`, `DELETE` | `{"until": ms}` (`-1`: no end) |
//! | `/v1/users/{user}/bypass` | `PUT` | `{"mentions": bool, "urgent": bool}` |
//! | `/v1/users/{user}/muted_senders` | `GET` | `?after=&limit=` → `{"items": [{"sender", "until"}], "next"}` |
//! | `/v1/users/{user}/muted_senders/{sender}` | `PUT`, `DELETE` | `{"duration_ms"?}` (absent: no end) |
//! | `/v1/users/{user}/rooms/{room}/level` | `GET`, `PUT` | `{"level": "all" \| "mentions_only" \| "direct_mentions" \| "off", "duration_ms"?}` |
//! | `/v1/rooms/{room}/mentions` | `GET`, `PUT` | `{"notify": bool}` |
//! | `/v1/rooms/{room}/slow_mode` | `GET`, `PUT`, `DELETE` | `{"cooldown_ms": n}` (`null` when off); a trail as for moderation (see [`trail`](super::trail)) |
//!
//! The user's quiet hours read back as `{"schedule": {"zone", "windows"} | null,
//! "snoozed_until": ms | -1 | null, "bypass": {"mentions", "urgent"}, "quiet_now"}`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::response::Response;
use axum::routing::{get, put};
use serde::Deserialize;
use serde_json::{Value, json};

use super::admission::Admitted;
use super::calls::{
    Body, Caller, Paging, answer, bad, duration, flag_answer, ids, page_answer, parse_or_default,
    room_path, trailed, trailed_flag, user_path,
};
use super::checks::{Authorized, CheckError, parse};
use super::{Directory, MAX_END_MS, Shared, end_ms};
use crate::error::IdKind;
use crate::{Bypass, Engine, Expiry, NotifyLevel, Schedule, Submit, Window};

pub(crate) fn routes<D: Directory>() -> Router<Arc<Shared<D>>> {
    Router::new()
        .route(
            "/v1/users/{user}/quiet_hours",
            get(quiet_hours::<D>)
                .put(set_quiet_hours::<D>)
                .delete(clear_quiet_hours::<D>),
        )
        .route(
            "/v1/users/{user}/snooze",
            put(snooze::<D>).delete(unsnooze::<D>),
        )
        .route("/v1/users/{user}/bypass", put(bypass::<D>))
        .route("/v1/users/{user}/muted_senders", get(muted_senders::<D>))
        .route(
            "/v1/users/{user}/muted_senders/{sender}",
            put(mute_sender::<D>).delete(unmute_sender::<D>),
        )
        .route(
            "/v1/users/{user}/rooms/{room}/level",
            get(level::<D>).put(set_level::<D>),
        )
        .route(
            "/v1/rooms/{room}/mentions",
            get(mentions::<D>).put(set_mentions::<D>),
        )
        .route(
            "/v1/rooms/{room}/slow_mode",
            get(slow_mode::<D>)
                .put(set_slow_mode::<D>)
                .delete(clear_slow_mode::<D>),
        )
}

fn quiet_json(engine: &Engine, user: &str) -> Value {
    let q = engine.quiet_hours(user);
    let schedule = q.schedule.map(|s| {
        let windows: Vec<String> = s.windows().iter().map(Window::to_string).collect();
        json!({ "zone": s.zone(), "windows": windows })
    });
    json!({
        "schedule": schedule,
        "snoozed_until": q.snoozed_until.map(end_ms),
        "bypass": { "mentions": q.bypass.mentions, "urgent": q.bypass.urgent },
        "quiet_now": engine.is_quiet(user),
    })
}

async fn quiet_hours<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let e = &shared.engine;
    answer(ids(e, path, user_path).map(|u| quiet_json(e, &u)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleBody {
    zone: String,
    windows: Vec<String>,
}

async fn set_quiet_hours<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let e = &shared.engine;
    let made = async {
        let user = ids(e, path, user_path)?;
        let body: ScheduleBody = parse(body)?;
        let windows = body
            .windows
            .iter()
            .map(|w| w.parse::<Window>())
            .collect::<Result<Vec<_>, _>>()?;
        e.submit()
            .set_quiet_hours(&user, Schedule::new(body.zone, windows)?)
            .await?;
        Ok::<_, CheckError>(quiet_json(e, &user))
    };
    answer(made.await)
}

async fn clear_quiet_hours<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let e = &shared.engine;
    let call = |s: Submit<'_>, u: &String| s.clear_quiet_hours(u);
    flag_answer(e, path, user_path, "removed", call).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnoozeBody {
    until: i64,
}

async fn snooze<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let e = &shared.engine;
    let made = async {
        let user = ids(e, path, user_path)?;
        let body: SnoozeBody = parse(body)?;
        let until = match body.until {
            -1 => Expiry::Never,
            ms if (0..=MAX_END_MS as i64).contains(&ms) => Expiry::At(ms as u64),
            ms => {
                return Err(bad(format!(
                    "until {ms} is not -1 (no end) or Unix milliseconds up to {MAX_END_MS}"
                )));
            }
        };
        e.submit().snooze_until(&user, until).await?;
        Ok::<_, CheckError>(quiet_json(e, &user))
    };
    answer(made.await)
}

async fn unsnooze<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let e = &shared.engine;
    let call = |s: Submit<'_>, u: &String| s.unsnooze(u);
    flag_answer(e, path, user_path, "lifted", call).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BypassBody {
    #[serde(default)]
    mentions: bool,
    #[serde(default)]
    urgent: bool,
}

async fn bypass<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let e = &shared.engine;
    let made = async {
        let user = ids(e, path, user_path)?;
        let b: BypassBody = parse(body)?;
        e.submit()
            .set_bypass(
                &user,
                Bypass {
                    mentions: b.mentions,
                    urgent: b.urgent,
                },
            )
            .await?;
        Ok::<_, CheckError>(quiet_json(e, &user))
    };
    answer(made.await)
}

async fn muted_senders<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Paging>, QueryRejection>,
) -> Response {
    let e = &shared.engine;
    page_answer(
        e,
        path,
        user_path,
        query,
        |user, after, limit| e.muted_senders_page(user, after, limit),
        |m| json!({ "sender": m.sender, "until": end_ms(m.expiry) }),
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DurationBody {
    duration_ms: Option<u64>,
}

fn pair_path((u, s): &(String, String)) -> Vec<(IdKind, &str)> {
    vec![(IdKind::User, u), (IdKind::User, s)]
}

async fn mute_sender<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Body,
) -> Response {
    let e = &shared.engine;
    let made = async {
        let (user, sender) = ids(e, path, pair_path)?;
        let body: DurationBody = parse_or_default(body)?;
        let until = e
            .submit()
            .mute_sender(&user, &sender, duration(body.duration_ms))
            .await?;
        Ok::<_, CheckError>(json!({ "sender": sender, "until": end_ms(until) }))
    };
    answer(made.await)
}

async fn unmute_sender<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let e = &shared.engine;
    let call = |s: Submit<'_>, (u, x): &(String, String)| s.unmute_sender(u, x);
    flag_answer(e, path, pair_path, "lifted", call).await
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum LevelName {
    All,
    MentionsOnly,
    DirectMentions,
    Off,
}

impl From<LevelName> for NotifyLevel {
    fn from(l: LevelName) -> NotifyLevel {
        match l {
            LevelName::All => NotifyLevel::All,
            LevelName::MentionsOnly => NotifyLevel::MentionsOnly,
            LevelName::DirectMentions => NotifyLevel::DirectMentions,
            LevelName::Off => NotifyLevel::Off,
        }
    }
}

fn level_name(level: NotifyLevel) -> &'static str {
    match level {
        NotifyLevel::MentionsOnly => "mentions_only",
        NotifyLevel::DirectMentions => "direct_mentions",
        NotifyLevel::Off => "off",
        _ => "all",
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelBody {
    level: LevelName,
    duration_ms: Option<u64>,
}

fn user_room_path((u, r): &(String, String)) -> Vec<(IdKind, &str)> {
    vec![(IdKind::User, u), (IdKind::Room, r)]
}

fn level_json(e: &Engine, user: &str, room: &str) -> Value {
    let setting = e
        .notification_settings(user)
        .into_iter()
        .find(|s| s.room == room);
    json!({
        "level": level_name(e.notification_level(user, room)),
        "until": setting.map_or(-1, |s| end_ms(s.expiry)),
    })
}

async fn level<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let e = &shared.engine;
    answer(ids(e, path, user_room_path).map(|(u, r)| level_json(e, &u, &r)))
}

async fn set_level<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Body,
) -> Response {
    let e = &shared.engine;
    let made = async {
        let (user, room) = ids(e, path, user_room_path)?;
        let body: LevelBody = parse(body)?;
        e.submit()
            .set_notification_level(&user, &room, body.level.into(), duration(body.duration_ms))
            .await?;
        Ok::<_, CheckError>(level_json(e, &user, &room))
    };
    answer(made.await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MentionsBody {
    notify: bool,
}

async fn mentions<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let e = &shared.engine;
    answer(ids(e, path, room_path).map(|r| json!({ "notify": e.room_mentions(&r) })))
}

async fn set_mentions<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let e = &shared.engine;
    let made = async {
        let room = ids(e, path, room_path)?;
        let body: MentionsBody = parse(body)?;
        e.submit().set_room_mentions(&room, body.notify).await?;
        Ok::<_, CheckError>(json!({ "notify": e.room_mentions(&room) }))
    };
    answer(made.await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlowModeBody {
    cooldown_ms: u64,
}

fn slow_json(e: &Engine, room: &str) -> Value {
    let cooldown = e.slow_mode(room).map(|d| d.as_millis() as u64);
    json!({ "cooldown_ms": cooldown })
}

async fn slow_mode<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let e = &shared.engine;
    answer(ids(e, path, room_path).map(|r| slow_json(e, &r)))
}

async fn set_slow_mode<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let e = &shared.engine;
    let made = async {
        let room = ids(e, path, room_path)?;
        let (body, trail): (SlowModeBody, _) = trailed(body)?;
        let cooldown = Duration::from_millis(body.cooldown_ms);
        e.submit()
            .with_trail(&trail)
            .set_slow_mode(&room, cooldown)
            .await?;
        Ok::<_, CheckError>(slow_json(e, &room))
    };
    answer(made.await)
}

async fn clear_slow_mode<D: Directory>(
    Admitted(Authorized { shared }): Caller<D>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let e = &shared.engine;
    let call = |s: Submit<'_>, r: &String| s.clear_slow_mode(r);
    trailed_flag(e, path, room_path, body, "lifted", call, |b| b).await
}
