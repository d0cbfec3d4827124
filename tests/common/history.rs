//! A fixed history that uses every kind of operation, and a dump of everything it leaves
//! observable: the version-1 store fixture was written by running it on the format-1
//! code, and the format tests replay it on today's.
#![allow(dead_code)]

use std::time::Duration;

use mutegate::{
    Action, Actions, Engine, Expiry, ModerationEntry, Module, NotifyLevel, Op, Source, Subject,
    Trail,
};

use super::T0;

const HOUR: u64 = 3_600_000;

fn ids(ids: &[&str]) -> Vec<Box<str>> {
    ids.iter().map(|&s| s.into()).collect()
}

/// The first part of the history (it ends up in the fixture's snapshot).
pub fn first_part() -> Vec<Op> {
    vec![
        Op::SetNotify {
            user: "u1".into(),
            room: "r1".into(),
            level: NotifyLevel::MentionsOnly,
            until: Expiry::Never,
        },
        Op::SetNotify {
            user: "u2".into(),
            room: "r1".into(),
            level: NotifyLevel::Off,
            until: Expiry::At(T0 + HOUR),
        },
        Op::MuteMembers {
            room: "r1".into(),
            users: ids(&["u1", "u2", "u3"]),
            until: Expiry::At(T0 + 2 * HOUR),
            actions: Actions::ALL,
        },
        Op::MuteMembers {
            room: "r2".into(),
            users: ids(&["u4"]),
            until: Expiry::Never,
            actions: Actions::ALL,
        },
        Op::SetModules {
            user: "u5".into(),
            change: [Some(true), None, Some(true), None],
            until: Expiry::At(T0 + 3 * HOUR),
            actions: Actions::ALL,
        },
        Op::MuteRoom {
            room: "r3".into(),
            until: Expiry::Never,
            actions: Actions::ALL,
        },
        Op::Allow {
            room: "r3".into(),
            users: ids(&["u6", "u7"]),
        },
    ]
}

/// The second part (it ends up in the fixture's log, after the snapshot).
pub fn second_part() -> Vec<Op> {
    vec![
        Op::UnmuteMembers {
            room: "r1".into(),
            users: ids(&["u2"]),
        },
        Op::SetModules {
            user: "u5".into(),
            change: [None, Some(true), Some(false), None],
            until: Expiry::Never,
            actions: Actions::ALL,
        },
        Op::MuteRoom {
            room: "r4".into(),
            until: Expiry::At(T0 + HOUR),
            actions: Actions::ALL,
        },
        Op::UnmuteRoom { room: "r4".into() },
        Op::Disallow {
            room: "r3".into(),
            users: ids(&["u7"]),
        },
        Op::RemoveUser { user: "u3".into() },
        Op::MuteRoom {
            room: "r5".into(),
            until: Expiry::Never,
            actions: Actions::ALL,
        },
        Op::SetNotify {
            user: "u1".into(),
            room: "r5".into(),
            level: NotifyLevel::Off,
            until: Expiry::Never,
        },
        Op::RemoveRoom { room: "r5".into() },
        Op::MuteRoom {
            room: "r6".into(),
            until: Expiry::At(T0 + 4 * HOUR),
            actions: Actions::ALL,
        },
    ]
}

/// Operations of the kinds added after format 2 was first written (tags 11-23 and the
/// `DirectMentions` level): in the golden file, not in the format-1 fixture.
pub fn third_part() -> Vec<Op> {
    let windows = ["mon 22:00-07:00", "sat 13:30-15:00"].map(|w| w.parse().expect("window"));
    vec![
        Op::SetQuietHours {
            user: "u1".into(),
            schedule: Some(mutegate::Schedule::new("Europe/Berlin", windows).expect("schedule")),
        },
        Op::Snooze {
            user: "u1".into(),
            until: Some(Expiry::At(T0 + HOUR)),
        },
        Op::SetBypass {
            user: "u1".into(),
            bypass: mutegate::Bypass {
                mentions: true,
                urgent: false,
            },
        },
        Op::MuteSender {
            user: "u1".into(),
            sender: "u2".into(),
            until: Expiry::Never,
        },
        Op::UnmuteSender {
            user: "u1".into(),
            sender: "u2".into(),
        },
        Op::SetRoomMentions {
            room: "r1".into(),
            notify: false,
        },
        Op::SetNotify {
            user: "u2".into(),
            room: "r2".into(),
            level: NotifyLevel::DirectMentions,
            until: Expiry::Never,
        },
        Op::SetSlowMode {
            room: "r2".into(),
            cooldown_ms: Some(30_000),
        },
        Op::MuteMembers {
            room: "r2".into(),
            users: ids(&["u2"]),
            until: Expiry::At(T0 + HOUR),
            actions: Actions::of([Action::React, Action::Edit]),
        },
        Op::SetModules {
            user: "u2".into(),
            change: [None, None, Some(true), None],
            until: Expiry::Never,
            actions: Actions::only(Action::JoinVoice),
        },
        Op::MuteRoom {
            room: "r2".into(),
            until: Expiry::Never,
            actions: Actions::of([Action::UploadMedia, Action::StartThread]),
        },
        Op::SetLadder {
            room: "r2".into(),
            ladder: Some(
                mutegate::Ladder::new(
                    [Duration::from_secs(60), Duration::from_secs(3_600)],
                    Duration::from_secs(86_400),
                )
                .expect("ladder"),
            ),
        },
        Op::Strike {
            room: "r2".into(),
            user: "u3".into(),
            ladder: mutegate::Ladder::default(),
        },
        Op::SetStrikes {
            room: "r2".into(),
            user: "u3".into(),
            ends_ms: vec![T0 + HOUR, T0 + 2 * HOUR],
        },
    ]
}

