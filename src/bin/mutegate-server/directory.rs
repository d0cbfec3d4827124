//! The server's [`Directory`]: the clients and rooms the config lists, or (with
//! `directory.open`) any id at all, and the IMKit user tokens.

use mutegate::http::{Client, Directory, InMemoryDirectory};

use crate::settings::DirectorySettings;

/// Who exists: listed clients with their profiles, listed rooms, and with `open` any
/// other id as a client with no profile and as a room.
pub struct ConfiguredDirectory {
    open: bool,
    listed: InMemoryDirectory,
}

impl ConfiguredDirectory {
    /// The directory the settings describe.
    pub fn new(settings: &DirectorySettings) -> Self {
        let mut listed = InMemoryDirectory::new();
        for entry in &settings.clients {
            listed = listed.with_client(entry.clone());
        }
        for room in &settings.rooms {
            listed = listed.with_room(room.clone());
        }
        for (token, uid) in &settings.user_tokens {
            listed = listed.with_token(token.expose(), uid.clone());
        }
        ConfiguredDirectory {
            open: settings.open,
            listed,
        }
    }
}

impl Directory for ConfiguredDirectory {
    async fn client(&self, uid: &str) -> Option<Client> {
        match self.listed.client(uid).await {
            Some(c) => Some(c),
            None if self.open => Some(Client::new(uid)),
            None => None,
        }
    }

    async fn room_exists(&self, room: &str) -> bool {
        self.open || self.listed.room_exists(room).await
    }

    async fn client_for_token(&self, token: &str) -> Option<String> {
        self.listed.client_for_token(token).await
    }
}
