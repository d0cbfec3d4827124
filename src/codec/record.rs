//! The payload of a format-2 record: `at` (the engine time the operation was applied at,
//! a varint), a one-byte tag naming the kind of operation, then that kind's fields.
//!
//! Tags, level codes and module codes are constants written here, not Rust declaration
//! order: reordering or adding a variant of the public [`Op`] cannot change the bytes
//! of an existing kind. Fields are postcard primitives: a varint for integers, a varint
//! length then UTF-8 bytes for an id, a varint count then ids for a batch, and an
//! expiry as postcard's `Option<u64>` (`0x00` = never ends, `0x01` + varint ms).
//!
//! | tag | operation | fields |
//! |---:|---|---|
//! | 1 | `SetNotify` | user, room, level (0 all, 1 mentions only, 2 off, 3 direct mentions), until |
//! | 2 | `MuteMembers` | room, users, until |
//! | 3 | `UnmuteMembers` | room, users |
//! | 4 | `SetModules` | user, four module codes in `Module::ALL` order (0 leave, 1 unmute, 2 mute), until |
//! | 5 | `MuteRoom` | room, until |
//! | 6 | `UnmuteRoom` | room |
//! | 7 | `Allow` | room, users |
//! | 8 | `Disallow` | room, users |
//! | 9 | `RemoveUser` | user |
//! | 10 | `RemoveRoom` | room |
//! | 11 | `SetQuietHours` | user, `0x00` (cleared) or `0x01` + zone name + windows (a count, then per window: day 0 Monday .. 6 Sunday, start and end in minutes after midnight) |
//! | 12 | `Snooze` | user, `0x00` (lifted) or `0x01` + until |
//! | 13 | `SetBypass` | user, mentions (bool byte), urgent (bool byte) |
//! | 14 | `MuteSender` | user, sender, until |
//! | 15 | `UnmuteSender` | user, sender |
//! | 16 | `SetRoomMentions` | room, notify (bool byte) |
//! | 17 | `SetSlowMode` | room, `0x00` (lifted) or `0x01` + cooldown in ms |
//! | 18 | `MuteMembers` scoped | room, users, until, action set |
//! | 19 | `SetModules` scoped | user, four module codes, until, action set |
//! | 20 | `MuteRoom` scoped | room, until, action set |
//! | 21 | `SetLadder` | room, `0x00` (cleared) or `0x01` + steps (a count, then ms each) + decay ms |
//! | 22 | `Strike` | room, user, steps (a count, then ms each), decay ms |
//! | 23 | `SetStrikes` | room, user, ends (a count, then Unix ms each) |
//!
//! An action set is one byte, bit `i` for `Action::ALL[i]` (1 send message, 2 react, 4
//! edit, 8 upload media, 16 start thread, 32 join voice), never 0. A mute of every action
//! is written with the unscoped tag (2, 4, 5), as before scopes existed.
//!
//! Tags 11-17 and level code 3 were added in format 2's second revision (0.2), tags
//! 18-23 in its third (0.3): a store written before holds none of them and reads as it
//! did; an older build refuses a record with one by its tag, as it refuses any unknown
//! tag.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Record;
use crate::action::Actions;
use crate::expiry::Expiry;
use crate::ids::Key;
use crate::ladder::Ladder;
use crate::notify::NotifyLevel;
use crate::op::Op;
use crate::quiet::{Bypass, Schedule, Weekday, Window};

