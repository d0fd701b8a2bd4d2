//! `smtp-bench-sink`: a minimal SMTP sink for `benches/large.sh`, cheaper than the clients it
//! measures (Postfix's `smtp-sink` is itself the bottleneck for 10 MiB messages).
//!
//! ```text
//! smtp-bench-sink [--chunking] [--quickack] [--quiet] [HOST:]PORT
//! ```
//!
//! One thread per connection. It answers the greeting, EHLO/HELO/LHLO, MAIL, RCPT, DATA, BDAT,
//! RSET, NOOP, VRFY and QUIT, accepting every envelope; replies to pipelined commands go out in
//! order, one write for all the commands that were read together. EHLO offers PIPELINING,
//! 8BITMIME and SIZE, and CHUNKING only with `--chunking` (Postfix's `smtp-source` speaks DATA
//! only: without CHUNKING every client does the same work, dot-stuffing included). With
//! `--quickack` it sets `TCP_QUICKACK` after every read: ACKs go at once, so a client that
//! leaves Nagle's algorithm on (`smtp-source`) does not wait for a delayed ACK before the short
//! last segment of each message. Message data is read 256 KiB at a time and thrown away: DATA
//! is scanned for the end marker `CRLF.CRLF` 64 bytes at a time (vector compares), looking
//! closer only at dots; BDAT chunks are counted, not scanned. Nothing is stored. At the end of
//! each connection one line of statistics goes to standard error (unless `--quiet`): messages,
//! message bytes (DATA bytes as sent, dot-stuffing and end marker included), `read` calls,
//! `write` calls and the connection thread's CPU time (`cpu_ms`, user + system, from
//! `CLOCK_THREAD_CPUTIME_ID`).
//!
//! Not a real server: no limits besides a 64 KiB command line, no transaction state (DATA
//! without RCPT is accepted), no TLS, no AUTH.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// The read buffer: message data arrives in reads of up to this size.
const BUF: usize = 256 * 1024;
/// The longest command line taken (the buffer holds at most this much of a partial line).
const MAX_LINE: usize = 64 * 1024;
/// A connection silent for this long is dropped (no thread outlives a benchmark for long).
const IDLE: Duration = Duration::from_secs(300);

#[derive(Clone, Copy)]
struct Options {
    chunking: bool,
    quickack: bool,
    quiet: bool,
}

fn main() {
    let mut options = Options {
        chunking: false,
        quickack: false,
        quiet: false,
    };
    let mut addr = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--chunking" => options.chunking = true,
            "--quickack" => options.quickack = true,
            "--quiet" => options.quiet = true,
            "-h" | "--help" => {
                println!("usage: smtp-bench-sink [--chunking] [--quickack] [--quiet] [HOST:]PORT");
                return;
            }
            a if addr.is_none() && !a.starts_with('-') => addr = Some(a.to_owned()),
            a => {
                eprintln!("smtp-bench-sink: unexpected argument {a:?}");
                std::process::exit(2);
            }
        }
    }
    let Some(addr) = addr else {
        eprintln!("usage: smtp-bench-sink [--chunking] [--quickack] [--quiet] [HOST:]PORT");
        std::process::exit(2);
    };
    let addr = if addr.contains(':') {
        addr
    } else {
        format!("127.0.0.1:{addr}")
    };
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("smtp-bench-sink: bind {addr}: {e}");
            std::process::exit(1);
        }
    };
    if !options.quiet {
        if let Ok(local) = listener.local_addr() {
            eprintln!(
                "smtp-bench-sink: listening on {local}{}",
                match (options.chunking, options.quickack) {
                    (false, false) => "",
                    (true, false) => " (CHUNKING)",
                    (false, true) => " (TCP_QUICKACK)",
                    (true, true) => " (CHUNKING, TCP_QUICKACK)",
                }
            );
        }
    }
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                std::thread::spawn(move || {
                    let peer = stream.peer_addr().ok();
                    let mut stats = Stats::default();
                    let cpu = thread_cpu();
                    let result = serve(stream, options, &mut stats);
                    let cpu = thread_cpu().zip(cpu).map(|(b, a)| b.saturating_sub(a));
                    if !options.quiet {
                        let end = match result {
                            Ok(()) => String::new(),
                            Err(e) => format!(" ({e})"),
                        };
                        let cpu = cpu.map_or_else(
                            || "?".to_owned(),
                            |d| format!("{:.3}", d.as_secs_f64() * 1e3),
                        );
                        eprintln!(
                            "smtp-bench-sink: {}: {} messages, {} message bytes, {} reads, {} writes, cpu_ms {cpu}{end}",
                            peer.map_or_else(|| "?".to_owned(), |p| p.to_string()),
                            stats.messages,
                            stats.bytes,
                            stats.reads,
                            stats.writes,
                        );
                    }
                });
            }
            Err(e) => eprintln!("smtp-bench-sink: accept: {e}"),
        }
    }
}

