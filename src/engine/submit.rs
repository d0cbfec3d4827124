//! [`Submit`]: every mutation as a [`Ticket`], validated by the caller's thread and queued
//! for the write pipeline. The blocking mutation methods are these, waited.

use super::*;
use crate::ids::Key;
use crate::write::{Check, Derive, Outcome, Request, Slot, Ticket};

/// The engine's mutations, returning at once with a [`Ticket`] for each: `.await` it on
/// an async runtime (no runtime thread ever blocks on the log or an `fsync`: the engine's
/// sequencer thread does that work), or `.wait()` for it.
///
/// Get one with [`Engine::submit`] (and [`Submit::with_trail`] for moderation made with
/// a [`Trail`](crate::Trail)). Each method validates its input on the calling
/// thread; a refused call returns a ticket that is already answered with the error. The
/// blocking methods of [`Engine`] with the same names are these, waited: see them for
/// what each does and returns.
///
/// # Examples
///
/// ```
/// use mutegate::{Engine, MuteFor, Target};
///
/// # async fn serve(engine: &Engine) -> Result<(), mutegate::Error> {
/// engine.submit().mute_members("lobby", ["bob"], MuteFor::minutes(10)).await?;
/// assert!(!engine.can_send("bob", Target::room("lobby")));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Submit<'e> {
    pub(super) engine: &'e Engine,
    /// Set for the blocking methods: an engine with no store then applies the mutation
    /// on the calling thread at once (there is no I/O to share through a queue).
    pub(super) now_on_this_thread: bool,
    /// The trail a moderation operation made here carries ([`Engine::with_trail`]).
    pub(super) trail: Option<&'e Trail>,
}

pub(super) fn unit(_: Outcome) {}

pub(super) fn expiry(o: Outcome) -> Expiry {
    match o {
        Outcome::Expiry(e) => e,
        other => unreachable!("an expiry was derived, not {other:?}"),
    }
}

fn count(o: Outcome) -> usize {
    match o {
        Outcome::Count(n) => n,
        other => unreachable!("a count was derived, not {other:?}"),
    }
}

pub(super) fn flag(o: Outcome) -> bool {
    match o {
        Outcome::Flag(b) => b,
        other => unreachable!("a flag was derived, not {other:?}"),
    }
}

fn modules(o: Outcome) -> ModuleStatus {
    match o {
        Outcome::Modules(m) => m,
        other => unreachable!("a module status was derived, not {other:?}"),
    }
}

/// A batch of user ids, counted whole but copied only up to one past the limit (an
/// over-large batch is refused without copying it): the ids and the true count.
fn users<I, S>(users: I, limits: &Limits) -> (Vec<Key>, usize)
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let keep = limits.max_batch().saturating_add(1);
    let mut keys = Vec::new();
    let mut len = 0usize;
    for user in users {
        len += 1;
        if len <= keep {
            keys.push(Key::from(user.as_ref()));
        }
    }
    (keys, len)
}

/// An operation's expiry, set once the rest of it is valid.
pub(super) fn set_until(op: &mut Op, expiry: Expiry) {
    match op {
        Op::SetNotify { until, .. }
        | Op::MuteMembers { until, .. }
        | Op::SetModules { until, .. }
        | Op::MuteRoom { until, .. }
        | Op::MuteSender { until, .. } => *until = expiry,
        _ => {}
    }
}

/// The `finish` of a mutation that lasts `duration`: sets its end, answers with it.
pub(super) fn lasting(duration: MuteFor) -> impl FnOnce(&mut Op, u64) -> Result<Derive, Error> {
    move |op, now| {
        let until = duration.expiry_from(now)?;
        set_until(op, until);
        Ok(Derive::Expiry(until))
    }
}

impl Engine {
    /// The mutations as [`Ticket`]s, for async callers (see [`Submit`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let engine = mutegate::Engine::new();
    /// let ticket = engine.submit().mute_notifications("aaa", "demo");
    /// ticket.wait()?;
    /// assert_eq!(engine.muted_rooms("aaa"), ["demo"]);
    /// # Ok::<(), mutegate::Error>(())
    /// ```
    #[must_use]
    pub fn submit(&self) -> Submit<'_> {
        Submit {
            engine: self,
            now_on_this_thread: false,
            trail: None,
        }
    }

    /// The mutations as the blocking methods run them.
    pub(crate) fn blocking(&self) -> Submit<'_> {
        Submit {
            engine: self,
            now_on_this_thread: true,
            trail: None,
        }
    }
}

