//! Agora's mute list and mute-all: mute, unmute, list, the one-member lookup, ban and
//! unban.

use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::{Directory, end_ms};
use super::{AgoraError, Body, Call, check_known, check_users, duration, once_each, parse_json};
use crate::http::admission::Admitted;

#[derive(Deserialize)]
struct MuteBody {
    mute_duration: i64,
    usernames: Vec<String>,
}

/// `POST .../mute`: mute members for `mute_duration` ms (`-1` for good, `0` lifts).
pub(super) async fn mute<D: Directory>(Admitted(call): Admitted<Call<D>>, body: Body) -> Response {
    let outcome = async {
        let MuteBody {
            mute_duration,
            usernames,
        } = parse_json(body)?;
        check_users(&usernames)?;
        let usernames = once_each(usernames);
        let duration = duration(mute_duration, call.engine().now_ms())?;
        check_known(&call.shared, &usernames).await?;
        let expire = match duration {
            Some(d) => end_ms(
                call.engine()
                    .submit()
                    .mute_members(&call.room, &usernames, d)
                    .await?,
            ),
            None => {
                call.engine()
                    .submit()
                    .unmute_members(&call.room, &usernames)
                    .await?;
                0
            }
        };
        let data = usernames
            .iter()
            .map(|u| json!({ "result": true, "expire": expire, "user": u }));
        Ok(Value::Array(data.collect()).into())
    };
    call.respond(outcome.await)
}

/// `DELETE .../mute/{members}`: lift the members' mutes. Users the directory does not
/// know are refused (404), as muting them is.
pub(super) async fn unmute<D: Directory>(Admitted(call): Admitted<Call<D>>) -> Response {
    let outcome = async {
        let users = call.members()?;
        check_known(&call.shared, &users).await?;
        call.engine()
            .submit()
            .unmute_members(&call.room, &users)
            .await?;
        let data = users.iter().map(|u| json!({ "result": true, "user": u }));
        Ok(Value::Array(data.collect()).into())
    };
    call.respond(outcome.await)
}

/// `GET .../mute`: the muted members and when each mute ends.
pub(super) async fn list_muted<D: Directory>(Admitted(call): Admitted<Call<D>>) -> Response {
    let data = call.engine().muted_members(&call.room).into_iter();
    let data = data.map(|m| json!({ "expire": end_ms(m.expiry), "user": m.user }));
    call.respond(Ok(Value::Array(data.collect()).into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BanBody {
    #[serde(default = "forever")]
    mute_duration: i64,
}

fn forever() -> i64 {
    -1
}

/// `POST .../ban`: mute the whole room (only the allow list may speak). The vendor's
/// docs give this call no body; mutegate takes an empty one or `null` (no end) or
/// `{"mute_duration": ms}` with the member mute's meaning (`-1` no end, milliseconds),
/// and refuses a body that does not parse. `0` is refused: `DELETE .../ban` lifts.
pub(super) async fn ban<D: Directory>(Admitted(call): Admitted<Call<D>>, body: Body) -> Response {
    let outcome = async {
        // No body, or JSON `null` (what some clients send where no body is needed).
        let empty = body.as_ref().is_ok_and(|b| {
            let b = b.trim_ascii();
            b.is_empty() || b == b"null"
        });
        let BanBody { mute_duration } = if empty {
            BanBody {
                mute_duration: forever(),
            }
        } else {
            parse_json(body)?
        };
        let Some(duration) = duration(mute_duration, call.engine().now_ms())? else {
            return Err(AgoraError::illegal(
                "mute_duration 0 does not mute: DELETE .../ban lifts a room-wide mute",
            ));
        };
        let until = call
            .engine()
            .submit()
            .mute_room(&call.room, duration)
            .await?;
        // `mute` is what Agora's SDKs read; `result` is the seed's.
        Ok(json!({ "result": true, "expire": end_ms(until), "mute": true }).into())
    };
    call.respond(outcome.await)
}

/// `DELETE .../ban`: lift the room-wide mute.
pub(super) async fn unban<D: Directory>(Admitted(call): Admitted<Call<D>>) -> Response {
    let outcome = call.engine().submit().unmute_room(&call.room).await;
    call.respond(
        outcome
            .map(|_| json!({ "result": true, "mute": false }).into())
            .map_err(AgoraError::from),
    )
}

/// `GET .../mute/{user}` (and `GET /{org}/{app}/sdk/chatrooms/{id}/mute/{user}`, the
/// path Agora's SDKs use): whether one member is on the mute list. `data` is `{"user",
/// "mute", "expire"}`, `expire` as in the list (`-1` no end, `0` when not muted).
pub(super) async fn member_muted<D: Directory>(Admitted(call): Admitted<Call<D>>) -> Response {
    let outcome = async {
        let user = call.member()?;
        check_known(&call.shared, std::slice::from_ref(&user)).await?;
        let muted = call.engine().muted_member(&call.room, &user);
        let expire = muted.as_ref().map_or(0, |m| end_ms(m.expiry));
        Ok(json!({ "user": user, "mute": muted.is_some(), "expire": expire }).into())
    };
    call.respond(outcome.await)
}
