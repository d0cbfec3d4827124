//! Who may speak through a room-wide mute: [`Role`], [`RoleSet`] and [`AllowPolicy`].

use serde::{Deserialize, Serialize};

/// A member's role in a room, given by the embedder on each check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Role {
    /// An ordinary member (what the plain checks assume).
    #[default]
    Member,
    /// A room admin or moderator.
    Admin,
    /// The room's owner.
    Owner,
}

impl Role {
    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of roles, e.g. the ones a room-wide mute does not apply to.
///
/// # Examples
///
/// ```
/// use mutegate::{Role, RoleSet};
///
/// let set = RoleSet::from_roles([Role::Owner]);
/// assert!(set.contains(Role::Owner));
/// assert!(!set.contains(Role::Admin));
/// assert!(RoleSet::default().contains(Role::Admin));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RoleSet(u8);

impl RoleSet {
    /// No roles.
    pub const EMPTY: RoleSet = RoleSet(0);

    /// The set of the given roles.
    #[must_use]
    pub fn from_roles(roles: impl IntoIterator<Item = Role>) -> RoleSet {
        RoleSet(roles.into_iter().fold(0, |acc, r| acc | r.bit()))
    }

    /// Whether `role` is in the set.
    #[must_use]
    pub const fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }
}

impl Default for RoleSet {
    /// Owner and admin: who may speak through a room-wide mute by default.
    fn default() -> Self {
        RoleSet(Role::Owner.bit() | Role::Admin.bit())
    }
}

/// What wins when an allow-listed member is also individually muted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AllowPolicy {
    /// The individual mute wins: the member stays muted (Agora/Easemob; the default).
    #[default]
    MuteWins,
    /// The allow list wins: allow-listed members may always speak (RongCloud).
    AllowListWins,
}
