//! [`ChaosProxy`]: a TCP relay that cuts some connections after a random number of bytes.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::Rng;

/// The cut offsets are drawn from `0..CUT_RANGE` bytes.
const CUT_RANGE: u64 = 4096;

/// A TCP proxy on `127.0.0.1` in front of `upstream`. For each client connection it connects
/// upstream and copies bytes both ways (a half-close is passed on); with probability
/// `reset_per_mille / 1000` per connection (deterministic for a seed and the connection's
/// serial number) it picks a direction and an offset below 4 KiB and, once that many bytes have
/// passed in that direction, closes both sides abruptly. A cut whose offset the session never
/// reaches does not happen (and is not counted by [`ChaosProxy::resets`]).
///
/// Dropping it stops accepting and closes every relayed connection.
pub struct ChaosProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    stop: AtomicBool,
    connections: AtomicU64,
    resets: AtomicU64,
    live: Mutex<Vec<Weak<Link>>>,
}

/// Both sockets of one relayed connection.
struct Link {
    client: TcpStream,
    upstream: TcpStream,
}

impl Link {
    fn kill(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }
}

impl std::fmt::Debug for ChaosProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosProxy")
            .field("addr", &self.addr)
            .field("resets", &self.resets())
            .finish_non_exhaustive()
    }
}

impl ChaosProxy {
    /// Listens on `127.0.0.1:0` and relays to `upstream`, cutting connections as described on
    /// [`ChaosProxy`].
    pub fn start(upstream: SocketAddr, seed: u64, reset_per_mille: u32) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            live: Mutex::new(Vec::new()),
        });
        let for_thread = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name("chaos-proxy-accept".into())
            .spawn(move || accept_loop(&listener, upstream, seed, reset_per_mille, &for_thread))?;
        Ok(Self {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many client connections were accepted.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// How many connections the proxy cut (counted before the sockets are closed).
    pub fn resets(&self) -> u64 {
        self.shared.resets.load(Ordering::SeqCst)
    }

    /// Cuts every relayed connection now (a network failure, as both sides see it); not
    /// counted by [`ChaosProxy::resets`].
    pub fn kill_connections(&self) {
        let live = self
            .shared
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for link in live.iter().filter_map(Weak::upgrade) {
            link.kill();
        }
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).is_ok();
        if let Some(t) = self.accept.take() {
            if woke {
                let _ = t.join();
            }
        }
        self.kill_connections();
    }
}

fn accept_loop(
    listener: &TcpListener,
    upstream: SocketAddr,
    seed: u64,
    per_mille: u32,
    shared: &Arc<Shared>,
) {
    for incoming in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(client) = incoming else {
            thread::sleep(Duration::from_millis(5));
            continue;
        };
        let serial = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
        let mut rng = Rng::new(seed, serial);
        // (from the client?, offset)
        let cut = rng
            .chance(per_mille)
            .then(|| (rng.below(2) == 0, rng.below(CUT_RANGE)));
        let Ok(upstream) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5)) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        // Relayed bytes go out as they come: no Nagle delay on either leg.
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        let link = Arc::new(Link { client, upstream });
        {
            let mut live = shared.live.lock().unwrap_or_else(PoisonError::into_inner);
            live.retain(|l| l.strong_count() > 0);
            live.push(Arc::downgrade(&link));
        }
        for from_client in [true, false] {
            let for_pump = Arc::clone(&link);
            let shared = Arc::clone(shared);
            let cut = cut.and_then(|(dir, at)| (dir == from_client).then_some(at));
            let spawned = thread::Builder::new()
                .name(format!("chaos-proxy-{serial}"))
                .spawn(move || pump(&for_pump, from_client, cut, &shared));
            if spawned.is_err() {
                link.kill();
            }
        }
    }
}

/// Copies one direction until its end (passed on as a half-close), an error (kills the link)
/// or the cut.
fn pump(link: &Link, from_client: bool, cut: Option<u64>, shared: &Shared) {
    let (mut src, mut dst) = if from_client {
        (&link.client, &link.upstream)
    } else {
        (&link.upstream, &link.client)
    };
    let mut passed: u64 = 0;
    let mut buf = [0; 8192];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => {
                let _ = dst.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return link.kill(),
        };
        if let Some(cut) = cut {
            if passed + n as u64 >= cut {
                let keep = usize::try_from(cut - passed).unwrap_or(n).min(n);
                let _ = dst.write_all(&buf[..keep]);
                shared.resets.fetch_add(1, Ordering::SeqCst);
                return link.kill();
            }
        }
        if dst.write_all(&buf[..n]).is_err() {
            return link.kill();
        }
        passed += n as u64;
    }
}
