//! `rediss://` (feature `redis-tls`) against a real `redis-server` taking TLS only,
//! with a certificate signed by a CA made for the test.

use mutegate::{Engine, Error, MuteFor, Replication, Target};

use super::{Redis, SECOND, eventually};

#[test]
fn nodes_replicate_over_tls_and_refuse_a_server_they_cannot_verify() {
    let Some(redis) = Redis::start_tls("THE TLS REPLICATION TEST") else {
        return;
    };
    let ca = redis.ca().expect("a TLS server").to_vec();
    assert!(redis.url().starts_with("rediss://"));
    let build = || {
        Engine::builder().replicate(Replication::new(redis.url()).tls_root_certificate(ca.clone()))
    };
    let a = build().expect("a node over TLS");
    let b = build().expect("another node over TLS");
    a.mute_members("lobby", ["bob"], MuteFor::minutes(10))
        .expect("mute");
    assert!(!a.can_send("bob", Target::room("lobby")));
    eventually("b sees it over TLS", 5 * SECOND, || {
        !b.can_send("bob", Target::room("lobby"))
    });
    // The system's trust store does not know the test's CA: the certificate is refused.
    let err = Engine::builder()
        .replicate(Replication::new(redis.url()))
        .expect_err("an unknown issuer");
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    // Plain text to a TLS port gets nowhere either.
    let plain = redis.url().replace("rediss://", "redis://");
    let err = Engine::builder()
        .replicate(Replication::new(plain).timeout(std::time::Duration::from_millis(500)))
        .expect_err("not TLS");
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
}
