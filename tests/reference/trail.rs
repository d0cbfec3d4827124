//! The moderation trail in the reference: which steps take a trail, what each leaves in
//! which subject's history (the last [`HISTORY_LEN`] entries, an identical entry once),
//! and the engine side of a step made with a trail.

use std::collections::BTreeMap;
use std::time::Duration;

use mutegate::{Engine, Error, Expiry, ModerationEntry, Op, Source, Subject, Trail};

use super::{
    LONG, Model, ROOMS, Step, USERS, engine_ladder, expiry, ladder, module_answer, module_change,
    valid,
};

/// The entries the harness's engine keeps per subject (small, so the bound is met).
pub const HISTORY_LEN: usize = 2;

/// How many trails [`trail`] gives.
pub const TRAILS: usize = 6;

/// The trails steps choose from: valid ones (a reason exactly at the limit among them),
/// then an empty actor, an actor too long, a reason one byte too long.
pub fn trail(i: usize) -> Trail {
    match i % TRAILS {
        0 => Trail::by("u1").reason("spam"),
        1 => Trail::new(Source::Automatic),
        2 => Trail::by("u2")
            .reason("é".repeat(mutegate::MAX_REASON_LEN / 2))
            .source(Source::Ladder),
        3 => Trail::by(""),
        4 => Trail::by(LONG).source(Source::Api),
        _ => Trail::new(Source::Api).reason("x".repeat(mutegate::MAX_REASON_LEN + 1)),
    }
}

/// Histories by subject, oldest first.
pub type Histories = BTreeMap<Subject, Vec<ModerationEntry>>;

fn ids(us: &[&str]) -> Vec<Box<str>> {
    us.iter().map(|&u| u.into()).collect()
}

/// Whether a step can be made with a trail at all (a mutation); moderation or not.
pub fn trailable(step: &Step) -> bool {
    matches!(
        step,
        Step::MuteNotifications(..)
            | Step::RemoveUser(_)
            | Step::MuteMembers(..)
            | Step::UnmuteMembers(..)
            | Step::SetModules(..)
            | Step::MuteRoom(..)
            | Step::UnmuteRoom(_)
            | Step::Allow(..)
            | Step::Disallow(..)
            | Step::SetSlowMode(..)
            | Step::SetLadder(..)
            | Step::Strike(..)
            | Step::ClearStrikes(..)
    )
}

impl Model {
    /// The subjects a valid moderation step is about, each with the operation narrowed
    /// to it, as the engine would make it now; `None` for a step that is not moderation.
    fn subjects(&self, step: &Step) -> Option<Vec<(Subject, Op)>> {
        let now = self.now;
        let until = |d| expiry(now, d).unwrap_or(Expiry::Never);
        let each = |r: &str, us: &[&str], op: &dyn Fn(Vec<Box<str>>) -> Op| {
            us.iter()
                .map(|u| (Subject::member(r, *u), op(ids(&[u]))))
                .collect()
        };
        Some(match step {
            Step::MuteMembers(r, us, d, a) => each(r, us, &|users| Op::MuteMembers {
                room: (*r).into(),
                users,
                until: until(*d),
                actions: *a,
            }),
            Step::UnmuteMembers(r, us) => each(r, us, &|users| Op::UnmuteMembers {
                room: (*r).into(),
                users,
            }),
            Step::Allow(r, us) => each(r, us, &|users| Op::Allow {
                room: (*r).into(),
                users,
            }),
            Step::Disallow(r, us) => each(r, us, &|users| Op::Disallow {
                room: (*r).into(),
                users,
            }),
            Step::SetModules(u, change, d, a) => vec![(
                Subject::user(*u),
                Op::SetModules {
                    user: (*u).into(),
                    change: *change,
                    until: until(*d),
                    actions: *a,
                },
            )],
            Step::MuteRoom(r, d, a) => room(
                r,
                Op::MuteRoom {
                    room: (*r).into(),
                    until: until(*d),
                    actions: *a,
                },
            ),
            Step::UnmuteRoom(r) => room(r, Op::UnmuteRoom { room: (*r).into() }),
            Step::SetSlowMode(r, cooldown_ms) => room(
                r,
                Op::SetSlowMode {
                    room: (*r).into(),
                    cooldown_ms: *cooldown_ms,
                },
            ),
            Step::SetLadder(r, i) => room(
                r,
                Op::SetLadder {
                    room: (*r).into(),
                    ladder: i.map(ladder),
                },
            ),
            Step::Strike(r, u) => vec![(
                Subject::member(*r, *u),
                Op::Strike {
                    room: (*r).into(),
                    user: (*u).into(),
                    ladder: self
                        .ladders
                        .get(*r)
                        .map_or_else(engine_ladder, |&i| ladder(i)),
                },
            )],
            Step::ClearStrikes(r, u) => vec![(
                Subject::member(*r, *u),
                Op::SetStrikes {
                    room: (*r).into(),
                    user: (*u).into(),
                    ends_ms: Vec::new(),
                },
            )],
            _ => return None,
        })
    }

