//! NetEase Yunxin module mutes: seed 003, `POST /nimserver/user/muteModule.action`;
//! and the admission check beside it, `POST /nimserver/msg/sendMsg.action` ([`send`]).
//!
//! Calls are signed: `CheckSum` is the lowercase hex SHA-1 of `AppSecret + Nonce +
//! CurTime`, and `CurTime` (Unix seconds) must be within five minutes of the server's
//! clock. Results and errors are `{"code":..,...}` bodies. As NetEase's server API does,
//! the HTTP status is 200 and the outcome is the body's `code` (200, or 414 for a bad
//! parameter or signature, 416 for the rate limit); that is what existing NetEase clients
//! read. The seed leaves the signature's failures out; NetEase's public docs answer a
//! failed checksum or an illegal `CurTime` with 414.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use sha1::{Digest, Sha1};

use super::admission::{Admission, Admitted};
use super::config::NeteaseApp;
use super::{Directory, Shared, auth, body_problem, is_internal, shown};
use crate::{Error, Module, ModuleChange, ModuleStatus};

mod send;

/// NetEase's limit on `accid`, in characters.
const MAX_ACCID_CHARS: usize = 32;
/// NetEase's limit on `Nonce`, in characters.
const MAX_NONCE_CHARS: usize = 128;

pub(crate) fn routes<D: Directory>() -> Router<Arc<Shared<D>>> {
    Router::new()
        .route("/nimserver/user/muteModule.action", post(mute_module::<D>))
        // The seed's own curl example doubles the prefix; answer it there too.
        .route(
            "/nimserver/nimserver/user/muteModule.action",
            post(mute_module::<D>),
        )
        .route("/nimserver/msg/sendMsg.action", post(send::send_msg::<D>))
}

/// A NetEase failure: `{"code": code, "desc": desc}`.
#[derive(Debug)]
pub(crate) struct NeteaseError {
    code: u16,
    desc: String,
}

impl NeteaseError {
    pub(crate) fn new(code: u16, desc: impl Into<String>) -> Self {
        NeteaseError {
            code,
            desc: desc.into(),
        }
    }

    /// 414: a missing, malformed or unsigned parameter.
    fn param(desc: impl Into<String>) -> Self {
        NeteaseError::new(414, desc)
    }
}

impl From<NeteaseError> for Response {
    fn from(e: NeteaseError) -> Response {
        Json(json!({ "code": e.code, "desc": e.desc })).into_response()
    }
}

impl From<Error> for NeteaseError {
    fn from(e: Error) -> Self {
        match e {
            Error::NoModuleGiven => NeteaseError::param("missing required parameter"),
            e if is_internal(&e) => NeteaseError::new(500, e.to_string()),
            e => NeteaseError::param(e.to_string()),
        }
    }
}

/// The lowercase hex SHA-1 of `secret + nonce + cur_time`.
fn checksum(secret: &str, nonce: &str, cur_time: &str) -> String {
    let digest = Sha1::new()
        .chain_update(secret)
        .chain_update(nonce)
        .chain_update(cur_time)
        .finalize();
    crate::hex::lower(&digest)
}

