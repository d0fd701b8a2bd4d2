//! The `smtp-send` binary as a test subject: built once before any clock starts, run as a
//! subprocess under every `--runtime` with a watchdog, its `--json` summary checked; and a
//! byte-level scripted server ([`raw`]) for hostile replies.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::server::{localhost_acceptor, Server, SessionLog};

/// Every `--runtime` the contract names.
pub const RUNTIMES: [&str; 3] = ["blocking", "smol", "async-std"];

/// A message with CRLF line ends, ending with CRLF.
pub const MSG: &[u8] = b"From: a@x.org\r\nTo: b@y.org\r\nSubject: contract\r\n\r\nHello\r\n";

/// How long a test waits for a server session to end.
pub const T: Duration = Duration::from_secs(10);

/// How long any one run of the binary may take before the test kills it.
pub const WATCHDOG: Duration = Duration::from_secs(30);

// ------------------------------------------------------------------ running the binary

/// The debug `smtp-send` executable, built once per test process.
///
/// Built with the workspace's feature set (`--workspace`), as `cargo test --workspace` builds
/// it, so that after that command this is only a check. Every test calls it before it binds a
/// server or starts a clock: no time limit covers a build.
pub fn binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let output = Command::new(cargo)
            .args([
                "build",
                "--workspace",
                "--example",
                "smtp-send",
                "--message-format=json",
            ])
            .current_dir(&manifest)
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo build");
        assert!(output.status.success(), "cargo build --example smtp-send");
        // The artifact message names the executable wherever the target directory is.
        let from_messages = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["target"]["name"] == "smtp-send")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from));
        let path = from_messages.unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| manifest.join("../target"));
            let target = if target.is_absolute() {
                target
            } else {
                manifest.join("..").join(target)
            };
            target
                .join("debug/examples")
                .join(format!("smtp-send{}", std::env::consts::EXE_SUFFIX))
        });
        assert!(path.exists(), "{} does not exist", path.display());
        path
    })
}

/// One run of the binary.
pub struct Out {
    /// The exit code.
    pub code: i32,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
    /// From the start of the process to its exit.
    pub elapsed: Duration,
    /// The process's peak resident memory as last seen while it ran (`VmHWM`, Linux only),
    /// in KiB.
    pub peak_rss_kib: Option<u64>,
    /// The arguments, for messages.
    pub what: String,
}

impl Out {
    /// The `--json` summary (the last line of standard output).
    pub fn json(&self) -> serde_json::Value {
        let last = self.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| {
            panic!(
                "{}: last line of stdout is not JSON ({e}): {:?}",
                self.what, self.stdout
            )
        })
    }

    /// `refused[addr]` as `(code, text)`.
    pub fn refused(&self, addr: &str) -> Option<(u64, String)> {
        let entry = self.json()["refused"][addr].clone();
        Some((entry[0].as_u64()?, entry[1].as_str()?.to_owned()))
    }

    /// Asserts the exit code.
    pub fn assert_code(&self, expected: i32) {
        assert_eq!(
            self.code, expected,
            "{}\nstdout: {}\nstderr: {}",
            self.what, self.stdout, self.stderr
        );
    }

    /// Asserts the exit code is one of `expected`.
    pub fn assert_code_in(&self, expected: &[i32]) {
        assert!(
            expected.contains(&self.code),
            "{}: exit {} not in {expected:?}\nstdout: {}\nstderr: {}",
            self.what,
            self.code,
            self.stdout,
            self.stderr
        );
    }

    /// Asserts the run took less than `limit`.
    pub fn assert_within(&self, limit: Duration) {
        assert!(
            self.elapsed < limit,
            "{}: took {:?} (limit {limit:?})",
            self.what,
            self.elapsed
        );
    }

    /// The `--json` rules that hold for every run: the last line is one JSON object, `ok` is
    /// true exactly when the exit code is 0, `refused` is `{"addr": [code, "text"]}`.
    pub fn check_json_summary(&self) {
        let json = self.json();
        assert!(json.is_object(), "{}: {json}", self.what);
        assert_eq!(
            json["ok"].as_bool(),
            Some(self.code == 0),
            "{}: ok vs exit {}: {json}",
            self.what,
            self.code
        );
        let refused = json["refused"]
            .as_object()
            .unwrap_or_else(|| panic!("{}: refused is not an object: {json}", self.what));
        for (addr, entry) in refused {
            let pair = entry.as_array().map(Vec::as_slice);
            assert!(
                matches!(pair, Some([code, text])
                    if code.as_u64().is_some_and(|c| (200..600).contains(&c)) && text.is_string()),
                "{}: refused[{addr}] is not [code, text]: {entry}",
                self.what
            );
        }
    }
}

