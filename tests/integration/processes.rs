//! Real `cinder serve` processes, for tests of several nodes and of crashes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::{Child, Command};

/// The signing secret every test node shares, so sessions and tokens work on each.
pub const SECRET: &str = "a secret shared by the nodes of one test";

pub struct Node {
    child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    database_url: String,
    env: Vec<(String, String)>,
}

/// A port nobody is listening on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Node {
    /// Starts `cinder serve` on `database_url` with data dir `dir`, and waits until it is ready.
    pub async fn start(database_url: &str, dir: &Path) -> Node {
        Node::start_with(database_url, dir, &[]).await
    }

    /// [`Node::start`] with more environment variables (settings) for the process.
    pub async fn start_with(database_url: &str, dir: &Path, env: &[(&str, &str)]) -> Node {
        Node::spawn(database_url, dir, env, None).await
    }

    /// [`Node::start_with`] for a process that may open at most `descriptors` files and sockets
    /// (soft and hard limit).
    pub async fn start_limited(
        database_url: &str,
        dir: &Path,
        descriptors: u64,
        env: &[(&str, &str)],
    ) -> Node {
        Node::spawn(database_url, dir, env, Some(descriptors)).await
    }

    async fn spawn(
        database_url: &str,
        dir: &Path,
        env: &[(&str, &str)],
        descriptors: Option<u64>,
    ) -> Node {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut command = Command::new(env!("CARGO_BIN_EXE_cinder"));
        if let Some(limit) = descriptors {
            let limit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            // SAFETY: setrlimit is async-signal-safe, and `limit` is a plain value copied in.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let child = command
            .arg("serve")
            .envs(env.iter().cloned())
            .env("DATABASE_URL", database_url)
            .env("CINDER_ADDR", addr.to_string())
            .env("CINDER_DATA_DIR", dir)
            .env("SECRET_KEY_BASE", SECRET)
            .env("CINDER_ADMIN_PASSWORD", "test-admin")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("cinder starts");
        let node = Node {
            child,
            addr,
            dir: dir.to_owned(),
            database_url: database_url.to_owned(),
            env,
        };
        node.wait_ready().await;
        node
    }

    /// The same node again, after a crash or a stop: same data dir, new process.
    pub async fn restart(&mut self) {
        let _ = self.child.wait().await;
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let again = Node::start_with(&self.database_url, &self.dir, &env).await;
        *self = again;
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(response) = client.get(format!("{}/readyz", self.url())).send().await {
                if response.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("node at {} did not become ready in 30 s", self.addr);
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/socket/websocket?vsn=2.0.0", self.addr)
    }

    /// A line of the process's `/proc/<pid>/status`, in bytes (`VmRSS`, `VmHWM`; Linux).
    fn status_bytes(&self, field: &str) -> u64 {
        let pid = self.child.id().expect("the node runs");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        let line = status
            .lines()
            .find(|line| line.starts_with(field))
            .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"));
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }

    /// The process's resident memory now.
    pub fn resident_bytes(&self) -> u64 {
        self.status_bytes("VmRSS:")
    }

    /// The most resident memory the process has had since [`Node::reset_peak`] (or its start).
    pub fn peak_bytes(&self) -> u64 {
        self.status_bytes("VmHWM:")
    }

    /// Starts counting the peak afresh from the resident memory now (`clear_refs`, Linux).
    pub fn reset_peak(&self) {
        let pid = self.child.id().expect("the node runs");
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset the peak");
    }

    /// SIGKILL: no goodbye, no flush.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// SIGTERM, then wait for the process to exit.
    pub async fn terminate(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
    }
}
