//! A user's own push rules: quiet hours, snooze, bypass rules and sender mutes, and a
//! room's setting for room-wide mentions.

use std::sync::Arc;

use super::{Personal, Tables};
use crate::change::{Change, Changes, Timed};
use crate::expiry::{NONE, Raw};
use crate::ids::{Handle, Key};
use crate::quiet::{Bypass, Cached, Compiled, Schedule};

impl Tables {
    /// Edits `user`'s personal rules (created if `create`) as a new copy, dropped when
    /// empty, and puts it in the index once the user's shard is released.
    fn edit_personal<R>(
        &self,
        user: &str,
        create: bool,
        f: impl FnOnce(Handle, &mut Personal) -> R,
    ) -> Option<R> {
        let (out, new) = self
            .edit_user(user, create, |h, u| {
                if u.personal.is_none() && !create {
                    return None;
                }
                let mut p = u.personal.as_deref().cloned().unwrap_or_default();
                let out = f(h, &mut p);
                p.cache = Cached::default();
                u.personal = (!p.is_empty()).then(|| Arc::new(p));
                Some((out, u.personal.clone()))
            })
            .flatten()?;
        self.personal.set(user, new);
        Some(out)
    }

    pub(super) fn set_quiet_hours(
        &self,
        user: Key,
        schedule: Option<Schedule>,
        changes: &mut impl Changes,
    ) {
        // A schedule that passed validation compiles; one that would not is no change.
        let compiled = match schedule.clone().map(Compiled::new).transpose() {
            Ok(c) => c,
            Err(_) => return,
        };
        let create = compiled.is_some();
        self.edit_personal(&user, create, |_, p| {
            if p.quiet != compiled {
                p.quiet = compiled;
                changes.record(|| Change::Quiet {
                    user: user.clone(),
                    schedule,
                });
            }
        });
    }

    pub(super) fn snooze(&self, user: Key, raw: Raw, changes: &mut impl Changes) {
        self.edit_personal(&user, raw != NONE, |h, p| {
            if p.snooze != NONE || raw != NONE {
                changes.record(|| Change::Snooze {
                    user: user.clone(),
                    old: p.snooze,
                    new: raw,
                    at: Timed::Snooze(h.slot()),
                });
            }
            p.snooze = raw;
        });
    }

    pub(super) fn set_bypass(&self, user: Key, bypass: Bypass, changes: &mut impl Changes) {
        self.edit_personal(&user, bypass != Bypass::default(), |_, p| {
            if p.bypass != bypass {
                p.bypass = bypass;
                changes.record(|| Change::Bypass {
                    user: user.clone(),
                    bypass,
                });
            }
        });
    }

    /// Mutes `sender` for `user`: a reference on the sender is taken first (never two
    /// shards locked at once) and given back if the user had muted them already.
    pub(super) fn mute_sender(&self, user: Key, sender: Key, raw: Raw, changes: &mut impl Changes) {
        let sh = self.users.acquire(&sender);
        let kept = self.edit_personal(&user, true, |h, p| {
            let (old, kept) = match p.senders.iter_mut().find(|(s, _)| *s == sh) {
                Some((_, until)) => (std::mem::replace(until, raw), false),
                None => {
                    p.senders.push((sh, raw));
                    (NONE, true)
                }
            };
            changes.record(|| Change::Sender {
                user: user.clone(),
                sender: sender.clone(),
                old,
                new: raw,
                at: Timed::Sender(h.slot(), sh.slot()),
            });
            kept
        });
        if kept != Some(true) {
            self.users.release(sh);
        }
    }

    pub(super) fn unmute_sender(&self, user: Key, sender: Key, changes: &mut impl Changes) {
        let Some(sh) = self.users.find(&sender) else {
            return;
        };
        let dropped = self.edit_personal(&user, false, |h, p| {
            let i = p.senders.iter().position(|(s, _)| *s == sh)?;
            let (_, old) = p.senders.remove(i);
            changes.record(|| Change::Sender {
                user: user.clone(),
                sender: sender.clone(),
                old,
                new: NONE,
                at: Timed::Sender(h.slot(), sh.slot()),
            });
            Some(())
        });
        if dropped.flatten().is_some() {
            self.users.release(sh);
        }
    }

    pub(super) fn set_room_mentions(&self, room: Key, notify: bool, changes: &mut impl Changes) {
        self.edit_room(&room, !notify, |_, r| {
            if r.plain_room_mentions == notify {
                r.plain_room_mentions = !notify;
                changes.record(|| Change::RoomMentions {
                    room: room.clone(),
                    notify,
                });
            }
        });
    }

    /// The changes that removing `user`'s own rules amounts to, and the senders whose
    /// references they held (to give back).
    pub(super) fn personal_removed(
        &self,
        user: &Key,
        uh: Handle,
        p: &Personal,
        changes: &mut impl Changes,
    ) -> Vec<Handle> {
        if p.quiet.is_some() {
            changes.record(|| Change::Quiet {
                user: user.clone(),
                schedule: None,
            });
        }
        if p.bypass != Bypass::default() {
            changes.record(|| Change::Bypass {
                user: user.clone(),
                bypass: Bypass::default(),
            });
        }
        if p.snooze != NONE {
            changes.record(|| Change::Snooze {
                user: user.clone(),
                old: p.snooze,
                new: NONE,
                at: Timed::Snooze(uh.slot()),
            });
        }
        let mut held = Vec::with_capacity(p.senders.len());
        for &(sh, old) in &p.senders {
            if let Some(sender) = self.users.id_of(sh) {
                changes.record(|| Change::Sender {
                    user: user.clone(),
                    sender,
                    old,
                    new: NONE,
                    at: Timed::Sender(uh.slot(), sh.slot()),
                });
            }
            held.push(sh);
        }
        held
    }

    /// Drops every user's mute of `sender` (handle `sh`); returns how many there were.
    pub(super) fn forget_sender(
        &self,
        sender: &Key,
        sh: Handle,
        changes: &mut impl Changes,
    ) -> usize {
        let mut edited: Vec<(Key, Option<Arc<Personal>>)> = Vec::new();
        self.users.for_each_mut(|uh, user, u| {
            let Some(p) = &u.personal else { return };
            let Some(i) = p.senders.iter().position(|(s, _)| *s == sh) else {
                return;
            };
            let mut p = Personal::clone(p);
            let (_, old) = p.senders.remove(i);
            p.cache = Cached::default();
            changes.record(|| Change::Sender {
                user: user.into(),
                sender: sender.clone(),
                old,
                new: NONE,
                at: Timed::Sender(uh.slot(), sh.slot()),
            });
            u.personal = (!p.is_empty()).then(|| Arc::new(p));
            edited.push((user.into(), u.personal.clone()));
        });
        for (user, p) in &edited {
            self.personal.set(user, p.clone());
        }
        edited.len()
    }
}