const SET_NOTIFY: u8 = 1;
const MUTE_MEMBERS: u8 = 2;
const UNMUTE_MEMBERS: u8 = 3;
const SET_MODULES: u8 = 4;
const MUTE_ROOM: u8 = 5;
const UNMUTE_ROOM: u8 = 6;
const ALLOW: u8 = 7;
const DISALLOW: u8 = 8;
const REMOVE_USER: u8 = 9;
const REMOVE_ROOM: u8 = 10;
const SET_QUIET_HOURS: u8 = 11;
const SNOOZE: u8 = 12;
const SET_BYPASS: u8 = 13;
const MUTE_SENDER: u8 = 14;
const UNMUTE_SENDER: u8 = 15;
const SET_ROOM_MENTIONS: u8 = 16;
const SET_SLOW_MODE: u8 = 17;
const MUTE_MEMBERS_SCOPED: u8 = 18;
const SET_MODULES_SCOPED: u8 = 19;
const MUTE_ROOM_SCOPED: u8 = 20;
const SET_LADDER: u8 = 21;
const STRIKE: u8 = 22;
const SET_STRIKES: u8 = 23;

/// A schedule's fields: zone, then (day, start, end) per window.
type ScheduleFields = (String, Vec<(u8, u16, u16)>);

fn schedule_fields(s: &Schedule) -> ScheduleFields {
    let windows = s
        .windows()
        .iter()
        .map(|w| (w.day.index() as u8, w.start, w.end))
        .collect();
    (s.zone().to_owned(), windows)
}