impl Submit<'_> {
    /// Validates `op` (its ids and batches, then whatever `finish` checks, which also
    /// sets a computed expiry and says what the caller gets back) and queues it.
    /// `batch_len` is the true size of a batch that was copied only in part.
    pub(super) fn request<T>(
        &self,
        mut op: Op,
        batch_len: usize,
        check: Check,
        finish: impl FnOnce(&mut Op, u64) -> Result<Derive, Error>,
        map: fn(Outcome) -> T,
    ) -> Ticket<T> {
        let inner = &self.engine.inner;
        let now = inner.clock.now_ms();
        let mut mutation = observe::Mutation::start();
        mutation.op(&op);
        let made = op
            .validate(&self.engine.limits)
            .map_err(|e| match e {
                Error::BatchTooLarge { max, .. } => Error::BatchTooLarge {
                    len: batch_len,
                    max,
                },
                e => e,
            })
            .and_then(|()| finish(&mut op, now))
            .and_then(|derive| {
                // The operation itself was validated above: only the trail is left.
                if let Some(trail) = self.trail {
                    op.check_trail(trail, self.engine.limits.max_id_len())?;
                }
                Ok(derive)
            });
        match made {
            Err(e) => {
                mutation.finish::<()>(&Err(e.clone()));
                Ticket::answered(Err(e), map)
            }
            Ok(derive) => {
                let op = match self.trail {
                    Some(trail) => Op::Moderated {
                        trail: trail.clone(),
                        op: Box::new(op),
                    },
                    None => op,
                };
                let request = Request {
                    op,
                    now,
                    check,
                    derive,
                    slot: None,
                    mutation,
                };
                if self.now_on_this_thread && inner.in_memory {
                    return Ticket::answered(inner.run_now(request), map);
                }
                let mut request = Some(request);
                // A blocking caller of a durable engine runs its request itself when
                // nothing else is in the pipeline.
                if self.now_on_this_thread
                    && let Some(answer) = inner.run_alone(&mut request)
                {
                    return Ticket::answered(answer, map);
                }
                let Some(mut request) = request else {
                    unreachable!("a request that did not run is handed back")
                };
                let slot = Arc::new(Slot::default());
                request.slot = Some(Arc::clone(&slot));
                inner.enqueue(request);
                Ticket::new(Arc::clone(inner), slot, map)
            }
        }
    }

    /// [`Engine::mute_notifications`], as a ticket.
    pub fn mute_notifications(&self, user: &str, room: &str) -> Ticket<()> {
        self.set_notification_level(user, room, NotifyLevel::Off, MuteFor::Forever)
    }

    /// [`Engine::set_notification_level`], as a ticket.
    pub fn set_notification_level(
        &self,
        user: &str,
        room: &str,
        level: NotifyLevel,
        duration: MuteFor,
    ) -> Ticket<()> {
        let op = Op::SetNotify {
            user: user.into(),
            room: room.into(),
            level,
            until: Expiry::Never,
        };
        let finish = |op: &mut Op, now| {
            if level == NotifyLevel::All && duration != MuteFor::Forever {
                return Err(Error::InvalidCombination(
                    "notification level All is the default and takes no duration",
                ));
            }
            set_until(op, duration.expiry_from(now)?);
            Ok(Derive::Unit)
        };
        self.request(op, 0, Check::None, finish, unit)
    }

    /// [`Engine::unmute_notifications`], as a ticket.
    pub fn unmute_notifications(&self, user: &str, room: &str) -> Ticket<()> {
        let op = Op::SetNotify {
            user: user.into(),
            room: room.into(),
            level: NotifyLevel::All,
            until: Expiry::Never,
        };
        self.request(op, 0, Check::NotificationSet, |_, _| Ok(Derive::Unit), unit)
    }

    /// [`Engine::mute_members`], as a ticket.
    pub fn mute_members<I, S>(&self, room: &str, members: I, duration: MuteFor) -> Ticket<Expiry>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.mute_members_scoped(room, members, duration, Actions::ALL)
    }

    /// [`Engine::mute_members_scoped`], as a ticket.
    pub fn mute_members_scoped<I, S>(
        &self,
        room: &str,
        members: I,
        duration: MuteFor,
        actions: impl Into<Actions>,
    ) -> Ticket<Expiry>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let (users, len) = users(members, &self.engine.limits);
        let op = Op::MuteMembers {
            room: room.into(),
            users,
            until: Expiry::Never,
            actions: actions.into(),
        };
        self.request(op, len, Check::None, lasting(duration), expiry)
    }

    /// [`Engine::unmute_members`], as a ticket.
    pub fn unmute_members<I, S>(&self, room: &str, members: I) -> Ticket<usize>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let (users, len) = users(members, &self.engine.limits);
        let op = Op::UnmuteMembers {
            room: room.into(),
            users,
        };
        self.request(
            op,
            len,
            Check::None,
            |_, _| Ok(Derive::MembersLifted),
            count,
        )
    }

    /// [`Engine::set_module_mutes`], as a ticket.
    pub fn set_module_mutes(&self, user: &str, change: ModuleChange) -> Ticket<ModuleStatus> {
        let flags = change.as_array();
        let op = Op::SetModules {
            user: user.into(),
            change: flags,
            until: Expiry::Never,
            actions: change.actions,
        };
        let finish = |op: &mut Op, now| {
            if !flags.contains(&Some(true)) && change.duration != MuteFor::Forever {
                return Err(Error::InvalidCombination(
                    "a mute duration was given but the change mutes no module",
                ));
            }
            set_until(op, change.duration.expiry_from(now)?);
            Ok(Derive::Modules(user.into()))
        };
        self.request(op, 0, Check::None, finish, modules)
    }

    /// [`Engine::mute_room`], as a ticket.
    pub fn mute_room(&self, room: &str, duration: MuteFor) -> Ticket<Expiry> {
        self.mute_room_scoped(room, duration, Actions::ALL)
    }

    /// [`Engine::mute_room_scoped`], as a ticket.
    pub fn mute_room_scoped(
        &self,
        room: &str,
        duration: MuteFor,
        actions: impl Into<Actions>,
    ) -> Ticket<Expiry> {
        let op = Op::MuteRoom {
            room: room.into(),
            until: Expiry::Never,
            actions: actions.into(),
        };
        self.request(op, 0, Check::None, lasting(duration), expiry)
    }

    /// [`Engine::unmute_room`], as a ticket.
    pub fn unmute_room(&self, room: &str) -> Ticket<bool> {
        let op = Op::UnmuteRoom { room: room.into() };
        self.request(op, 0, Check::None, |_, _| Ok(Derive::Lifted), flag)
    }

    /// [`Engine::allow`], as a ticket.
    pub fn allow<I, S>(&self, room: &str, members: I) -> Ticket<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let (users, len) = users(members, &self.engine.limits);
        let op = Op::Allow {
            room: room.into(),
            users,
        };
        self.request(op, len, Check::None, |_, _| Ok(Derive::Unit), unit)
    }

    /// [`Engine::disallow`], as a ticket.
    pub fn disallow<I, S>(&self, room: &str, members: I) -> Ticket<usize>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let (users, len) = users(members, &self.engine.limits);
        let op = Op::Disallow {
            room: room.into(),
            users,
        };
        self.request(op, len, Check::None, |_, _| Ok(Derive::Changed), count)
    }

    /// [`Engine::remove_user`], as a ticket.
    pub fn remove_user(&self, user: &str) -> Ticket<bool> {
        let op = Op::RemoveUser { user: user.into() };
        self.request(op, 0, Check::None, |_, _| Ok(Derive::AnyChange), flag)
    }

    /// [`Engine::remove_room`], as a ticket.
    pub fn remove_room(&self, room: &str) -> Ticket<bool> {
        let op = Op::RemoveRoom { room: room.into() };
        self.request(op, 0, Check::None, |_, _| Ok(Derive::AnyChange), flag)
    }

    /// [`Engine::apply`], as a ticket.
    pub fn apply(&self, op: Op) -> Ticket<()> {
        let len = match &op {
            Op::MuteMembers { users, .. }
            | Op::UnmuteMembers { users, .. }
            | Op::Allow { users, .. }
            | Op::Disallow { users, .. } => users.len(),
            _ => 0,
        };
        self.request(op, len, Check::None, |_, _| Ok(Derive::Unit), unit)
    }
}
