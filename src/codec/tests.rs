//! Headers, framing and records: round trips, every header bit flip refused, torn and
//! zero-filled tails.

use super::*;
use crate::expiry::Expiry;
use crate::notify::NotifyLevel;
use crate::{Action, Actions};

fn every_kind() -> Vec<Op> {
    vec![
        Op::SetNotify {
            user: "u".into(),
            room: "r".into(),
            level: NotifyLevel::MentionsOnly,
            until: Expiry::At(5),
        },
        Op::MuteMembers {
            room: "r".into(),
            users: vec!["a".into(), "b".into()],
            until: Expiry::Never,
            actions: Actions::ALL,
        },
        Op::MuteMembers {
            room: "r".into(),
            users: vec!["a".into()],
            until: Expiry::At(9),
            actions: Actions::of([Action::React, Action::JoinVoice]),
        },
        Op::UnmuteMembers {
            room: "r".into(),
            users: vec!["a".into()],
        },
        Op::SetModules {
            user: "u".into(),
            change: [Some(true), None, Some(false), None],
            until: Expiry::At(u64::MAX - 1),
            actions: Actions::ALL,
        },
        Op::SetModules {
            user: "u".into(),
            change: [None, Some(true), None, None],
            until: Expiry::Never,
            actions: Actions::only(Action::UploadMedia),
        },
        Op::MuteRoom {
            room: "r".into(),
            until: Expiry::At(0),
            actions: Actions::ALL,
        },
        Op::MuteRoom {
            room: "r".into(),
            until: Expiry::Never,
            actions: Actions::of([Action::SendMessage, Action::StartThread]),
        },
        Op::UnmuteRoom { room: "r".into() },
        Op::Allow {
            room: "r".into(),
            users: vec!["v".into()],
        },
        Op::Disallow {
            room: "r".into(),
            users: vec!["v".into()],
        },
        Op::RemoveUser { user: "u".into() },
        Op::RemoveRoom { room: "r".into() },
        Op::SetQuietHours {
            user: "u".into(),
            schedule: Some(
                crate::Schedule::new(
                    "Europe/Berlin",
                    [
                        "mon 22:00-07:00".parse().unwrap(),
                        "sun 13:00-14:30".parse().unwrap(),
                    ],
                )
                .unwrap(),
            ),
        },
        Op::SetQuietHours {
            user: "u".into(),
            schedule: None,
        },
        Op::Snooze {
            user: "u".into(),
            until: Some(Expiry::At(9)),
        },
        Op::Snooze {
            user: "u".into(),
            until: None,
        },
        Op::SetBypass {
            user: "u".into(),
            bypass: crate::Bypass {
                mentions: true,
                urgent: false,
            },
        },
        Op::MuteSender {
            user: "u".into(),
            sender: "s".into(),
            until: Expiry::Never,
        },
        Op::UnmuteSender {
            user: "u".into(),
            sender: "s".into(),
        },
        Op::SetRoomMentions {
            room: "r".into(),
            notify: false,
        },
        Op::SetSlowMode {
            room: "r".into(),
            cooldown_ms: Some(1_000),
        },
        Op::SetSlowMode {
            room: "r".into(),
            cooldown_ms: None,
        },
        Op::SetNotify {
            user: "u".into(),
            room: "r".into(),
            level: NotifyLevel::DirectMentions,
            until: Expiry::Never,
        },
        Op::SetLadder {
            room: "r".into(),
            ladder: Some(
                crate::Ladder::new(
                    [
                        std::time::Duration::from_secs(5),
                        std::time::Duration::from_secs(60),
                    ],
                    std::time::Duration::from_secs(86_400),
                )
                .unwrap(),
            ),
        },
        Op::SetLadder {
            room: "r".into(),
            ladder: None,
        },
        Op::Strike {
            room: "r".into(),
            user: "u".into(),
            ladder: crate::Ladder::default(),
        },
        Op::SetStrikes {
            room: "r".into(),
            user: "u".into(),
            ends_ms: vec![5, 9],
        },
    ]
}

#[test]
fn every_kind_of_record_round_trips() {
    let mut buf = Vec::new();
    for (i, op) in every_kind().iter().enumerate() {
        encode(&mut buf, i as u64 * 1000, op);
    }
    let (records, tail) = decode_all(&buf, 0, VERSION).unwrap();
    assert_eq!(tail, Tail::Clean);
    let ops: Vec<Op> = records.iter().map(|r| r.op.clone()).collect();
    assert_eq!(ops, every_kind());
    let ats: Vec<u64> = records.iter().map(|r| r.at).collect();
    assert_eq!(
        ats,
        (0..every_kind().len() as u64)
            .map(|i| i * 1000)
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_header_round_trips() {
    let h = header(SNAP_MAGIC, 7, 12_345);
    let got = read_header(&h, SNAP_MAGIC).unwrap();
    assert_eq!(
        got,
        Header {
            version: 2,
            generation: 7,
            covers: 12_345,
            len: HEADER
        }
    );
    assert!(
        read_header(&h, LOG_MAGIC)
            .unwrap_err()
            .contains("bad magic")
    );
}

#[test]
fn every_single_bit_flip_of_a_header_is_refused() {
    for magic in [LOG_MAGIC, SNAP_MAGIC] {
        let h = header(magic, 3, 999);
        for bit in 0..HEADER * 8 {
            let mut bad = h;
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                read_header(&bad, magic).is_err(),
                "bit {bit} flipped was accepted"
            );
        }
    }
}

#[test]
fn zeros_to_the_end_are_a_torn_tail_but_zeros_then_data_are_damage() {
    let mut buf = Vec::new();
    encode(&mut buf, 1, &every_kind()[0]);
    let end = buf.len();
    for zeros in [1, 11, 12, 512, 4096] {
        let mut b = buf.clone();
        b.resize(end + zeros, 0);
        let (records, tail) = decode_all(&b, 0, VERSION).unwrap();
        assert_eq!((records.len(), tail), (1, Tail::Torn(end)), "{zeros} zeros");
    }
    let mut b = buf.clone();
    b.resize(end + 512, 0);
    b.push(1);
    assert_eq!(decode_all(&b, 0, VERSION).unwrap_err().0, end);
}

#[test]
fn a_well_framed_record_that_breaks_an_operation_rule_is_refused() {
    for payload in [
        // MuteRoom of an empty room id.
        vec![0u8, 5, 0, 0],
        // MuteMembers with no users.
        vec![0u8, 2, 1, b'r', 0, 0],
        // SetModules that names no module.
        vec![0u8, 4, 1, b'u', 0, 0, 0, 0, 0],
        // A level code that does not exist.
        vec![0u8, 1, 1, b'u', 1, b'r', 9, 0],
        // Trailing bytes after the fields.
        vec![0u8, 6, 1, b'r', 0],
    ] {
        let mut buf = vec![0u8; FRAME];
        buf.extend_from_slice(&payload);
        frame(&mut buf, 0);
        let err = decode_all(&buf, 0, VERSION).unwrap_err();
        assert!(err.1.contains("does not decode"), "{payload:?}: {err:?}");
    }
}