fn schedule((zone, windows): ScheduleFields) -> Result<Schedule, String> {
    let windows = windows
        .into_iter()
        .map(|(day, start, end)| {
            let day = *Weekday::ALL
                .get(usize::from(day))
                .ok_or_else(|| format!("unknown weekday code {day}"))?;
            Ok(Window::new(day, start, end))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Schedule::new(zone, windows).map_err(|e| e.to_string())
}

fn until(e: Expiry) -> Option<u64> {
    e.at_ms()
}

fn expiry(e: Option<u64>) -> Expiry {
    e.map_or(Expiry::Never, Expiry::At)
}

fn level_code(level: NotifyLevel) -> u8 {
    match level {
        NotifyLevel::All => 0,
        NotifyLevel::MentionsOnly => 1,
        NotifyLevel::Off => 2,
        NotifyLevel::DirectMentions => 3,
    }
}

fn level(code: u8) -> Result<NotifyLevel, String> {
    match code {
        0 => Ok(NotifyLevel::All),
        1 => Ok(NotifyLevel::MentionsOnly),
        2 => Ok(NotifyLevel::Off),
        3 => Ok(NotifyLevel::DirectMentions),
        c => Err(format!("unknown notification level code {c}")),
    }
}

fn module_codes(change: &[Option<bool>; 4]) -> [u8; 4] {
    change.map(|c| match c {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    })
}

fn module_change(codes: [u8; 4]) -> Result<[Option<bool>; 4], String> {
    let mut change = [None; 4];
    for (slot, code) in change.iter_mut().zip(codes) {
        *slot = match code {
            0 => None,
            1 => Some(false),
            2 => Some(true),
            c => return Err(format!("unknown module change code {c}")),
        };
    }
    Ok(change)
}

/// A scope's code, if it is not every action (which the unscoped tags stand for).
fn scoped(actions: Actions) -> Option<u8> {
    (!actions.is_all()).then_some(actions.bits())
}

fn put(out: &mut Vec<u8>, fields: &impl Serialize) {
    let buf =
        postcard::to_extend(fields, std::mem::take(out)).expect("encoding to a Vec cannot fail");
    *out = buf;
}

/// Appends the payload of `(at, op)` to `out`.
pub(crate) fn encode(out: &mut Vec<u8>, at: u64, op: &Op) {
    match op {
        Op::SetNotify {
            user,
            room,
            level,
            until: u,
        } => put(
            out,
            &(at, SET_NOTIFY, user, room, level_code(*level), until(*u)),
        ),
        Op::MuteMembers {
            room,
            users,
            until: u,
            actions,
        } => match scoped(*actions) {
            None => put(out, &(at, MUTE_MEMBERS, room, users, until(*u))),
            Some(bits) => put(
                out,
                &(at, MUTE_MEMBERS_SCOPED, room, users, until(*u), bits),
            ),
        },
        Op::UnmuteMembers { room, users } => put(out, &(at, UNMUTE_MEMBERS, room, users)),
        Op::SetModules {
            user,
            change,
            until: u,
            actions,
        } => {
            let codes = module_codes(change);
            match scoped(*actions) {
                None => put(out, &(at, SET_MODULES, user, codes, until(*u))),
                Some(bits) => put(out, &(at, SET_MODULES_SCOPED, user, codes, until(*u), bits)),
            }
        }
        Op::MuteRoom {
            room,
            until: u,
            actions,
        } => match scoped(*actions) {
            None => put(out, &(at, MUTE_ROOM, room, until(*u))),
            Some(bits) => put(out, &(at, MUTE_ROOM_SCOPED, room, until(*u), bits)),
        },
        Op::UnmuteRoom { room } => put(out, &(at, UNMUTE_ROOM, room)),
        Op::Allow { room, users } => put(out, &(at, ALLOW, room, users)),
        Op::Disallow { room, users } => put(out, &(at, DISALLOW, room, users)),
        Op::RemoveUser { user } => put(out, &(at, REMOVE_USER, user)),
        Op::RemoveRoom { room } => put(out, &(at, REMOVE_ROOM, room)),
        Op::SetQuietHours { user, schedule } => put(
            out,
            &(
                at,
                SET_QUIET_HOURS,
                user,
                schedule.as_ref().map(schedule_fields),
            ),
        ),
        Op::Snooze { user, until: u } => put(out, &(at, SNOOZE, user, u.map(until))),
        Op::SetBypass { user, bypass } => {
            put(out, &(at, SET_BYPASS, user, bypass.mentions, bypass.urgent))
        }
        Op::MuteSender {
            user,
            sender,
            until: u,
        } => put(out, &(at, MUTE_SENDER, user, sender, until(*u))),
        Op::UnmuteSender { user, sender } => put(out, &(at, UNMUTE_SENDER, user, sender)),
        Op::SetRoomMentions { room, notify } => {
            put(out, &(at, SET_ROOM_MENTIONS, room, notify));
        }
        Op::SetSlowMode { room, cooldown_ms } => {
            put(out, &(at, SET_SLOW_MODE, room, cooldown_ms));
        }
        Op::SetLadder { room, ladder } => {
            let fields = ladder.as_ref().map(|l| (l.steps_ms(), l.decay_ms()));
            put(out, &(at, SET_LADDER, room, fields));
        }
        Op::Strike { room, user, ladder } => put(
            out,
            &(at, STRIKE, room, user, ladder.steps_ms(), ladder.decay_ms()),
        ),
        Op::SetStrikes {
            room,
            user,
            ends_ms,
        } => put(out, &(at, SET_STRIKES, room, user, ends_ms)),
    }
}

/// Reads the fields of one kind; they must use up the payload exactly.
fn fields<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (value, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes", rest.len()));
    }
    Ok(value)
}

/// Decodes one payload.
pub(crate) fn decode(payload: &[u8]) -> Result<Record, String> {
    let ((at, tag), body) =
        postcard::take_from_bytes::<(u64, u8)>(payload).map_err(|e| e.to_string())?;
    let op = match tag {
        SET_NOTIFY => {
            let (user, room, code, u): (Key, Key, u8, Option<u64>) = fields(body)?;
            Op::SetNotify {
                user,
                room,
                level: level(code)?,
                until: expiry(u),
            }
        }
        MUTE_MEMBERS => {
            let (room, users, u): (Key, Vec<Key>, Option<u64>) = fields(body)?;
            Op::MuteMembers {
                room,
                users,
                until: expiry(u),
                actions: Actions::ALL,
            }
        }
        MUTE_MEMBERS_SCOPED => {
            let (room, users, u, bits): (Key, Vec<Key>, Option<u64>, u8) = fields(body)?;
            Op::MuteMembers {
                room,
                users,
                until: expiry(u),
                actions: Actions::from_bits(bits)?,
            }
        }
        UNMUTE_MEMBERS => {
            let (room, users) = fields(body)?;
            Op::UnmuteMembers { room, users }
        }
        SET_MODULES => {
            let (user, codes, u): (Key, [u8; 4], Option<u64>) = fields(body)?;
            Op::SetModules {
                user,
                change: module_change(codes)?,
                until: expiry(u),
                actions: Actions::ALL,
            }
        }
        SET_MODULES_SCOPED => {
            let (user, codes, u, bits): (Key, [u8; 4], Option<u64>, u8) = fields(body)?;
            Op::SetModules {
                user,
                change: module_change(codes)?,
                until: expiry(u),
                actions: Actions::from_bits(bits)?,
            }
        }
        MUTE_ROOM => {
            let (room, u): (Key, Option<u64>) = fields(body)?;
            Op::MuteRoom {
                room,
                until: expiry(u),
                actions: Actions::ALL,
            }
        }
        MUTE_ROOM_SCOPED => {
            let (room, u, bits): (Key, Option<u64>, u8) = fields(body)?;
            Op::MuteRoom {
                room,
                until: expiry(u),
                actions: Actions::from_bits(bits)?,
            }
        }
        UNMUTE_ROOM => Op::UnmuteRoom {
            room: fields(body)?,
        },
        ALLOW => {
            let (room, users) = fields(body)?;
            Op::Allow { room, users }
        }
        DISALLOW => {
            let (room, users) = fields(body)?;
            Op::Disallow { room, users }
        }
        REMOVE_USER => Op::RemoveUser {
            user: fields(body)?,
        },
        REMOVE_ROOM => Op::RemoveRoom {
            room: fields(body)?,
        },
        SET_QUIET_HOURS => {
            let (user, fields): (Key, Option<ScheduleFields>) = fields(body)?;
            Op::SetQuietHours {
                user,
                schedule: fields.map(schedule).transpose()?,
            }
        }
        SNOOZE => {
            let (user, u): (Key, Option<Option<u64>>) = fields(body)?;
            Op::Snooze {
                user,
                until: u.map(expiry),
            }
        }
        SET_BYPASS => {
            let (user, mentions, urgent) = fields(body)?;
            Op::SetBypass {
                user,
                bypass: Bypass { mentions, urgent },
            }
        }
        MUTE_SENDER => {
            let (user, sender, u): (Key, Key, Option<u64>) = fields(body)?;
            Op::MuteSender {
                user,
                sender,
                until: expiry(u),
            }
        }
        UNMUTE_SENDER => {
            let (user, sender) = fields(body)?;
            Op::UnmuteSender { user, sender }
        }
        SET_ROOM_MENTIONS => {
            let (room, notify) = fields(body)?;
            Op::SetRoomMentions { room, notify }
        }
        SET_SLOW_MODE => {
            let (room, cooldown_ms) = fields(body)?;
            Op::SetSlowMode { room, cooldown_ms }
        }
        SET_LADDER => {
            let (room, fields): (Key, Option<(Vec<u64>, u64)>) = fields(body)?;
            Op::SetLadder {
                room,
                ladder: fields
                    .map(|(steps, decay)| Ladder::from_ms(steps, decay))
                    .transpose()?,
            }
        }
        STRIKE => {
            let (room, user, steps, decay): (Key, Key, Vec<u64>, u64) = fields(body)?;
            Op::Strike {
                room,
                user,
                ladder: Ladder::from_ms(steps, decay)?,
            }
        }
        SET_STRIKES => {
            let (room, user, ends_ms) = fields(body)?;
            Op::SetStrikes {
                room,
                user,
                ends_ms,
            }
        }
        t => return Err(format!("unknown record tag {t}")),
    };
    Ok(Record { at, op })
}
