//! Postgres goes away and comes back: commands are refused quickly and clearly, pages keep
//! being served from sled, and everything recovers by itself. Uses a private Postgres cluster,
//! so stopping it touches no other test.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{http, Client, TempDir, TestServer};

/// A throwaway Postgres cluster on its own port, run as the `postgres` user.
struct Cluster {
    dir: TempDir,
    port: u16,
    bin: PathBuf,
}

impl Cluster {
    fn create() -> Cluster {
        let version = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Debian's Postgres")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .max()
            .expect("a Postgres version");
        let bin = version.join("bin");
        let dir = TempDir::new();
        let data = dir.0.join("data");
        std::fs::create_dir_all(&data).unwrap();
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir.0));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data));
        let cluster = Cluster { dir, port, bin };
        cluster.start();
        cluster
    }

    fn pg_ctl(&self, action: &[&str]) {
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.0.join("data"))
            .arg("-l")
            .arg(self.dir.0.join("log"))
            .args(action));
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.0.display()
        );
        self.pg_ctl(&["-w", "-o", &options, "start"]);
    }

    fn stop(&self) {
        self.pg_ctl(&["-w", "-m", "fast", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(command: &mut Command) {
    let output = command.output().expect("command runs");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_fail_fast_while_postgres_is_down_and_recover_after() {
    let cluster = Cluster::create();
    let url = cluster.url();
    let server = TestServer::start_on(&url).await;
    let post = |content: &'static str, sender: &'static str| {
        http()
            .post(format!("{}/api/chat/rooms/outage/messages", server.url()))
            .json(&json!({"sender": sender, "content": content}))
            .send()
    };
    assert_eq!(post("before", "a").await.unwrap().status(), 201);
    let mut client = Client::connect(&server.ws_url()).await;
    let (join_ref, _) = client.join("chat:outage", json!({})).await;

    cluster.stop();
    let started = Instant::now();
    let refused = post("during", "b").await.unwrap();
    assert_eq!(refused.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused fast: {:?}",
        started.elapsed()
    );
    assert!(refused.text().await.unwrap().contains("unavailable"));
    let sent = client
        .send(
            Some(&join_ref),
            "chat:outage",
            "send_message",
            json!({"sender": "c", "content": "socket during"}),
        )
        .await;
    let reply = client.reply_to(&sent).await;
    assert_eq!(reply["status"], "error");
    assert!(reply["response"]["reason"]
        .as_str()
        .unwrap()
        .contains("unavailable"));
    // Pages and read endpoints keep serving from sled.
    let page = http()
        .get(format!("{}/chat/outage", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("before"));
    let messages = http()
        .get(format!("{}/api/chat/rooms/outage/messages", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(messages.status(), 200);

    cluster.start();
    let mut recovered = false;
    for _ in 0..150 {
        if post("after", "d")
            .await
            .map(|r| r.status() == 201)
            .unwrap_or(false)
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "commands are served again once Postgres is back");
    let push = client.until(|f| f[3] == "message_sent").await;
    assert_eq!(
        push[4]["content"], "after",
        "and the tail resumed by itself"
    );
}
