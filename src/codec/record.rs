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
//! | 24 | `Moderated` | actor (`0x00` none, or `0x01` + id), reason (likewise), source (0 manual, 1 automatic, 2 ladder, 3 api), then the operation's tag and fields as a byte string (a varint length, then the bytes) |
//! | 25 | `Remember` | subject (0 member, 1 room, 2 user), its room or user, the member's user (empty for a room or user), entries (a count, then per entry: Unix ms, then a `Moderated` record's fields) |
//!
//! An action set is one byte, bit `i` for `Action::ALL[i]` (1 send message, 2 react, 4
//! edit, 8 upload media, 16 start thread, 32 join voice), never 0. A mute of every action
//! is written with the unscoped tag (2, 4, 5), as before scopes existed.
//!
//! An operation nested in tag 24 or 25 is never itself a 24 or 25.
//!
//! Tags 11-17 and level code 3 were added in format 2's second revision (0.2), tags
//! 18-23 in its third (0.3), tags 24-25 in its fourth (0.4): a store written before
//! holds none of them and reads as it did; an older build refuses a record with one by
//! its tag, as it refuses any unknown tag.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Record;
use crate::action::Actions;
use crate::expiry::Expiry;
use crate::ids::Key;
use crate::ladder::Ladder;
use crate::notify::NotifyLevel;
use crate::op::ModerationEntry;
use crate::op::Op;
use crate::quiet::{Bypass, Schedule, Weekday, Window};
use crate::trail::{Source, Subject, Trail};

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
const MODERATED: u8 = 24;
const REMEMBER: u8 = 25;

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
    put(out, &at);
    encode_op(out, op);
}

/// An operation's tag and fields, as nested in a `Moderated` or `Remember` record.
fn op_bytes(op: &Op) -> Vec<u8> {
    let mut out = Vec::new();
    encode_op(&mut out, op);
    out
}

/// The code and ids of a history's subject.
fn subject_fields(subject: &Subject) -> (u8, &str, &str) {
    match subject {
        Subject::Member { room, user } => (0, room, user),
        Subject::Room { room } => (1, room, ""),
        Subject::User { user } => (2, user, ""),
    }
}

fn subject((code, a, b): (u8, String, String)) -> Result<Subject, String> {
    match (code, b.is_empty()) {
        (0, _) => Ok(Subject::Member { room: a, user: b }),
        (1, true) => Ok(Subject::Room { room: a }),
        (2, true) => Ok(Subject::User { user: a }),
        (1 | 2, false) => Err("a room or user subject with a second id".to_owned()),
        (c, _) => Err(format!("unknown history subject code {c}")),
    }
}

/// A trail's fields, then an operation's bytes.
type TrailFields = (Option<String>, Option<String>, u8, Vec<u8>);

/// [`TrailFields`] to write, borrowing the trail's strings (the same bytes).
fn trail_fields<'a>(
    trail: &'a Trail,
    op: &Op,
) -> (&'a Option<String>, &'a Option<String>, u8, Vec<u8>) {
    (
        &trail.actor,
        &trail.reason,
        trail.source.code(),
        op_bytes(op),
    )
}

fn trailed((actor, reason, source, op): TrailFields) -> Result<(Trail, Op), String> {
    let trail = Trail {
        actor,
        reason,
        source: Source::from_code(source)?,
    };
    Ok((trail, decode_op(&op, false)?))
}