/// The CPU time of the calling thread (user + system), where it can be had.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn thread_cpu() -> Option<Duration> {
    /// `struct timespec` of 64-bit Linux.
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    /// `CLOCK_THREAD_CPUTIME_ID` of Linux.
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: the C library std links to has this function; it writes one `timespec`.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.sec as u64, ts.nsec as u32))
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn thread_cpu() -> Option<Duration> {
    None
}

/// Asks Linux to acknowledge received data at once rather than delay the ACK (`TCP_QUICKACK`),
/// which std cannot set.
#[cfg(target_os = "linux")]
fn quickack(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    const IPPROTO_TCP: i32 = 6;
    const TCP_QUICKACK: i32 = 12;
    extern "C" {
        fn setsockopt(
            fd: i32,
            level: i32,
            name: i32,
            value: *const core::ffi::c_void,
            len: u32,
        ) -> i32;
    }
    let on: i32 = 1;
    // SAFETY: the C library std links to has this function; it reads one `int`.
    let _ = unsafe {
        setsockopt(
            stream.as_raw_fd(),
            IPPROTO_TCP,
            TCP_QUICKACK,
            (&on as *const i32).cast(),
            4,
        )
    };
}

#[cfg(not(target_os = "linux"))]
fn quickack(_: &TcpStream) {}

#[derive(Default)]
struct Stats {
    messages: u64,
    bytes: u64,
    reads: u64,
    writes: u64,
}

/// What the connection is reading.
enum Mode {
    Command,
    /// DATA: the state of the end-marker matcher (see [`find_end`]).
    Data(u8),
    /// BDAT: bytes of the chunk still to come, and whether it is the last.
    Bdat(u64, bool),
}

/// What a command line leads to.
enum Next {
    Command,
    Data,
    Bdat(u64, bool),
    Quit,
}

fn serve(mut stream: TcpStream, options: Options, stats: &mut Stats) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IDLE))?;
    let mut buf = vec![0u8; BUF];
    // `buf[start..end]` is read and not yet consumed.
    let (mut start, mut end) = (0usize, 0usize);
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(b"220 sink.invalid ESMTP smtp-bench-sink\r\n");
    let mut mode = Mode::Command;
    let mut quit = false;
    loop {
        // Everything already read, in order: the replies pile up in `out`.
        while !quit {
            match mode {
                Mode::Command => {
                    let pending = &buf[start..end];
                    let Some(lf) = find_byte(b'\n', pending) else {
                        break;
                    };
                    let line = &pending[..lf];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    start += lf + 1;
                    match command(line, options, &mut out) {
                        Next::Command => {}
                        Next::Data => mode = Mode::Data(2),
                        Next::Bdat(0, last) => bdat_done(0, last, &mut out, stats),
                        Next::Bdat(n, last) => mode = Mode::Bdat(n, last),
                        Next::Quit => quit = true,
                    }
                }
                Mode::Data(mut state) => {
                    let pending = &buf[start..end];
                    match find_end(&mut state, pending) {
                        Some(n) => {
                            start += n;
                            stats.bytes += n as u64;
                            stats.messages += 1;
                            out.extend_from_slice(b"250 2.0.0 Ok: queued\r\n");
                            mode = Mode::Command;
                        }
                        None => {
                            stats.bytes += pending.len() as u64;
                            start = end;
                            mode = Mode::Data(state);
                            break;
                        }
                    }
                }
                Mode::Bdat(left, last) => {
                    let take = left.min((end - start) as u64);
                    start += take as usize;
                    stats.bytes += take;
                    if take == left {
                        bdat_done(left, last, &mut out, stats);
                        mode = Mode::Command;
                    } else {
                        mode = Mode::Bdat(left - take, last);
                        break;
                    }
                }
            }
        }
        if !out.is_empty() {
            stream.write_all(&out)?;
            stats.writes += 1;
            out.clear();
        }
        if quit {
            return Ok(());
        }
        // Make room: drop what was consumed, keep a partial command line at the front.
        if start == end {
            start = 0;
            end = 0;
        } else if start > 0 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        if end >= MAX_LINE && matches!(mode, Mode::Command) {
            stream.write_all(b"500 5.5.0 Line too long\r\n")?;
            return Ok(());
        }
        let n = stream.read(&mut buf[end..])?;
        stats.reads += 1;
        if options.quickack {
            // Linux clears it as it pleases: set again after every read.
            quickack(&stream);
        }
        if n == 0 {
            return Ok(());
        }
        end += n;
    }
}

