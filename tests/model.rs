//! Model-based test: random sequences of every mutation, check, clock advance, sweep,
//! snapshot + restore and close + reopen, over a small id alphabet (with invalid ids
//! mixed in), against the plain reference model in `reference/`. After every step every
//! check and listing must agree, and the engine must have announced exactly the
//! `Expired` events the model owes, none early.

mod reference;

use mutegate::{Actions, AllowPolicy, MuteFor, NotifyLevel};
use proptest::prelude::*;
use reference::{LONG, ROOMS, Step, T0, USERS};

fn user() -> impl Strategy<Value = &'static str> {
    prop_oneof![8 => proptest::sample::select(USERS.to_vec()), 1 => Just(""), 1 => Just(LONG)]
}
fn room() -> impl Strategy<Value = &'static str> {
    prop_oneof![8 => proptest::sample::select(ROOMS.to_vec()), 1 => Just(""), 1 => Just(LONG)]
}
fn users() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(user(), 0..4)
}
fn duration() -> impl Strategy<Value = MuteFor> {
    prop_oneof![
        3 => Just(MuteFor::Forever),
        6 => (1u64..4_000).prop_map(MuteFor::millis),
        1 => Just(MuteFor::millis(0)),
        1 => Just(MuteFor::millis(u64::MAX - T0)),
    ]
}
fn level() -> impl Strategy<Value = NotifyLevel> {
    prop_oneof![
        Just(NotifyLevel::All),
        Just(NotifyLevel::MentionsOnly),
        Just(NotifyLevel::Off),
        Just(NotifyLevel::DirectMentions)
    ]
}
/// Mostly unscoped mutes; else any set of actions, the empty one (refused) included.
fn scope() -> impl Strategy<Value = Actions> {
    prop_oneof![3 => Just(Actions::ALL), 4 => (0u8..64).prop_map(reference::scope_of_bits)]
}
fn flag() -> impl Strategy<Value = Option<bool>> {
    prop_oneof![Just(None), Just(Some(true)), Just(Some(false))]
}

