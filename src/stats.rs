//! Counts of active state, for monitoring.

use crate::expiry::active;
use crate::store::Tables;

/// How many active entries of each kind the engine holds (expired ones not counted).
///
/// # Examples
///
/// ```
/// use mutegate::{Engine, MuteFor};
///
/// let engine = Engine::new();
/// engine.mute_notifications("u1", "r1")?;
/// engine.mute_members("r1", ["u2", "u3"], MuteFor::Forever)?;
/// let stats = engine.stats();
/// assert_eq!((stats.notification_mutes, stats.member_mutes), (1, 2));
/// # Ok::<(), mutegate::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Active non-default notification settings, (user, room) pairs.
    pub notification_mutes: usize,
    /// Active speech mutes, (room, member) pairs.
    pub member_mutes: usize,
    /// Active module mutes, (user, module) pairs.
    pub module_mutes: usize,
    /// Active room-wide mutes.
    pub room_mutes: usize,
    /// Allow-list entries, (room, user) pairs.
    pub allow_entries: usize,
    /// Active sender mutes, (user, sender) pairs.
    pub sender_mutes: usize,
    /// Users with a quiet-hours schedule.
    pub quiet_schedules: usize,
    /// Users with any stored state (expired state included until swept).
    pub users: usize,
    /// Rooms with any stored state (expired state included until swept).
    pub rooms: usize,
    /// User and room ids the engine holds in memory: those with state, those an entry
    /// points at (a muted or allow-listed member), and those a handle pins. An id none
    /// of these hold is given back.
    pub interned_ids: usize,
    /// Moderation history entries, over every subject (at most
    /// [`Engine::history_len`](crate::Engine::history_len) per subject).
    pub moderation_entries: usize,
}

impl Stats {
    pub(crate) fn collect(tables: &Tables, now: u64) -> Stats {
        let mut s = Stats {
            interned_ids: tables.users.interned() + tables.rooms.interned(),
            moderation_entries: tables.history.entries(),
            ..Stats::default()
        };
        tables.users.for_each(|_, _, u| {
            s.users += 1;
            s.notification_mutes += u
                .notify
                .iter()
                .filter(|(_, x)| active(x.until, now))
                .count();
            s.module_mutes += u.modules().iter().filter(|&&e| active(e, now)).count();
            if let Some(p) = &u.personal {
                s.sender_mutes += p.senders.iter().filter(|(_, e)| active(*e, now)).count();
                s.quiet_schedules += usize::from(p.quiet.is_some());
            }
        });
        tables.rooms.for_each(|_, _, r| {
            s.rooms += 1;
            s.member_mutes += r.members.values().filter(|&&e| active(e, now)).count();
            s.room_mutes += usize::from(active(r.mute, now));
            s.allow_entries += r.allow_list().count();
        });
        s
    }
}