/// Runs the binary with `args`, feeding `stdin`; kills it after [`WATCHDOG`].
pub fn smtp_send(args: &[&str], stdin: &[u8]) -> Out {
    let input = stdin.to_vec();
    smtp_send_fed(args, move |pipe| pipe.write_all(&input))
}

/// Runs the binary with `args`, its standard input written by `feed` (in a thread of its own,
/// the pipe closed when `feed` returns); kills it after [`WATCHDOG`].
pub fn smtp_send_fed(
    args: &[&str],
    feed: impl FnOnce(&mut dyn Write) -> io::Result<()> + Send + 'static,
) -> Out {
    let what = format!("smtp-send {args:?}");
    let binary = binary();
    let start = Instant::now();
    let mut child = Command::new(binary)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn smtp-send");
    let mut pipe_in = child.stdin.take().expect("stdin");
    let writer = thread::spawn(move || {
        // The program may exit without reading all of it.
        let _ = feed(&mut pipe_in);
    });
    let mut pipe_out = child.stdout.take().expect("stdout");
    let mut pipe_err = child.stderr.take().expect("stderr");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe_out.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe_err.read_to_end(&mut buf);
        buf
    });
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_rss_kib = None;
    let status = loop {
        // The high-water mark so far (Linux); read until the process is gone.
        if let Some(hwm) = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|s| vm_hwm_kib(&s))
        {
            peak_rss_kib = Some(hwm);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {WATCHDOG:?}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let _ = writer.join();
    let stdout = String::from_utf8_lossy(&out_reader.join().expect("stdout")).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().expect("stderr")).into_owned();
    let code = status
        .code()
        .unwrap_or_else(|| panic!("{what}: killed by a signal ({status})\n{stderr}"));
    assert_ne!(code, 101, "{what}: panicked\n{stderr}");
    let out = Out {
        code,
        stdout,
        stderr,
        elapsed,
        peak_rss_kib,
        what,
    };
    if args.contains(&"--json") {
        out.check_json_summary();
    }
    out
}

/// `VmHWM` of a `/proc/PID/status` text, in KiB.
fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Sends [`MSG`] (or `stdin`) from `a@x.org` to `b@y.org` at `server` under `runtime`, with
/// `--json --timeout 2` and the `extra` flags (later flags win).
pub fn send(server: &str, runtime: &str, extra: &[&str], stdin: &[u8]) -> Out {
    let mut args = vec![
        "--server",
        server,
        "--runtime",
        runtime,
        "--from",
        "a@x.org",
        "--to",
        "b@y.org",
        "--json",
        "--timeout",
        "2",
    ];
    args.extend_from_slice(extra);
    smtp_send(&args, stdin)
}

