//! Where the state lives: in memory, a durable store, or replication through Redis,
//! from the `[store]` and `[replication]` tables.

use mutegate::{Replication, SyncPolicy};

use super::file::{ReplicationTable, StoreTable};
use super::{ConfigError, Storage, bad, positive, secret};

fn sync_policy(text: &str) -> Result<SyncPolicy, ConfigError> {
    match text {
        "every-write" => Ok(SyncPolicy::EveryWrite),
        "never" => Ok(SyncPolicy::Never),
        other => positive("store.sync", other)
            .map(SyncPolicy::Every)
            .map_err(|_| {
                bad(
                    "store.sync",
                    format!(
                        "{other:?} is not \"every-write\", \"never\" or a duration such as \"10ms\""
                    ),
                )
            }),
    }
}

pub(super) fn storage(
    store: StoreTable,
    replication: Option<ReplicationTable>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Storage, ConfigError> {
    let sync = match &store.sync {
        Some(text) => sync_policy(text)?,
        None => SyncPolicy::default(),
    };
    let Some(r) = replication else {
        return Ok(match store.dir {
            Some(dir) => Storage::Durable { dir, sync },
            None => Storage::Memory,
        });
    };
    if store.dir.is_some() {
        return Err(bad(
            "store.dir",
            "cannot be set with [replication]: a replicated node keeps its own copy in replication.local_state",
        ));
    }
    let url = secret(env, "replication.url", r.url)?.ok_or_else(|| {
        bad(
            "replication.url",
            "is missing (set it, or MUTEGATE_REPLICATION_URL)",
        )
    })?;
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err(bad(
            "replication.url",
            "must start with redis:// or rediss://",
        ));
    }
    let mut rep = Replication::new(url);
    if let Some(stream) = r.stream {
        if stream.is_empty() {
            return Err(bad("replication.stream", "is empty"));
        }
        rep = rep.stream(stream);
    }
    if let Some(path) = r.tls_root_certificate {
        let pem = std::fs::read(&path).map_err(|e| {
            bad(
                "replication.tls_root_certificate",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        rep = rep.tls_root_certificate(pem);
    }
    if let Some(dir) = r.local_state {
        rep = rep.local_state(dir);
    }
    if let Some(t) = r.timeout {
        rep = rep.timeout(positive("replication.timeout", &t)?);
    }
    if let Some(t) = r.apply_timeout {
        rep = rep.apply_timeout(positive("replication.apply_timeout", &t)?);
    }
    if r.snapshot_every.is_some() || r.snapshot_interval.is_some() {
        let entries = r
            .snapshot_every
            .unwrap_or(Replication::DEFAULT_SNAPSHOT_EVERY);
        if entries == 0 {
            return Err(bad("replication.snapshot_every", "must be at least 1"));
        }
        let interval = match r.snapshot_interval {
            Some(t) => positive("replication.snapshot_interval", &t)?,
            None => Replication::DEFAULT_SNAPSHOT_INTERVAL,
        };
        rep = rep.snapshot_every(entries, interval);
    }
    if let Some(p) = r.pipeline {
        if !(1..=8).contains(&p) {
            return Err(bad(
                "replication.pipeline",
                format!("{p} is not from 1 to 8"),
            ));
        }
        rep = rep.pipeline(p);
    }
    Ok(Storage::Replicated {
        replication: Box::new(rep),
        ready_max_behind: r.ready_max_behind,
    })
}
