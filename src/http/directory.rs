//! Who exists: the embedder's users ("clients") and rooms, and which user an IMKit
//! client token stands for. mutegate keeps mutes, not accounts, so the facade asks.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use super::config::Secret;
use serde::{Deserialize, Serialize};

/// The embedder's users and rooms, as the facade needs them.
///
/// The methods are async because the answers usually live in the embedder's database;
/// they run on the server's tokio runtime, so they must not block it.
///
/// # Security
///
/// [`client_for_token`](Directory::client_for_token) sees a secret. An implementation
/// must not let its running time depend on how close a wrong token is to a right one:
/// look tokens up by a cryptographic digest, or compare every candidate in constant time
/// as [`InMemoryDirectory`] does.
pub trait Directory: Send + Sync + 'static {
    /// The client with id `uid`, if it exists.
    fn client(&self, uid: &str) -> impl Future<Output = Option<Client>> + Send;
    /// Whether room `room` exists.
    fn room_exists(&self, room: &str) -> impl Future<Output = bool> + Send;
    /// The id of the client that IMKit token `token` (`IM-Authorization`) belongs to.
    fn client_for_token(&self, token: &str) -> impl Future<Output = Option<String>> + Send;
}

/// A client's network address, as IMKit reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAddress {
    /// The IP address.
    pub address: String,
    /// `"IPv4"` or `"IPv6"`.
    pub family: String,
    /// The port.
    pub port: u16,
}

/// A client's profile: the fields of IMKit's client object that mutegate does not own.
/// Fields left at `None` are left out of responses. Deserializes from its field names
/// (`mutegate-server`'s `[[directory.clients]]` tables), every field but `id` optional.
///
/// # Examples
///
/// ```
/// use mutegate::http::Client;
///
/// let c = Client { nickname: Some("AAA".into()), ..Client::new("aaa") };
/// assert_eq!((c.id.as_str(), c.nickname.as_deref()), ("aaa", Some("AAA")));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Client {
    /// The client id (`_id`).
    pub id: String,
    /// Display name.
    pub nickname: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// The IMKit application id (`appID`).
    pub app_id: Option<String>,
    /// Whether the client is a bot (`isRobot`).
    pub is_robot: Option<bool>,
    /// Last connection address.
    pub address: Option<ClientAddress>,
    /// Last user agent.
    pub user_agent: Option<String>,
    /// Last login, Unix milliseconds (`lastLoginTimeMS`).
    pub last_login_time_ms: Option<u64>,
    /// Document version (`__v`).
    pub version: Option<u64>,
}

impl Client {
    /// A client with id `id` and no other fields.
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        Client {
            id: id.into(),
            ..Client::default()
        }
    }
}

/// A [`Directory`] held in memory: for tests, demos and small fixed deployments.
///
/// # Examples
///
/// ```
/// use mutegate::http::{Client, InMemoryDirectory};
///
/// let dir = InMemoryDirectory::new()
///     .with_client(Client::new("aaa"))
///     .with_room("demo")
///     .with_token("tok-aaa", "aaa");
/// # let _ = dir;
/// ```
#[derive(Clone, Debug, Default)]
pub struct InMemoryDirectory {
    clients: HashMap<String, Client>,
    rooms: HashSet<String>,
    tokens: Vec<(Secret, String)>,
}

impl InMemoryDirectory {
    /// An empty directory.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// This directory with `client` added (replacing one with the same id).
    #[must_use]
    pub fn with_client(mut self, client: Client) -> Self {
        self.clients.insert(client.id.clone(), client);
        self
    }

    /// This directory with room `room` added.
    #[must_use]
    pub fn with_room(mut self, room: impl Into<String>) -> Self {
        self.rooms.insert(room.into());
        self
    }

    /// This directory with IMKit token `token` standing for client `uid`.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>, uid: impl Into<String>) -> Self {
        self.tokens.push((Secret::new(token), uid.into()));
        self
    }

    fn lookup_token(&self, token: &str) -> Option<String> {
        // Every token is compared in full, whatever matched before it.
        let mut found = None;
        for (secret, uid) in &self.tokens {
            if super::auth::equal(secret.expose().as_bytes(), token.as_bytes()) {
                found = Some(uid);
            }
        }
        found.cloned()
    }
}

impl Directory for InMemoryDirectory {
    fn client(&self, uid: &str) -> impl Future<Output = Option<Client>> + Send {
        std::future::ready(self.clients.get(uid).cloned())
    }
    fn room_exists(&self, room: &str) -> impl Future<Output = bool> + Send {
        std::future::ready(self.rooms.contains(room))
    }
    fn client_for_token(&self, token: &str) -> impl Future<Output = Option<String>> + Send {
        std::future::ready(self.lookup_token(token))
    }
}