/// A step made with a trail: a moderation mutation, or (refused) another mutation.
fn trailed() -> impl Strategy<Value = Step> {
    let inner = prop_oneof![
        3 => (room(), users(), duration(), scope()).prop_map(|(r, us, d, a)| Step::MuteMembers(r, us, d, a)),
        1 => (room(), users()).prop_map(|(r, us)| Step::UnmuteMembers(r, us)),
        1 => (user(), [flag(), flag(), flag(), flag()], duration(), scope())
            .prop_map(|(u, f, d, a)| Step::SetModules(u, f, d, a)),
        1 => (room(), duration(), scope()).prop_map(|(r, d, a)| Step::MuteRoom(r, d, a)),
        1 => room().prop_map(Step::UnmuteRoom),
        1 => (room(), users()).prop_map(|(r, us)| Step::Allow(r, us)),
        1 => (room(), users()).prop_map(|(r, us)| Step::Disallow(r, us)),
        1 => (room(), prop_oneof![Just(None), (1_000u64..3_000).prop_map(Some)])
            .prop_map(|(r, c)| Step::SetSlowMode(r, c)),
        1 => (room(), prop_oneof![Just(None), (0..reference::LADDERS.len()).prop_map(Some)])
            .prop_map(|(r, i)| Step::SetLadder(r, i)),
        2 => (room(), user()).prop_map(|(r, u)| Step::Strike(r, u)),
        1 => (room(), user()).prop_map(|(r, u)| Step::ClearStrikes(r, u)),
        1 => (user(), room()).prop_map(|(u, r)| Step::MuteNotifications(u, r)),
        1 => user().prop_map(Step::RemoveUser),
    ];
    // Mostly valid trails.
    let trail = prop_oneof![6 => 0..3usize, 1 => 3..reference::trail::TRAILS];
    (trail, inner).prop_map(|(t, s)| Step::WithTrail(t, Box::new(s)))
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => trailed(),
        2 => (user(), room()).prop_map(|(u, r)| Step::MuteNotifications(u, r)),
        2 => (user(), room(), level(), duration()).prop_map(|(u, r, l, d)| Step::SetLevel(u, r, l, d)),
        2 => (user(), room()).prop_map(|(u, r)| Step::UnmuteNotifications(u, r)),
        2 => (room(), users(), duration(), scope()).prop_map(|(r, us, d, a)| Step::MuteMembers(r, us, d, a)),
        2 => (room(), users()).prop_map(|(r, us)| Step::UnmuteMembers(r, us)),
        2 => (user(), [flag(), flag(), flag(), flag()], duration(), scope())
            .prop_map(|(u, f, d, a)| Step::SetModules(u, f, d, a)),
        2 => (room(), duration(), scope()).prop_map(|(r, d, a)| Step::MuteRoom(r, d, a)),
        2 => room().prop_map(Step::UnmuteRoom),
        2 => (room(), users()).prop_map(|(r, us)| Step::Allow(r, us)),
        2 => (room(), users()).prop_map(|(r, us)| Step::Disallow(r, us)),
        1 => user().prop_map(Step::RemoveUser),
        1 => room().prop_map(Step::RemoveRoom),
        3 => prop_oneof![Just(0u64), 1u64..1_500, Just(4_000)].prop_map(Step::Advance),
        1 => Just(Step::Sweep),
        1 => Just(Step::SnapshotRestore),
        1 => Just(Step::Reopen),
        2 => (user(), prop_oneof![6 => 0..3usize, 1 => 3..=reference::TOO_MANY])
            .prop_map(|(u, i)| Step::SetQuietHours(u, i)),
        1 => user().prop_map(Step::ClearQuietHours),
        2 => (user(), prop_oneof![Just(None), Just(Some(0)), (1u64..4_000).prop_map(Some)])
            .prop_map(|(u, d)| Step::Snooze(u, d)),
        1 => user().prop_map(Step::Unsnooze),
        1 => (user(), any::<bool>(), any::<bool>()).prop_map(|(u, a, b)| Step::SetBypass(u, a, b)),
        2 => (user(), user(), duration()).prop_map(|(u, x, d)| Step::MuteSender(u, x, d)),
        1 => (user(), user()).prop_map(|(u, x)| Step::UnmuteSender(u, x)),
        1 => (room(), any::<bool>()).prop_map(|(r, n)| Step::SetRoomMentions(r, n)),
        1 => (0..reference::LEAPS.len()).prop_map(Step::Leap),
        2 => (room(), prop_oneof![
            2 => Just(None),
            1 => Just(Some(0)),
            1 => Just(Some(999)),
            4 => (1_000u64..3_000).prop_map(Some),
            1 => Just(Some(6 * 3_600_000 + 1)),
        ])
            .prop_map(|(r, c)| Step::SetSlowMode(r, c)),
        4 => (user(), room(), proptest::sample::select(reference::ROLES.to_vec()))
            .prop_map(|(u, r, role)| Step::TrySend(u, r, role)),
        1 => (room(), prop_oneof![Just(None), (0..reference::LADDERS.len()).prop_map(Some)])
            .prop_map(|(r, i)| Step::SetLadder(r, i)),
        3 => (room(), user()).prop_map(|(r, u)| Step::Strike(r, u)),
        1 => (room(), user()).prop_map(|(r, u)| Step::ClearStrikes(r, u)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn engine_agrees_with_the_reference_model(
        steps in prop::collection::vec(step(), 1..60),
        allow_wins in any::<bool>(),
        many_shards in any::<bool>(),
    ) {
        let policy = if allow_wins { AllowPolicy::AllowListWins } else { AllowPolicy::MuteWins };
        let shards = if many_shards { 64 } else { 2 };
        reference::run(policy, shards, &steps).map_err(TestCaseError::fail)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The same model, every check also made through the handle API (handles resolved
    /// once per engine, kept across mutations, reopens and restores), and every id given
    /// back once its state, its pointers and its handles are gone.
    #[test]
    fn handle_checks_agree_with_the_reference_model(
        steps in prop::collection::vec(step(), 1..60),
        allow_wins in any::<bool>(),
        many_shards in any::<bool>(),
    ) {
        let policy = if allow_wins { AllowPolicy::AllowListWins } else { AllowPolicy::MuteWins };
        let shards = if many_shards { 64 } else { 2 };
        reference::run_handles(policy, shards, &steps).map_err(TestCaseError::fail)?;
    }
}

/// A fixed walk through both of 2026's clock changes in New York and Berlin with
/// quiet hours set, crossing every window boundary of the specs a second at a time,
/// with bypass rules, a snooze and a sender mute along the way, compared with the
/// reference (which recomputes quiet time from the wall clock at every step).
#[test]
fn quiet_hours_across_clock_changes_agree_with_the_reference_model() {
    let mut steps = vec![
        Step::SetQuietHours("u0", 0),
        Step::SetQuietHours("u1", 1),
        Step::SetQuietHours("u2", 2),
        Step::SetBypass("u1", true, false),
        Step::SetLevel("u2", "r0", NotifyLevel::DirectMentions, MuteFor::Forever),
        Step::SetLevel("u0", "r1", NotifyLevel::MentionsOnly, MuteFor::Forever),
        Step::SetRoomMentions("r1", false),
        Step::MuteSender("u2", "u0", MuteFor::Forever),
        Step::Advance(19_000),
        Step::Advance(2_000),
    ];
    for leap in 0..reference::LEAPS.len() {
        steps.push(Step::Leap(leap));
        steps.push(Step::Snooze("u0", Some(1_500)));
        for _ in 0..4 {
            steps.push(Step::Advance(1_000));
        }
        if leap == 3 {
            steps.push(Step::Reopen);
            steps.push(Step::SnapshotRestore);
        }
    }
    for policy in [AllowPolicy::MuteWins, AllowPolicy::AllowListWins] {
        reference::run(policy, 2, &steps).unwrap();
    }
}
