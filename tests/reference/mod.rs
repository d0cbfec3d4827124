//! The reference model shared by the model-based test and the differential fuzzer:
//! plain ordered maps, no concurrency, every rule of the contract written out again,
//! and the harness that drives a durable engine beside it.
#![allow(dead_code)]

mod personal;
pub mod trail;

pub use personal::{LEAPS, TOO_MANY};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use mutegate::Clock as _;
use mutegate::{
    Action, Actions, AllowPolicy, Bypass, Denied, DenyReason, Engine, Error, Event, Expiry,
    ManualClock, Mentions, Module, ModuleChange, Mute, MuteFor, NotifyLevel, Page, Role,
    RoomHandle, Target, TargetHandle, UserHandle,
};

pub const T0: u64 = 1_000_000;
pub const USERS: [&str; 3] = ["u0", "u1", "u2"];
pub const ROOMS: [&str; 3] = ["r0", "r1", "u0"]; // "u0" names a room and a user: no crosstalk
pub const LONG: &str = "0123456789012345678901234567890123456789012345678901234567890123x"; // 65 bytes
pub const ROLES: [Role; 3] = [Role::Member, Role::Admin, Role::Owner];

/// Fails the comparison when two values differ.
macro_rules! check_eq {
    ($a:expr, $b:expr $(,)?) => {
        check_eq!($a, $b, "")
    };
    ($a:expr, $b:expr, $($fmt:tt)+) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            return Err(format!("{:?} != {:?}: {}", a, b, format!($($fmt)+)));
        }
    }};
}

