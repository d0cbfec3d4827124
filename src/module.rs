//! Where messages go ([`Module`], [`Target`]) and per-user module mutes
//! ([`ModuleChange`], [`ModuleStatus`]) as in NetEase's `muteModule`.

use serde::{Deserialize, Serialize};

use crate::action::Actions;
use crate::expiry::{Expiry, MuteFor, Raw, active};

/// Where a message goes: NetEase's four modules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Module {
    /// A direct message to a peer.
    P2p,
    /// A team (group).
    Team,
    /// A chat room.
    Room,
    /// A QChat channel.
    QChat,
}

impl Module {
    /// The four modules in a fixed order.
    pub const ALL: [Module; 4] = [Module::P2p, Module::Team, Module::Room, Module::QChat];

    #[inline]
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Module::P2p => "p2p",
            Module::Team => "team",
            Module::Room => "room",
            Module::QChat => "qchat",
        })
    }
}

/// Where one message is sent: the peer's user id for [`Module::P2p`], else the room id.
///
/// # Examples
///
/// ```
/// use mutegate::{Module, Target};
///
/// let t = Target::team("t1");
/// assert_eq!((t.module, t.id), (Module::Team, "t1"));
/// assert_eq!(Target::new(Module::P2p, "bob"), Target::p2p("bob"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Target<'a> {
    /// The module the message goes through.
    pub module: Module,
    /// The peer's user id (P2P) or the room id.
    pub id: &'a str,
}

impl<'a> Target<'a> {
    /// A target in `module` with id `id`.
    #[must_use]
    pub const fn new(module: Module, id: &'a str) -> Self {
        Target { module, id }
    }
    /// A direct message to `peer`.
    #[must_use]
    pub const fn p2p(peer: &'a str) -> Self {
        Target::new(Module::P2p, peer)
    }
    /// A message to team `room`.
    #[must_use]
    pub const fn team(room: &'a str) -> Self {
        Target::new(Module::Team, room)
    }
    /// A message to chat room `room`.
    #[must_use]
    pub const fn room(room: &'a str) -> Self {
        Target::new(Module::Room, room)
    }
    /// A message to QChat channel `room`.
    #[must_use]
    pub const fn qchat(room: &'a str) -> Self {
        Target::new(Module::QChat, room)
    }
    /// Whether this target is a room (anything but P2P), so room rules apply.
    #[must_use]
    pub const fn is_room(&self) -> bool {
        !matches!(self.module, Module::P2p)
    }
}

/// A change to a user's module mutes: NetEase's four optional flags plus how long the
/// mutes it sets last.
///
/// `Some(true)` mutes the module (for `duration`), `Some(false)` lifts its mute, `None`
/// leaves it alone. A change that names no module is refused
/// ([`Error::NoModuleGiven`](crate::Error::NoModuleGiven)).
///
/// # Examples
///
/// ```
/// use mutegate::{Module, ModuleChange, MuteFor};
///
/// let change = ModuleChange::new()
///     .set(Module::Team, true)
///     .set(Module::P2p, false)
///     .lasting(MuteFor::hours(1));
/// assert_eq!(change.get(Module::Team), Some(true));
/// assert_eq!(change.get(Module::Room), None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[must_use]
pub struct ModuleChange {
    /// `muteP2P`.
    pub p2p: Option<bool>,
    /// `muteTeam`.
    pub team: Option<bool>,
    /// `muteRoom`.
    pub room: Option<bool>,
    /// `muteQChat`.
    pub qchat: Option<bool>,
    /// How long the mutes this change sets last (default: forever).
    pub duration: MuteFor,
    /// What the mutes this change sets block (default: every action).
    #[serde(default)]
    pub actions: Actions,
}

impl ModuleChange {
    /// A change that names no module yet.
    pub fn new() -> ModuleChange {
        ModuleChange::default()
    }

    /// Mutes (`true`) or unmutes (`false`) `module`.
    pub fn set(mut self, module: Module, muted: bool) -> ModuleChange {
        *self.slot(module) = Some(muted);
        self
    }

    /// How long the mutes set by this change last.
    pub fn lasting(mut self, duration: MuteFor) -> ModuleChange {
        self.duration = duration;
        self
    }

    /// Scopes the mutes this change sets to `actions` (default: every action).
    pub fn only(mut self, actions: impl Into<Actions>) -> ModuleChange {
        self.actions = actions.into();
        self
    }

    /// What this change says of `module`.
    #[must_use]
    pub fn get(&self, module: Module) -> Option<bool> {
        self.as_array()[module.index()]
    }

    pub(crate) fn as_array(&self) -> [Option<bool>; 4] {
        [self.p2p, self.team, self.room, self.qchat]
    }

    fn slot(&mut self, module: Module) -> &mut Option<bool> {
        match module {
            Module::P2p => &mut self.p2p,
            Module::Team => &mut self.team,
            Module::Room => &mut self.room,
            Module::QChat => &mut self.qchat,
        }
    }
}

/// A user's mute state in each of the four modules (NetEase's `data`).
///
/// # Examples
///
/// ```
/// use mutegate::{Engine, Module, ModuleChange};
///
/// let engine = Engine::new();
/// let status = engine.set_module_mutes("u1", ModuleChange::new().set(Module::Team, true))?;
/// assert!(status.is_muted(Module::Team));
/// assert!(!status.is_muted(Module::P2p));
/// # Ok::<(), mutegate::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModuleStatus {
    expiries: [Option<Expiry>; 4],
    #[serde(default = "all_scopes")]
    scopes: [Actions; 4],
}

impl Default for ModuleStatus {
    fn default() -> ModuleStatus {
        ModuleStatus {
            expiries: [None; 4],
            scopes: all_scopes(),
        }
    }
}

fn all_scopes() -> [Actions; 4] {
    [Actions::ALL; 4]
}

impl ModuleStatus {
    pub(crate) fn from_raw(raw: &[Raw; 4], scopes: [Actions; 4], now: u64) -> ModuleStatus {
        let mut expiries = [None; 4];
        for (slot, &r) in expiries.iter_mut().zip(raw) {
            if active(r, now) {
                *slot = Some(Expiry::from_raw(r));
            }
        }
        ModuleStatus { expiries, scopes }
    }

    /// What the user's mute in `module` blocks, or `None` if not muted there.
    #[must_use]
    pub fn actions(&self, module: Module) -> Option<Actions> {
        self.is_muted(module).then(|| self.scopes[module.index()])
    }

    /// Whether the user is muted in `module`.
    #[must_use]
    pub fn is_muted(&self, module: Module) -> bool {
        self.expiries[module.index()].is_some()
    }

    /// When the user's mute in `module` ends, or `None` if not muted there.
    #[must_use]
    pub fn expiry(&self, module: Module) -> Option<Expiry> {
        self.expiries[module.index()]
    }

    /// Whether the user is muted in no module.
    #[must_use]
    pub fn is_clear(&self) -> bool {
        self.expiries.iter().all(Option::is_none)
    }
}
