//! Agora's chat room allow list: add, remove, list, and the one-member lookup.

use axum::response::Response;
use serde_json::{Value, json};

use super::super::Directory;
use serde::Deserialize;

use super::{AgoraError, Body, Call, Data, check_known, check_users, once_each, parse_json};
use crate::http::admission::Admitted;

#[derive(Deserialize)]
struct UsersBody {
    usernames: Vec<String>,
}

/// One allow-list entry of a response.
fn allow_entry(room: &str, user: &str, action: &str) -> Value {
    json!({ "result": true, "action": action, "user": user, "chatroomid": room })
}

/// Adds users to the allow list; the answer lists each.
async fn add_allowed<D: Directory>(
    call: &Call<D>,
    users: &[String],
) -> Result<Vec<Value>, AgoraError> {
    check_known(&call.shared, users).await?;
    call.engine().submit().allow(&call.room, users).await?;
    Ok(users
        .iter()
        .map(|u| allow_entry(&call.room, u, "add_user_whitelist"))
        .collect())
}

/// `POST .../white/users` `{"usernames": [..]}`: add up to 60 users to the allow list.
pub(super) async fn allow_many<D: Directory>(
    Admitted(call): Admitted<Call<D>>,
    body: Body,
) -> Response {
    let outcome = async {
        let UsersBody { usernames } = parse_json(body)?;
        check_users(&usernames)?;
        let usernames = once_each(usernames);
        Ok(Value::Array(add_allowed(&call, &usernames).await?).into())
    };
    call.respond(outcome.await)
}

/// `POST .../white/users/{username}`: add one user; `data` is that user's entry.
pub(super) async fn allow_one<D: Directory>(Admitted(call): Admitted<Call<D>>) -> Response {
    let outcome = async {
        let user = call.member()?;
        Ok(add_allowed(&call, &[user]).await?.swap_remove(0).into())
    };
    call.respond(outcome.await)
}

/// `DELETE .../white/users/{members}`: remove up to 60 users from the allow list
/// (unknown users are refused, as adding them is).
pub(super) async fn disallow<D: Directory>(Admitted(call): Admitted<Call<D>>) -> Response {
    let outcome = async {
        let users = call.members()?;
        check_known(&call.shared, &users).await?;
        call.engine().submit().disallow(&call.room, &users).await?;
        let data = users
            .iter()
            .map(|u| allow_entry(&call.room, u, "remove_user_whitelist"));
        Ok(Value::Array(data.collect()).into())
    };
    call.respond(outcome.await)
}

/// `GET .../white/users`: the allow list, sorted, and its size.
pub(super) async fn allow_list<D: Directory>(Admitted(call): Admitted<Call<D>>) -> Response {
    let users = call.engine().allow_list(&call.room);
    let count = users.len();
    call.respond(Ok(Data(json!(users), Some(count))))
}

/// `GET .../white/users/{username}`: whether one user is on the allow list. `data` is
/// `{"user", "white"}`.
pub(super) async fn is_allowed<D: Directory>(Admitted(call): Admitted<Call<D>>) -> Response {
    let outcome = async {
        let user = call.member()?;
        check_known(&call.shared, std::slice::from_ref(&user)).await?;
        let white = call.engine().is_allowed(&call.room, &user);
        Ok(json!({ "user": user, "white": white }).into())
    };
    call.respond(outcome.await)
}
