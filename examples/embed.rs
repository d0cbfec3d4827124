//! A walk through embedding mutegate in a message pipeline: mutes of each kind, the send
//! check with its reason, and push fan-out for one message.
//!
//! Run with `cargo run --release --example embed`.

use mutegate::{
    Engine, ManualClock, Mentions, Module, ModuleChange, MuteFor, NotifyLevel, Role, Target,
};

fn main() -> Result<(), mutegate::Error> {
    const START_MS: u64 = 1_700_000_000_000;
    let clock = ManualClock::new(START_MS);
    let engine = Engine::builder().clock(clock.clone()).build();

    engine.mute_notifications("ann", "lobby")?;
    engine.set_notification_level("dan", "lobby", NotifyLevel::MentionsOnly, MuteFor::hours(8))?;
    engine.mute_members("lobby", ["bob"], MuteFor::minutes(10))?;
    engine.mute_room("lobby", MuteFor::minutes(5))?;
    engine.allow("lobby", ["eve"])?;
    engine.set_module_mutes("cat", ModuleChange::new().set(Module::P2p, true))?;

    let senders: [(&str, Target<'_>, Role); 6] = [
        ("ann", Target::room("lobby"), Role::Member),
        ("bob", Target::room("lobby"), Role::Member),
        ("eve", Target::room("lobby"), Role::Member),
        ("own", Target::room("lobby"), Role::Owner),
        ("cat", Target::p2p("ann"), Role::Member),
        ("cat", Target::room("lobby"), Role::Member),
    ];
    for minutes in [0u64, 6, 11] {
        let now = START_MS + minutes * 60_000;
        println!("t = +{minutes} min");
        let view = engine.at(now);
        for (user, target, role) in senders {
            match view.check_send_as(user, target, role) {
                Ok(()) => println!(
                    "  {user:>3} -> {:?} {:<6} allowed",
                    target.module, target.id
                ),
                Err(denied) => println!(
                    "  {user:>3} -> {:?} {:<6} denied: {denied}",
                    target.module, target.id
                ),
            }
        }
    }

    // The views above read the times they were given; the engine's own calls read its
    // clock. Move the clock to the last view's time, so the listings below agree with it.
    clock.set(START_MS + 11 * 60_000);
    println!("listings at t = +11 min (the clock now)");
    let members = ["ann", "bob", "cat", "dan", "eve"];
    let plain = engine.push_targets("lobby", &members, Mentions::None);
    let mention = engine.push_targets("lobby", &members, Mentions::Users(&["dan", "ann"]));
    println!("push, no mention:       {plain:?}");
    println!("push, @dan @ann:        {mention:?}");
    println!("ann's muted rooms:      {:?}", engine.muted_rooms("ann"));
    println!(
        "lobby's muted members:  {:?}",
        engine.muted_members("lobby")
    );
    println!("{:?}", engine.stats());
    Ok(())
}