#[derive(Clone, Debug)]
pub enum Step {
    MuteNotifications(&'static str, &'static str),
    SetLevel(&'static str, &'static str, NotifyLevel, MuteFor),
    UnmuteNotifications(&'static str, &'static str),
    /// Member mutes with their scope (`Actions::ALL` goes through the unscoped call).
    MuteMembers(&'static str, Vec<&'static str>, MuteFor, Actions),
    UnmuteMembers(&'static str, Vec<&'static str>),
    SetModules(&'static str, [Option<bool>; 4], MuteFor, Actions),
    MuteRoom(&'static str, MuteFor, Actions),
    UnmuteRoom(&'static str),
    Allow(&'static str, Vec<&'static str>),
    Disallow(&'static str, Vec<&'static str>),
    RemoveUser(&'static str),
    RemoveRoom(&'static str),
    Advance(u64),
    Sweep,
    /// Snapshot the engine and restore it into a fresh one.
    SnapshotRestore,
    /// Close the durable engine and open its directory again.
    Reopen,
    /// Quiet hours: the schedule of `personal::spec(i)`.
    SetQuietHours(&'static str, usize),
    ClearQuietHours(&'static str),
    /// Snooze until now + ms (`None`: forever; `Some(0)`: now, refused as past).
    Snooze(&'static str, Option<u64>),
    Unsnooze(&'static str),
    /// Bypass rules: (mentions, urgent).
    SetBypass(&'static str, bool, bool),
    MuteSender(&'static str, &'static str, MuteFor),
    UnmuteSender(&'static str, &'static str),
    SetRoomMentions(&'static str, bool),
    /// Moves the clock to `personal::leap(i)` if that is later.
    Leap(usize),
    /// Slow mode: a cooldown in ms, or `None` to lift it.
    SetSlowMode(&'static str, Option<u64>),
    /// `try_send_as` to `Target::room`.
    TrySend(&'static str, &'static str, Role),
    /// A room's ladder: `LADDERS[i]`, or `None` for the engine's.
    SetLadder(&'static str, Option<usize>),
    Strike(&'static str, &'static str),
    ClearStrikes(&'static str, &'static str),
    /// A mutation made with `trail::trail(i)`.
    WithTrail(usize, Box<Step>),
}

/// Ladders the steps choose from, as (steps ms, decay ms).
pub const LADDERS: [(&[u64], u64); 3] = [
    (&[100, 1_000, 60_000], 2_500),
    (&[50], 400),
    (&[2_000, 500], 10_000),
];

pub fn ladder(i: usize) -> mutegate::Ladder {
    let (steps, decay) = LADDERS[i];
    mutegate::Ladder::new(
        steps.iter().map(|&ms| Duration::from_millis(ms)),
        Duration::from_millis(decay),
    )
    .expect("valid ladder")
}

/// The engine's ladder in the harness.
pub fn engine_ladder() -> mutegate::Ladder {
    mutegate::Ladder::new(
        [Duration::from_millis(300), Duration::from_millis(3_000)],
        Duration::from_millis(1_500),
    )
    .expect("valid ladder")
}

/// The reference: plain ordered maps, no concurrency, stored entries kept until removed
/// (expired ones included), exactly as the contract describes.
#[derive(Clone, Default)]
pub struct Model {
    pub now: u64,
    seq: u64,
    pub policy: AllowPolicy,
    notify: BTreeMap<(String, String), (NotifyLevel, Expiry, u64)>,
    members: BTreeMap<(String, String), (Expiry, Actions)>,
    modules: BTreeMap<(String, Module), (Expiry, Actions)>,
    room_mute: BTreeMap<String, (Expiry, Actions)>,
    allow: BTreeSet<(String, String)>,
    /// Quiet-hours schedules, by spec index.
    quiet: BTreeMap<String, usize>,
    snooze: BTreeMap<String, Expiry>,
    /// Non-default bypass rules: (mentions, urgent).
    bypass: BTreeMap<String, (bool, bool)>,
    /// (user, sender) -> (end, order made).
    senders: BTreeMap<(String, String), (Expiry, u64)>,
    /// Rooms whose room-wide mentions are plain messages.
    plain: BTreeSet<String>,
    /// Slow-mode cooldowns by room.
    slow: BTreeMap<String, u64>,
    /// (room, user) -> when the user last sent there (soft state: not stored state).
    last_sent: BTreeMap<(String, String), u64>,
    /// Rooms' own ladders (index into `LADDERS`).
    ladders: BTreeMap<String, usize>,
    /// (room, user) -> when each strike decays, in order (decayed ones kept until the
    /// member's next strike, a pardon or a reopen, as the engine keeps them).
    strikes: BTreeMap<(String, String), Vec<u64>>,
    /// Moderation histories (see `trail`).
    history: trail::Histories,
    /// Every `Expired` event the engine owes so far: an entry with a finite end that is
    /// overwritten, removed or swept at or after that end.
    pub expired: Vec<(Mute, u64)>,
}

pub fn notification(u: &str, r: &str) -> Mute {
    Mute::Notification {
        user: u.into(),
        room: r.into(),
    }
}
pub fn sender(u: &str, s: &str) -> Mute {
    Mute::Sender {
        user: u.into(),
        sender: s.into(),
    }
}
pub fn snooze(u: &str) -> Mute {
    Mute::Snooze { user: u.into() }
}
pub fn member(r: &str, u: &str) -> Mute {
    Mute::Member {
        room: r.into(),
        user: u.into(),
    }
}

/// Only the kind of error is compared; messages are tested elsewhere.
pub type Outcome = Result<String, std::mem::Discriminant<Error>>;

pub fn kind(e: Error) -> std::mem::Discriminant<Error> {
    std::mem::discriminant(&e)
}

pub fn valid(id: &str) -> Result<(), Error> {
    if id.is_empty() {
        Err(Error::EmptyId {
            kind: mutegate::IdKind::User,
        })
    } else if id.len() > 64 {
        Err(Error::IdTooLong {
            kind: mutegate::IdKind::User,
            id: String::new(),
            len: 0,
            max: 0,
        })
    } else {
        Ok(())
    }
}

pub fn batch(ids: &[&str]) -> Result<(), Error> {
    ids.iter().try_for_each(|id| valid(id))?;
    if ids.is_empty() {
        Err(Error::EmptyBatch)
    } else {
        Ok(())
    }
}

pub fn expiry(now: u64, d: MuteFor) -> Result<Expiry, Error> {
    match d {
        MuteFor::Forever => Ok(Expiry::Never),
        MuteFor::For(d) if d.as_millis() == 0 => Err(Error::ZeroDuration { duration: d }),
        MuteFor::For(d) => {
            let until = u128::from(now) + d.as_millis();
            if until >= u128::from(u64::MAX) {
                Err(Error::DurationOverflow {
                    duration_ms: 0,
                    now_ms: 0,
                })
            } else {
                Ok(Expiry::At(until as u64))
            }
        }
    }
}

/// A scope must name an action.
pub fn some_action(scope: Actions) -> Result<(), Error> {
    if scope.is_empty() {
        Err(Error::NoActionGiven)
    } else {
        Ok(())
    }
}

pub fn on(e: Expiry, now: u64) -> bool {
    match e {
        Expiry::Never => true,
        Expiry::At(t) => now < t,
    }
}

pub fn latest(a: Expiry, b: Expiry) -> Expiry {
    match (a, b) {
        (Expiry::Never, _) | (_, Expiry::Never) => Expiry::Never,
        (Expiry::At(x), Expiry::At(y)) => Expiry::At(x.max(y)),
    }
}

impl Model {
    /// A stored entry with end `old` is overwritten or removed now.
    fn ended(&mut self, mute: Mute, old: Expiry) {
        if let Expiry::At(t) = old
            && t <= self.now
        {
            self.expired.push((mute, t));
        }
    }

    pub fn apply(&mut self, step: &Step) -> Outcome {
        let out = self.run(step);
        if out.is_ok() {
            self.forget(step);
        }
        out.map_err(kind)
    }

    fn set_level(&mut self, u: &str, r: &str, level: NotifyLevel, until: Expiry) {
        let key = (u.to_owned(), r.to_owned());
        if let Some(&(_, old, _)) = self.notify.get(&key) {
            self.ended(notification(u, r), old);
        }
        if level == NotifyLevel::All {
            self.notify.remove(&key);
            return;
        }
        let seq = match self.notify.get(&key) {
            Some(&(_, e, seq)) if on(e, self.now) => seq,
            _ => {
                self.seq += 1;
                self.seq
            }
        };
        self.notify.insert(key, (level, until, seq));
    }

    fn run(&mut self, step: &Step) -> Result<String, Error> {
        let now = self.now;
        match step {
            Step::MuteNotifications(u, r) => {
                valid(u)?;
                valid(r)?;
                self.set_level(u, r, NotifyLevel::Off, Expiry::Never);
                Ok(String::new())
            }
            Step::SetLevel(u, r, level, d) => {
                valid(u)?;
                valid(r)?;
                if *level == NotifyLevel::All && *d != MuteFor::Forever {
                    return Err(Error::InvalidCombination(""));
                }
                let until = expiry(now, *d)?;
                self.set_level(u, r, *level, until);
                Ok(String::new())
            }
            Step::UnmuteNotifications(u, r) => {
                valid(u)?;
                valid(r)?;
                let key = (u.to_string(), r.to_string());
                match self.notify.get(&key) {
                    Some(&(_, e, _)) if on(e, now) => {
                        self.notify.remove(&key);
                        Ok(String::new())
                    }
                    _ => Err(Error::NotMuted {
                        user: String::new(),
                        room: String::new(),
                    }),
                }
            }
            Step::MuteMembers(r, us, d, scope) => {
                valid(r)?;
                batch(us)?;
                some_action(*scope)?;
                let until = expiry(now, *d)?;
                for u in us {
                    if let Some((old, _)) = self
                        .members
                        .insert((r.to_string(), u.to_string()), (until, *scope))
                    {
                        self.ended(member(r, u), old);
                    }
                }
                Ok(format!("{until:?}"))
            }
            Step::UnmuteMembers(r, us) => {
                valid(r)?;
                batch(us)?;
                let mut lifted = 0;
                for u in us {
                    if let Some((e, _)) = self.members.remove(&(r.to_string(), u.to_string())) {
                        lifted += usize::from(on(e, now));
                        self.ended(member(r, u), e);
                    }
                }
                Ok(lifted.to_string())
            }
            Step::SetModules(u, flags, d, scope) => {
                valid(u)?;
                if flags.iter().all(Option::is_none) {
                    return Err(Error::NoModuleGiven);
                }
                some_action(*scope)?;
                if !flags.contains(&Some(true)) && *d != MuteFor::Forever {
                    return Err(Error::InvalidCombination(""));
                }
                let until = expiry(now, *d)?;
                for (m, f) in Module::ALL.into_iter().zip(flags) {
                    let old = match f {
                        Some(true) => self.modules.insert((u.to_string(), m), (until, *scope)),
                        Some(false) => self.modules.remove(&(u.to_string(), m)),
                        None => None,
                    };
                    if let Some((old, _)) = old {
                        self.ended(
                            Mute::Module {
                                user: u.to_string(),
                                module: m,
                            },
                            old,
                        );
                    }
                }
                Ok(self.module_status(u))
            }
            Step::MuteRoom(r, d, scope) => {
                valid(r)?;
                some_action(*scope)?;
                let until = expiry(now, *d)?;
                if let Some((old, _)) = self.room_mute.insert(r.to_string(), (until, *scope)) {
                    self.ended(
                        Mute::Room {
                            room: r.to_string(),
                        },
                        old,
                    );
                }
                Ok(format!("{until:?}"))
            }
            Step::UnmuteRoom(r) => {
                valid(r)?;
                let old = self.room_mute.remove(*r).map(|(e, _)| e);
                if let Some(old) = old {
                    self.ended(
                        Mute::Room {
                            room: r.to_string(),
                        },
                        old,
                    );
                }
                Ok(old.is_some_and(|e| on(e, now)).to_string())
            }
            Step::Allow(r, us) => {
                valid(r)?;
                batch(us)?;
                for u in us {
                    self.allow.insert((r.to_string(), u.to_string()));
                }
                Ok(String::new())
            }
            Step::Disallow(r, us) => {
                valid(r)?;
                batch(us)?;
                let n = us
                    .iter()
                    .filter(|u| self.allow.remove(&(r.to_string(), u.to_string())))
                    .count();
                Ok(n.to_string())
            }
            Step::RemoveUser(u) => {
                valid(u)?;
                let before = self.stored();
                self.drain(|m| match m {
                    Mute::Notification { user, .. }
                    | Mute::Module { user, .. }
                    | Mute::Member { user, .. }
                    | Mute::Snooze { user } => user == u,
                    Mute::Sender { user, sender } => user == u || sender == u,
                    _ => false,
                });
                self.allow.retain(|(_, x)| x != u);
                self.last_sent.retain(|(_, x), _| x != u);
                self.strikes.retain(|(_, x), _| x != u);
                self.quiet.remove(*u);
                self.bypass.remove(*u);
                Ok((before != self.stored()).to_string())
            }
            Step::RemoveRoom(r) => {
                valid(r)?;
                let before = self.stored();
                self.drain(|m| match m {
                    Mute::Notification { room, .. }
                    | Mute::Member { room, .. }
                    | Mute::Room { room } => room == r,
                    _ => false,
                });
                self.allow.retain(|(x, _)| x != r);
                self.plain.remove(*r);
                self.slow.remove(*r);
                self.ladders.remove(*r);
                self.strikes.retain(|(x, _), _| x != r);
                self.last_sent.retain(|(x, _), _| x != r);
                Ok((before != self.stored()).to_string())
            }
            Step::Advance(ms) => {
                self.now += ms;
                Ok(String::new())
            }
            Step::Sweep => {
                let before = self.expired.len();
                self.drain(|_| true);
                // Strikes that have all decayed go too (their count is not reported).
                let now = self.now;
                self.strikes.retain(|_, ends| ends.iter().any(|&e| e > now));
                Ok((self.expired.len() - before).to_string())
            }
            Step::SetQuietHours(u, i) => {
                let (zone, windows) = personal::spec(*i);
                personal::validate(zone, &windows)?;
                valid(u)?;
                self.quiet.insert(u.to_string(), *i);
                Ok(String::new())
            }
            Step::ClearQuietHours(u) => {
                valid(u)?;
                Ok(self.quiet.remove(*u).is_some().to_string())
            }
            Step::Snooze(u, ms) => {
                valid(u)?;
                let until = ms.map_or(Expiry::Never, |ms| Expiry::At(now + ms));
                if let Expiry::At(t) = until
                    && t <= now
                {
                    return Err(Error::SnoozeInPast {
                        until_ms: t,
                        now_ms: now,
                    });
                }
                if let Some(old) = self.snooze.insert(u.to_string(), until) {
                    self.ended(snooze(u), old);
                }
                Ok(String::new())
            }
            Step::Unsnooze(u) => {
                valid(u)?;
                let old = self.snooze.remove(*u);
                if let Some(old) = old {
                    self.ended(snooze(u), old);
                }
                Ok(old.is_some_and(|e| on(e, now)).to_string())
            }
            Step::SetBypass(u, mentions, urgent) => {
                valid(u)?;
                if *mentions || *urgent {
                    self.bypass.insert(u.to_string(), (*mentions, *urgent));
                } else {
                    self.bypass.remove(*u);
                }
                Ok(String::new())
            }
            Step::MuteSender(u, x, d) => {
                valid(u)?;
                valid(x)?;
                let until = expiry(now, *d)?;
                let key = (u.to_string(), x.to_string());
                let seq = match self.senders.get(&key) {
                    Some(&(old, seq)) => {
                        self.ended(sender(u, x), old);
                        seq
                    }
                    None => {
                        self.seq += 1;
                        self.seq
                    }
                };
                self.senders.insert(key, (until, seq));
                Ok(format!("{until:?}"))
            }
            Step::UnmuteSender(u, x) => {
                valid(u)?;
                valid(x)?;
                let old = self.senders.remove(&(u.to_string(), x.to_string()));
                if let Some((old, _)) = old {
                    self.ended(sender(u, x), old);
                }
                Ok(old.is_some_and(|(e, _)| on(e, now)).to_string())
            }
            Step::SetRoomMentions(r, notify) => {
                valid(r)?;
                if *notify {
                    self.plain.remove(*r);
                } else {
                    self.plain.insert(r.to_string());
                }
                Ok(String::new())
            }
            Step::Leap(i) => {
                self.now = self.now.max(personal::leap(*i));
                Ok(String::new())
            }
            Step::SetSlowMode(r, cooldown) => {
                valid(r)?;
                match cooldown {
                    Some(ms) if !(1_000..=6 * 3_600_000).contains(ms) => {
                        Err(Error::CooldownOutOfRange {
                            cooldown_ms: *ms,
                            min_ms: 0,
                            max_ms: 0,
                        })
                    }
                    Some(ms) => {
                        self.slow.insert(r.to_string(), *ms);
                        Ok(String::new())
                    }
                    None => {
                        self.last_sent.retain(|(x, _), _| x != r);
                        Ok(self.slow.remove(*r).is_some().to_string())
                    }
                }
            }
            Step::TrySend(u, r, role) => {
                let verdict = self.check(u, Target::room(r), Action::SendMessage, *role);
                if verdict.is_ok()
                    && self.slow.contains_key(*r)
                    && !self.allow.contains(&(r.to_string(), u.to_string()))
                    && !matches!(role, Role::Owner | Role::Admin)
                {
                    self.last_sent.insert((r.to_string(), u.to_string()), now);
                }
                Ok(format!("{verdict:?}"))
            }
            Step::SetLadder(r, i) => {
                valid(r)?;
                match i {
                    Some(i) => {
                        self.ladders.insert(r.to_string(), *i);
                        Ok(String::new())
                    }
                    None => Ok(self.ladders.remove(*r).is_some().to_string()),
                }
            }
            Step::Strike(r, u) => {
                valid(r)?;
                valid(u)?;
                let ladder = self
                    .ladders
                    .get(*r)
                    .map_or_else(engine_ladder, |&i| ladder(i));
                let decay = u64::try_from(ladder.decay().as_millis()).unwrap();
                let end = now + decay;
                let key = (r.to_string(), u.to_string());
                if self
                    .strikes
                    .get(&key)
                    .is_some_and(|ends| ends.contains(&end))
                {
                    // The same strike in the same millisecond counts once.
                    let until = self.members.get(&key).map_or(Expiry::At(0), |m| m.0);
                    return Ok(format!("{} {until:?}", self.strike_count(r, u)));
                }
                let ends = self.strikes.entry(key).or_default();
                ends.retain(|&e| e > now);
                let at = ends.partition_point(|&e| e <= end);
                ends.insert(at, end);
                if ends.len() > 64 {
                    ends.remove(0);
                }
                let strikes = ends.len();
                let step = now + u64::try_from(ladder.step(strikes).as_millis()).unwrap();
                let key = (r.to_string(), u.to_string());
                let until = match self.members.get(&key) {
                    Some(&(Expiry::Never, _)) => Expiry::Never,
                    Some(&(Expiry::At(t), _)) if t > now => Expiry::At(t.max(step)),
                    _ => Expiry::At(step),
                };
                if let Some((old, _)) = self.members.insert(key, (until, Actions::ALL)) {
                    self.ended(member(r, u), old);
                }
                Ok(format!("{strikes} {until:?}"))
            }
            Step::WithTrail(t, step) => self.with_trail(*t, step),
            Step::ClearStrikes(r, u) => {
                valid(r)?;
                valid(u)?;
                let had = self
                    .strikes
                    .remove(&(r.to_string(), u.to_string()))
                    .is_some_and(|ends| ends.iter().any(|&e| e > now));
                Ok(had.to_string())
            }
            Step::SnapshotRestore | Step::Reopen => {
                // Slow mode's last sends are soft state: a new engine forgets them.
                self.last_sent.clear();
                // Decayed strikes are not carried over.
                for ends in self.strikes.values_mut() {
                    ends.retain(|&e| e > now);
                }
                self.strikes.retain(|_, ends| !ends.is_empty());
                // Ended entries are not carried over, and no event announces them.
                let owed = self.expired.len();
                self.drain(|_| true);
                self.expired.truncate(owed);
                Ok(String::new())
            }
        }
    }

    /// Every stored timed entry as (mute, end).
    fn entries(&self) -> Vec<(Mute, Expiry)> {
        let n = self
            .notify
            .iter()
            .map(|((u, r), &(_, e, _))| (notification(u, r), e));
        let m = self
            .members
            .iter()
            .map(|((r, u), &(e, _))| (member(r, u), e));
        let d = self.modules.iter().map(|((u, m), &(e, _))| {
            (
                Mute::Module {
                    user: u.clone(),
                    module: *m,
                },
                e,
            )
        });
        let w = self
            .room_mute
            .iter()
            .map(|(r, &(e, _))| (Mute::Room { room: r.clone() }, e));
        let x = self
            .senders
            .iter()
            .map(|((u, s), &(e, _))| (sender(u, s), e));
        let z = self.snooze.iter().map(|(u, &e)| (snooze(u), e));
        n.chain(m).chain(d).chain(w).chain(x).chain(z).collect()
    }

    /// Removes the entries `pick` selects; with a pick that takes all, only the ended
    /// ones go (a sweep). Owed `Expired` events are recorded either way.
    fn drain(&mut self, pick: impl Fn(&Mute) -> bool) {
        let sweep_only = pick(&Mute::Room {
            room: "\0sweep".into(),
        });
        for (mute, e) in self.entries() {
            if !pick(&mute) || (sweep_only && on(e, self.now)) {
                continue;
            }
            self.ended(mute.clone(), e);
            match mute {
                Mute::Notification { user, room } => drop(self.notify.remove(&(user, room))),
                Mute::Member { room, user } => drop(self.members.remove(&(room, user))),
                Mute::Module { user, module } => drop(self.modules.remove(&(user, module))),
                Mute::Room { room } => drop(self.room_mute.remove(&room)),
                Mute::Sender { user, sender } => drop(self.senders.remove(&(user, sender))),
                Mute::Snooze { user } => drop(self.snooze.remove(&user)),
                _ => unreachable!("the model makes only these"),
            }
        }
    }

    fn stored(&self) -> usize {
        self.notify.len()
            + self.members.len()
            + self.modules.len()
            + self.room_mute.len()
            + self.allow.len()
            + self.quiet.len()
            + self.snooze.len()
            + self.bypass.len()
            + self.senders.len()
            + self.plain.len()
            + self.slow.len()
            + self.ladders.len()
            + self.strikes.len()
    }

    /// `u`'s strikes in force in `r`.
    fn strike_count(&self, r: &str, u: &str) -> usize {
        self.strikes
            .get(&(r.to_string(), u.to_string()))
            .map_or(0, |ends| ends.iter().filter(|&&e| e > self.now).count())
    }

    fn module_status(&self, u: &str) -> String {
        let v: Vec<Option<Expiry>> = Module::ALL
            .iter()
            .map(|&m| {
                self.modules
                    .get(&(u.to_string(), m))
                    .map(|&(e, _)| e)
                    .filter(|&e| on(e, self.now))
            })
            .collect();
        format!("{v:?}")
    }

    /// What `u`'s mutes in each module block (`None` where not muted).
    fn module_scopes(&self, u: &str) -> Vec<Option<Actions>> {
        Module::ALL
            .iter()
            .map(|&m| {
                self.modules
                    .get(&(u.to_string(), m))
                    .filter(|&&(e, _)| on(e, self.now))
                    .map(|&(_, a)| a)
            })
            .collect()
    }

    fn check(&self, u: &str, t: Target<'_>, action: Action, role: Role) -> Result<(), Denied> {
        let now = self.now;
        let mut blocks: Vec<(DenyReason, Expiry)> = Vec::new();
        if let Some(&(e, scope)) = self.modules.get(&(u.to_string(), t.module))
            && on(e, now)
            && scope.contains(action)
        {
            blocks.push((DenyReason::ModuleMuted(t.module), e));
        }
        if t.module != Module::P2p {
            let allowed = self.allow.contains(&(t.id.to_string(), u.to_string()));
            if let Some(&(e, scope)) = self.members.get(&(t.id.to_string(), u.to_string()))
                && on(e, now)
                && scope.contains(action)
                && !(allowed && self.policy == AllowPolicy::AllowListWins)
            {
                blocks.push((DenyReason::MemberMuted, e));
            }
            let exempt = matches!(role, Role::Owner | Role::Admin);
            if let Some(&(e, scope)) = self.room_mute.get(t.id)
                && on(e, now)
                && scope.contains(action)
                && !allowed
                && !exempt
            {
                blocks.push((DenyReason::RoomMuted, e));
            }
            if let (Some(&cooldown), Some(&last)) = (
                self.slow.get(t.id),
                self.last_sent.get(&(t.id.to_string(), u.to_string())),
            ) && action == Action::SendMessage
                && now < last + cooldown
                && !allowed
                && !exempt
            {
                blocks.push((DenyReason::SlowMode, Expiry::At(last + cooldown)));
            }
        }
        match blocks.first() {
            None => Ok(()),
            Some(&(reason, _)) => Err(Denied {
                reason,
                until: blocks
                    .iter()
                    .fold(Expiry::At(0), |acc, &(_, e)| latest(acc, e)),
            }),
        }
    }

    fn level(&self, u: &str, r: &str) -> NotifyLevel {
        match self.notify.get(&(u.to_string(), r.to_string())) {
            Some(&(l, e, _)) if on(e, self.now) => l,
            _ => NotifyLevel::All,
        }
    }

    fn settings(&self, u: &str) -> Vec<(String, NotifyLevel, Expiry)> {
        let mut v: Vec<_> = self
            .notify
            .iter()
            .filter(|((x, _), (_, e, _))| x == u && on(*e, self.now))
            .map(|((_, r), &(l, e, seq))| (seq, r.clone(), l, e))
            .collect();
        v.sort_by_key(|x| x.0);
        v.into_iter().map(|(_, r, l, e)| (r, l, e)).collect()
    }

    fn counts(&self) -> [usize; 9] {
        let now = self.now;
        let users: BTreeSet<&str> = self
            .notify
            .keys()
            .map(|(u, _)| u.as_str())
            .chain(self.modules.keys().map(|(u, _)| u.as_str()))
            .chain(self.quiet.keys().map(String::as_str))
            .chain(self.snooze.keys().map(String::as_str))
            .chain(self.bypass.keys().map(String::as_str))
            .chain(self.senders.keys().map(|(u, _)| u.as_str()))
            .collect();
        let rooms: BTreeSet<&str> = self
            .notify
            .keys()
            .map(|(_, r)| r.as_str())
            .chain(self.members.keys().map(|(r, _)| r.as_str()))
            .chain(self.room_mute.keys().map(String::as_str))
            .chain(self.allow.iter().map(|(r, _)| r.as_str()))
            .chain(self.plain.iter().map(String::as_str))
            .chain(self.slow.keys().map(String::as_str))
            .chain(self.ladders.keys().map(String::as_str))
            .chain(self.strikes.keys().map(|(r, _)| r.as_str()))
            .collect();
        [
            self.notify.values().filter(|(_, e, _)| on(*e, now)).count(),
            self.members.values().filter(|(e, _)| on(*e, now)).count(),
            self.modules.values().filter(|(e, _)| on(*e, now)).count(),
            self.room_mute.values().filter(|(e, _)| on(*e, now)).count(),
            self.allow.len(),
            self.senders.values().filter(|(e, _)| on(*e, now)).count(),
            self.quiet.len(),
            users.len(),
            rooms.len(),
        ]
    }
}

/// The engine under test, durable, and what it needs to be rebuilt.
pub struct Harness {
    pub engine: Engine,
    clock: ManualClock,
    policy: AllowPolicy,
    shards: usize,
    dir: tempfile::TempDir,
    pub expired: Arc<Mutex<Vec<(Mute, u64)>>>,
}

impl Harness {
    pub fn new(policy: AllowPolicy, shards: usize) -> Harness {
        let clock = ManualClock::new(T0);
        let dir = tempfile::tempdir().expect("temp dir");
        let expired = Arc::default();
        let engine = Harness::open(&clock, policy, shards, dir.path(), &expired);
        Harness {
            engine,
            clock,
            policy,
            shards,
            dir,
            expired,
        }
    }

    fn open(
        clock: &ManualClock,
        policy: AllowPolicy,
        shards: usize,
        dir: &std::path::Path,
        expired: &Arc<Mutex<Vec<(Mute, u64)>>>,
    ) -> Engine {
        let engine = Engine::builder()
            .clock(clock.clone())
            .allow_policy(policy)
            .shards(shards)
            .sync(mutegate::SyncPolicy::Never)
            .ladder(engine_ladder())
            .history_len(trail::HISTORY_LEN)
            .compact_after(1_024)
            .open(dir)
            .expect("open");
        let sink = Arc::clone(expired);
        let watch = clock.clone();
        engine.subscribe(move |ev: &Event| {
            if let Event::Expired { mute, at_ms } = ev {
                assert!(*at_ms <= watch.now_ms(), "announced before its time");
                sink.lock().unwrap().push((mute.clone(), *at_ms));
            }
        });
        engine
    }

    fn reopen(&mut self) {
        let placeholder = Engine::new();
        drop(std::mem::replace(&mut self.engine, placeholder));
        self.engine = Harness::open(
            &self.clock,
            self.policy,
            self.shards,
            self.dir.path(),
            &self.expired,
        );
    }

    fn snapshot_restore(&mut self) {
        let mut bytes = Vec::new();
        self.engine.snapshot(&mut bytes).expect("snapshot");
        self.dir = tempfile::tempdir().expect("temp dir");
        self.engine = Harness::open(
            &self.clock,
            self.policy,
            self.shards,
            self.dir.path(),
            &self.expired,
        );
        self.engine.restore(&mut bytes.as_slice()).expect("restore");
    }
}

/// The module change of a `SetModules` step (a scope of every action left unsaid).
pub fn module_change(flags: &[Option<bool>; 4], d: MuteFor, a: Actions) -> ModuleChange {
    let mut change = ModuleChange::new().lasting(d);
    for (m, f) in Module::ALL.into_iter().zip(flags) {
        if let Some(f) = f {
            change = change.set(m, *f);
        }
    }
    if a.is_all() { change } else { change.only(a) }
}

/// How a `SetModules` step's answer reads: each module's expiry.
pub fn module_answer(s: &mutegate::ModuleStatus) -> String {
    let v: Vec<Option<Expiry>> = Module::ALL.iter().map(|&m| s.expiry(m)).collect();
    format!("{v:?}")
}

pub fn run_on_engine(h: &mut Harness, step: &Step) -> Outcome {
    let (e, clock) = (&h.engine, &h.clock);
    let unit = |r: Result<(), Error>| r.map(|()| String::new());
    let out = match step {
        Step::MuteNotifications(u, r) => unit(e.mute_notifications(u, r)),
        Step::SetLevel(u, r, l, d) => unit(e.set_notification_level(u, r, *l, *d)),
        Step::UnmuteNotifications(u, r) => unit(e.unmute_notifications(u, r)),
        Step::MuteMembers(r, us, d, a) if a.is_all() => {
            e.mute_members(r, us, *d).map(|x| format!("{x:?}"))
        }
        Step::MuteMembers(r, us, d, a) => e
            .mute_members_scoped(r, us, *d, *a)
            .map(|x| format!("{x:?}")),
        Step::UnmuteMembers(r, us) => e.unmute_members(r, us).map(|n| n.to_string()),
        Step::SetModules(u, f, d, a) => e
            .set_module_mutes(u, module_change(f, *d, *a))
            .map(|s| module_answer(&s)),
        Step::MuteRoom(r, d, a) if a.is_all() => e.mute_room(r, *d).map(|x| format!("{x:?}")),
        Step::MuteRoom(r, d, a) => e.mute_room_scoped(r, *d, *a).map(|x| format!("{x:?}")),
        Step::UnmuteRoom(r) => e.unmute_room(r).map(|b| b.to_string()),
        Step::Allow(r, us) => unit(e.allow(r, us)),
        Step::Disallow(r, us) => e.disallow(r, us).map(|n| n.to_string()),
        Step::RemoveUser(u) => e.remove_user(u).map(|b| b.to_string()),
        Step::RemoveRoom(r) => e.remove_room(r).map(|b| b.to_string()),
        Step::Advance(ms) => {
            clock.advance(Duration::from_millis(*ms));
            Ok(String::new())
        }
        Step::Sweep => Ok(e.sweep().to_string()),
        Step::SnapshotRestore => {
            h.snapshot_restore();
            Ok(String::new())
        }
        Step::Reopen => {
            h.reopen();
            Ok(String::new())
        }
        Step::SetQuietHours(u, i) => {
            unit(personal::build(*i).and_then(|s| e.set_quiet_hours(u, s)))
        }
        Step::ClearQuietHours(u) => e.clear_quiet_hours(u).map(|b| b.to_string()),
        Step::Snooze(u, ms) => {
            let until = ms.map_or(Expiry::Never, |ms| Expiry::At(clock.now_ms() + ms));
            unit(e.snooze_until(u, until))
        }
        Step::Unsnooze(u) => e.unsnooze(u).map(|b| b.to_string()),
        Step::SetBypass(u, mentions, urgent) => unit(e.set_bypass(
            u,
            Bypass {
                mentions: *mentions,
                urgent: *urgent,
            },
        )),
        Step::MuteSender(u, x, d) => e.mute_sender(u, x, *d).map(|x| format!("{x:?}")),
        Step::UnmuteSender(u, x) => e.unmute_sender(u, x).map(|b| b.to_string()),
        Step::SetRoomMentions(r, notify) => unit(e.set_room_mentions(r, *notify)),
        Step::SetSlowMode(r, Some(ms)) => unit(e.set_slow_mode(r, Duration::from_millis(*ms))),
        Step::SetSlowMode(r, None) => e.clear_slow_mode(r).map(|b| b.to_string()),
        Step::TrySend(u, r, role) => Ok(format!("{:?}", e.try_send_as(u, Target::room(r), *role))),
        Step::SetLadder(r, Some(i)) => unit(e.set_ladder(r, ladder(*i))),
        Step::SetLadder(r, None) => e.clear_ladder(r).map(|b| b.to_string()),
        Step::Strike(r, u) => e
            .strike(r, u)
            .map(|s| format!("{} {:?}", s.strikes, s.expiry)),
        Step::ClearStrikes(r, u) => e.clear_strikes(r, u).map(|b| b.to_string()),
        Step::WithTrail(t, step) => trail::on_engine(e, *t, step),
        Step::Leap(i) => {
            let to = personal::leap(*i);
            let now = clock.now_ms();
            clock.advance(Duration::from_millis(to.saturating_sub(now)));
            Ok(String::new())
        }
    };
    out.map_err(kind)
}

/// A message from nobody that mentions `u` by name, or nobody.
fn mentioning(u: &str, mentioned: bool) -> personal::Msg {
    personal::Msg {
        sender: None,
        direct: if mentioned { personal::only(u) } else { &[] },
        room_wide: false,
        urgent: false,
    }
}

/// Walks a paged listing `limit` entries at a time and returns every entry, checking
/// that each page holds at most `limit`, in strictly increasing id order, and that
/// `next` is the page's last id exactly when a page follows.
pub fn walk<T: std::fmt::Debug>(
    fetch: impl Fn(Option<&str>, usize) -> Result<Page<T>, Error>,
    id: impl Fn(&T) -> String,
    limit: usize,
) -> Result<Vec<T>, String> {
    check_eq!(
        fetch(None, 0).map(|_| ()),
        Err(Error::PageLimit {
            limit: 0,
            max: mutegate::MAX_PAGE_LEN
        })
    );
    let mut all: Vec<T> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = fetch(after.as_deref(), limit).map_err(|e| e.to_string())?;
        if page.items.len() > limit {
            return Err(format!(
                "a page of {} for a limit of {limit}",
                page.items.len()
            ));
        }
        for item in page.items {
            if let Some(last) = all.last()
                && id(last) >= id(&item)
            {
                return Err(format!("{item:?} after {last:?}: not in id order"));
            }
            all.push(item);
        }
        match page.next {
            None => return Ok(all),
            Some(next) => {
                check_eq!(
                    Some(next.clone()),
                    all.last().map(&id),
                    "next is the last id"
                );
                after = Some(next);
            }
        }
    }
}

pub fn compare(e: &Engine, m: &Model) -> Result<(), String> {
    trail::compare(e, m)?;
    let now = m.now;
    let view = e.at(now);
    for u in USERS {
        for id in ROOMS.iter().chain(USERS.iter()) {
            for module in Module::ALL {
                let t = Target::new(module, id);
                for role in ROLES {
                    let want = m.check(u, t, Action::SendMessage, role);
                    check_eq!(
                        e.check_send_as(u, t, role),
                        want,
                        "{} -> {:?} as {:?}",
                        u,
                        t,
                        role
                    );
                    check_eq!(view.check_send_as(u, t, role), want);
                    let want = m.check(u, t, Action::React, role);
                    check_eq!(e.check_act_as(u, t, Action::React, role), want);
                }
                check_eq!(
                    e.can_send(u, t),
                    m.check(u, t, Action::SendMessage, Role::Member).is_ok()
                );
                for action in Action::ALL {
                    check_eq!(
                        view.can_act(u, t, action),
                        m.check(u, t, action, Role::Member).is_ok(),
                        "{} {} -> {:?}",
                        u,
                        action,
                        t
                    );
                }
            }
        }
        for r in ROOMS {
            let level = m.level(u, r);
            check_eq!(e.notification_level(u, r), level);
            for mentioned in [false, true] {
                check_eq!(
                    e.should_push_mentioned(u, r, mentioned),
                    m.push(u, r, &mentioning(u, mentioned)),
                    "{} in {} mentioned {}",
                    u,
                    r,
                    mentioned
                );
            }
            for msg in personal::messages() {
                let want = m.push(u, r, &msg);
                let message = msg.to_message();
                check_eq!(
                    e.should_push_message(u, r, &message),
                    want,
                    "{} in {}: {:?}",
                    u,
                    r,
                    msg
                );
                check_eq!(view.should_push_message(u, r, &message), want);
            }
        }
        let q = e.quiet_hours(u);
        check_eq!(
            q.schedule,
            m.quiet.get(u).map(|&i| personal::build(i).expect("valid")),
            "schedule of {}",
            u
        );
        check_eq!(
            q.snoozed_until,
            m.snooze.get(u).copied().filter(|&x| on(x, now))
        );
        let (mentions, urgent) = m.bypass.get(u).copied().unwrap_or_default();
        check_eq!(q.bypass, Bypass { mentions, urgent });
        check_eq!(e.is_quiet(u), m.quiet(u), "quiet {} at {}", u, now);
        let senders: Vec<(String, Expiry)> = e
            .muted_senders(u)
            .into_iter()
            .map(|x| (x.sender, x.expiry))
            .collect();
        check_eq!(senders, m.muted_senders(u), "senders muted by {}", u);
        let mut by_id = m.muted_senders(u);
        by_id.sort_by(|a, b| a.0.cmp(&b.0));
        let paged: Vec<(String, Expiry)> = walk(
            |a, n| e.muted_senders_page(u, a, n),
            |x| x.sender.clone(),
            1,
        )?
        .into_iter()
        .map(|x| (x.sender, x.expiry))
        .collect();
        check_eq!(paged, by_id, "senders muted by {} by page", u);
        let got: Vec<_> = e
            .notification_settings(u)
            .into_iter()
            .map(|s| (s.room, s.level, s.expiry))
            .collect();
        check_eq!(got, m.settings(u), "settings of {}", u);
        let rooms: Vec<String> = m.settings(u).into_iter().map(|(r, ..)| r).collect();
        check_eq!(e.muted_rooms(u), rooms);
        let mut by_room = m.settings(u);
        by_room.sort_by(|a, b| a.0.cmp(&b.0));
        let paged: Vec<_> = walk(
            |a, n| e.notification_settings_page(u, a, n),
            |s| s.room.clone(),
            2,
        )?
        .into_iter()
        .map(|s| (s.room, s.level, s.expiry))
        .collect();
        check_eq!(paged, by_room, "settings of {} by page", u);
        let mut sorted_rooms = rooms.clone();
        sorted_rooms.sort();
        check_eq!(
            walk(|a, n| e.muted_rooms_page(u, a, n), Clone::clone, 1)?,
            sorted_rooms
        );
        let status: Vec<Option<Expiry>> = Module::ALL
            .iter()
            .map(|&x| e.module_status(u).expiry(x))
            .collect();
        check_eq!(format!("{status:?}"), m.module_status(u));
        let scopes: Vec<Option<Actions>> = Module::ALL
            .iter()
            .map(|&x| e.module_status(u).actions(x))
            .collect();
        check_eq!(scopes, m.module_scopes(u), "module scopes of {}", u);
    }
    for r in ROOMS {
        check_eq!(
            e.ladder(r),
            m.ladders.get(r).map_or_else(engine_ladder, |&i| ladder(i)),
            "ladder of {}",
            r
        );
        for u in USERS {
            check_eq!(
                e.strikes(r, u),
                m.strike_count(r, u),
                "strikes of {} in {}",
                u,
                r
            );
        }
        check_eq!(e.room_mentions(r), !m.plain.contains(r));
        check_eq!(
            e.slow_mode(r),
            m.slow.get(r).map(|&ms| Duration::from_millis(ms))
        );
        for msg in personal::messages() {
            let want: Vec<&&str> = USERS.iter().filter(|u| m.push(u, r, &msg)).collect();
            let message = msg.to_message();
            check_eq!(
                e.push_targets_for(r, &USERS, &message),
                want.clone(),
                "push in {} {:?}",
                r,
                msg
            );
            check_eq!(view.push_targets_for(r, &USERS, &message), want);
        }
        for mentions in [Mentions::None, Mentions::Users(&["u1"]), Mentions::Everyone] {
            let msg = personal::Msg {
                sender: None,
                direct: match mentions {
                    Mentions::Users(_) => personal::only("u1"),
                    _ => &[],
                },
                room_wide: mentions == Mentions::Everyone,
                urgent: false,
            };
            let want: Vec<&&str> = USERS.iter().filter(|u| m.push(u, r, &msg)).collect();
            check_eq!(
                e.push_targets(r, &USERS, mentions),
                want.clone(),
                "push in {} {:?}",
                r,
                mentions
            );
            check_eq!(view.push_targets(r, &USERS, mentions), want);
        }
        let muted: Vec<(String, Expiry, Actions)> = m
            .members
            .iter()
            .filter(|((x, _), (e, _))| x == r && on(*e, now))
            .map(|((_, u), &(e, a))| (u.clone(), e, a))
            .collect();
        let listed = e.muted_members(r);
        for u in USERS {
            check_eq!(
                e.muted_member(r, u),
                listed.iter().find(|x| x.user == u).cloned(),
                "{}'s mute in {}",
                u,
                r
            );
        }
        for x in &listed {
            check_eq!(
                x.trail,
                m.mute_trail(r, &x.user, x.expiry),
                "trail of {}'s mute in {}",
                x.user,
                r
            );
        }
        let got: Vec<(String, Expiry, Actions)> = listed
            .into_iter()
            .map(|x| (x.user, x.expiry, x.actions))
            .collect();
        check_eq!(got, muted);
        let paged: Vec<(String, Expiry, Actions)> =
            walk(|a, n| e.muted_members_page(r, a, n), |x| x.user.clone(), 2)?
                .into_iter()
                .map(|x| (x.user, x.expiry, x.actions))
                .collect();
        check_eq!(paged, muted, "muted members of {} by page", r);
        for u in USERS {
            check_eq!(
                e.member_mute_actions(r, u),
                muted.iter().find(|x| x.0 == u).map(|x| x.2)
            );
        }
        let room_mute = m.room_mute.get(r).copied().filter(|&(x, _)| on(x, now));
        check_eq!(e.room_mute(r), room_mute.map(|x| x.0));
        check_eq!(e.room_mute_actions(r), room_mute.map(|x| x.1));
        let allow: Vec<String> = m
            .allow
            .iter()
            .filter(|(x, _)| x == r)
            .map(|(_, u)| u.clone())
            .collect();
        check_eq!(e.allow_list(r), allow);
        check_eq!(
            walk(|a, n| e.allow_list_page(r, a, n), Clone::clone, 2)?,
            allow
        );
    }
    let s = e.stats();
    let got = [
        s.notification_mutes,
        s.member_mutes,
        s.module_mutes,
        s.room_mutes,
        s.allow_entries,
        s.sender_mutes,
        s.quiet_schedules,
        s.users,
        s.rooms,
    ];
    check_eq!(got, m.counts(), "stats");
    check_eq!(e.verify_consistency(), Ok(()));
    Ok(())
}

/// Runs `steps` (then a long advance and a sweep) on a durable engine and on the model,
/// comparing every answer after every step.
///
/// # Errors
///
/// The first disagreement, described.
pub fn run(policy: AllowPolicy, shards: usize, steps: &[Step]) -> Result<(), String> {
    run_with(policy, shards, steps, false)
}

/// [`run`], also comparing every check made by handle ([`compare_handles`]) after every
/// step, with handles resolved once per engine and kept across steps; at the end every
/// handle is released, every id's state removed, and the engine must hold no id.
///
/// # Errors
///
/// The first disagreement, described.
pub fn run_handles(policy: AllowPolicy, shards: usize, steps: &[Step]) -> Result<(), String> {
    run_with(policy, shards, steps, true)
}

/// Handles of every user and room id, resolved on one engine.
pub struct Handles {
    pub users: Vec<UserHandle>,
    pub rooms: Vec<RoomHandle>,
}

impl Handles {
    /// Resolves every id of the alphabet (and checks that bad ids are refused).
    pub fn resolve(e: &Engine) -> Result<Handles, String> {
        check_eq!(
            e.user_handle("").map(|_| ()),
            Err(Error::EmptyId {
                kind: mutegate::IdKind::User
            })
        );
        check_eq!(e.room_handle(LONG).is_err(), true, "over-long room id");
        let users = USERS
            .iter()
            .map(|u| e.user_handle(u).map_err(|x| x.to_string()))
            .collect::<Result<_, _>>()?;
        let rooms = ROOMS
            .iter()
            .map(|r| e.room_handle(r).map_err(|x| x.to_string()))
            .collect::<Result<_, _>>()?;
        Ok(Handles { users, rooms })
    }

    /// Releases every handle; each must still have been pinned.
    pub fn release(self, e: &Engine) -> Result<(), String> {
        for u in self.users {
            check_eq!(e.release_user_handle(u), true, "release {:?}", u);
            check_eq!(e.release_user_handle(u), false, "second release {:?}", u);
        }
        for r in self.rooms {
            check_eq!(e.release_room_handle(r), true, "release {:?}", r);
        }
        Ok(())
    }
}

/// Every send check and push decision made by handle agrees with the model.
pub fn compare_handles(e: &Engine, m: &Model, h: &Handles) -> Result<(), String> {
    let view = e.at(m.now);
    for (u, &uh) in USERS.iter().zip(&h.users) {
        check_eq!(e.user_id(uh), Some(u.to_string()));
        for role in ROLES {
            let want = m.check(u, Target::p2p(USERS[0]), Action::SendMessage, role);
            check_eq!(
                e.check_send_handle(uh, TargetHandle::p2p(), role),
                want,
                "{} p2p",
                u
            );
        }
        for (r, &rh) in ROOMS.iter().zip(&h.rooms) {
            check_eq!(e.room_id(rh), Some(r.to_string()));
            for module in Module::ALL {
                let t = TargetHandle::new(module, rh);
                for role in ROLES {
                    let want = m.check(u, Target::new(module, r), Action::SendMessage, role);
                    check_eq!(
                        e.check_send_handle(uh, t, role),
                        want,
                        "{} -> {} {:?}",
                        u,
                        r,
                        module
                    );
                    check_eq!(view.check_send_handle(uh, t, role), want);
                    check_eq!(
                        e.check_act_handle(uh, t, Action::JoinVoice, role),
                        m.check(u, Target::new(module, r), Action::JoinVoice, role)
                    );
                }
                check_eq!(
                    e.can_send_handle(uh, t),
                    m.check(u, Target::new(module, r), Action::SendMessage, Role::Member)
                        .is_ok()
                );
            }
            for mentioned in [false, true] {
                let want = m.push(u, r, &mentioning(u, mentioned));
                check_eq!(e.should_push_handle(uh, rh, mentioned), want);
                check_eq!(view.should_push_handle(uh, rh, mentioned), want);
            }
        }
    }
    Ok(())
}

fn run_with(
    policy: AllowPolicy,
    shards: usize,
    steps: &[Step],
    by_handle: bool,
) -> Result<(), String> {
    let mut h = Harness::new(policy, shards);
    let mut model = Model {
        now: T0,
        policy,
        ..Model::default()
    };
    let mut handles: Option<Handles> = None;
    let tail = [Step::Advance(10_000), Step::Sweep];
    for step in steps.iter().chain(tail.iter()) {
        let want = model.apply(step);
        let got = run_on_engine(&mut h, step);
        check_eq!(got, want, "step {:?}", step);
        compare(&h.engine, &model).map_err(|e| format!("after {step:?}: {e}"))?;
        if by_handle {
            // A reopened or restored engine is another engine: its handles are new.
            if matches!(step, Step::Reopen | Step::SnapshotRestore) {
                handles = None;
            }
            if handles.is_none() {
                handles = Some(Handles::resolve(&h.engine)?);
            }
            let pinned = handles.as_ref().expect("resolved above");
            compare_handles(&h.engine, &model, pinned)
                .map_err(|e| format!("after {step:?}, by handle: {e}"))?;
        }
        let mut got = h.expired.lock().unwrap().clone();
        let mut want = model.expired.clone();
        got.sort();
        want.sort();
        check_eq!(got, want, "Expired events after {:?}", step);
    }
    if let Some(pinned) = handles {
        pinned.release(&h.engine)?;
        for u in USERS {
            h.engine.remove_user(u).map_err(|e| e.to_string())?;
        }
        for r in ROOMS {
            h.engine.remove_room(r).map_err(|e| e.to_string())?;
        }
        check_eq!(
            h.engine.stats().interned_ids,
            0,
            "ids held once nothing holds them"
        );
    }
    Ok(())
}

/// A user id of the fuzzer's small alphabet (collisions are the point).
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum FuzzUser {
    U0,
    U1,
    U2,
    Empty,
    Long,
}

/// A room id of the fuzzer's small alphabet (`u0` names a room and a user).
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum FuzzRoom {
    R0,
    R1,
    U0,
    Empty,
    Long,
}

/// A duration: the valid kinds, plus zero and one that overflows.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum FuzzDuration {
    Forever,
    /// 1 ms to 3.8 s.
    Millis(u8),
    Zero,
    Overflow,
}

/// A mute's scope: mostly every action, else the set of the low six bits (0: empty,
/// refused).
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum FuzzScope {
    All,
    Bits(u8),
}

impl FuzzScope {
    fn get(self) -> Actions {
        match self {
            FuzzScope::All => Actions::ALL,
            FuzzScope::Bits(b) => scope_of_bits(b),
        }
    }
}

/// The set of the actions whose bit (in `Action::ALL` order) is set in `bits`.
pub fn scope_of_bits(bits: u8) -> Actions {
    Actions::of(
        Action::ALL
            .into_iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, a)| a),
    )
}

/// A notification level.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum FuzzLevel {
    All,
    MentionsOnly,
    Off,
    DirectMentions,
}

impl From<FuzzLevel> for NotifyLevel {
    fn from(l: FuzzLevel) -> NotifyLevel {
        match l {
            FuzzLevel::All => NotifyLevel::All,
            FuzzLevel::MentionsOnly => NotifyLevel::MentionsOnly,
            FuzzLevel::Off => NotifyLevel::Off,
            FuzzLevel::DirectMentions => NotifyLevel::DirectMentions,
        }
    }
}

/// One step, as the fuzzer builds it.
#[derive(Arbitrary, Clone, Debug)]
pub enum FuzzStep {
    MuteNotifications(FuzzUser, FuzzRoom),
    SetLevel(FuzzUser, FuzzRoom, FuzzLevel, FuzzDuration),
    UnmuteNotifications(FuzzUser, FuzzRoom),
    MuteMembers(FuzzRoom, Vec<FuzzUser>, FuzzDuration, FuzzScope),
    UnmuteMembers(FuzzRoom, Vec<FuzzUser>),
    SetModules(FuzzUser, [Option<bool>; 4], FuzzDuration, FuzzScope),
    MuteRoom(FuzzRoom, FuzzDuration, FuzzScope),
    UnmuteRoom(FuzzRoom),
    Allow(FuzzRoom, Vec<FuzzUser>),
    Disallow(FuzzRoom, Vec<FuzzUser>),
    RemoveUser(FuzzUser),
    RemoveRoom(FuzzRoom),
    /// 0 to 5.1 s.
    Advance(u8),
    Sweep,
    SnapshotRestore,
    Reopen,
    /// A schedule by index (the refused ones included).
    SetQuietHours(FuzzUser, u8),
    ClearQuietHours(FuzzUser),
    /// `None`: forever; else now + 15 ms per unit (0: refused as past).
    Snooze(FuzzUser, Option<u8>),
    Unsnooze(FuzzUser),
    SetBypass(FuzzUser, bool, bool),
    MuteSender(FuzzUser, FuzzUser, FuzzDuration),
    UnmuteSender(FuzzUser, FuzzUser),
    SetRoomMentions(FuzzRoom, bool),
    Leap(u8),
    /// `None`: lift; else 10 ms per unit (under 1 s refused).
    SetSlowMode(FuzzRoom, Option<u16>),
    TrySend(FuzzUser, FuzzRoom, u8),
    SetLadder(FuzzRoom, Option<u8>),
    Strike(FuzzRoom, FuzzUser),
    ClearStrikes(FuzzRoom, FuzzUser),
    /// A mutation made with a trail (a step that is not a mutation goes without).
    Trailed(u8, Box<FuzzStep>),
}

/// A whole fuzz case: the engine's configuration and its steps.
#[derive(Arbitrary, Clone, Debug)]
pub struct FuzzCase {
    pub allow_list_wins: bool,
    pub many_shards: bool,
    pub steps: Vec<FuzzStep>,
}

impl FuzzUser {
    fn id(self) -> &'static str {
        match self {
            FuzzUser::U0 => USERS[0],
            FuzzUser::U1 => USERS[1],
            FuzzUser::U2 => USERS[2],
            FuzzUser::Empty => "",
            FuzzUser::Long => LONG,
        }
    }
}

impl FuzzRoom {
    fn id(self) -> &'static str {
        match self {
            FuzzRoom::R0 => ROOMS[0],
            FuzzRoom::R1 => ROOMS[1],
            FuzzRoom::U0 => ROOMS[2],
            FuzzRoom::Empty => "",
            FuzzRoom::Long => LONG,
        }
    }
}

impl FuzzDuration {
    fn get(self) -> MuteFor {
        match self {
            FuzzDuration::Forever => MuteFor::Forever,
            FuzzDuration::Millis(b) => MuteFor::millis(1 + u64::from(b) * 15),
            FuzzDuration::Zero => MuteFor::millis(0),
            FuzzDuration::Overflow => MuteFor::millis(u64::MAX - T0),
        }
    }
}

fn users(us: &[FuzzUser]) -> Vec<&'static str> {
    us.iter().take(3).map(|u| u.id()).collect()
}

impl From<&FuzzStep> for Step {
    fn from(s: &FuzzStep) -> Step {
        match s {
            FuzzStep::MuteNotifications(u, r) => Step::MuteNotifications(u.id(), r.id()),
            FuzzStep::SetLevel(u, r, l, d) => Step::SetLevel(u.id(), r.id(), (*l).into(), d.get()),
            FuzzStep::UnmuteNotifications(u, r) => Step::UnmuteNotifications(u.id(), r.id()),
            FuzzStep::MuteMembers(r, us, d, a) => {
                Step::MuteMembers(r.id(), users(us), d.get(), a.get())
            }
            FuzzStep::UnmuteMembers(r, us) => Step::UnmuteMembers(r.id(), users(us)),
            FuzzStep::SetModules(u, change, d, a) => {
                Step::SetModules(u.id(), *change, d.get(), a.get())
            }
            FuzzStep::MuteRoom(r, d, a) => Step::MuteRoom(r.id(), d.get(), a.get()),
            FuzzStep::UnmuteRoom(r) => Step::UnmuteRoom(r.id()),
            FuzzStep::Allow(r, us) => Step::Allow(r.id(), users(us)),
            FuzzStep::Disallow(r, us) => Step::Disallow(r.id(), users(us)),
            FuzzStep::RemoveUser(u) => Step::RemoveUser(u.id()),
            FuzzStep::RemoveRoom(r) => Step::RemoveRoom(r.id()),
            FuzzStep::Advance(ms) => Step::Advance(u64::from(*ms) * 20),
            FuzzStep::Sweep => Step::Sweep,
            FuzzStep::SnapshotRestore => Step::SnapshotRestore,
            FuzzStep::Reopen => Step::Reopen,
            FuzzStep::SetQuietHours(u, i) => {
                Step::SetQuietHours(u.id(), usize::from(*i) % (TOO_MANY + 1))
            }
            FuzzStep::ClearQuietHours(u) => Step::ClearQuietHours(u.id()),
            FuzzStep::Snooze(u, d) => Step::Snooze(u.id(), d.map(|d| u64::from(d) * 15)),
            FuzzStep::Unsnooze(u) => Step::Unsnooze(u.id()),
            FuzzStep::SetBypass(u, a, b) => Step::SetBypass(u.id(), *a, *b),
            FuzzStep::MuteSender(u, x, d) => Step::MuteSender(u.id(), x.id(), d.get()),
            FuzzStep::UnmuteSender(u, x) => Step::UnmuteSender(u.id(), x.id()),
            FuzzStep::SetRoomMentions(r, n) => Step::SetRoomMentions(r.id(), *n),
            FuzzStep::Leap(i) => Step::Leap(usize::from(*i) % LEAPS.len()),
            FuzzStep::SetSlowMode(r, d) => Step::SetSlowMode(r.id(), d.map(|d| u64::from(d) * 10)),
            FuzzStep::TrySend(u, r, role) => {
                Step::TrySend(u.id(), r.id(), ROLES[usize::from(*role) % ROLES.len()])
            }
            FuzzStep::SetLadder(r, i) => {
                Step::SetLadder(r.id(), i.map(|i| usize::from(i) % LADDERS.len()))
            }
            FuzzStep::Strike(r, u) => Step::Strike(r.id(), u.id()),
            FuzzStep::ClearStrikes(r, u) => Step::ClearStrikes(r.id(), u.id()),
            FuzzStep::Trailed(t, step) => {
                let step = Step::from(&**step);
                if trail::trailable(&step) {
                    Step::WithTrail(usize::from(*t), Box::new(step))
                } else {
                    step
                }
            }
        }
    }
}

/// Steps from raw bytes (for the fuzzer), through the derived `Arbitrary` of
/// [`FuzzCase`]: the policy, the shard count and the steps over the small alphabet.
pub fn from_bytes(data: &[u8]) -> (AllowPolicy, usize, Vec<Step>) {
    let case = FuzzCase::arbitrary_take_rest(Unstructured::new(data)).unwrap_or(FuzzCase {
        allow_list_wins: false,
        many_shards: false,
        steps: Vec::new(),
    });
    let policy = if case.allow_list_wins {
        AllowPolicy::AllowListWins
    } else {
        AllowPolicy::MuteWins
    };
    let shards = if case.many_shards { 64 } else { 2 };
    (policy, shards, case.steps.iter().map(Step::from).collect())
}
