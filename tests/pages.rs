//! Paged listings: typed errors for bad limits, and pages that neither skip nor repeat
//! an entry that stays present while other entries come and go (real threads).

mod common;

use common::StopOnDrop;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use mutegate::{Engine, Error, MAX_PAGE_LEN, MuteFor, NotifyLevel};

#[test]
fn a_limit_of_zero_or_over_the_maximum_is_a_typed_error_naming_it() {
    let engine = Engine::new();
    for limit in [0, MAX_PAGE_LEN + 1] {
        let err = engine.muted_members_page("r", None, limit).unwrap_err();
        assert_eq!(
            err,
            Error::PageLimit {
                limit,
                max: MAX_PAGE_LEN
            }
        );
        assert!(err.to_string().contains(&limit.to_string()), "{err}");
        assert!(engine.allow_list_page("r", None, limit).is_err());
        assert!(engine.muted_rooms_page("u", None, limit).is_err());
        assert!(engine.notification_settings_page("u", None, limit).is_err());
    }
    // A full page exactly at the end says there is no next one.
    engine
        .mute_members("r", ["a", "b"], MuteFor::Forever)
        .unwrap();
    let page = engine.muted_members_page("r", None, 2).unwrap();
    assert_eq!((page.items.len(), page.next), (2, None));
    // A cursor past every id is an empty last page.
    let page = engine.muted_members_page("r", Some("zzz"), 2).unwrap();
    assert!(page.items.is_empty() && page.next.is_none());
}

#[test]
fn settings_are_paged_by_room_id_whatever_their_age() {
    let engine = Engine::new();
    for room in ["r3", "r1", "r2"] {
        engine
            .set_notification_level("ann", room, NotifyLevel::Off, MuteFor::Forever)
            .unwrap();
    }
    assert_eq!(
        engine.muted_rooms("ann"),
        ["r3", "r1", "r2"],
        "oldest first"
    );
    let page = engine.muted_rooms_page("ann", None, 2).unwrap();
    assert_eq!(page.items, ["r1", "r2"]);
    let rest = engine
        .muted_rooms_page("ann", page.next.as_deref(), 2)
        .unwrap();
    assert_eq!(rest.items, ["r3"]);
}

/// Members that stay muted the whole time are each listed exactly once per pass, while a
/// writer thread mutes and unmutes other members whose ids sort between theirs.
#[test]
fn paging_under_concurrent_mutation_skips_and_repeats_nothing_that_stays() {
    let engine = Engine::new();
    let stay: Vec<String> = (0..300).map(|i| format!("m{i:04}0")).collect();
    let churn: Vec<String> = (0..300).map(|i| format!("m{i:04}5")).collect();
    engine
        .mute_members("room", &stay, MuteFor::Forever)
        .unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                for chunk in churn.chunks(50) {
                    engine
                        .mute_members("room", chunk, MuteFor::Forever)
                        .unwrap();
                }
                for chunk in churn.chunks(50) {
                    engine.unmute_members("room", chunk).unwrap();
                }
            }
        });
        // A fixed number of passes, however slow the machine; the writer stops when the
        // reader is done, a panic included.
        let _stop = StopOnDrop(&stop);
        for _ in 0..200 {
            let mut seen: HashSet<String> = HashSet::new();
            let mut after: Option<String> = None;
            loop {
                let page = engine
                    .muted_members_page("room", after.as_deref(), 7)
                    .unwrap();
                for m in page.items {
                    assert!(seen.insert(m.user.clone()), "{} listed twice", m.user);
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            for id in &stay {
                assert!(seen.contains(id), "{id} stayed muted but was skipped");
            }
        }
    });
}
