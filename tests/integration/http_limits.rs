//! HTTP connection limits, against a real `cinder serve` process: connections that send half a
//! header or nothing are closed by the timeouts, one address cannot hold more than its share,
//! and when descriptors run short the server keeps serving and `/healthz` still answers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::processes::Node;
use crate::support::{TempDir, TestDb};

/// A TCP connection to `to` from the loopback address `127.0.0.<host>` (Linux answers on all of
/// 127/8), so that one test can play several clients.
async fn connect_from(host: u8, to: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from(([127, 0, 0, host], 0)))
        .expect("bind a loopback address");
    socket.connect(to).await.expect("connect")
}

/// `GET /healthz` on a connection of its own; whether it answered `200 ok` within `within`.
async fn healthz(to: SocketAddr, within: Duration) -> bool {
    let ask = async {
        let mut tcp = TcpStream::connect(to).await.ok()?;
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await.ok()?;
        Some(String::from_utf8_lossy(&answer).into_owned())
    };
    match tokio::time::timeout(within, ask).await {
        Ok(Some(answer)) if answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok") => true,
        Ok(answer) => {
            eprintln!("/healthz not answered ok: {answer:?}");
            false
        }
        Err(_) => {
            eprintln!("/healthz not answered within {within:?}");
            false
        }
    }
}

/// Asks `/healthz` every 100 ms until `stop`; returns (answered, asked).
fn probe(
    to: SocketAddr,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<(usize, usize)> {
    tokio::spawn(async move {
        let (mut answered, mut asked) = (0, 0);
        while !*stop.borrow() {
            asked += 1;
            if healthz(to, Duration::from_secs(2)).await {
                answered += 1;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (answered, asked)
    })
}

/// Whether the server has closed `tcp` (end of file or reset) within `within`, reading and
/// dropping whatever it sent first.
async fn closed_within(tcp: &mut TcpStream, within: Duration) -> bool {
    closed_by(tcp, tokio::time::Instant::now() + within).await
}

/// Whether the server has closed `tcp` by `deadline`.
async fn closed_by(tcp: &mut TcpStream, deadline: tokio::time::Instant) -> bool {
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn http_silent_and_half_sent_connections_are_closed_by_the_timeouts_and_healthz_answers() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let node = Node::start_with(
        &db.url,
        &dir.0,
        &[
            ("CINDER_HTTP_HEADER_TIMEOUT", "2s"),
            ("CINDER_HTTP_IDLE_TIMEOUT", "4s"),
        ],
    )
    .await;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let probing = probe(node.addr, stopping);

    // 2,000 connections from 8 addresses (each within its per-address share): half send half
    // a request header and stop, half send nothing.
    let opened = Instant::now();
    let mut idle = Vec::new();
    for n in 0..2000 {
        let mut tcp = connect_from(2 + (n % 8) as u8, node.addr).await;
        if n % 2 == 0 {
            tcp.write_all(b"GET /chat HTTP/1.1\r\nHost: x\r\nX-Half: ")
                .await
                .expect("write");
        }
        idle.push(tcp);
    }
    eprintln!("opened 2000 connections in {:?}", opened.elapsed());
    let mut open = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for tcp in &mut idle {
        if !closed_by(tcp, deadline).await {
            open += 1;
        }
    }
    eprintln!(
        "{open} of 2000 still open {:?} after the first was opened",
        opened.elapsed()
    );
    assert_eq!(open, 0, "connections still open after the header timeout");

    // A keep-alive connection that went quiet after a request is closed by the idle timeout,
    // which is longer than the header timeout.
    let mut kept = connect_from(2, node.addr).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = [0u8; 256];
    let read = kept.read(&mut answer).await.expect("an answer");
    assert!(answer[..read].starts_with(b"HTTP/1.1 200"));
    let answered = Instant::now();
    assert!(closed_within(&mut kept, Duration::from_secs(20)).await);
    let quiet = answered.elapsed();
    assert!(
        quiet >= Duration::from_millis(3500),
        "closed after {quiet:?}: the idle timeout is 4 s"
    );

    stop.send_replace(true);
    let (answered, asked) = probing.await.expect("no panic");
    eprintln!("/healthz answered {answered} of {asked}");
    assert_eq!(answered, asked, "/healthz answered throughout");
}

#[tokio::test]
async fn http_one_address_may_hold_only_its_share_of_connections() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    let node = Node::start_with(
        &db.url,
        &dir.0,
        &[("CINDER_HTTP_MAX_CONNECTIONS_PER_IP", "10")],
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(connect_from(2, node.addr).await);
    }
    // The eleventh from that address is refused at once with 429; others are served.
    let mut refused = connect_from(2, node.addr).await;
    let _ = refused
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), refused.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer:?}");
    assert!(healthz(node.addr, Duration::from_secs(5)).await);
    let mut other = connect_from(3, node.addr).await;
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    other.read_to_end(&mut answer).await.expect("read");
    assert!(answer.starts_with(b"HTTP/1.1 200"));

    // A connection that ends gives its place back.
    held.pop();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = connect_from(2, node.addr).await;
        let _ = again
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), again.read_to_end(&mut answer)).await;
        if answer.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the freed place was not given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn http_when_descriptors_run_short_the_server_keeps_serving_and_healthz_answers() {
    let db = TestDb::new().await;
    let dir = TempDir::new();
    // A process allowed 256 descriptors, and connections that would stay open for a minute.
    let node = Node::start_limited(
        &db.url,
        &dir.0,
        256,
        &[
            ("CINDER_HTTP_HEADER_TIMEOUT", "60s"),
            ("CINDER_HTTP_IDLE_TIMEOUT", "60s"),
        ],
    )
    .await;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let probing = probe(node.addr, stopping);
    let mut silent = Vec::new();
    for n in 0..600 {
        silent.push(connect_from(2 + (n % 8) as u8, node.addr).await);
    }
    // Some time with more connections than descriptors.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The connections it holds are still served.
    let mut served = 0;
    for tcp in silent.iter_mut().take(20) {
        if tcp
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .is_err()
        {
            continue;
        }
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
        if answer.starts_with(b"HTTP/1.1 200") {
            served += 1;
        }
    }
    stop.send_replace(true);
    let (answered, asked) = probing.await.expect("no panic");
    eprintln!("/healthz answered {answered} of {asked}; {served} of 20 held connections served");
    assert_eq!(answered, asked, "/healthz answered throughout");
    assert_eq!(served, 20, "the connections it holds are served");
}
