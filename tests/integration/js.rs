//! Real clients in Node: the official `phoenix` npm client, and headless Chromium driven by
//! playwright-core. The scripts live in `tests/js`; `npm ci --prefix tests/js` installs them.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::TestServer;

async fn run_node(script: &str) {
    run_node_with(script, |_| {}).await;
}

async fn run_node_with(script: &str, adjust: impl FnOnce(&mut cinder::config::Config)) {
    let server = TestServer::start_with(adjust).await;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        dir.join("node_modules").exists(),
        "tests/js/node_modules is missing: run `npm ci --prefix tests/js` (scripts/test does)"
    );
    let run = tokio::process::Command::new("node")
        .arg(script)
        .current_dir(&dir)
        .env("CINDER_URL", server.url())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("the script finishes within 90 s")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_phoenix_client_joins_pushes_and_receives() {
    run_node("phoenix_chat.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_phoenix_presence_helper_lists_a_chat_room() {
    run_node("phoenix_presence.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_phoenix_client_over_long_poll_chats_with_presence_and_live_views() {
    // A short idle timeout: the long poller that goes away drops out of presence in seconds.
    run_node_with("phoenix_longpoll.mjs", |config| {
        config.socket.idle_timeout = Duration::from_secs(2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_chat_live_in_headless_chromium() {
    run_node("browser_chat.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_as_of_an_early_event_in_headless_chromium() {
    run_node("browser_as_of.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phoenix_client_follows_the_firehose_while_the_simulator_runs() {
    run_node_with("phoenix_bookmarks.mjs", |config| {
        config.simulate_bookmarks = Some(Duration::from_millis(200));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_follow_a_tag_live_in_headless_chromium() {
    run_node("browser_bookmarks.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todos_in_two_tabs_and_another_visitor_in_headless_chromium() {
    run_node("browser_todos.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_phoenix_client_follows_a_poll_as_votes_are_cast_and_it_closes() {
    run_node("phoenix_polls.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_visitors_vote_and_see_each_others_votes_live_in_headless_chromium() {
    run_node("browser_polls.mjs").await;
}

/// Runs `script` against `server` with extra environment variables; the script must exit 0.
async fn run_node_on(server: &TestServer, script: &str, envs: &[(&str, String)]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        dir.join("node_modules").exists(),
        "tests/js/node_modules is missing: run `npm ci --prefix tests/js` (scripts/test does)"
    );
    let mut command = tokio::process::Command::new("node");
    command
        .arg(script)
        .current_dir(&dir)
        .env("CINDER_URL", server.url());
    for (name, value) in envs {
        command.env(name, value);
    }
    let run = command.kill_on_drop(true).output();
    // Past the script's own watchdog (`limitMs`): this only catches a node that hangs.
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the script finishes within 300 s")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shoppers_and_admin_see_a_drops_launch_live_drops_live_in_chromium() {
    let server = TestServer::start_with(|c| c.admin_password = Some("test-admin".into())).await;
    let envs = [
        ("CINDER_ADMIN_PASSWORD", "test-admin".to_owned()),
        ("CINDER_BIN", env!("CARGO_BIN_EXE_cinder").to_owned()),
        ("DATABASE_URL", server.db.url.clone()),
    ];
    run_node_on(&server, "browser_drops.mjs", &envs).await;
}

/// Hostile text in every field of `part` (an app; `drops` also checks the explorer) is shown
/// as text and never runs, live and after a reload.
async fn escaping_in(part: &str) {
    let server = TestServer::start_with(|c| c.admin_password = Some("test-admin".into())).await;
    let envs = [
        ("CINDER_ADMIN_PASSWORD", "test-admin".to_owned()),
        ("CINDER_ESCAPING_PART", part.to_owned()),
    ];
    run_node_on(&server, "browser_escaping.mjs", &envs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaping_hostile_text_in_chat_never_runs_in_chromium() {
    escaping_in("chat").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaping_hostile_text_in_bookmarks_never_runs_in_chromium() {
    escaping_in("bookmarks").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaping_hostile_text_in_todos_never_runs_in_chromium() {
    escaping_in("todos").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaping_hostile_text_in_polls_never_runs_in_chromium() {
    escaping_in("polls").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaping_hostile_text_in_drops_and_the_explorer_never_runs_in_chromium() {
    escaping_in("drops").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_phone_and_looks_finished_in_chromium() {
    let server = TestServer::start_with(|c| c.admin_password = Some("test-admin".into())).await;
    let envs = [("CINDER_ADMIN_PASSWORD", "test-admin".to_owned())];
    run_node_on(&server, "browser_design.mjs", &envs).await;
}

/// Runs `script`, which starts (and kills) `cinder serve` processes of its own.
async fn run_node_alone(script: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let run = tokio::process::Command::new("node")
        .arg(script)
        .current_dir(&dir)
        .env("CINDER_BIN", env!("CARGO_BIN_EXE_cinder"))
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("the script finishes within 90 s")
        .expect("node runs");
    assert!(
        output.status.success(),
        "{script} failed\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_shows_a_banner_keeps_the_text_and_sends_it_after_the_restart_in_chromium()
{
    run_node_alone("browser_connection.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_are_validated_as_they_are_typed_in_chromium() {
    run_node("browser_validation.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_swap_live_pages_over_the_open_socket_with_back_and_forward_in_chromium() {
    run_node("browser_navigation.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_cut_off_gets_only_what_it_missed_here_and_on_another_node_in_chromium() {
    let a = TestServer::start().await;
    // A second node on the same Postgres, where the page moves.
    let b = TestServer::start_on(&a.db.url).await;
    run_node_on(&a, "browser_resume.mjs", &[("CINDER_URL_B", b.url())]).await;
}
