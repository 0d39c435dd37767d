//! Prometheus metrics, served as text at `GET /metrics`: their names, and the helpers that record
//! them (through the `metrics` facade, into one process-wide recorder).
//!
//! | name | type | labels |
//! | --- | --- | --- |
//! | `cinder_commands_total` | counter | `aggregate`, `outcome` (ok, rejected, conflict, unavailable, error) |
//! | `cinder_command_duration_seconds` | histogram | `aggregate` |
//! | `cinder_events_appended_total` | counter | `aggregate` |
//! | `cinder_append_batch_commands` | histogram | |
//! | `cinder_projection_lag_seconds` | gauge | |
//! | `cinder_projection_errors_total` | counter | |
//! | `cinder_socket_connections` | gauge | |
//! | `cinder_socket_slow_clients_dropped_total` | counter | |
//! | `cinder_socket_oversized_frames_total` | counter | |
//! | `cinder_http_connections` | gauge | |
//! | `cinder_http_connections_refused_total` | counter | `reason` (per_ip, capacity) |
//! | `cinder_http_connections_timed_out_total` | counter | `timeout` (header, idle) |
//! | `cinder_channel_joins_total` | counter | `outcome` (ok, error) |
//! | `cinder_pushes_total` | counter | |
//! | `cinder_push_renders_total` | counter | |

use std::sync::OnceLock;
use std::time::Duration;

use metrics::Unit;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const COMMANDS: &str = "cinder_commands_total";
pub const COMMAND_DURATION: &str = "cinder_command_duration_seconds";
pub const EVENTS_APPENDED: &str = "cinder_events_appended_total";
pub const APPEND_BATCH: &str = "cinder_append_batch_commands";
pub const PROJECTION_LAG: &str = "cinder_projection_lag_seconds";
pub const PROJECTION_ERRORS: &str = "cinder_projection_errors_total";
pub const SOCKET_CONNECTIONS: &str = "cinder_socket_connections";
pub const SLOW_CLIENTS_DROPPED: &str = "cinder_socket_slow_clients_dropped_total";
pub const OVERSIZED_FRAMES: &str = "cinder_socket_oversized_frames_total";
pub const HTTP_CONNECTIONS: &str = "cinder_http_connections";
pub const HTTP_REFUSED: &str = "cinder_http_connections_refused_total";
pub const HTTP_TIMED_OUT: &str = "cinder_http_connections_timed_out_total";
pub const JOINS: &str = "cinder_channel_joins_total";
pub const PUSHES: &str = "cinder_pushes_total";
pub const PUSH_RENDERS: &str = "cinder_push_renders_total";

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Upper bounds of the command latency buckets, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Upper bounds of the batch size buckets (commands per group commit; at most 512).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder the first time it is called (later calls, from more
/// servers in the same process, share it) and returns its handle.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(COMMAND_DURATION.into()), LATENCY_BUCKETS)
            .expect("latency buckets are not empty")
            .set_buckets_for_metric(Matcher::Full(APPEND_BATCH.into()), BATCH_BUCKETS)
            .expect("batch buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if let Err(error) = metrics::set_global_recorder(recorder) {
            tracing::warn!(%error, "another metrics recorder is installed; /metrics stays empty");
        }
        describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP);
                upkeep.run_upkeep();
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "metrics upkeep thread did not start");
        }
        handle
    })
}

/// Every metric, in the Prometheus text format.
pub fn render() -> String {
    install().render()
}

fn describe() {
    describe_counter!(
        COMMANDS,
        Unit::Count,
        "Commands executed, by aggregate type and outcome."
    );
    describe_histogram!(
        COMMAND_DURATION,
        Unit::Seconds,
        "Time to execute a command, retries included."
    );
    describe_counter!(
        EVENTS_APPENDED,
        Unit::Count,
        "Events appended to the event store."
    );
    describe_histogram!(
        APPEND_BATCH,
        Unit::Count,
        "Commands whose events were appended together, in one transaction (group commit)."
    );
    describe_gauge!(
        PROJECTION_LAG,
        Unit::Seconds,
        "Age of the oldest event this node's projections have not applied yet (0 when caught up)."
    );
    describe_counter!(
        PROJECTION_ERRORS,
        Unit::Count,
        "Failed attempts of the projection runner to read or apply the log."
    );
    describe_gauge!(SOCKET_CONNECTIONS, Unit::Count, "Open socket connections.");
    describe_counter!(
        SLOW_CLIENTS_DROPPED,
        Unit::Count,
        "Socket connections dropped because the client did not read its pushes."
    );
    describe_counter!(
        OVERSIZED_FRAMES,
        Unit::Count,
        "Socket replies and pushes not sent because they were over CINDER_MAX_REPLY_BYTES."
    );
    describe_gauge!(
        HTTP_CONNECTIONS,
        Unit::Count,
        "Open HTTP connections, websockets included."
    );
    describe_counter!(
        HTTP_REFUSED,
        Unit::Count,
        "HTTP connections refused, by reason: per_ip (the address's share is taken) or capacity."
    );
    describe_counter!(
        HTTP_TIMED_OUT,
        Unit::Count,
        "HTTP connections closed by a timeout: header (a request head took too long) or idle."
    );
    describe_counter!(JOINS, Unit::Count, "Channel joins, by outcome.");
    describe_counter!(PUSHES, Unit::Count, "Pushes sent to socket clients.");
    describe_counter!(
        PUSH_RENDERS,
        Unit::Count,
        "Pushes rendered and encoded (once for all the channels that send one alike)."
    );
    register_zeros();
}

