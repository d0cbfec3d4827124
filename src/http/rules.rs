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

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::admission::Admitted;
use super::checks::{Authorized, CheckError, check_ids, parse};
use super::{Directory, MAX_END_MS, Shared, end_ms};
use crate::error::IdKind;
use crate::{Bypass, Engine, Expiry, MuteFor, NotifyLevel, Page, Schedule, Submit, Ticket, Window};

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

pub(super) type Caller<D> = Admitted<Authorized<D>>;
pub(super) type Body = Result<Bytes, BytesRejection>;

/// The path's ids, each held to the engine's rules.
pub(super) fn ids<T: DeserializeOwned>(
    engine: &Engine,
    path: Result<Path<T>, PathRejection>,
    kinds: impl Fn(&T) -> Vec<(IdKind, &str)>,
) -> Result<T, CheckError> {
    let Path(ids) = path.map_err(|e| CheckError::BadRequest(e.status(), e.body_text()))?;
    check_ids(engine, &kinds(&ids))?;
    Ok(ids)
}

#[expect(
    clippy::ptr_arg,
    reason = "the path's own type, as `ids` hands it over"
)]
pub(super) fn user_path(u: &String) -> Vec<(IdKind, &str)> {
    vec![(IdKind::User, u)]
}

pub(super) fn answer(result: Result<Value, CheckError>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into(),
    }
}

/// `{key: flag}` for a call on the path's id that answers a flag (lifted, removed),
/// awaited (the log write is the sequencer thread's, not the runtime's).
pub(super) async fn flag_answer<T: DeserializeOwned>(
    e: &Engine,
    path: Result<Path<T>, PathRejection>,
    kinds: impl Fn(&T) -> Vec<(IdKind, &str)>,
    key: &str,
    call: impl FnOnce(Submit<'_>, &T) -> Ticket<bool>,
) -> Response {
    let made = async {
        let id = ids(e, path, kinds)?;
        let ticket = call(e.submit(), &id);
        Ok::<_, CheckError>(json!({ key: ticket.await? }))
    };
    answer(made.await)
}

pub(super) fn bad(message: String) -> CheckError {
    CheckError::BadRequest(StatusCode::BAD_REQUEST, message)
}

/// A duration in milliseconds (absent: no end).
pub(super) fn duration(ms: Option<u64>) -> MuteFor {
    ms.map_or(MuteFor::Forever, |ms| {
        MuteFor::For(Duration::from_millis(ms))
    })
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Paging {
    after: Option<String>,
    limit: Option<usize>,
}

/// A page's size when the caller names none.
const DEFAULT_PAGE: usize = 100;

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

/// `{"items", "next"}` for a page of a listing of the path's id (checked by `kinds`):
/// `fetch` gets the id, the cursor and the limit, `item` renders each entry.
pub(super) fn page_answer<T>(
    e: &Engine,
    path: Result<Path<String>, PathRejection>,
    kinds: impl Fn(&String) -> Vec<(IdKind, &str)>,
    query: Result<Query<Paging>, QueryRejection>,
    fetch: impl FnOnce(&str, Option<&str>, usize) -> Result<Page<T>, crate::Error>,
    item: impl Fn(&T) -> Value,
) -> Response {
    answer((|| {
        let id = ids(e, path, kinds)?;
        let Query(paging) = query.map_err(|q| bad(q.body_text()))?;
        let page = fetch(
            &id,
            paging.after.as_deref(),
            paging.limit.unwrap_or(DEFAULT_PAGE),
        )?;
        let items: Vec<Value> = page.items.iter().map(item).collect();
        Ok(json!({ "items": items, "next": page.next }))
    })())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DurationBody {
    duration_ms: Option<u64>,
}

/// A body that may be empty (then `T::default()`).
pub(super) fn parse_or_default<T: DeserializeOwned + Default>(body: Body) -> Result<T, CheckError> {
    match body {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(T::default()),
        body => parse(body),
    }
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

#[expect(
    clippy::ptr_arg,
    reason = "the path's own type, as `ids` hands it over"
)]
pub(super) fn room_path(r: &String) -> Vec<(IdKind, &str)> {
    vec![(IdKind::Room, r)]
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
        let (body, trail): (SlowModeBody, _) = super::trail::trailed(body)?;
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
    super::trail::trailed_flag(e, path, room_path, body, "lifted", call, |b| b).await
}
