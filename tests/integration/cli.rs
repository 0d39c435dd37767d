//! The `cinder` command as an operator meets it: each subcommand's own help, its version, and
//! one clear line for each way it commonly fails. These run the built binary.

use std::path::Path;
use std::process::Output;

use cinder::config::Config;
use cinder::server::Server;
use tokio::process::Command;

use crate::support::{http, TempDir, TestDb, TestServer};

/// Runs `cinder args…` with `env`, no inherited settings, and returns what it did.
async fn cinder(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cinder"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("CINDER_DATA_DIR")
        .env_remove("CINDER_ADDR")
        .env_remove("CINDER_ADMIN_PASSWORD")
        .env_remove("SECRET_KEY_BASE")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("cinder runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The failure of `output`: it failed, and said `expected` on stderr, alone on one line.
fn assert_fails_with(output: &Output, expected: &str) {
    assert!(!output.status.success(), "it failed: {output:?}");
    let stderr = stderr(output);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines, [format!("error: {expected}")], "stderr: {stderr}");
}

fn data_dir_flag(dir: &Path) -> String {
    dir.display().to_string()
}

#[tokio::test]
async fn version_is_the_crate_version() {
    let output = cinder(&["--version"], &[]).await;
    assert!(output.status.success());
    assert_eq!(
        stdout(&output).trim(),
        format!("cinder {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn each_command_lists_only_its_own_flags() {
    let serve_only = [
        "--addr",
        "--socket-max-frame",
        "--simulate-bookmarks",
        "--secret-key-base",
        "--http-max-connections",
        "--max-reply-bytes",
    ];
    let serve = stdout(&cinder(&["serve", "--help"], &[]).await);
    for flag in serve_only {
        assert!(serve.contains(flag), "serve --help has {flag}:\n{serve}");
    }
    for command in ["seed", "migrate", "replay", "simulate"] {
        let help = cinder(&[command, "--help"], &[]).await;
        assert!(help.status.success());
        let help = stdout(&help);
        assert!(help.contains("--database-url"), "{command}:\n{help}");
        assert!(help.contains("--data-dir"), "{command}:\n{help}");
        for flag in serve_only {
            assert!(
                !help.contains(flag),
                "{command} --help lists {flag}:\n{help}"
            );
        }
    }
    let top = stdout(&cinder(&["--help"], &[]).await);
    for command in ["serve", "migrate", "seed", "simulate", "bench", "replay"] {
        assert!(
            top.contains(command),
            "cinder --help names {command}:\n{top}"
        );
    }
    assert!(!top.contains("--addr"), "cinder --help:\n{top}");
    let bench = stdout(&cinder(&["bench", "--help"], &[]).await);
    assert!(
        bench.contains("--clients") && !bench.contains("--addr"),
        "{bench}"
    );
}

#[tokio::test]
async fn replay_help_names_the_projections_and_refuses_others() {
    let help = stdout(&cinder(&["replay", "--help"], &[]).await);
    for name in cinder::web::projection_names() {
        assert!(help.contains(name), "replay --help names {name}:\n{help}");
    }
    let dir = TempDir::new();
    let refused = cinder(
        &["replay", "--projection", "chats"],
        &[("CINDER_DATA_DIR", &data_dir_flag(&dir.0))],
    )
    .await;
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains(&format!(
            "possible values: {}",
            cinder::web::projection_names().join(", ")
        )),
        "{}",
        stderr(&refused)
    );
}

#[tokio::test]
async fn a_held_embedded_data_dir_is_named_and_left_alone() {
    let dir = TempDir::new();
    let mut config = Config::new(None, dir.0.clone());
    config.addr = "127.0.0.1:0".parse().expect("addr");
    config.admin_password = Some("test-admin".into());
    config.secret_key_base = Some("test secret key base".into());
    let server = Server::start(config)
        .await
        .expect("a node on the embedded store");
    let flag = data_dir_flag(&dir.0);
    let expected = format!("another cinder process is using {flag}; stop it or pass --data-dir");
    for args in [
        vec!["seed", "drops", "--data-dir", &flag],
        vec!["replay", "--data-dir", &flag],
        vec!["migrate", "--data-dir", &flag],
        vec!["simulate", "drops", "--data-dir", &flag],
    ] {
        let output = cinder(&args, &[]).await;
        assert_fails_with(&output, &expected);
    }
    // The node still serves what it had.
    let response = http()
        .get(format!("{}/api/drops/products", server.url()))
        .send()
        .await
        .expect("the node answers");
    assert_eq!(response.status(), 200);
    server.stop().await;
    // Once it has stopped, the data dir is free.
    let seeded = cinder(&["seed", "drops", "--data-dir", &flag], &[]).await;
    assert!(seeded.status.success(), "{}", stderr(&seeded));
}

#[tokio::test]
async fn replay_on_postgres_does_not_touch_a_running_nodes_read_models() {
    let node = TestServer::start().await;
    let dir = node._dir.0.clone();
    let flag = data_dir_flag(&dir);
    let output = cinder(
        &[
            "replay",
            "--database-url",
            &node.db.url,
            "--data-dir",
            &flag,
        ],
        &[],
    )
    .await;
    assert_fails_with(
        &output,
        &format!("another cinder process is using {flag}; stop it or pass --data-dir"),
    );
    let set_aside: Vec<_> = std::fs::read_dir(&dir)
        .expect("data dir")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().contains("unreadable"))
        .collect();
    assert!(set_aside.is_empty(), "read models set aside: {set_aside:?}");
    let (status, _) = node.get_json("/api/chat/rooms", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_taken_port_is_said_once_before_any_password() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = TempDir::new();
    let output = cinder(
        &[
            "serve",
            "--addr",
            &addr,
            "--data-dir",
            &data_dir_flag(&dir.0),
        ],
        &[("RUST_LOG", "warn")],
    )
    .await;
    assert_fails_with(
        &output,
        &format!(
            "{addr} is already in use (another cinder node, or another program, listens \
             there); stop it or pass --addr"
        ),
    );
    assert_eq!(stdout(&output), "", "nothing printed before the refusal");
    assert!(
        !dir.0.join("admin_password").exists(),
        "no password generated"
    );
}

#[tokio::test]
async fn an_unreachable_database_is_one_line() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port");
    // Nobody listens there once the listener is dropped.
    let url = format!("postgres://cinder:hunter2@{closed}/cinder");
    let output = cinder(
        &["migrate", "--database-url", &url],
        &[("RUST_LOG", "warn")],
    )
    .await;
    let shown = format!("postgres://cinder:***@{closed}/cinder");
    assert!(!output.status.success());
    let stderr = stderr(&output);
    assert!(
        !stderr.contains("hunter2"),
        "the password is not shown: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].starts_with(&format!(
            "error: cannot connect to the database at {shown} (DATABASE_URL): "
        )),
        "{stderr}"
    );
    assert!(
        lines[0].contains("Connection refused"),
        "the reason: {stderr}"
    );
}