/// Runs `case` once per runtime, the three at the same time; a panic in any fails the test.
pub fn each_runtime(case: impl Fn(&'static str) + Sync) {
    thread::scope(|scope| {
        let handles: Vec<_> = RUNTIMES
            .into_iter()
            .map(|rt| {
                let case = &case;
                (rt, scope.spawn(move || case(rt)))
            })
            .collect();
        let failed: Vec<&str> = handles
            .into_iter()
            .filter_map(|(rt, h)| h.join().is_err().then_some(rt))
            .collect();
        assert!(failed.is_empty(), "failed under --runtime {failed:?}");
    });
}

/// The test server's address as `--server` takes it.
pub fn addr(server: &Server) -> String {
    format!("127.0.0.1:{}", server.port())
}

/// Waits for `n` sessions to end and returns them.
pub fn finished(server: &Server, n: usize) -> Vec<SessionLog> {
    let logs = server.wait_finished(n, T);
    assert!(
        logs.len() >= n && logs.iter().all(|l| l.finished),
        "sessions did not end: {logs:?}"
    );
    logs
}

/// The commands of the only session.
pub fn commands(server: &Server) -> Vec<String> {
    let logs = finished(server, 1);
    assert_eq!(logs.len(), 1, "{logs:?}");
    logs[0].commands.clone()
}

/// Whether one of `commands` starts with `verb` (case-insensitive).
pub fn has_command(commands: &[String], verb: &str) -> bool {
    commands
        .iter()
        .any(|c| c.to_ascii_uppercase().starts_with(verb))
}

// ------------------------------------------------------------------ a byte-level server

/// The server side of one connection, driven by a test's script. Everything received (after
/// TLS decryption) is recorded, with `<TLS>` where the handshake happened.
pub struct RawConn {
    /// The connection.
    pub stream: RawStream,
    buf: Vec<u8>,
    seen: Vec<u8>,
}

/// The raw server's stream: plain, TLS, or gone after a failed handshake.
pub enum RawStream {
    /// Plaintext.
    Plain(TcpStream),
    /// After the handshake.
    Tls(Box<native_tls::TlsStream<TcpStream>>),
    /// The handshake failed.
    Gone,
}

impl Read for RawStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
            Self::Gone => Ok(0),
        }
    }
}

impl Write for RawStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
            Self::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
            Self::Gone => Ok(()),
        }
    }
}

impl RawConn {
    /// Sends `bytes` as they are (the client may be gone: errors are ignored).
    pub fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
        let _ = self.stream.flush();
    }

    /// Reads more; `false` at EOF, on error or after the read timeout.
    pub fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                self.seen.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next line without its line end; `None` at EOF.
    pub fn line(&mut self) -> Option<String> {
        loop {
            if let Some(lf) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=lf).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// The next line, which must start with `prefix` (case-insensitive).
    pub fn expect(&mut self, prefix: &str) -> String {
        let line = self
            .line()
            .unwrap_or_else(|| panic!("expected {prefix:?}, the client went away"));
        assert!(
            line.to_ascii_uppercase()
                .starts_with(&prefix.to_ascii_uppercase()),
            "expected {prefix:?}, got {line:?}"
        );
        line
    }

    /// Plays a plain server up to the body: greets, answers the hello (`hello`: "EHLO" or
    /// "LHLO") with `ehlo`, accepts MAIL and one RCPT, and answers DATA with `354`.
    pub fn up_to_data(&mut self, hello: &str, ehlo: &[u8]) {
        self.send(b"220 mx.test\r\n");
        self.expect(hello);
        self.send(ehlo);
        self.expect("MAIL");
        self.send(b"250 ok\r\n");
        self.expect("RCPT");
        self.send(b"250 ok\r\n");
        self.expect("DATA");
        self.send(b"354 go ahead\r\n");
    }

    /// DATA content up to and including the terminating `.` line, as sent (dot-stuffed).
    pub fn data(&mut self) -> Vec<u8> {
        loop {
            let end = if self.buf.starts_with(b".\r\n") {
                Some(3)
            } else {
                self.buf
                    .windows(5)
                    .position(|w| w == b"\r\n.\r\n")
                    .map(|p| p + 5)
            };
            if let Some(end) = end {
                return self.buf.drain(..end).collect();
            }
            if !self.fill() {
                return std::mem::take(&mut self.buf);
            }
        }
    }

    /// Exactly `n` bytes (fewer at EOF), e.g. a BDAT chunk.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n && self.fill() {}
        let n = n.min(self.buf.len());
        self.buf.drain(..n).collect()
    }

    /// Ends the server's side (the client reads EOF); what the client still sends is recorded.
    pub fn close(&mut self) {
        match &mut self.stream {
            RawStream::Plain(s) => {
                let _ = s.shutdown(std::net::Shutdown::Write);
            }
            RawStream::Tls(s) => {
                let _ = s.shutdown();
                let _ = s.get_ref().shutdown(std::net::Shutdown::Write);
            }
            RawStream::Gone => {}
        }
    }

    /// TLS with the `localhost` certificate (a failed handshake leaves no stream).
    pub fn tls(&mut self) {
        self.seen.extend_from_slice(b"<TLS>");
        let RawStream::Plain(tcp) = std::mem::replace(&mut self.stream, RawStream::Gone) else {
            return;
        };
        if let Ok(tls) = localhost_acceptor().accept(tcp) {
            self.stream = RawStream::Tls(Box::new(tls));
        }
    }

    /// Answers like a plain server until QUIT or EOF: EHLO/HELO/LHLO with `ehlo`, DATA with
    /// 354 then `250 queued`, everything else `250 ok`.
    pub fn serve(&mut self, ehlo: &[u8]) {
        while let Some(line) = self.line() {
            let verb = line.to_ascii_uppercase();
            if verb.starts_with("EHLO") || verb.starts_with("LHLO") {
                self.send(ehlo);
            } else if verb == "DATA" {
                self.send(b"354 go ahead\r\n");
                self.data();
                self.send(b"250 queued\r\n");
            } else if verb == "QUIT" {
                self.send(b"221 bye\r\n");
                return;
            } else {
                self.send(b"250 ok\r\n");
            }
        }
    }
}