/// Appends an operation's tag and fields to `out`.
fn encode_op(out: &mut Vec<u8>, op: &Op) {
    match op {
        Op::SetNotify {
            user,
            room,
            level,
            until: u,
        } => put(
            out,
            &(SET_NOTIFY, user, room, level_code(*level), until(*u)),
        ),
        Op::MuteMembers {
            room,
            users,
            until: u,
            actions,
        } => match scoped(*actions) {
            None => put(out, &(MUTE_MEMBERS, room, users, until(*u))),
            Some(bits) => put(out, &(MUTE_MEMBERS_SCOPED, room, users, until(*u), bits)),
        },
        Op::UnmuteMembers { room, users } => put(out, &(UNMUTE_MEMBERS, room, users)),
        Op::SetModules {
            user,
            change,
            until: u,
            actions,
        } => {
            let codes = module_codes(change);
            match scoped(*actions) {
                None => put(out, &(SET_MODULES, user, codes, until(*u))),
                Some(bits) => put(out, &(SET_MODULES_SCOPED, user, codes, until(*u), bits)),
            }
        }
        Op::MuteRoom {
            room,
            until: u,
            actions,
        } => match scoped(*actions) {
            None => put(out, &(MUTE_ROOM, room, until(*u))),
            Some(bits) => put(out, &(MUTE_ROOM_SCOPED, room, until(*u), bits)),
        },
        Op::UnmuteRoom { room } => put(out, &(UNMUTE_ROOM, room)),
        Op::Allow { room, users } => put(out, &(ALLOW, room, users)),
        Op::Disallow { room, users } => put(out, &(DISALLOW, room, users)),
        Op::RemoveUser { user } => put(out, &(REMOVE_USER, user)),
        Op::RemoveRoom { room } => put(out, &(REMOVE_ROOM, room)),
        Op::SetQuietHours { user, schedule } => put(
            out,
            &(
                SET_QUIET_HOURS,
                user,
                schedule.as_ref().map(schedule_fields),
            ),
        ),
        Op::Snooze { user, until: u } => put(out, &(SNOOZE, user, u.map(until))),
        Op::SetBypass { user, bypass } => {
            put(out, &(SET_BYPASS, user, bypass.mentions, bypass.urgent))
        }
        Op::MuteSender {
            user,
            sender,
            until: u,
        } => put(out, &(MUTE_SENDER, user, sender, until(*u))),
        Op::UnmuteSender { user, sender } => put(out, &(UNMUTE_SENDER, user, sender)),
        Op::SetRoomMentions { room, notify } => {
            put(out, &(SET_ROOM_MENTIONS, room, notify));
        }
        Op::SetSlowMode { room, cooldown_ms } => {
            put(out, &(SET_SLOW_MODE, room, cooldown_ms));
        }
        Op::SetLadder { room, ladder } => {
            let fields = ladder.as_ref().map(|l| (l.steps_ms(), l.decay_ms()));
            put(out, &(SET_LADDER, room, fields));
        }
        Op::Strike { room, user, ladder } => put(
            out,
            &(STRIKE, room, user, ladder.steps_ms(), ladder.decay_ms()),
        ),
        Op::SetStrikes {
            room,
            user,
            ends_ms,
        } => put(out, &(SET_STRIKES, room, user, ends_ms)),
        Op::Moderated { trail, op } => put(out, &(MODERATED, trail_fields(trail, op))),
        Op::Remember { subject, entries } => {
            let entries: Vec<_> = entries
                .iter()
                .map(|e| (e.at_ms, trail_fields(&e.trail, &e.op)))
                .collect();
            put(out, &(REMEMBER, subject_fields(subject), entries));
        }
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
    let (at, rest) = postcard::take_from_bytes::<u64>(payload).map_err(|e| e.to_string())?;
    Ok(Record {
        at,
        op: decode_op(rest, true)?,
    })
}

/// Decodes an operation's tag and fields; `outer` is false for one nested in a
/// `Moderated` or `Remember` record, which may not nest another.
fn decode_op(bytes: &[u8], outer: bool) -> Result<Op, String> {
    let (tag, body) = postcard::take_from_bytes::<u8>(bytes).map_err(|e| e.to_string())?;
    Ok(match tag {
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
        MODERATED | REMEMBER if !outer => {
            return Err(format!("record tag {tag} nested in a trail"));
        }
        MODERATED => {
            let (trail, op) = trailed(fields(body)?)?;
            Op::Moderated {
                trail,
                op: Box::new(op),
            }
        }
        REMEMBER => {
            let (ids, entries): ((u8, String, String), Vec<(u64, TrailFields)>) = fields(body)?;
            Op::Remember {
                subject: subject(ids)?,
                entries: entries
                    .into_iter()
                    .map(|(at, f)| {
                        let (trail, op) = trailed(f)?;
                        Ok(ModerationEntry::new(at, op, trail))
                    })
                    .collect::<Result<_, String>>()?,
            }
        }
        t => return Err(format!("unknown record tag {t}")),
    })
}
