//! Notification (push) settings: [`NotifyLevel`], [`Mentions`], [`NotifySetting`].

use serde::{Deserialize, Serialize};

use crate::expiry::Expiry;

/// How much of a room's traffic pushes to a user.
///
/// # Examples
///
/// ```
/// use mutegate::NotifyLevel;
///
/// assert!(NotifyLevel::MentionsOnly.allows_push(true));
/// assert!(!NotifyLevel::MentionsOnly.allows_push(false));
/// assert!(!NotifyLevel::Off.allows_push(true)); // Off beats mentions
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NotifyLevel {
    /// Every message pushes (the default; stored as "no setting").
    #[default]
    All,
    /// Only messages that mention the user push (Matrix "mentions and keywords").
    MentionsOnly,
    /// Nothing pushes, mentions included (IMKit mute).
    Off,
}

impl NotifyLevel {
    /// Whether a message pushes at this level, given whether it mentions the user.
    #[must_use]
    pub const fn allows_push(self, mentioned: bool) -> bool {
        match self {
            NotifyLevel::All => true,
            NotifyLevel::MentionsOnly => mentioned,
            NotifyLevel::Off => false,
        }
    }
}

/// Who one message mentions, for [`Engine::push_targets`](crate::Engine::push_targets).
///
/// # Examples
///
/// ```
/// use mutegate::Mentions;
///
/// let ids = ["ann", "bob"];
/// assert!(Mentions::Users(&ids).contains("bob"));
/// assert!(Mentions::Everyone.contains("zed"));
/// assert!(!Mentions::None.contains("ann"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mentions<'a> {
    /// The message mentions nobody.
    #[default]
    None,
    /// The message mentions everyone (`@all`, `@room`): it reaches `MentionsOnly` users.
    Everyone,
    /// The message mentions these users.
    Users(&'a [&'a str]),
}

impl Mentions<'_> {
    /// Whether `user` is mentioned.
    #[must_use]
    pub fn contains(&self, user: &str) -> bool {
        match self {
            Mentions::None => false,
            Mentions::Everyone => true,
            Mentions::Users(ids) => ids.contains(&user),
        }
    }
}

/// One of a user's non-default notification settings.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NotifySetting {
    /// The room.
    pub room: String,
    /// The level (never [`NotifyLevel::All`], which is the default and not stored).
    pub level: NotifyLevel,
    /// When the setting ends.
    pub expiry: Expiry,
}
