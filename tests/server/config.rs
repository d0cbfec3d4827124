//! Bad configs: one line naming the key and the problem, exit code 2, nothing served.

use super::{FULL, SECRETS, config_file, run};

/// Runs the server (not `--check-config`: it must refuse to start) on `text` with `env`.
fn refused(text: &str, env: &[(&str, &str)]) -> String {
    let (_dir, path) = config_file(text);
    let ran = run(&["--config", path.to_str().unwrap()], env);
    assert_eq!(ran.status.code(), Some(2), "{text}\n{}", ran.stderr);
    assert!(
        !ran.stdout.contains("listening"),
        "it started: {}",
        ran.stdout
    );
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line, not {lines:?}");
    lines[0]
        .strip_prefix("mutegate-server: config error: ")
        .unwrap_or_else(|| panic!("{:?}", lines[0]))
        .to_owned()
}

const CHECKS: &str = "[checks]\ntokens = [\"t\"]\n";

#[test]
fn each_config_error_is_one_line_naming_the_key_and_exit_code_2() {
    // The config, the environment, the key named, the problem named.
    type Case = (
        String,
        Vec<(&'static str, &'static str)>,
        &'static str,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            format!("[server]\nbindd = \"x\"\n{CHECKS}"),
            vec![],
            "server.bindd",
            "unknown field `bindd`",
        ),
        (
            format!("[server]\nbind = \"nowhere\"\n{CHECKS}"),
            vec![],
            "server.bind",
            "\"nowhere\" is not an address and port",
        ),
        (
            format!("[server]\nmax_connections = \"many\"\n{CHECKS}"),
            vec![],
            "server.max_connections",
            "invalid type: string \"many\"",
        ),
        (
            format!("[server]\nrequest_timeout = \"soon\"\n{CHECKS}"),
            vec![],
            "server.request_timeout",
            "\"soon\" is not a duration",
        ),
        (
            format!("[server]\nheader_read_timeout = \"0s\"\n{CHECKS}"),
            vec![],
            "server.header_read_timeout",
            "longer than zero",
        ),
        (
            format!("[log]\nformat = \"xml\"\n{CHECKS}"),
            vec![],
            "log.format",
            "unknown variant `xml`",
        ),
        (
            format!("[log]\nlevel = \"=[\"\n{CHECKS}"),
            vec![],
            "log.level",
            "is not a log filter",
        ),
        (
            format!("[store]\nsync = \"sometimes\"\n{CHECKS}"),
            vec![],
            "store.sync",
            "\"sometimes\" is not \"every-write\"",
        ),
        (
            format!(
                "[store]\ndir = \"/tmp/x\"\n[replication]\nurl = \"redis://127.0.0.1:1\"\n{CHECKS}"
            ),
            vec![],
            "store.dir",
            "cannot be set with [replication]",
        ),
        (
            format!("[replication]\n{CHECKS}"),
            vec![],
            "replication.url",
            "is missing (set it, or MUTEGATE_REPLICATION_URL)",
        ),
        (
            format!("[replication]\nurl = \"http://x\"\n{CHECKS}"),
            vec![],
            "replication.url",
            "must start with redis://",
        ),
        (
            format!("[replication]\nurl = \"redis://127.0.0.1:1\"\npipeline = 9\n{CHECKS}"),
            vec![],
            "replication.pipeline",
            "9 is not from 1 to 8",
        ),
        (
            format!(
                "[replication]\nurl = \"rediss://127.0.0.1:1\"\ntls_root_certificate = \"/nonexistent/ca.pem\"\n{CHECKS}"
            ),
            vec![],
            "replication.tls_root_certificate",
            "cannot read /nonexistent/ca.pem",
        ),
        (
            "[checks]\n".into(),
            vec![],
            "checks.tokens",
            "is empty: no caller could use /v1",
        ),
        (
            format!("{CHECKS}[imkit]\nclient_keys = [\"c\"]\n"),
            vec![],
            "imkit.api_keys",
            "is empty",
        ),
        (
            format!("{CHECKS}[netease]\napp_key = \"k\"\n"),
            vec![],
            "netease.app_secret",
            "is missing (set it, or MUTEGATE_NETEASE_APP_SECRET)",
        ),
        (
            format!(
                "{CHECKS}[netease]\napp_key = \"k\"\napp_secret = \"s\"\ncalls_per_second = 0\n"
            ),
            vec![],
            "netease.calls_per_second",
            "must be at least 1",
        ),
        (
            format!(
                "{CHECKS}[agora]\norg = \"o\"\napp = \"a/b\"\napplication = \"x\"\ntokens = [\"t\"]\n"
            ),
            vec![],
            "agora.app",
            "must be a non-empty path segment",
        ),
        (
            format!(
                "{CHECKS}[agora]\norg = \"o\"\napp = \"a\"\napplication = \"x\"\nclient_id = \"id\"\n"
            ),
            vec![],
            "agora.client_secret",
            "is missing while agora.client_id is set",
        ),
        (
            format!("{CHECKS}[agora]\norg = \"o\"\napp = \"a\"\napplication = \"x\"\n"),
            vec![],
            "agora.tokens",
            "no caller could get in",
        ),
        (
            format!(
                "{CHECKS}[agora]\norg = \"o\"\napp = \"a\"\napplication = \"x\"\ntokens = [\"t\"]\ntoken_ttl = \"0s\"\n"
            ),
            vec![],
            "agora.token_ttl",
            "longer than zero",
        ),
        ("[server]\n".into(), vec![], "(file)", "serves nothing"),
        ("[server\n".into(), vec![], "(file)", "(line 1)"),
        (
            CHECKS.into(),
            vec![("MUTEGATE_CHECK_TOKENS", "x")],
            "MUTEGATE_CHECK_TOKENS",
            "unknown variable",
        ),
        (
            CHECKS.into(),
            vec![("MUTEGATE_NETEASE_APP_SECRET", "x")],
            "MUTEGATE_NETEASE_APP_SECRET",
            "the config has no [netease] table",
        ),
        (
            CHECKS.into(),
            vec![("MUTEGATE_CHECKS_TOKENS", " ")],
            "MUTEGATE_CHECKS_TOKENS",
            "is set but empty",
        ),
        (
            format!("{CHECKS}[imkit]\napi_keys = [\"a\"]\n"),
            vec![("MUTEGATE_IMKIT_USER_TOKENS", "tok-only")],
            "MUTEGATE_IMKIT_USER_TOKENS",
            "token=uid pairs",
        ),
    ];
    for (text, env, key, problem) in &cases {
        let line = refused(text, env);
        assert!(
            line.starts_with(&format!("{key}: ")) && line.contains(problem),
            "{text:?}: expected {key}: ...{problem}..., got {line:?}"
        );
    }
}

