//! What a user does in a room: the actions a mute may be scoped to.
//!
//! Every send check takes an [`Action`]; a member, module or room-wide mute blocks the
//! actions of its scope ([`Actions`]). A mute made without a scope blocks every action,
//! so a muted user cannot react, edit or join voice either, unless the mute says so.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// One kind of thing a user does in a room or conversation.
///
/// Non-exhaustive: later versions may add actions. A mute stored without a scope blocks
/// those too; a scoped one blocks only what it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Action {
    /// Sending a message (what [`Engine::can_send`](crate::Engine::can_send) checks).
    SendMessage,
    /// Reacting to a message.
    React,
    /// Editing one's own message.
    Edit,
    /// Uploading media or files.
    UploadMedia,
    /// Starting a thread.
    StartThread,
    /// Joining a voice or video channel.
    JoinVoice,
}

impl Action {
    /// Every action, in this order (their bits in [`Actions`] and their codes on disk).
    pub const ALL: [Action; 6] = [
        Action::SendMessage,
        Action::React,
        Action::Edit,
        Action::UploadMedia,
        Action::StartThread,
        Action::JoinVoice,
    ];

    /// The action's name in JSON and over HTTP (`send_message`, `react`, `edit`,
    /// `upload_media`, `start_thread`, `join_voice`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Action::SendMessage => "send_message",
            Action::React => "react",
            Action::Edit => "edit",
            Action::UploadMedia => "upload_media",
            Action::StartThread => "start_thread",
            Action::JoinVoice => "join_voice",
        }
    }

    #[inline]
    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Action {
    type Err = Error;

    /// Parses an action's [`name`](Action::name).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAction`] naming the text.
    fn from_str(s: &str) -> Result<Action, Error> {
        Action::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| Error::UnknownAction { name: s.into() })
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Action, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        name.parse().map_err(de::Error::custom)
    }
}

/// A set of [`Action`]s: the scope of a mute. [`Actions::ALL`] is an unscoped mute.
///
/// # Examples
///
/// ```
/// use mutegate::{Action, Actions};
///
/// let scope = Actions::of([Action::React, Action::Edit]);
/// assert!(scope.contains(Action::React));
/// assert!(!scope.contains(Action::SendMessage));
/// assert_eq!(scope.to_string(), "react,edit");
/// assert_eq!("react,edit".parse::<Actions>()?, scope);
/// assert!(Actions::ALL.contains(Action::JoinVoice));
/// # Ok::<(), mutegate::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Actions(u8);

impl Actions {
    /// Every action: what a mute without a scope blocks.
    pub const ALL: Actions = Actions((1 << Action::ALL.len()) - 1);

    /// No action (not a valid scope: a mute must block something).
    pub const NONE: Actions = Actions(0);

    /// The set of `actions`.
    #[must_use]
    pub fn of(actions: impl IntoIterator<Item = Action>) -> Actions {
        Actions(actions.into_iter().fold(0, |bits, a| bits | a.bit()))
    }

    /// The set of one action.
    #[must_use]
    pub const fn only(action: Action) -> Actions {
        Actions(action.bit())
    }

    /// Whether the set holds `action`.
    #[inline]
    #[must_use]
    pub const fn contains(self, action: Action) -> bool {
        self.0 & action.bit() != 0
    }

    /// Whether the set is every action (an unscoped mute).
    #[inline]
    #[must_use]
    pub const fn is_all(self) -> bool {
        self.0 == Actions::ALL.0
    }

    /// Whether the set is empty.
    #[inline]
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The actions in the set, in [`Action::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }

    /// The set as bits (bit `i` for `Action::ALL[i]`): its code on disk.
    pub(crate) const fn bits(self) -> u8 {
        self.0
    }

    /// The set of `bits`, if every bit names an action and one is set.
    pub(crate) fn from_bits(bits: u8) -> Result<Actions, String> {
        if bits == 0 || bits & !Actions::ALL.0 != 0 {
            return Err(format!("invalid action set {bits:#04x}"));
        }
        Ok(Actions(bits))
    }
}

impl Default for Actions {
    /// Every action.
    fn default() -> Actions {
        Actions::ALL
    }
}

impl From<Action> for Actions {
    fn from(a: Action) -> Actions {
        Actions::only(a)
    }
}

impl fmt::Debug for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for Actions {
    /// The names joined by commas, in [`Action::ALL`] order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(a.name())?;
        }
        Ok(())
    }
}

impl FromStr for Actions {
    type Err = Error;

    /// Parses names joined by commas (`"react,edit"`).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAction`] for a name that is not an action (an empty list names
    /// the empty text).
    fn from_str(s: &str) -> Result<Actions, Error> {
        s.split(',')
            .map(|n| n.trim().parse::<Action>())
            .collect::<Result<Vec<_>, _>>()
            .map(Actions::of)
    }
}

impl Serialize for Actions {
    /// A list of action names.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.count_ones() as usize))?;
        for a in self.iter() {
            seq.serialize_element(&a)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Actions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Actions, D::Error> {
        struct Names;
        impl<'de> Visitor<'de> for Names {
            type Value = Actions;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of action names")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Actions, A::Error> {
                let mut set = Actions::NONE;
                while let Some(a) = seq.next_element::<Action>()? {
                    set.0 |= a.bit();
                }
                Ok(set)
            }
        }
        d.deserialize_seq(Names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_named() {
        for a in Action::ALL {
            assert_eq!(a.name().parse::<Action>().unwrap(), a);
        }
        let err = "dance".parse::<Action>().unwrap_err();
        assert!(matches!(&err, Error::UnknownAction { name } if name == "dance"));
        assert!(err.to_string().contains("\"dance\""), "{err}");
        let err = "react,,edit".parse::<Actions>().unwrap_err();
        assert!(matches!(&err, Error::UnknownAction { name } if name.is_empty()));
    }

    #[test]
    fn bits_refuse_empty_and_unknown_sets() {
        assert!(Actions::from_bits(0).is_err());
        assert!(Actions::from_bits(0x40).is_err());
        assert_eq!(Actions::from_bits(0x3f).unwrap(), Actions::ALL);
        assert_eq!(
            Actions::from_bits(Actions::of([Action::Edit]).bits()).unwrap(),
            Actions::only(Action::Edit)
        );
    }

    #[cfg(feature = "http")]
    #[test]
    fn json_is_a_list_of_names() {
        let scope = Actions::of([Action::JoinVoice, Action::React]);
        let json = serde_json::to_string(&scope).unwrap();
        assert_eq!(json, r#"["react","join_voice"]"#);
        assert_eq!(serde_json::from_str::<Actions>(&json).unwrap(), scope);
        let err = serde_json::from_str::<Actions>(r#"["react","fly"]"#).unwrap_err();
        assert!(err.to_string().contains("fly"), "{err}");
    }
}
