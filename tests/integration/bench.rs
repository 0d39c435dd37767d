//! `cinder bench`: every scenario runs end to end from the command line (small), writes its
//! JSON, and loses nothing on the way. How fast is for the benchmarks themselves to say: nothing
//! here looks at a time.

use std::process::Command;

use serde_json::Value;

use crate::support::TempDir;

/// Runs `cinder bench <args>` and returns its results by metric.
fn bench(scenario: &str, args: &[&str]) -> Vec<(String, f64)> {
    let out = TempDir::new();
    let output = Command::new(env!("CARGO_BIN_EXE_cinder"))
        .arg("bench")
        .arg(scenario)
        .args(args)
        .arg("--out")
        .arg(&out.0)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run cinder bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("### {scenario} (")),
        "a table is printed: {stdout}"
    );
    let json = std::fs::read_to_string(out.0.join(format!("{scenario}.json"))).expect("json");
    let report: Value = serde_json::from_str(&json).expect("valid json");
    assert_eq!(report["scenario"], scenario);
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|row| {
            (
                row["metric"].as_str().unwrap_or_default().to_owned(),
                row["value"].as_f64().expect("a number"),
            )
        })
        .collect()
}

fn value(results: &[(String, f64)], metric: &str) -> f64 {
    results
        .iter()
        .find(|(name, _)| name == metric)
        .unwrap_or_else(|| panic!("no {metric:?} in {results:?}"))
        .1
}

#[test]
fn commands_and_history_land_every_command() {
    let results = bench(
        "commands",
        &["--seconds", "1", "--clients", "4", "--rooms", "2"],
    );
    assert_eq!(value(&results, "failures"), 0.0);
    assert!(value(&results, "commands/s") > 0.0);
    assert!(value(&results, "raw inserts/s (the limit)") > 0.0);
    // Postgres runs on this machine: what each part costs is read from /proc.
    assert!(value(&results, "clients' CPU per command") > 0.0);
    assert!(
        value(
            &results,
            "ceiling of commands / raw inserts with a free server"
        ) > 0.0
    );

    let results = bench(
        "history",
        &[
            "--seconds",
            "1",
            "--clients",
            "4",
            "--rooms",
            "2",
            "--history",
            "300",
        ],
    );
    assert_eq!(value(&results, "empty rooms: failures"), 0.0);
    assert_eq!(value(&results, "rooms of 300: failures"), 0.0);
    assert!(value(&results, "full rooms / empty rooms") > 0.0);
}

#[test]
fn fanout_reaches_every_socket() {
    let results = bench("fanout", &["--sockets", "50", "--messages", "5"]);
    assert_eq!(value(&results, "deliveries missed"), 0.0);
    // At 50 sockets the growth past the warm-up can be within a page of the allocator's, so
    // only its presence is checked: the figure is for runs of thousands.
    assert!(value(&results, "memory per idle connection (past the warm-up)") >= 0.0);
}

/// Past what one process may hold, the sockets are spread over nodes and reader processes,
/// and every message still reaches every socket.
#[test]
fn fanout_spreads_sockets_over_nodes_past_a_process_limit() {
    let results = bench(
        "fanout",
        &[
            "--sockets",
            "50",
            "--messages",
            "5",
            "--sockets-per-process",
            "20",
        ],
    );
    assert_eq!(value(&results, "nodes"), 3.0);
    // A warm-up reader and one for the rest, per node.
    assert_eq!(value(&results, "reader processes"), 6.0);
    assert_eq!(value(&results, "deliveries missed"), 0.0);
    assert_eq!(
        value(&results, "messages that never reached every socket"),
        0.0
    );
}

#[test]
fn replay_rebuilds_every_event() {
    let out = bench("replay", &["--events", "3000"]);
    assert!(value(&out, "rebuild") > 0.0);
    assert!(value(&out, "streaming SELECT (the limit)") > 0.0);
}

#[test]
fn wire_weighs_each_room_and_lag_sees_every_push() {
    let results = bench("wire", &["--messages", "3", "--room-sizes", "10,2000"]);
    let small = value(&results, "live view patch, room of 10");
    let large = value(&results, "live view patch, room of 2000");
    assert!(small > 0.0 && large > 0.0);
    assert!(value(&results, "channel push, room of 2000") > 0.0);

    let results = bench("lag", &["--seconds", "1", "--rate", "50", "--rooms", "2"]);
    assert_eq!(value(&results, "failures"), 0.0);
    assert_eq!(value(&results, "pushes B never made"), 0.0);
}

#[test]
fn presence_churn_is_shared_and_cleaned_up() {
    let results = bench(
        "presence",
        &[
            "--seconds",
            "1",
            "--clients",
            "4",
            "--rooms",
            "2",
            "--churn",
            "20",
        ],
    );
    assert_eq!(value(&results, "failures"), 0.0);
    assert_eq!(value(&results, "entries left behind"), 0.0);
    assert!(value(&results, "joins/s made") > 0.0);
    assert!(
        value(&results, "presence_diff pushes seen on the other node") > 0.0,
        "visitors of one node reach the other's rooms"
    );
    assert!(value(&results, "with churn / without") > 0.0);
}

#[test]
fn contention_sells_on_one_and_two_nodes_and_loses_nothing() {
    let results = bench("contention", &["--seconds", "1", "--clients", "4"]);
    assert_eq!(value(&results, "one node: failures"), 0.0);
    assert_eq!(value(&results, "two nodes: failures"), 0.0);
    assert!(value(&results, "one node: sales/s") > 0.0);
    assert!(value(&results, "two nodes: sales/s") > 0.0);
    assert_eq!(
        value(&results, "sales in the log − sales acknowledged"),
        0.0
    );
}
