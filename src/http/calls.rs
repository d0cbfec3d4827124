//! What mutegate's own JSON calls share (`rules`, `moderation`, `trail`): the caller and
//! body types, the path's ids checked against the engine's rules, answers and error
//! bodies, paging, and the trail a moderation body carries.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::admission::Admitted;
use super::checks::{Authorized, CheckError, check_ids, parse};
use crate::error::IdKind;
use crate::{Engine, MuteFor, Page, Source, Submit, Ticket, Trail};

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

#[expect(
    clippy::ptr_arg,
    reason = "the path's own type, as `ids` hands it over"
)]
pub(super) fn room_path(r: &String) -> Vec<(IdKind, &str)> {
    vec![(IdKind::Room, r)]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Paging {
    after: Option<String>,
    limit: Option<usize>,
}

/// A page's size when the caller names none.
const DEFAULT_PAGE: usize = 100;

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

/// A body that may be empty (then `T::default()`).
pub(super) fn parse_or_default<T: DeserializeOwned + Default>(body: Body) -> Result<T, CheckError> {
    match body {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(T::default()),
        body => parse(body),
    }
}

pub(super) fn room_user_path((r, u): &(String, String)) -> Vec<(IdKind, &str)> {
    vec![(IdKind::Room, r), (IdKind::User, u)]
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

#[cfg(test)]
mod tests {
    use super::*;

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
