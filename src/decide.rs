//! Pure decisions: facts about one (user, target) plus `now` give a verdict. No locks, no
//! maps: the store gathers the facts, this module judges them.

use std::fmt;

use crate::expiry::{Expiry, NONE, Raw, active};
use crate::module::Module;
use crate::notify::{Mention, NotifyLevel};
use crate::quiet::Bypass;
use crate::role::AllowPolicy;

/// Why a send was refused. Listed in precedence order: the reason reported is the first
/// that applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DenyReason {
    /// The sender is muted in the whole module (NetEase `muteModule`; their 423).
    ModuleMuted(Module),
    /// The sender is individually muted in this room (Agora mute list).
    MemberMuted,
    /// The room is muted for everyone not allow-listed or exempt ("mute all").
    RoomMuted,
    /// The room is in slow mode and the sender's cooldown has not passed (Discord's,
    /// Telegram's slow mode); `until` is when their next message is allowed.
    SlowMode,
}

/// A refused send: why, and when it would next be allowed if nothing changes.
///
/// `until` is the latest expiry among all the active rules that block the send, so it is
/// [`Expiry::Never`] if any of them is permanent.
///
/// # Examples
///
/// ```
/// use mutegate::{DenyReason, Engine, Expiry, ManualClock, MuteFor, Target};
///
/// let clock = ManualClock::new(0);
/// let engine = Engine::builder().clock(clock.clone()).build();
/// engine.mute_members("r1", ["bob"], MuteFor::millis(500))?;
/// engine.mute_room("r1", MuteFor::millis(900))?;
/// let denied = engine.check_send("bob", Target::room("r1")).unwrap_err();
/// assert_eq!(denied.reason, DenyReason::MemberMuted);
/// assert_eq!(denied.until, Expiry::At(900));
/// # Ok::<(), mutegate::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Denied {
    /// The highest-precedence rule that blocks the send.
    pub reason: DenyReason,
    /// When sending becomes possible if nothing changes.
    pub until: Expiry,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            DenyReason::ModuleMuted(m) => write!(f, "sender is muted in module {m}")?,
            DenyReason::MemberMuted => f.write_str("sender is muted in this room")?,
            DenyReason::RoomMuted => f.write_str("room is muted")?,
            DenyReason::SlowMode => f.write_str("room is in slow mode")?,
        }
        match self.until {
            Expiry::Never => f.write_str(" until unmuted"),
            Expiry::At(ms) => write!(f, " until {ms} ms"),
        }
    }
}

impl std::error::Error for Denied {}

/// Everything that bears on one send, as raw expiries (`NONE` = no rule).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SendFacts {
    pub module: Raw,
    pub member: Raw,
    pub room: Raw,
    pub allowed: bool,
    pub exempt: bool,
    /// The room's slow-mode cooldown in ms (0: none): not a rule itself.
    pub cooldown: u64,
    /// When the sender may next send under slow mode (`NONE`: now), read only for a
    /// sender neither allowed nor exempt.
    pub slow: Raw,
}

impl SendFacts {
    /// Whether any rule exists at all (if not, no clock read is needed).
    #[inline]
    pub fn any(&self) -> bool {
        self.module != NONE || self.member != NONE || self.room != NONE || self.slow != NONE
    }

    /// Whether the allow list bears on this send: a room-wide mute or slow mode lifts
    /// for it, and (by policy) a member mute.
    #[inline]
    pub fn allow_matters(&self, policy: AllowPolicy) -> bool {
        self.room != NONE
            || self.cooldown != 0
            || (self.member != NONE && policy == AllowPolicy::AllowListWins)
    }

    /// Whether slow mode applies to this sender: the room has it and they are neither
    /// allow-listed nor exempt.
    #[inline]
    pub fn slowed(&self) -> bool {
        self.cooldown != 0 && !self.allowed && !self.exempt
    }
}

/// Decides one send.
#[inline]
pub(crate) fn send(
    facts: &SendFacts,
    module: Module,
    policy: AllowPolicy,
    now: u64,
) -> Result<(), Denied> {
    let mut reason = None;
    let mut until: Raw = NONE;
    let mut block = |raw: Raw, why: DenyReason| {
        reason.get_or_insert(why);
        until = until.max(raw);
    };
    if active(facts.module, now) {
        block(facts.module, DenyReason::ModuleMuted(module));
    }
    let allow_lifts_member = facts.allowed && policy == AllowPolicy::AllowListWins;
    if active(facts.member, now) && !allow_lifts_member {
        block(facts.member, DenyReason::MemberMuted);
    }
    if active(facts.room, now) && !facts.allowed && !facts.exempt {
        block(facts.room, DenyReason::RoomMuted);
    }
    if facts.slowed() && active(facts.slow, now) {
        block(facts.slow, DenyReason::SlowMode);
    }
    match reason {
        None => Ok(()),
        Some(reason) => Err(Denied {
            reason,
            until: Expiry::from_raw(until),
        }),
    }
}