/// The app whose signature the headers carry, checked in full: known `AppKey`, `Nonce`
/// present, `CurTime` within the allowed skew, `CheckSum` equal (in constant time).
fn verify<'c, D>(
    shared: &'c Shared<D>,
    headers: &HeaderMap,
) -> Result<&'c NeteaseApp, NeteaseError> {
    let config = shared
        .config
        .netease
        .as_ref()
        .ok_or_else(|| NeteaseError::new(404, "not served"))?;
    let get = |name: &str| {
        auth::header(headers, name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| NeteaseError::param(format!("missing header {name}")))
    };
    let (key, nonce, cur_time, sum) = (
        get("AppKey")?,
        get("Nonce")?,
        get("CurTime")?,
        get("CheckSum")?,
    );
    if nonce.chars().count() > MAX_NONCE_CHARS {
        return Err(NeteaseError::param(format!(
            "Nonce is over {MAX_NONCE_CHARS} characters"
        )));
    }
    let sent: u64 = cur_time.parse().map_err(|_| {
        NeteaseError::param(format!("CurTime {:?} is not Unix seconds", shown(cur_time)))
    })?;
    let now = shared.engine.now_ms() / 1000;
    let skew = config.max_clock_skew.as_secs();
    if sent.abs_diff(now) > skew {
        return Err(NeteaseError::param(format!(
            "CurTime is illegal: {sent} is more than {skew} s from the server's time"
        )));
    }
    let app = config.apps.iter().find(|a| a.app_key == key);
    // An unknown AppKey still costs one checksum, and gets the same answer as a bad one.
    let secret = app.map_or("", |a| a.app_secret.expose());
    let expected = checksum(secret, nonce, cur_time);
    let good = auth::equal(expected.as_bytes(), sum.to_ascii_lowercase().as_bytes());
    match app {
        Some(app) if good => Ok(app),
        _ => Err(NeteaseError::param("AppKey or CheckSum is invalid")),
    }
}

/// The body's fields, each at most once.
#[derive(Default)]
struct Form {
    accid: Option<String>,
    flags: [Option<bool>; 4],
}

const FLAG_NAMES: [&str; 4] = ["muteP2P", "muteTeam", "muteRoom", "muteQChat"];

/// A form body's fields, in order, each name and value text.
fn form_pairs(body: &[u8]) -> Result<Vec<(String, String)>, NeteaseError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| NeteaseError::param(format!("body is not a form: {e}")))?;
    for (name, value) in &pairs {
        // The form decoder replaces bytes that are not UTF-8 with U+FFFD: refuse them
        // rather than act on a mangled id.
        if name.contains(char::REPLACEMENT_CHARACTER) || value.contains(char::REPLACEMENT_CHARACTER)
        {
            return Err(NeteaseError::param(format!(
                "parameter {name:?} is not valid UTF-8: body is not a form of text"
            )));
        }
    }
    Ok(pairs)
}

/// A body that could not be read, as NetEase answers it.
fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, NeteaseError> {
    body.map_err(|e| NeteaseError::param(body_problem(&e).1))
}

/// An `accid`-like parameter: present, not empty, at most 32 characters.
fn accid_param(name: &str, value: Option<String>) -> Result<String, NeteaseError> {
    let value = value
        .filter(|a| !a.is_empty())
        .ok_or_else(|| NeteaseError::param(format!("missing required parameter: {name}")))?;
    let chars = value.chars().count();
    if chars > MAX_ACCID_CHARS {
        return Err(NeteaseError::param(format!(
            "{name} is {chars} characters, over the limit of {MAX_ACCID_CHARS}"
        )));
    }
    Ok(value)
}

/// 404 unless the directory knows `accid`.
async fn known_accid<D: Directory>(shared: &Shared<D>, accid: &str) -> Result<(), NeteaseError> {
    if shared.directory.client(accid).await.is_none() {
        return Err(NeteaseError::new(
            404,
            format!("accid {:?} does not exist", shown(accid)),
        ));
    }
    Ok(())
}

fn parse_form(body: &[u8]) -> Result<Form, NeteaseError> {
    let mut form = Form::default();
    for (name, value) in form_pairs(body)? {
        let twice = || NeteaseError::param(format!("parameter {name} is given twice"));
        if name == "accid" {
            if form.accid.replace(value).is_some() {
                return Err(twice());
            }
        } else if let Some(i) = FLAG_NAMES.iter().position(|f| *f == name) {
            let flag = if value.eq_ignore_ascii_case("true") {
                true
            } else if value.eq_ignore_ascii_case("false") {
                false
            } else {
                return Err(NeteaseError::param(format!(
                    "parameter {name} must be true or false, not {:?}",
                    shown(&value)
                )));
            };
            if form.flags[i].replace(flag).is_some() {
                return Err(twice());
            }
        }
        // Other parameters are ignored, as NetEase does.
    }
    Ok(form)
}

