//! `POST /nimserver/msg/sendMsg.action` as an admission check: a NetEase client asks to
//! send, and mutegate answers as NetEase would, code 423 for a sender the engine
//! refuses and code 200 otherwise. **mutegate does not deliver messages**: a 200 says
//! only that the sender may send; the server that delivers is the caller's. Nothing
//! changes: slow mode is reported, not counted (the engine's `check_send`).
//!
//! Form fields as NetEase documents them: `from` (the sender's accid, at most 32
//! characters), `ope` (`0` a peer-to-peer message to accid `to`, `1` a team message to
//! team id `to`), `to`, `type` (`0` text, `1` image, `2` voice, `3` video, `4`
//! location, `6` file, `10` tips, `100` custom) and `body` (the message as JSON, at
//! most 5,000 characters). Other fields (`option`, `pushcontent`, `payload`, `ext`, ...)
//! are accepted and ignored.
//!
//! A sender muted in the P2P module (`ope=0`) or the team module (`ope=1`) gets 423; so
//! does a team message refused by the team's rules (the sender's member mute, or a
//! mute-all). The sender is checked as an ordinary member (the form carries no role:
//! NetEase's team owner and admins, who may speak through a mute-all, are the
//! embedder's to check with `/v1/can_send` and its `role`). The answer's `desc` names
//! the rule and its end.
//! A 200 carries `data: {msgid, timetag, antispam}` as NetEase's does; `msgid` counts up
//! from 1 in this process and names no stored message.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{
    Directory, NeteaseError, Signed, accid_param, form_pairs, known_accid, read_body, shown,
};
use crate::Target;
use crate::http::admission::Admitted;

/// NetEase's limit on `body`, in characters.
const MAX_BODY_CHARS: usize = 5000;
/// The message types NetEase's `type` takes.
const TYPES: [u32; 8] = [0, 1, 2, 3, 4, 6, 10, 100];

/// The ids this process has answered 200 with.
static MSG_IDS: AtomicU64 = AtomicU64::new(0);

/// The fields the check reads, each given at most once.
#[derive(Default)]
struct SendForm {
    from: Option<String>,
    ope: Option<String>,
    to: Option<String>,
    kind: Option<String>,
    body: Option<String>,
}

fn parse(body: &[u8]) -> Result<SendForm, NeteaseError> {
    let mut form = SendForm::default();
    for (name, value) in form_pairs(body)? {
        let slot = match name.as_str() {
            "from" => &mut form.from,
            "ope" => &mut form.ope,
            "to" => &mut form.to,
            "type" => &mut form.kind,
            "body" => &mut form.body,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(NeteaseError::param(format!(
                "parameter {name} is given twice"
            )));
        }
    }
    Ok(form)
}

fn required(name: &str, value: Option<String>) -> Result<String, NeteaseError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| NeteaseError::param(format!("missing required parameter: {name}")))
}

/// Whether a message goes to a peer or to a team.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ope {
    P2p,
    Team,
}

/// The checked call: who sends where.
#[derive(Debug)]
struct Send {
    from: String,
    ope: Ope,
    to: String,
}

fn check(form: SendForm) -> Result<Send, NeteaseError> {
    let from = accid_param("from", form.from)?;
    let ope = match required("ope", form.ope)?.as_str() {
        "0" => Ope::P2p,
        "1" => Ope::Team,
        other => {
            return Err(NeteaseError::param(format!(
                "parameter ope must be 0 (peer to peer) or 1 (team), not {:?}",
                shown(other)
            )));
        }
    };
    let to = match ope {
        Ope::P2p => accid_param("to", form.to)?,
        Ope::Team => required("to", form.to)?,
    };
    let kind = required("type", form.kind)?;
    if !kind.parse().is_ok_and(|t: u32| TYPES.contains(&t)) {
        return Err(NeteaseError::param(format!(
            "parameter type must be one of {TYPES:?}, not {:?}",
            shown(&kind)
        )));
    }
    let body = required("body", form.body)?;
    let chars = body.chars().count();
    if chars > MAX_BODY_CHARS {
        return Err(NeteaseError::param(format!(
            "body is {chars} characters, over the limit of {MAX_BODY_CHARS}"
        )));
    }
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&body) {
        return Err(NeteaseError::param(format!("body is not JSON: {e}")));
    }
    Ok(Send { from, ope, to })
}

pub(super) async fn send_msg<D: Directory>(
    Admitted(Signed { shared }): Admitted<Signed<D>>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let run = async {
        let send = check(parse(&read_body(body)?)?)?;
        known_accid(&shared, &send.from).await?;
        let target = match send.ope {
            Ope::P2p => {
                known_accid(&shared, &send.to).await?;
                Target::p2p(&send.to)
            }
            Ope::Team => {
                if !shared.directory.room_exists(&send.to).await {
                    return Err(NeteaseError::new(
                        404,
                        format!("team {:?} does not exist", shown(&send.to)),
                    ));
                }
                Target::team(&send.to)
            }
        };
        if let Err(denied) = shared.engine.check_send(&send.from, target) {
            return Err(NeteaseError::new(
                423,
                format!("{} is muted: {denied}", shown(&send.from)),
            ));
        }
        let msgid = MSG_IDS.fetch_add(1, Ordering::Relaxed) + 1;
        let data = json!({ "msgid": msgid, "timetag": shared.engine.now_ms(), "antispam": false });
        Ok(Json(json!({ "code": 200, "data": data })).into_response())
    };
    run.await.unwrap_or_else(Response::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(form: &str) -> Result<Send, String> {
        parse(form.as_bytes())
            .and_then(check)
            .map_err(|e| format!("{} {}", e.code, e.desc))
    }

    #[test]
    fn the_documented_fields_are_checked_and_named() {
        let ok =
            checked("from=a&ope=1&to=t1&type=0&body=%7B%22msg%22%3A%22hi%22%7D&option=x").unwrap();
        assert_eq!(
            (ok.from.as_str(), ok.ope, ok.to.as_str()),
            ("a", Ope::Team, "t1")
        );
        let cases = [
            ("ope=0&to=b&type=0&body={}", "from"),
            ("from=a&to=b&type=0&body={}", "ope"),
            ("from=a&ope=2&to=b&type=0&body={}", "ope"),
            ("from=a&ope=0&type=0&body={}", "to"),
            ("from=a&ope=0&to=b&body={}", "type"),
            ("from=a&ope=0&to=b&type=5&body={}", "type"),
            ("from=a&ope=0&to=b&type=0", "body"),
            ("from=a&ope=0&to=b&type=0&body=hi", "body is not JSON"),
            (
                "from=a&from=b&ope=0&to=b&type=0&body={}",
                "from is given twice",
            ),
        ];
        for (form, named) in cases {
            let e = checked(form)
                .err()
                .unwrap_or_else(|| panic!("{form} passed"));
            assert!(e.starts_with("414 ") && e.contains(named), "{form}: {e}");
        }
        let long = format!("from={}&ope=0&to=b&type=0&body={{}}", "x".repeat(33));
        assert!(
            checked(&long)
                .unwrap_err()
                .contains("from is 33 characters")
        );
    }
}
