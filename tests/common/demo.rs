//! The demo deployment: credentials and a directory holding the seeds' clients and rooms.
//! Shared by the HTTP tests and benches. `examples/mutegate.toml` is the same deployment
//! for `mutegate-server` (the README's curl calls); `tests/server` checks the two agree.

use mutegate::http::{
    AgoraConfig, ChecksConfig, Client, ClientAddress, Config, ImkitConfig, InMemoryDirectory,
    NeteaseConfig,
};

/// IMKit admin key (`IM-API-KEY`).
pub const IMKIT_API_KEY: &str = "demo-imkit-api-key";
/// IMKit client key (`IM-CLIENT-KEY`).
pub const IMKIT_CLIENT_KEY: &str = "demo-imkit-client-key";
/// IMKit token (`IM-Authorization`) of seed 002's user.
pub const IMKIT_TOKEN: &str = "demo-token-1485248560558";
/// IMKit token of seed 000's user `aaa`.
pub const IMKIT_TOKEN_AAA: &str = "demo-token-aaa";
/// NetEase `AppKey`.
pub const NETEASE_APP_KEY: &str = "demo-netease-app-key";
/// NetEase `AppSecret`.
pub const NETEASE_APP_SECRET: &str = "demo-netease-app-secret";
/// Agora `org_name`.
pub const AGORA_ORG: &str = "demo-org";
/// Agora `app_name`.
pub const AGORA_APP: &str = "demo-app";
/// Agora's internal app id (`application`).
pub const AGORA_APPLICATION: &str = "52f6a6d0-demo-4e5c-9d2f-00000000f0f0";
/// Agora bearer token.
pub const AGORA_TOKEN: &str = "demo-agora-token";
/// Agora `client_id`, for `POST /{org}/{app}/token`.
pub const AGORA_CLIENT_ID: &str = "demo-agora-client-id";
/// Agora `client_secret`.
pub const AGORA_CLIENT_SECRET: &str = "demo-agora-client-secret";
/// Bearer token of mutegate's JSON checks.
pub const CHECK_TOKEN: &str = "demo-check-token";

/// The demo's credentials, every vendor served.
pub fn config() -> Config {
    Config::default()
        .with_imkit(ImkitConfig::new([IMKIT_API_KEY], [IMKIT_CLIENT_KEY]))
        .with_netease(NeteaseConfig::new(NETEASE_APP_KEY, NETEASE_APP_SECRET))
        .with_agora(
            AgoraConfig::new(AGORA_ORG, AGORA_APP, AGORA_APPLICATION, [AGORA_TOKEN])
                .with_client_credentials(AGORA_CLIENT_ID, AGORA_CLIENT_SECRET),
        )
        .with_checks(ChecksConfig::new([CHECK_TOKEN]))
}

fn ipv6_loopback(port: u16) -> Option<ClientAddress> {
    Some(ClientAddress {
        address: "::1".into(),
        family: "IPv6".into(),
        port,
    })
}

/// The seeds' clients and rooms: `aaa` and `demo` (seeds 000/001), user
/// `1485248560558` and its room (seed 002), NetEase's `123123` (seed 003), and Agora's
/// `user1`/`user2` in chat room `12345678` (Agora's public examples).
pub fn directory() -> InMemoryDirectory {
    let aaa = Client {
        nickname: Some("AAA".into()),
        email: Some("arielle.mckellar@coolgoose.ca".into()),
        avatar_url: Some("http://loremflickr.com/240/240/style?1569804629".into()),
        description: Some("description la la #1541926309694".into()),
        app_id: Some("SampleApp".into()),
        is_robot: Some(false),
        address: ipv6_loopback(50392),
        user_agent: Some(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_3) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/80.0.3987.132 Safari/537.36"
                .into(),
        ),
        last_login_time_ms: Some(1_583_726_632_592),
        version: Some(0),
        ..Client::new("aaa")
    };
    let test_ab = Client {
        nickname: Some("Test AB".into()),
        email: Some("test@test.com".into()),
        avatar_url: Some("http://example.com/avatarUrl".into()),
        app_id: Some("SampleApp".into()),
        address: ipv6_loopback(56216),
        user_agent: Some(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6) AppleWebKit/537.36".into(),
        ),
        last_login_time_ms: Some(1_487_068_306_745),
        ..Client::new("1485248560558")
    };
    let mut dir = InMemoryDirectory::new()
        .with_client(aaa)
        .with_client(test_ab)
        .with_token(IMKIT_TOKEN, "1485248560558")
        .with_token(IMKIT_TOKEN_AAA, "aaa");
    for user in ["bbb", "123123", "user1", "user2", "user3"] {
        dir = dir.with_client(Client::new(user));
    }
    for room in ["demo", "demo-room", "58871b877390be11d5f1ab30", "12345678"] {
        dir = dir.with_room(room);
    }
    dir
}
