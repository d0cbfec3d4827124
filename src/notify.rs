//! Notification (push) settings: [`NotifyLevel`], [`Mentions`], [`NotifySetting`].

use serde::{Deserialize, Serialize};

use crate::expiry::{Expiry, Raw};

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
    /// Only messages that mention the user by name push: room-wide mentions (`@all`,
    /// `@here`) do not break through (Slack's and Mattermost's "ignore @channel").
    DirectMentions,
}

impl NotifyLevel {
    /// Whether a message pushes at this level, given whether it mentions the user.
    #[must_use]
    pub const fn allows_push(self, mentioned: bool) -> bool {
        match self {
            NotifyLevel::All => true,
            NotifyLevel::MentionsOnly => mentioned,
            NotifyLevel::Off => false,
            NotifyLevel::DirectMentions => mentioned,
        }
    }
}

/// One stored notification setting (never `All`, which is the absence of a setting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Setting {
    pub level: NotifyLevel,
    pub until: Raw,
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

/// How one message mentions one user, after the room's policy for room-wide mentions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mention {
    /// Not at all.
    None,
    /// By name.
    Direct,
    /// Through `@all` / `@here`.
    RoomWide,
}

/// One message, as the push decision sees it: who sent it, whom it mentions (by name,
/// and room-wide), and whether the caller marks it urgent.
///
/// See the README's precedence table for how each field bears on the decision.
///
/// # Examples
///
/// ```
/// use mutegate::{Engine, Message, MuteFor, NotifyLevel};
///
/// let engine = Engine::new();
/// engine.set_notification_level("ann", "r1", NotifyLevel::MentionsOnly, MuteFor::Forever)?;
/// engine.mute_sender("bob", "spammer", MuteFor::Forever)?;
/// let members = ["ann", "bob", "cat"];
/// let msg = Message::new().sent_by("spammer").mentioning_everyone();
/// assert_eq!(engine.push_targets_for("r1", &members, &msg), [&"ann", &"cat"]);
/// let plain = Message::new().sent_by("spammer");
/// assert_eq!(engine.push_targets_for("r1", &members, &plain), [&"cat"]);
/// # Ok::<(), mutegate::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Message<'a> {
    sender: Option<&'a str>,
    direct: &'a [&'a str],
    room_wide: bool,
    urgent: bool,
}

impl<'a> Message<'a> {
    /// A message from nobody in particular that mentions nobody.
    #[must_use]
    pub const fn new() -> Message<'a> {
        Message {
            sender: None,
            direct: &[],
            room_wide: false,
            urgent: false,
        }
    }

    /// Sent by `sender` (whom some users may have muted).
    #[must_use]
    pub const fn sent_by(mut self, sender: &'a str) -> Message<'a> {
        self.sender = Some(sender);
        self
    }

    /// Mentions `users` by name.
    #[must_use]
    pub const fn mentioning(mut self, users: &'a [&'a str]) -> Message<'a> {
        self.direct = users;
        self
    }

    /// Mentions the whole room (`@all`, `@here`, `@room`).
    #[must_use]
    pub const fn mentioning_everyone(mut self) -> Message<'a> {
        self.room_wide = true;
        self
    }

    /// Marked urgent by the caller (it may break through quiet hours; see [`Bypass`]).
    ///
    /// [`Bypass`]: crate::Bypass
    #[must_use]
    pub const fn urgent(mut self) -> Message<'a> {
        self.urgent = true;
        self
    }

    /// The sender, if given.
    #[must_use]
    pub const fn sender(&self) -> Option<&'a str> {
        self.sender
    }

    /// Whether the caller marked the message urgent.
    #[must_use]
    pub const fn is_urgent(&self) -> bool {
        self.urgent
    }

    /// How the message mentions `user`; `room_wide_counts` is the room's policy.
    #[inline]
    pub(crate) fn mention(&self, user: &str, room_wide_counts: bool) -> Mention {
        if self.direct.contains(&user) {
            Mention::Direct
        } else if self.room_wide && room_wide_counts {
            Mention::RoomWide
        } else {
            Mention::None
        }
    }

    /// Whether the message mentions the whole room.
    #[inline]
    pub(crate) fn is_room_wide(&self) -> bool {
        self.room_wide
    }
}

impl<'a> From<Mentions<'a>> for Message<'a> {
    fn from(m: Mentions<'a>) -> Message<'a> {
        match m {
            Mentions::None => Message::new(),
            Mentions::Everyone => Message::new().mentioning_everyone(),
            Mentions::Users(users) => Message::new().mentioning(users),
        }
    }
}