fn status_json(status: &ModuleStatus) -> serde_json::Value {
    let muted = |m| status.is_muted(m);
    json!({
        "muteP2P": muted(Module::P2p),
        "muteTeam": muted(Module::Team),
        "muteRoom": muted(Module::Room),
        "muteQChat": muted(Module::QChat),
    })
}

/// A call whose signature holds and whose app is under its rate. Extracted before the
/// body is read.
struct Signed<D> {
    shared: Arc<Shared<D>>,
}

impl<D: Directory> Admission<D> for Signed<D> {
    /// The app's key.
    type Caller = String;
    type Refusal = NeteaseError;

    async fn authenticate(
        parts: &mut Parts,
        shared: &Arc<Shared<D>>,
    ) -> Result<String, NeteaseError> {
        verify(shared, &parts.headers).map(|app| app.app_key.clone())
    }

    fn within_rate(app_key: &String, shared: &Shared<D>) -> Result<(), NeteaseError> {
        let admitted = shared
            .netease_limits
            .get(app_key)
            .is_some_and(|l| l.admit());
        if admitted {
            Ok(())
        } else {
            Err(NeteaseError::new(
                416,
                "api frequency control: over the app's calls per second; refused for a while",
            ))
        }
    }

    async fn admit(
        _: String,
        _: &mut Parts,
        shared: &Arc<Shared<D>>,
    ) -> Result<Self, NeteaseError> {
        Ok(Signed {
            shared: Arc::clone(shared),
        })
    }

    fn refuse(refusal: NeteaseError, _: &Shared<D>) -> Response {
        refusal.into()
    }
}

async fn mute_module<D: Directory>(
    Admitted(Signed { shared }): Admitted<Signed<D>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let run = async {
        let form = parse_form(&read_body(body)?)?;
        let accid = accid_param("accid", form.accid)?;
        let [p2p, team, room, qchat] = form.flags;
        if form.flags.iter().all(Option::is_none) {
            return Err(NeteaseError::param("missing required parameter"));
        }
        known_accid(&shared, &accid).await?;
        let change = ModuleChange {
            p2p,
            team,
            room,
            qchat,
            ..ModuleChange::default()
        };
        let status = shared
            .engine
            .submit()
            .set_module_mutes(&accid, change)
            .await?;
        Ok(Json(json!({ "code": 200, "data": status_json(&status) })).into_response())
    };
    run.await.unwrap_or_else(Response::from)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{io_error, parts};
    use super::*;

    #[test]
    fn storage_failures_are_code_500() {
        let (status, body) = parts(NeteaseError::from(io_error()).into());
        assert_eq!(status, 200);
        assert_eq!(body["code"], 500);
        assert!(body["desc"].as_str().unwrap().contains("No space left"));
    }

    #[test]
    fn checksum_is_lowercase_hex_sha1_of_the_concatenation() {
        // sha1("abc") is a published test vector.
        assert_eq!(
            checksum("a", "b", "c"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(checksum("", "", "").len(), 40);
    }

    #[test]
    fn form_fields_are_parsed_strictly() {
        let f = parse_form(b"accid=123123&muteP2P=true&muteTeam=FALSE&other=1").unwrap();
        assert_eq!(f.accid.as_deref(), Some("123123"));
        assert_eq!(f.flags, [Some(true), Some(false), None, None]);
        assert!(parse_form(b"accid=a&muteRoom=yes").is_err());
        assert!(parse_form(b"accid=a&accid=b").is_err());
        assert!(parse_form(b"muteQChat=true&muteQChat=false").is_err());
        assert!(parse_form(b"accid=%FF&muteP2P=true").is_err());
        assert!(parse_form(b"accid=a&mute%FF=true").is_err());
        assert_eq!(
            parse_form(b"accid=%C3%A9").unwrap().accid.as_deref(),
            Some("é")
        );
    }
}