/// A one-connection scripted server; [`seen`](Self::seen) returns what the client sent.
pub struct RawServer {
    /// `127.0.0.1:port`.
    pub addr: String,
    handle: thread::JoinHandle<Vec<u8>>,
}

impl RawServer {
    /// Everything the client sent (the script must have succeeded).
    pub fn seen(self) -> String {
        String::from_utf8_lossy(&self.seen_bytes()).into_owned()
    }

    /// Everything the client sent, as bytes (the script must have succeeded).
    pub fn seen_bytes(self) -> Vec<u8> {
        self.handle.join().expect("the server script failed")
    }
}

/// A scripted server on loopback.
pub fn raw(script: impl FnOnce(&mut RawConn) + Send + 'static) -> RawServer {
    raw_on(IpAddr::from([127, 0, 0, 1]), script)
}

/// A scripted server on `ip`: it accepts one connection (waiting at most [`T`]), runs
/// `script`, then records whatever else the client sends until it closes.
pub fn raw_on(ip: IpAddr, script: impl FnOnce(&mut RawConn) + Send + 'static) -> RawServer {
    // The accept window below must not cover the build of the client.
    binary();
    let listener = TcpListener::bind(SocketAddr::new(ip, 0)).expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    listener.set_nonblocking(true).expect("nonblocking");
    let handle = thread::spawn(move || {
        let deadline = Instant::now() + T;
        let stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(2)),
                Err(_) => return b"<no connection>".to_vec(),
            }
        };
        stream.set_nonblocking(false).expect("blocking");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let _ = stream.set_nodelay(true);
        let mut conn = RawConn {
            stream: RawStream::Plain(stream),
            buf: Vec::new(),
            seen: Vec::new(),
        };
        script(&mut conn);
        while conn.fill() {}
        conn.seen
    });
    RawServer { addr, handle }
}

/// An EHLO reply with 8BITMIME only.
pub const EHLO_PLAIN: &[u8] = b"250-mx.test\r\n250 8BITMIME\r\n";
/// An EHLO reply with PIPELINING and 8BITMIME.
pub const EHLO_PIPELINING: &[u8] = b"250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n";

/// What followed the first line starting with `marker` (empty when none).
pub fn after<'a>(seen: &'a str, marker: &str) -> &'a str {
    seen.find(marker)
        .map(|at| {
            let rest = &seen[at..];
            rest.find('\n').map_or("", |lf| &rest[lf + 1..])
        })
        .unwrap_or_default()
}