/// The trail's operations (format 2's fourth revision, 0.4).
pub fn fourth_part() -> Vec<Op> {
    let trail = Trail::by("u7")
        .reason("flooding, 3rd time")
        .source(Source::Ladder);
    let remembered = |at, op| ModerationEntry::new(at, op, Trail::new(Source::Api));
    vec![
        Op::Moderated {
            trail: trail.clone(),
            op: Box::new(Op::MuteMembers {
                room: "r3".into(),
                users: ids(&["u4", "u5"]),
                until: Expiry::At(T0 + HOUR),
                actions: Actions::ALL,
            }),
        },
        Op::Remember {
            subject: Subject::member("r4", "u6"),
            entries: vec![
                remembered(
                    T0 - HOUR,
                    Op::Allow {
                        room: "r4".into(),
                        users: ids(&["u6"]),
                    },
                ),
                ModerationEntry::new(
                    T0 - 1,
                    Op::Strike {
                        room: "r4".into(),
                        user: "u6".into(),
                        ladder: mutegate::Ladder::default(),
                    },
                    trail,
                ),
            ],
        },
        Op::Moderated {
            trail: Trail::new(Source::Automatic),
            op: Box::new(Op::UnmuteRoom { room: "r5".into() }),
        },
    ]
}

/// Everything observable about the ids the history uses, as text.
pub fn dump(e: &Engine) -> String {
    dump_ids(
        e,
        &["u1", "u2", "u3", "u4", "u5", "u6", "u7"],
        &["r1", "r2", "r3", "r4", "r5", "r6"],
    )
}

/// Everything observable about `users` and `rooms`, as text.
pub fn dump_ids(e: &Engine, users: &[&str], rooms: &[&str]) -> String {
    // The stored state's counts (how many ids are interned is not state: it is left out,
    // so dumps of every format version compare equal).
    let s = e.stats();
    let mut out = format!(
        "Stats {{ notification_mutes: {}, member_mutes: {}, module_mutes: {}, room_mutes: {}, allow_entries: {}, users: {}, rooms: {} }}\n",
        s.notification_mutes,
        s.member_mutes,
        s.module_mutes,
        s.room_mutes,
        s.allow_entries,
        s.users,
        s.rooms
    );
    // A scope is shown only where a mute has one, so unscoped state reads as it did
    // before scopes existed (the format-1 fixture's text).
    let scope = |a: Option<Actions>| match a {
        Some(a) if !a.is_all() => format!(" only {a}"),
        _ => String::new(),
    };
    for u in users {
        let status = e.module_status(u);
        let scopes: String = Module::ALL.map(|m| scope(status.actions(m))).concat();
        out += &format!(
            "{u}: {:?} {:?} {:?}{scopes}\n",
            e.notification_settings(u),
            e.muted_rooms(u),
            Module::ALL.map(|m| e.module_mute(u, m)),
        );
    }
    for r in rooms {
        let members: Vec<String> = e
            .muted_members(r)
            .into_iter()
            .map(|m| {
                format!(
                    "MutedMember {{ user: {:?}, expiry: {:?}{} }}",
                    m.user,
                    m.expiry,
                    scope(Some(m.actions))
                )
            })
            .collect();
        out += &format!(
            "{r}: [{}] {:?}{} {:?}\n",
            members.join(", "),
            e.room_mute(r),
            scope(e.room_mute_actions(r)),
            e.allow_list(r)
        );
    }
    // Histories, where there are any (none before format 2's fourth revision).
    let mut subjects: Vec<Subject> = users.iter().map(|u| Subject::user(*u)).collect();
    for r in rooms {
        subjects.push(Subject::room(*r));
        subjects.extend(users.iter().map(|u| Subject::member(*r, *u)));
    }
    for s in subjects {
        let h = e.moderation_history(&s);
        if !h.is_empty() {
            out += &format!("history of {s}: {h:?}\n");
        }
    }
    out
}