/// The reply to a complete BDAT chunk.
fn bdat_done(size: u64, last: bool, out: &mut Vec<u8>, stats: &mut Stats) {
    if last {
        stats.messages += 1;
        out.extend_from_slice(b"250 2.0.0 Ok: queued\r\n");
    } else {
        out.extend_from_slice(format!("250 2.0.0 {size} octets received\r\n").as_bytes());
    }
}

/// Answers one command line (without its line end) into `out`.
fn command(line: &[u8], options: Options, out: &mut Vec<u8>) -> Next {
    let verb_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let verb = line[..verb_end].to_ascii_uppercase();
    let arg = line.get(verb_end + 1..).unwrap_or_default();
    match verb.as_slice() {
        b"EHLO" | b"LHLO" => {
            out.extend_from_slice(b"250-sink.invalid\r\n250-PIPELINING\r\n250-8BITMIME\r\n");
            if options.chunking {
                out.extend_from_slice(b"250-CHUNKING\r\n");
            }
            out.extend_from_slice(b"250 SIZE\r\n");
        }
        b"HELO" => out.extend_from_slice(b"250 sink.invalid\r\n"),
        b"MAIL" => out.extend_from_slice(b"250 2.1.0 Ok\r\n"),
        b"RCPT" => out.extend_from_slice(b"250 2.1.5 Ok\r\n"),
        b"DATA" => {
            out.extend_from_slice(b"354 End data with <CR><LF>.<CR><LF>\r\n");
            return Next::Data;
        }
        b"BDAT" => {
            let mut words = arg.split(|&b| b == b' ').filter(|w| !w.is_empty());
            let size = words
                .next()
                .and_then(|w| std::str::from_utf8(w).ok())
                .and_then(|w| w.parse::<u64>().ok());
            let last = match words.next() {
                None => Some(false),
                Some(w) if w.eq_ignore_ascii_case(b"LAST") && words.next().is_none() => Some(true),
                Some(_) => None,
            };
            match (size, last) {
                (Some(size), Some(last)) => return Next::Bdat(size, last),
                // The chunk's size is unknown: the connection cannot go on.
                _ => {
                    out.extend_from_slice(b"501 5.5.4 Syntax: BDAT size [LAST]\r\n");
                    return Next::Quit;
                }
            }
        }
        b"RSET" | b"NOOP" => out.extend_from_slice(b"250 2.0.0 Ok\r\n"),
        b"VRFY" => out.extend_from_slice(b"252 2.0.0 Send some mail, I'll try my best\r\n"),
        b"QUIT" => {
            out.extend_from_slice(b"221 2.0.0 Bye\r\n");
            return Next::Quit;
        }
        _ => out.extend_from_slice(b"502 5.5.2 Error: command not recognized\r\n"),
    }
    Next::Command
}

/// The end-of-data matcher: `state` is how much of `CRLF.CRLF` the data so far ends with
/// (DATA starts at 2: the CRLF of the DATA command line). Returns the length of `data` up to
/// and including the marker, or `None` (with `state` updated) when `data` does not complete it.
///
/// The bytes are not looked at one by one: dots are looked for 64 bytes at a time
/// ([`find_byte`]), and only a dot after a CRLF starts the byte-wise match of the CRLF after
/// it. Text has far fewer dots than line ends.
fn find_end(state: &mut u8, data: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        while *state != 0 {
            let &b = data.get(i)?;
            i += 1;
            *state = step(*state, b);
            if *state == 5 {
                *state = 0;
                return Some(i);
            }
        }
        // `data[..i]` ends with no part of the marker (no CR, no CRLF): a marker starts at a
        // dot with a CRLF before it, both in `data[i..]`.
        let Some(dot) = find_byte(b'.', &data[i..]) else {
            // Without a dot, only a CR or a CRLF can end a partial marker.
            *state = match data {
                [.., b'\r', b'\n'] if data.len() >= i + 2 => 2,
                [.., b'\r'] if data.len() > i => 1,
                _ => 0,
            };
            return None;
        };
        // The CRLF must lie in `data[i..]` too: the bytes before `i` end with no CR.
        if dot >= 2 && data[i + dot - 2] == b'\r' && data[i + dot - 1] == b'\n' {
            *state = 3;
        }
        i += dot + 1;
    }
}

