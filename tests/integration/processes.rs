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
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cinder"))
            .arg("serve")
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
        };
        node.wait_ready().await;
        node
    }

    /// The same node again, after a crash or a stop: same data dir, new process.
    pub async fn restart(&mut self) {
        let _ = self.child.wait().await;
        let again = Node::start(&self.database_url, &self.dir).await;
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
