//! `cinder fanout-reader` (hidden): one process of `cinder bench fanout`'s sockets.
//!
//! One process may hold only as many sockets as its limit on open files allows (20,000 on the
//! development machine, where that limit cannot be raised), so fanout's sockets are spread over
//! several of these. Each joins its share of sockets to the room from its own loopback address
//! (one address has only ~28,000 ephemeral ports) and reports on stdout, a line each:
//!
//! - `joined <sockets>` once every socket has joined;
//! - `got <n> <ns>` when message `n` has reached all of them, `<ns>` being the wall-clock time
//!   (nanoseconds since the Unix epoch) at which the last one had it: the bench compares it with
//!   when it sent the message, and every process on the machine shares that clock;
//! - `missed <deliveries>` when its stdin closes, the messages that never reached a socket;
//!   then it exits.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::{stream, StreamExt};
use serde_json::json;
use tokio::net::TcpSocket;

use super::client::Socket;
use super::BenchError;

/// Handshakes and joins in flight at once while the sockets connect.
const CONNECTING: usize = 64;

/// What one reader process does.
#[derive(Debug, Clone, clap::Args)]
pub struct ReaderArgs {
    /// `ws://…/socket/websocket?vsn=2.0.0` of the node to join (its host and port say where
    /// to connect).
    #[arg(long)]
    pub url: String,
    /// The loopback address the sockets connect from, `127.0.0.2`.
    #[arg(long)]
    pub source: IpAddr,
    /// The topic every socket joins.
    #[arg(long)]
    pub topic: String,
    /// How many sockets.
    #[arg(long)]
    pub sockets: usize,
    /// Messages the bench will send (numbered from 1).
    #[arg(long)]
    pub messages: usize,
}

/// Arrivals of one message: how many sockets have it, and the latest arrival.
#[derive(Default)]
struct Arrivals {
    count: AtomicUsize,
    last: AtomicU64,
}

pub async fn run(args: ReaderArgs) -> Result<(), BenchError> {
    crate::http::raise_open_files_limit();
    let server = server_address(&args.url).await?;
    let arrivals: Arc<Vec<Arrivals>> =
        Arc::new((0..=args.messages).map(|_| Arrivals::default()).collect());
    let joined: Vec<Result<Socket, BenchError>> = stream::iter(0..args.sockets)
        .map(|_| {
            let (url, topic) = (args.url.clone(), args.topic.clone());
            async move {
                let tcp = TcpSocket::new_v4()?;
                tcp.bind(SocketAddr::new(args.source, 0))?;
                let stream = tcp.connect(server).await?;
                let mut socket = Socket::over(stream, &url).await?;
                socket.join(&topic, json!({})).await?;
                Ok(socket)
            }
        })
        .buffer_unordered(CONNECTING)
        .collect()
        .await;
    let mut readers = Vec::with_capacity(args.sockets);
    for socket in joined {
        let mut socket = socket?;
        let arrivals = arrivals.clone();
        let sockets = args.sockets;
        readers.push(tokio::spawn(async move {
            // Thousands of these share the machine with the server: find the marker in the
            // text instead of parsing every frame.
            while let Ok(text) = socket.next_text().await {
                let Some((n, arrival)) = text
                    .split_once("\"content\":\"fanout ")
                    .and_then(|(_, rest)| rest.split('"').next())
                    .and_then(|n| n.parse::<usize>().ok())
                    .and_then(|n| Some((n, arrivals.get(n)?)))
                else {
                    continue;
                };
                arrival.last.fetch_max(now_ns(), Ordering::Relaxed);
                if arrival.count.fetch_add(1, Ordering::AcqRel) + 1 == sockets {
                    println!("got {n} {}", arrival.last.load(Ordering::Relaxed));
                }
            }
        }));
    }
    println!("joined {}", readers.len());

    // The bench closes stdin when it has sent everything and waited for it.
    let _ = tokio::task::spawn_blocking(|| {
        let mut rest = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut rest)
    })
    .await;
    let missed: usize = arrivals[1..]
        .iter()
        .map(|arrival| args.sockets - arrival.count.load(Ordering::Acquire).min(args.sockets))
        .sum();
    println!("missed {missed}");
    for reader in &readers {
        reader.abort();
    }
    Ok(())
}

/// The address `url` (`ws://host:port/…`) connects to: an IPv4 one, as the sockets connect from
/// IPv4 loopback addresses.
async fn server_address(url: &str) -> Result<SocketAddr, BenchError> {
    let bad = |why: &str| BenchError::Protocol(format!("--url {url}: {why}"));
    let uri: axum::http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let host = uri.host().ok_or_else(|| bad("no host"))?;
    // An IPv6 host is written in brackets, which a lookup does not take.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(80);
    let mut addresses = tokio::net::lookup_host((host, port)).await?;
    addresses
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| bad("the host has no IPv4 address"))
}

/// Now, in nanoseconds since the Unix epoch: a clock every process on the machine shares.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_nanos() as u64)
        .unwrap_or(0)
}