/// One byte of the `CRLF.CRLF` matcher (5: matched).
fn step(state: u8, b: u8) -> u8 {
    match (state, b) {
        (3, b'\r') => 4,
        (_, b'\r') => 1,
        (1, b'\n') => 2,
        (2, b'.') => 3,
        (4, b'\n') => 5,
        _ => 0,
    }
}

/// The index of the first `needle` in `hay`. Blocks of 64 bytes are checked whole, a loop
/// without branches that the compiler turns into vector compares; only the block that has the
/// needle is looked at byte by byte.
fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    const BLOCK: usize = 64;
    let mut blocks = hay.chunks_exact(BLOCK);
    let mut at = 0;
    for block in &mut blocks {
        // A fixed-size array and a byte accumulator: about 50 GB/s from the L2 cache (a `bool`
        // accumulator over the slice gets 7).
        let block: &[u8; BLOCK] = block.try_into().unwrap_or(&[0; BLOCK]);
        let mut any = 0u8;
        for &b in block {
            any |= u8::from(b == needle);
        }
        if any != 0 {
            return block.iter().position(|&b| b == needle).map(|p| at + p);
        }
        at += BLOCK;
    }
    blocks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|p| at + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: the marker's end, byte by byte, over the chunks.
    fn reference(chunks: &[&[u8]]) -> Option<usize> {
        let whole: Vec<u8> = [&b"\r\n"[..]]
            .iter()
            .chain(chunks)
            .flat_map(|c| c.to_vec())
            .collect();
        whole
            .windows(5)
            .position(|w| w == b"\r\n.\r\n")
            .map(|p| p + 5 - 2)
    }

    fn chunked(chunks: &[&[u8]]) -> Option<usize> {
        let mut state = 2;
        let mut offset = 0;
        for chunk in chunks {
            if let Some(n) = find_end(&mut state, chunk) {
                return Some(offset + n);
            }
            offset += chunk.len();
        }
        None
    }

    #[test]
    fn find_byte_agrees_with_position() {
        let mut hay = vec![b'x'; 100];
        assert_eq!(find_byte(b'\n', &hay), None);
        for i in 0..100 {
            hay[i] = b'\n';
            assert_eq!(find_byte(b'\n', &hay), Some(i));
            hay[i] = 0x8a; // high bit set, one bit off the needle
            assert_eq!(find_byte(b'\n', &hay), None);
            hay[i] = b'x';
        }
    }

    #[test]
    fn end_marker_across_every_split() {
        let cases: &[&[u8]] = &[
            b".\r\n",
            b"a\r\n.\r\n",
            b"a\r\n..\r\n.\r\nrest",
            b"a\n.\r\nb\r\n.\n\r\n.\r\n",
            b"\r\r\n.\r\r\n.\r\n",
            b"x.\r\n\r\n.\r\n",
            b"no end\r\n.",
            b"no end\r\n.\r",
        ];
        for case in cases {
            assert_eq!(chunked(&[case]), reference(&[case]), "{case:?}");
            for cut in 0..=case.len() {
                let (a, b) = case.split_at(cut);
                assert_eq!(
                    chunked(&[a, b]),
                    reference(&[case]),
                    "{case:?} cut at {cut}"
                );
                for cut2 in cut..=case.len() {
                    let (b1, b2) = b.split_at(cut2 - cut);
                    assert_eq!(
                        chunked(&[a, b1, b2]),
                        reference(&[case]),
                        "{case:?} {cut} {cut2}"
                    );
                }
            }
        }
    }

    #[test]
    fn pseudo_random_text() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let len = (seed % 300) as usize;
            let mut text = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push(*b"\r\n.x".get((seed % 4) as usize).unwrap_or(&b'x'));
            }
            let cut = (seed as usize >> 8) % (len + 1);
            let (a, b) = text.split_at(cut);
            assert_eq!(chunked(&[a, b]), reference(&[&text]), "{text:?}");
        }
    }
}