#[test]
fn a_missing_config_flag_or_file_is_exit_code_2() {
    let ran = run(&[], &[]);
    assert_eq!(ran.status.code(), Some(2));
    assert!(
        ran.stderr.contains("--config FILE is required"),
        "{}",
        ran.stderr
    );
    let ran = run(&["--config", "/nonexistent/mutegate.toml"], &[]);
    assert_eq!(ran.status.code(), Some(2));
    assert!(
        ran.stderr.starts_with(
            "mutegate-server: config error: /nonexistent/mutegate.toml: cannot read it"
        ),
        "{}",
        ran.stderr
    );
    let ran = run(&["--no-such-flag"], &[]);
    assert_eq!(ran.status.code(), Some(2), "clap's usage error");
}

#[test]
fn check_config_validates_and_exits_without_serving() {
    let (_dir, path) = config_file(FULL);
    let ran = run(
        &["--config", path.to_str().unwrap(), "--check-config"],
        &SECRETS,
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert!(
        ran.stdout.starts_with(
            "config ok: checks (/v1), imkit, netease, agora on 127.0.0.1:0; state in memory"
        ),
        "{}",
        ran.stdout
    );
    // Without the secrets from the environment, the same file is not enough.
    let ran = run(&["--config", path.to_str().unwrap(), "--check-config"], &[]);
    assert_eq!(ran.status.code(), Some(2));
    assert!(
        ran.stderr.contains("checks.tokens: is empty"),
        "{}",
        ran.stderr
    );
}

#[test]
fn the_example_config_validates_and_the_default_config_parses() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/mutegate.toml");
    let ran = run(&["--config", example, "--check-config"], &[]);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert!(
        ran.stdout.contains("checks (/v1), imkit, netease, agora"),
        "{}",
        ran.stdout
    );

    let printed = run(&["--print-default-config"], &[]);
    assert_eq!(printed.status.code(), Some(0));
    // The default, as printed, parses: what it lacks is only something to serve.
    let (_dir, path) = config_file(&printed.stdout);
    let ran = run(&["--config", path.to_str().unwrap(), "--check-config"], &[]);
    assert_eq!(ran.status.code(), Some(2));
    assert!(
        ran.stderr.contains("(file): serves nothing"),
        "{}",
        ran.stderr
    );
    // With its [checks] table uncommented and a token, it serves.
    let enabled = printed
        .stdout
        .replace("# [checks]\n# tokens = []", "[checks]\ntokens = [\"t\"]");
    assert_ne!(
        enabled, printed.stdout,
        "the default config has a [checks] example"
    );
    std::fs::write(&path, enabled).unwrap();
    let ran = run(&["--config", path.to_str().unwrap(), "--check-config"], &[]);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
}

#[test]
fn a_redis_password_stays_out_of_check_configs_line() {
    let (_dir, path) = config_file(&format!("[replication]\n{CHECKS}"));
    let url = "redis://mutegate:hunter2-redis@127.0.0.1:6390/0";
    let ran = run(
        &["--config", path.to_str().unwrap(), "--check-config"],
        &[("MUTEGATE_REPLICATION_URL", url)],
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert!(
        ran.stdout
            .contains("replicated: Replication { url: \"redis://mutegate:***@127.0.0.1:6390/0\""),
        "{}",
        ran.stdout
    );
    assert!(!ran.stdout.contains("hunter2") && !ran.stderr.contains("hunter2"));
}
