//! `GET /healthz` (the process answers) and `GET /readyz` (the store takes writes and,
//! on a replicated node, the node has caught up with the stream).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mutegate::{Engine, Health};
use serde_json::json;

/// What readiness asks of replication: `None` for a node that does not replicate.
#[derive(Clone, Copy, Debug)]
pub struct Readiness {
    pub max_behind: Option<u64>,
}

/// Why `health` is not ready, if it is not.
pub fn problems(health: &Health, readiness: Readiness) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(stopped) = &health.stopped {
        problems.push(format!("the store takes no writes: {stopped}"));
    }
    if let Some(max_behind) = readiness.max_behind {
        match &health.stream {
            None => problems.push("replication: no position in the stream yet".to_owned()),
            Some(s) if s.behind_entries > max_behind => problems.push(format!(
                "replication: {} entries behind the stream, over replication.ready_max_behind = {max_behind}",
                s.behind_entries
            )),
            Some(_) => {}
        }
    }
    problems
}

/// The two probe routes over `engine`.
pub fn routes(engine: Arc<Engine>, readiness: Readiness) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route(
            "/readyz",
            get(move || {
                let problems = problems(&engine.health(), readiness);
                async move { ready(problems) }
            }),
        )
}

fn ready(problems: Vec<String>) -> Response {
    if problems.is_empty() {
        Json(json!({ "status": "ready" })).into_response()
    } else {
        let body = json!({ "status": "not ready", "problems": problems });
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use mutegate::{Error, StreamHealth};

    use super::*;

    #[test]
    fn ready_means_writable_and_caught_up() {
        let alone = Readiness { max_behind: None };
        let replicated = Readiness {
            max_behind: Some(10),
        };
        let mut health = Health::default();
        assert!(problems(&health, alone).is_empty());
        assert_eq!(
            problems(&health, replicated),
            ["replication: no position in the stream yet"]
        );
        let mut stream = StreamHealth::default();
        stream.behind_entries = 10;
        health.stream = Some(stream.clone());
        assert!(problems(&health, replicated).is_empty());
        stream.behind_entries = 11;
        health.stream = Some(stream);
        assert!(problems(&health, replicated)[0].contains("11 entries behind"));
        health.stopped = Some(Error::Unavailable {
            what: "gone".into(),
        });
        assert!(problems(&health, alone)[0].starts_with("the store takes no writes"));
    }
}
