//! What the facade serves and whom it lets in: [`Config`] and its per-vendor parts.

use std::fmt;
use std::time::Duration;

/// A credential (API key, token, app secret). Compared in constant time, never printed.
///
/// # Examples
///
/// ```
/// use mutegate::http::Secret;
///
/// let key = Secret::new("s3cret");
/// assert_eq!(format!("{key:?}"), "Secret(***)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The credential's bytes.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<S: Into<String>> From<S> for Secret {
    fn from(value: S) -> Self {
        Secret::new(value)
    }
}

/// The whole facade. A vendor left at `None` is not served: its routes answer 404.
///
/// # Examples
///
/// ```
/// use mutegate::http::{Config, ImkitConfig};
///
/// let config = Config::default().with_imkit(ImkitConfig::new(["admin-key"], ["client-key"]));
/// assert!(config.imkit.is_some() && config.netease.is_none());
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// IMKit (FUNTEK) notification mutes.
    pub imkit: Option<ImkitConfig>,
    /// NetEase Yunxin module mutes.
    pub netease: Option<NeteaseConfig>,
    /// Agora Chat (Easemob) chat room mute lists, mute-all and allow lists.
    pub agora: Option<AgoraConfig>,
    /// mutegate's own JSON checks (`/v1/can_send`, `/v1/should_push`).
    pub checks: Option<ChecksConfig>,
    /// The largest request body accepted, in bytes (default 64 KiB). Larger bodies get a
    /// 413 in the vendor's envelope.
    pub max_body_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            imkit: None,
            netease: None,
            agora: None,
            checks: None,
            max_body_bytes: 64 * 1024,
        }
    }
}

impl Config {
    /// This config serving IMKit's routes.
    #[must_use]
    pub fn with_imkit(mut self, imkit: ImkitConfig) -> Self {
        self.imkit = Some(imkit);
        self
    }
    /// This config serving NetEase's route.
    #[must_use]
    pub fn with_netease(mut self, netease: NeteaseConfig) -> Self {
        self.netease = Some(netease);
        self
    }
    /// This config serving Agora's routes.
    #[must_use]
    pub fn with_agora(mut self, agora: AgoraConfig) -> Self {
        self.agora = Some(agora);
        self
    }
    /// This config serving the JSON checks.
    #[must_use]
    pub fn with_checks(mut self, checks: ChecksConfig) -> Self {
        self.checks = Some(checks);
        self
    }
    /// This config with another body limit.
    #[must_use]
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }
}

fn secrets<I, S>(values: I) -> Vec<Secret>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    values.into_iter().map(Secret::new).collect()
}

/// IMKit: the admin API keys (`IM-API-KEY`) and the client keys (`IM-CLIENT-KEY`). The
/// user behind an `IM-Authorization` token is the [`Directory`](super::Directory)'s to say.
#[derive(Clone, Debug)]
pub struct ImkitConfig {
    /// Keys accepted in `IM-API-KEY` on `/admin/...`.
    pub api_keys: Vec<Secret>,
    /// Keys accepted in `IM-CLIENT-KEY` on `/me/...`.
    pub client_keys: Vec<Secret>,
}

impl ImkitConfig {
    /// IMKit with these admin keys and client keys.
    pub fn new<A, B, S, T>(api_keys: A, client_keys: B) -> Self
    where
        A: IntoIterator<Item = S>,
        B: IntoIterator<Item = T>,
        S: Into<String>,
        T: Into<String>,
    {
        ImkitConfig {
            api_keys: secrets(api_keys),
            client_keys: secrets(client_keys),
        }
    }
}

/// One NetEase app: its `AppKey` and `AppSecret`.
#[derive(Clone, Debug)]
pub struct NeteaseApp {
    /// The `AppKey` header's value.
    pub app_key: String,
    /// The secret that `CheckSum` is computed with.
    pub app_secret: Secret,
}

/// NetEase Yunxin: the apps, how far `CurTime` may be from the server's clock, and the
/// per-app rate limit.
#[derive(Clone, Debug)]
pub struct NeteaseConfig {
    /// The apps whose signed calls are accepted.
    pub apps: Vec<NeteaseApp>,
    /// The largest accepted distance between `CurTime` and the engine's clock (default
    /// 300 s: NetEase's checksums are valid for five minutes).
    pub max_clock_skew: Duration,
    /// Calls per second per app (default 100).
    pub calls_per_second: u32,
    /// How long an app over its rate is refused (default 10 s).
    pub block_for: Duration,
}

impl NeteaseConfig {
    /// NetEase with one app and the vendor's defaults.
    pub fn new(app_key: impl Into<String>, app_secret: impl Into<String>) -> Self {
        NeteaseConfig {
            apps: vec![NeteaseApp {
                app_key: app_key.into(),
                app_secret: Secret::new(app_secret),
            }],
            max_clock_skew: Duration::from_secs(300),
            calls_per_second: 100,
            block_for: Duration::from_secs(10),
        }
    }
}

/// One Agora Chat app: `{org_name}/{app_name}`, its internal id and its bearer tokens.
#[derive(Clone, Debug)]
pub struct AgoraApp {
    /// The `org_name` path segment.
    pub org_name: String,
    /// The `app_name` path segment.
    pub app_name: String,
    /// The `application` field of responses (an internal id).
    pub application: String,
    /// Tokens accepted in `Authorization: Bearer ...`.
    pub tokens: Vec<Secret>,
    /// The app's `client_id` and `client_secret`: with them, `POST /{org}/{app}/token`
    /// (`grant_type: client_credentials`) issues app tokens, signed with the secret,
    /// that the app's routes then accept until they expire. `None`: the token call answers 401 and only
    /// [`tokens`](AgoraApp::tokens) are accepted.
    pub client_credentials: Option<(String, Secret)>,
}

/// Agora Chat: the apps and the per-app rate limit.
#[derive(Clone, Debug)]
pub struct AgoraConfig {
    /// The apps served.
    pub apps: Vec<AgoraApp>,
    /// Calls per second per app (default 100). Calls over it get a 429 at once; no block.
    pub calls_per_second: u32,
    /// The longest life of an issued app token (default 24 h, Agora's longest for an app
    /// token): a call without `ttl`, or with `ttl` 0 or over it, gets this.
    pub token_ttl: Duration,
}

impl AgoraConfig {
    /// Agora with one app accepting `tokens`, and the vendor's rate limit.
    pub fn new<I, S>(
        org_name: impl Into<String>,
        app_name: impl Into<String>,
        application: impl Into<String>,
        tokens: I,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AgoraConfig {
            apps: vec![AgoraApp {
                org_name: org_name.into(),
                app_name: app_name.into(),
                application: application.into(),
                tokens: secrets(tokens),
                client_credentials: None,
            }],
            calls_per_second: 100,
            token_ttl: Duration::from_secs(24 * 60 * 60),
        }
    }

    /// This config with `client_id` and `client_secret` for its first app, so that
    /// `POST /{org}/{app}/token` issues app tokens.
    #[must_use]
    pub fn with_client_credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        if let Some(app) = self.apps.first_mut() {
            app.client_credentials = Some((client_id.into(), Secret::new(client_secret)));
        }
        self
    }
}

/// mutegate's JSON checks: the bearer tokens accepted.
#[derive(Clone, Debug)]
pub struct ChecksConfig {
    /// Tokens accepted in `Authorization: Bearer ...`.
    pub tokens: Vec<Secret>,
}

impl ChecksConfig {
    /// Checks accepting `tokens`.
    pub fn new<I, S>(tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ChecksConfig {
            tokens: secrets(tokens),
        }
    }
}