#[tokio::test]
async fn postgres_commands_log_no_notices() {
    let db = TestDb::new().await;
    for _ in 0..2 {
        let output = cinder(
            &["migrate"],
            &[("DATABASE_URL", &db.url), ("RUST_LOG", "info")],
        )
        .await;
        assert!(output.status.success(), "{}", stderr(&output));
        let stderr = stderr(&output);
        assert!(
            !stderr.contains("already exists") && !stderr.contains("NOTICE"),
            "migrate logged a notice: {stderr}"
        );
        assert_eq!(
            stdout(&output).trim(),
            "event store ready (migrations applied)"
        );
    }
}

#[tokio::test]
async fn replay_reports_the_rate_it_showed_rounded() {
    let dir = TempDir::new();
    let flag = data_dir_flag(&dir.0);
    let seeded = cinder(&["seed", "drops", "--data-dir", &flag], &[]).await;
    assert!(seeded.status.success(), "{}", stderr(&seeded));
    let output = cinder(&["replay", "--data-dir", &flag], &[("RUST_LOG", "warn")]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let summary = stdout(&output);
    // "replayed 2 events into chat, bookmarks, todos, drops in 0.01 s: 1,234 events/s"
    let rate = summary
        .trim()
        .rsplit_once(": ")
        .map(|(_, rate)| rate)
        .unwrap_or_default();
    let number = rate
        .strip_suffix(" events/s")
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(
        number.chars().all(|c| c.is_ascii_digit() || c == ','),
        "a whole number of events/s: {summary}"
    );
    let into = format!(
        "replayed 2 events into {} in ",
        cinder::web::projection_names().join(", ")
    );
    assert!(summary.starts_with(&into), "{summary}");
}

/// The status of `GET /admin` on `server` with the password `password`.
async fn admin_status(server: &Server, password: &str) -> u16 {
    http()
        .get(format!("{}/admin", server.url()))
        .basic_auth("admin", Some(password))
        .send()
        .await
        .expect("admin")
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_admin_password_is_generated_once_and_kept() {
    let dir = TempDir::new();
    let db = TestDb::new().await;
    let config = || {
        let mut config = Config::new(Some(db.url.clone()), dir.0.clone());
        config.addr = "127.0.0.1:0".parse().expect("addr");
        config
    };
    let first = Server::start(config()).await.expect("first start");
    let kept = std::fs::read_to_string(dir.0.join("admin_password")).expect("kept");
    let kept = kept.trim().to_owned();
    assert!(kept.len() >= 16, "a long password: {kept:?}");
    assert_eq!(admin_status(&first, &kept).await, 200);
    first.stop().await;

    let second = Server::start(config()).await.expect("second start");
    assert_eq!(
        admin_status(&second, &kept).await,
        200,
        "the same after a restart"
    );
    assert_eq!(admin_status(&second, "wrong").await, 401);
    second.stop().await;

    // A password that is set wins over the kept one.
    let mut set = config();
    set.admin_password = Some("set-by-the-operator".into());
    let third = Server::start(set).await.expect("third start");
    assert_eq!(admin_status(&third, "set-by-the-operator").await, 200);
    assert_eq!(admin_status(&third, &kept).await, 401);
    third.stop().await;
}

#[test]
fn the_readme_lists_every_command_flag_and_variable() {
    let readme = include_str!("../../README.md");
    let cli = <cinder::cli::Cli as clap::CommandFactory>::command();
    for command in cli.get_subcommands() {
        let name = command.get_name();
        assert!(
            readme.contains(&format!("`cinder {name}")),
            "the README's commands name `cinder {name}`"
        );
    }
    let serve = cli.find_subcommand("serve").expect("serve");
    let table = readme
        .split_once("## Configuration")
        .and_then(|(_, rest)| rest.split_once("\n## "))
        .map(|(table, _)| table)
        .expect("the README's configuration section");
    for arg in serve.get_arguments() {
        if let Some(env) = arg.get_env() {
            let env = env.to_string_lossy();
            assert!(
                table.contains(&format!("`{env}`")),
                "the configuration lists {env}"
            );
        }
        if let Some(long) = arg.get_long() {
            if long != "help" {
                assert!(
                    readme.contains(&format!("--{long}")),
                    "the README mentions --{long}"
                );
            }
        }
    }
}