/// Whether a room's notification level lets one message through, given how it
/// mentions the user (the room's policy for room-wide mentions already applied).
#[inline]
pub(crate) fn level_admits(level: NotifyLevel, mention: Mention) -> bool {
    match level {
        NotifyLevel::All => true,
        NotifyLevel::MentionsOnly => mention != Mention::None,
        NotifyLevel::DirectMentions => mention == Mention::Direct,
        NotifyLevel::Off => false,
    }
}

/// What a user's own rules say about one message.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PersonalFacts {
    /// The user muted the message's sender (and the mute is in force).
    pub sender_muted: bool,
    /// A snooze or a quiet window is in force.
    pub quiet: bool,
    pub bypass: Bypass,
}

/// Whether a user's own rules let one message through: a muted sender never pushes;
/// in quiet time only what the bypass rules name does.
#[inline]
pub(crate) fn personal_admits(f: &PersonalFacts, mention: Mention, urgent: bool) -> bool {
    !f.sender_muted
        && (!f.quiet
            || (f.bypass.mentions && mention == Mention::Direct)
            || (f.bypass.urgent && urgent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expiry::FOREVER;

    fn facts(module: Raw, member: Raw, room: Raw) -> SendFacts {
        SendFacts {
            module,
            member,
            room,
            ..SendFacts::default()
        }
    }

    #[test]
    fn precedence_is_module_then_member_then_room() {
        let d = send(&facts(10, 20, 30), Module::Team, AllowPolicy::MuteWins, 0).unwrap_err();
        assert_eq!(d.reason, DenyReason::ModuleMuted(Module::Team));
        let d = send(&facts(0, 20, 30), Module::Team, AllowPolicy::MuteWins, 0).unwrap_err();
        assert_eq!(d.reason, DenyReason::MemberMuted);
        let d = send(&facts(0, 0, 30), Module::Team, AllowPolicy::MuteWins, 0).unwrap_err();
        assert_eq!(d.reason, DenyReason::RoomMuted);
    }

    #[test]
    fn until_is_the_latest_blocking_expiry() {
        let d = send(&facts(10, 20, 30), Module::Room, AllowPolicy::MuteWins, 0).unwrap_err();
        assert_eq!(d.until, Expiry::At(30));
        let d = send(
            &facts(FOREVER, 20, 0),
            Module::Room,
            AllowPolicy::MuteWins,
            0,
        )
        .unwrap_err();
        assert_eq!(d.until, Expiry::Never);
        // An expired rule neither blocks nor extends `until`.
        let d = send(&facts(10, 50, 0), Module::Room, AllowPolicy::MuteWins, 15).unwrap_err();
        assert_eq!(
            (d.reason, d.until),
            (DenyReason::MemberMuted, Expiry::At(50))
        );
    }

    #[test]
    fn allow_list_lifts_room_mute_and_only_by_policy_member_mute() {
        let mut f = facts(0, 20, 30);
        f.allowed = true;
        let d = send(&f, Module::Room, AllowPolicy::MuteWins, 0).unwrap_err();
        assert_eq!(
            (d.reason, d.until),
            (DenyReason::MemberMuted, Expiry::At(20))
        );
        assert!(send(&f, Module::Room, AllowPolicy::AllowListWins, 0).is_ok());
    }

    #[test]
    fn exempt_role_lifts_room_mute_only() {
        let mut f = facts(0, 0, 30);
        f.exempt = true;
        assert!(send(&f, Module::Room, AllowPolicy::MuteWins, 0).is_ok());
        f.member = 40;
        assert!(send(&f, Module::Room, AllowPolicy::MuteWins, 0).is_err());
    }

    #[test]
    fn levels_by_mention_kind() {
        use Mention::*;
        use NotifyLevel::*;
        let table = [
            (All, [true, true, true]),
            (MentionsOnly, [false, true, true]),
            (DirectMentions, [false, true, false]),
            (Off, [false, false, false]),
        ];
        for (level, row) in table {
            for (mention, want) in [None, Direct, RoomWide].into_iter().zip(row) {
                assert_eq!(level_admits(level, mention), want, "{level:?} {mention:?}");
            }
        }
    }

    #[test]
    fn personal_rules() {
        use Mention::*;
        let quiet = PersonalFacts {
            quiet: true,
            ..PersonalFacts::default()
        };
        assert!(personal_admits(&PersonalFacts::default(), None, false));
        assert!(!personal_admits(&quiet, Direct, true)); // no bypass: nothing
        let mentions = PersonalFacts {
            bypass: Bypass {
                mentions: true,
                urgent: false,
            },
            ..quiet
        };
        assert!(personal_admits(&mentions, Direct, false));
        assert!(!personal_admits(&mentions, RoomWide, true)); // @all is not direct
        let urgent = PersonalFacts {
            bypass: Bypass {
                mentions: false,
                urgent: true,
            },
            ..quiet
        };
        assert!(personal_admits(&urgent, None, true));
        assert!(!personal_admits(&urgent, Direct, false));
        // A muted sender beats every bypass.
        let muted = PersonalFacts {
            sender_muted: true,
            quiet: false,
            bypass: Bypass {
                mentions: true,
                urgent: true,
            },
        };
        assert!(!personal_admits(&muted, Direct, true));
    }
}
