//! CPU time spent by the server side of a scenario: its nodes and the Postgres cluster they use.
//!
//! On a machine that others share, rates swing with their load; the CPU time a piece of work
//! takes moves far less. So a scenario can say what something costs as CPU per command, read
//! from `/proc` (Linux; the rows are left out elsewhere, or when Postgres is not on this
//! machine).

use std::time::Duration;

use sqlx::PgConnection;

use super::node::Node;

/// `/proc`'s clock ticks per second (`USER_HZ`, 100 on every Linux the kernel builds for).
const TICKS_PER_SECOND: f64 = 100.0;

/// The user and system CPU time process `pid` has used so far.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_of(&stat)
}

/// utime + stime of a `/proc/<pid>/stat` line (fields 14 and 15; the name, field 2, may hold
/// spaces, so counting starts after its closing parenthesis).
fn cpu_of(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some(Duration::from_secs_f64((user + system) / TICKS_PER_SECOND))
}

/// The parent of process `pid`.
fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The Postgres cluster `conn` is connected to, if it runs on this machine: its postmaster.
pub async fn local_postmaster(conn: &mut PgConnection) -> Option<u32> {
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await
        .ok()?;
    // Our own backend's process, if it is here, is a child of the postmaster.
    let backend = u32::try_from(backend).ok()?;
    let name = std::fs::read_to_string(format!("/proc/{backend}/comm")).ok()?;
    if !name.starts_with("postgres") {
        return None;
    }
    parent(backend)
}

/// CPU used so far by the postmaster and its live children (backends, WAL writer, checkpointer
/// and the rest). Backends that have exited are not counted: scenarios keep their connections.
pub fn cluster_cpu(postmaster: u32) -> Duration {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    let children = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| parent(*pid) == Some(postmaster));
    std::iter::once(postmaster)
        .chain(children)
        .filter_map(process_cpu)
        .sum()
}

/// The server side's CPU time at one moment: each node's, and the cluster's; and the bench's
/// own (its clients), which share the same cores.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub nodes: Duration,
    pub postgres: Option<Duration>,
    pub clients: Option<Duration>,
}

impl Reading {
    pub fn now(nodes: &[&Node], postmaster: Option<u32>) -> Self {
        Self {
            nodes: nodes.iter().filter_map(|node| node.cpu()).sum(),
            postgres: postmaster.map(cluster_cpu),
            clients: process_cpu(std::process::id()),
        }
    }

    /// CPU the bench's own process (its clients) used from `earlier` to this reading.
    pub fn clients_since(&self, earlier: &Reading) -> Option<Duration> {
        Some(self.clients?.saturating_sub(earlier.clients?))
    }

    /// CPU used from `earlier` to this reading: the nodes', and Postgres' if known.
    pub fn since(&self, earlier: &Reading) -> (Duration, Option<Duration>) {
        let postgres = match (self.postgres, earlier.postgres) {
            (Some(now), Some(then)) => Some(now.saturating_sub(then)),
            _ => None,
        };
        (self.nodes.saturating_sub(earlier.nodes), postgres)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::cpu_of;

    #[test]
    fn a_stat_line_gives_user_plus_system_time() {
        let stat = "42 (tokio rt) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 5 0 0";
        assert_eq!(cpu_of(stat), Some(Duration::from_secs(3)));
    }
}