/// Every series of the table above that has no aggregate label, at zero: present from the
/// start, so a scrape of an idle node shows them all (an alert on `increase(…)` of a series that
/// appears only with its first error never fires for that error). The series labelled by
/// aggregate type appear as each command bus starts ([`aggregate`]).
fn register_zeros() {
    // Registered without a sample: rendered with empty buckets.
    let _ = histogram!(APPEND_BATCH);
    gauge!(PROJECTION_LAG).increment(0.0);
    counter!(PROJECTION_ERRORS).increment(0);
    gauge!(SOCKET_CONNECTIONS).increment(0.0);
    for outcome in ["ok", "error"] {
        counter!(JOINS, "outcome" => outcome).increment(0);
    }
    counter!(PUSHES).increment(0);
    counter!(PUSH_RENDERS).increment(0);
    counter!(SLOW_CLIENTS_DROPPED).increment(0);
    counter!(OVERSIZED_FRAMES).increment(0);
    gauge!(HTTP_CONNECTIONS).increment(0.0);
    for reason in ["per_ip", "capacity"] {
        counter!(HTTP_REFUSED, "reason" => reason).increment(0);
    }
    for timeout in ["header", "idle"] {
        counter!(HTTP_TIMED_OUT, "timeout" => timeout).increment(0);
    }
}

/// Registers the series of aggregate type `aggregate` at zero (every outcome of its commands,
/// their durations, its appended events), so they are scraped before its first command.
pub fn aggregate(aggregate: &'static str) {
    for outcome in [
        Outcome::Ok,
        Outcome::Rejected,
        Outcome::Conflict,
        Outcome::Unavailable,
        Outcome::Error,
    ] {
        counter!(COMMANDS, "aggregate" => aggregate, "outcome" => outcome.as_str()).increment(0);
    }
    // Registered without a sample: rendered with empty buckets.
    let _ = histogram!(COMMAND_DURATION, "aggregate" => aggregate);
    counter!(EVENTS_APPENDED, "aggregate" => aggregate).increment(0);
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Rejected,
    Conflict,
    Unavailable,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Rejected => "rejected",
            Outcome::Conflict => "conflict",
            Outcome::Unavailable => "unavailable",
            Outcome::Error => "error",
        }
    }
}

/// A command of aggregate type `aggregate` ended with `outcome` after `elapsed`.
pub fn command(aggregate: &'static str, outcome: Outcome, elapsed: Duration) {
    counter!(COMMANDS, "aggregate" => aggregate, "outcome" => outcome.as_str()).increment(1);
    histogram!(COMMAND_DURATION, "aggregate" => aggregate).record(elapsed.as_secs_f64());
}

/// `count` events of aggregate type `aggregate` were appended.
pub fn events_appended(aggregate: &str, count: usize) {
    counter!(EVENTS_APPENDED, "aggregate" => aggregate.to_owned()).increment(count as u64);
}

/// `commands` commands' events were appended in one transaction.
pub fn append_batch(commands: usize) {
    histogram!(APPEND_BATCH).record(commands as f64);
}

/// The projections' lag, in seconds.
pub fn projection_lag(seconds: f64) {
    gauge!(PROJECTION_LAG).set(seconds.max(0.0));
}

pub fn projection_error() {
    counter!(PROJECTION_ERRORS).increment(1);
}

/// A join ended: `ok` or not.
pub fn join(ok: bool) {
    counter!(JOINS, "outcome" => if ok { "ok" } else { "error" }).increment(1);
}

/// A push went into a client's queue.
pub fn pushed() {
    counter!(PUSHES).increment(1);
}

/// A push was rendered and encoded, for one channel or for all that send it alike.
pub fn push_rendered() {
    counter!(PUSH_RENDERS).increment(1);
}

pub fn slow_client_dropped() {
    counter!(SLOW_CLIENTS_DROPPED).increment(1);
}

/// A reply or push over `CINDER_MAX_REPLY_BYTES` was not sent.
pub fn oversized_frame() {
    counter!(OVERSIZED_FRAMES).increment(1);
}

/// An HTTP connection was refused: `reason` is `per_ip` or `capacity`.
pub fn http_refused(reason: &'static str) {
    counter!(HTTP_REFUSED, "reason" => reason).increment(1);
}

/// An HTTP connection was closed by a timeout: `timeout` is `header` or `idle`.
pub fn http_timed_out(timeout: &'static str) {
    counter!(HTTP_TIMED_OUT, "timeout" => timeout).increment(1);
}

/// An HTTP connection opened (websockets included, until they close): counted until the
/// returned guard is dropped.
pub fn http_opened() -> HttpOpen {
    gauge!(HTTP_CONNECTIONS).increment(1.0);
    HttpOpen(())
}

/// An open HTTP connection, counted.
pub struct HttpOpen(());

impl Drop for HttpOpen {
    fn drop(&mut self) {
        gauge!(HTTP_CONNECTIONS).decrement(1.0);
    }
}

/// A socket connection opened: counted until the returned guard is dropped.
pub fn socket_opened() -> SocketOpen {
    gauge!(SOCKET_CONNECTIONS).increment(1.0);
    SocketOpen(())
}

/// An open socket connection, counted.
pub struct SocketOpen(());

impl Drop for SocketOpen {
    fn drop(&mut self) {
        gauge!(SOCKET_CONNECTIONS).decrement(1.0);
    }
}