    /// `step` made with trail `t`: the step's own error first; then a step that is not
    /// moderation, or a bad trail, is refused with nothing changed; else the step is
    /// made and each of its subjects remembers it.
    pub(super) fn with_trail(&mut self, t: usize, step: &Step) -> Result<String, Error> {
        let mut made = self.clone();
        let out = made.run(step)?;
        let Some(subjects) = self.subjects(step) else {
            return Err(Error::InvalidCombination(""));
        };
        let trail = trail(t);
        if let Some(actor) = &trail.actor {
            valid(actor)?;
        }
        if trail
            .reason
            .as_ref()
            .is_some_and(|r| r.len() > mutegate::MAX_REASON_LEN)
        {
            return Err(Error::ReasonTooLong { len: 0, max: 0 });
        }
        *self = made;
        for (subject, op) in subjects {
            let entry = ModerationEntry::new(self.now, op, trail.clone());
            let kept = self.history.entry(subject).or_default();
            if !kept.contains(&entry) {
                kept.push(entry);
                if kept.len() > HISTORY_LEN {
                    kept.remove(0);
                }
            }
        }
        Ok(out)
    }

    /// Drops the histories a purge of a user or a room drops.
    pub(super) fn forget(&mut self, step: &Step) {
        match step {
            Step::RemoveUser(u) => self.history.retain(|s, _| s.user_id() != Some(*u)),
            Step::RemoveRoom(r) => self.history.retain(|s, _| s.room_id() != Some(*r)),
            _ => {}
        }
    }

    /// The trail a listing shows for `user`'s mute in `room` ending at `expiry`.
    pub fn mute_trail(&self, room: &str, user: &str, expiry: Expiry) -> Option<Trail> {
        let latest = self
            .history
            .get(&Subject::member(room, user))?
            .iter()
            .rev()
            .find(|e| matches!(e.op, Op::MuteMembers { .. } | Op::Strike { .. }))?;
        match &latest.op {
            Op::MuteMembers { until, .. } if *until != expiry => None,
            _ => Some(latest.trail.clone()),
        }
    }
}

fn room(r: &str, op: Op) -> Vec<(Subject, Op)> {
    vec![(Subject::room(r), op)]
}

/// Every history of the alphabet's subjects, and the engine's count, agree.
pub fn compare(e: &Engine, m: &Model) -> Result<(), String> {
    let mut subjects = Vec::new();
    for r in ROOMS {
        subjects.push(Subject::room(r));
        subjects.extend(USERS.iter().map(|u| Subject::member(r, *u)));
    }
    subjects.extend(USERS.iter().map(|u| Subject::user(*u)));
    for s in &subjects {
        let want = m.history.get(s).cloned().unwrap_or_default();
        let got = e.moderation_history(s);
        if got != want {
            return Err(format!("history of {s}: {got:?} != {want:?}"));
        }
    }
    let total: usize = m.history.values().map(Vec::len).sum();
    let got = e.stats().moderation_entries;
    if got != total {
        return Err(format!("{got} history entries, the model has {total}"));
    }
    Ok(())
}

/// `step` made on the engine with trail `t`, answered as the plain step is.
pub fn on_engine(e: &Engine, t: usize, step: &Step) -> Result<String, Error> {
    let trail = trail(t);
    let s = e.with_trail(&trail);
    let unit = |r: Result<(), Error>| r.map(|()| String::new());
    match step {
        Step::MuteNotifications(u, r) => unit(s.mute_notifications(u, r).wait()),
        Step::RemoveUser(u) => s.remove_user(u).wait().map(|b| b.to_string()),
        Step::MuteMembers(r, us, d, a) => s
            .mute_members_scoped(r, us, *d, *a)
            .wait()
            .map(|x| format!("{x:?}")),
        Step::UnmuteMembers(r, us) => s.unmute_members(r, us).wait().map(|n| n.to_string()),
        Step::SetModules(u, f, d, a) => s
            .set_module_mutes(u, module_change(f, *d, *a))
            .wait()
            .map(|st| module_answer(&st)),
        Step::MuteRoom(r, d, a) => s
            .mute_room_scoped(r, *d, *a)
            .wait()
            .map(|x| format!("{x:?}")),
        Step::UnmuteRoom(r) => s.unmute_room(r).wait().map(|b| b.to_string()),
        Step::Allow(r, us) => unit(s.allow(r, us).wait()),
        Step::Disallow(r, us) => s.disallow(r, us).wait().map(|n| n.to_string()),
        Step::SetSlowMode(r, Some(ms)) => {
            unit(s.set_slow_mode(r, Duration::from_millis(*ms)).wait())
        }
        Step::SetSlowMode(r, None) => s.clear_slow_mode(r).wait().map(|b| b.to_string()),
        Step::SetLadder(r, Some(i)) => unit(s.set_ladder(r, ladder(*i)).wait()),
        Step::SetLadder(r, None) => s.clear_ladder(r).wait().map(|b| b.to_string()),
        Step::Strike(r, u) => s
            .strike(r, u)
            .wait()
            .map(|x| format!("{} {:?}", x.strikes, x.expiry)),
        Step::ClearStrikes(r, u) => s.clear_strikes(r, u).wait().map(|b| b.to_string()),
        other => unreachable!("{other:?} takes no trail"),
    }
}
