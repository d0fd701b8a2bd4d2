//! Fault injection for testing a connection pool of SMTP clients: a compact
//! thread-per-connection SMTP server on loopback ([`FaultServer`]) and a TCP chaos proxy
//! ([`ChaosProxy`]).
//!
//! The server speaks just enough ESMTP to receive mail (EHLO/HELO, MAIL, RCPT, DATA with
//! dot-unstuffing, RSET, NOOP, QUIT; anything else is answered `500`), and can misbehave on
//! purpose: close idle connections (with or without a `421`), limit the messages per
//! connection (`452` or `421`), close connections before the greeting for a while, answer
//! chosen commands with chosen replies, or drop the connection at chosen points — including
//! after the message was committed but before its `250` was written, the "unknown outcome"
//! case. It records every committed message, whether its `250` reached the socket, the command
//! lines, and how many connections are open (for checking pool sizes).
//!
//! ```
//! use smtp_tests::pool_server::{Fault, FaultServer, Point, Stage};
//!
//! let server = FaultServer::builder()
//!     // The first two transactions whose sender holds "id7" get a 451 to their RCPT.
//!     .fault(Fault::reply(Stage::Rcpt, "451 4.3.0 try later").marker("id7").times(2))
//!     // The message holding this header is committed, then the connection is dropped
//!     // before the 250.
//!     .fault(Fault::reset(Point::BeforeDataEndReply).marker("X-Test-Id: 17"))
//!     .start()
//!     .expect("server");
//! println!("listening on {}", server.addr());
//! ```
//!
//! The proxy sits between a client and any server and, with a given probability per
//! connection, cuts the connection after a random number of bytes in one direction.
//!
//! Connections are closed with `shutdown` and a drop: the peer sees an end of stream, or a
//! reset (`ECONNRESET`) when unread data was left in the receive buffer — clients must treat
//! both as "the connection is gone".

mod proxy;
mod server;
mod session;
#[cfg(test)]
mod tests;

pub use proxy::ChaosProxy;
pub use server::{
    Fault, FaultAction, FaultServer, FaultServerBuilder, Limit, Match, Point, Stage, Stored,
};

/// A small deterministic PRNG (xorshift64*), seeded through splitmix64 so that neighbouring
/// seeds give unrelated streams.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        (self.next() >> 11) % n
    }

    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u32) -> bool {
        per_mille > 0 && self.below(1000) < u64::from(per_mille)
    }
}
