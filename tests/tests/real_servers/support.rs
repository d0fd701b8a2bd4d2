//! What the scenarios stand on: the `SMTP_SKIP_REAL_SERVERS` opt-out, the test messages and
//! byte-exact comparisons, server processes (started bounded in time, stopped and reaped on
//! drop, in temporary directories), and one module per server: aiosmtpd, smtp-sink, Postfix.

#[path = "support/aiosmtpd.rs"]
mod aiosmtpd;
#[path = "support/postfix.rs"]
pub(crate) mod postfix;
#[path = "support/smtp_sink.rs"]
pub(crate) mod smtp_sink;

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use std::{env, fs, thread};

pub(crate) use aiosmtpd::{Aiosmtpd, AiosmtpdOptions, Record};

/// Whether to run: `false` only for a local `SMTP_SKIP_REAL_SERVERS=1` (refused under CI).
pub(crate) fn servers_required() -> bool {
    let skip = env::var("SMTP_SKIP_REAL_SERVERS").is_ok_and(|v| v == "1");
    if !skip {
        return true;
    }
    let ci = env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !ci,
        "SMTP_SKIP_REAL_SERVERS=1 is a local opt-out: CI must run the real-server tests"
    );
    eprintln!("SMTP_SKIP_REAL_SERVERS=1: real-server test not run");
    false
}

const START_LIMIT: Duration = Duration::from_secs(20);
const DELIVERY_LIMIT: Duration = Duration::from_secs(30);
/// The longest a server started here may live.
const SERVER_LIFETIME: Duration = Duration::from_secs(600);

// ------------------------------------------------------------------------ test messages

/// A message exercising dot-stuffing (leading dots, a lone dot, `..`), empty lines,
/// trailing white space, a tab, a 998-byte line and, when `eight_bit`, UTF-8 bytes. Its
/// `X-Test-Seq` header identifies it; its length varies with `seq`.
pub(crate) fn test_message(tag: &str, seq: usize, eight_bit: bool) -> Vec<u8> {
    let mut m = String::new();
    let _ = write!(
        m,
        "From: Alice <alice@example.test>\r\n\
         To: Bob <bob@example.test>\r\n\
         Subject: real-server test {tag} #{seq}\r\n\
         Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n\
         Message-ID: <{tag}.{seq}@smtp-rs.test>\r\n\
         X-Test-Seq: {seq}\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset={}\r\n\
         \r\n\
         First line of message {seq}.\r\n\
         .A line starting with a dot\r\n\
         ..two dots\r\n\
         .\r\n\
         \r\n\
         \r\n\
         trailing white space   \r\n\
         \tleading tab\r\n",
        if eight_bit { "utf-8" } else { "us-ascii" }
    );
    if eight_bit {
        m.push_str("8-bit: Grüße, naïve café, 日本語, ελληνικά.\r\n");
    }
    m.push_str(&"x".repeat(998));
    m.push_str("\r\n");
    for line in 0..seq % 7 {
        let _ = write!(m, "filler line {line} of message {seq}\r\n");
    }
    m.push_str("-- \r\nlast line\r\n");
    m.into_bytes()
}

/// `actual == expected`, or a panic showing where they differ.
pub(crate) fn assert_bytes_eq(actual: &[u8], expected: &[u8], what: &str) {
    if actual == expected {
        return;
    }
    let at = actual
        .iter()
        .zip(expected)
        .position(|(a, e)| a != e)
        .unwrap_or(actual.len().min(expected.len()));
    let around = |b: &[u8]| {
        let from = at.saturating_sub(40);
        let to = (at + 40).min(b.len());
        String::from_utf8_lossy(b.get(from..to).unwrap_or_default()).into_owned()
    };
    panic!(
        "{what}: not byte-exact: {} bytes received, {} expected, first difference at byte \
         {at}:\n  received: {:?}\n  expected: {:?}",
        actual.len(),
        expected.len(),
        around(actual),
        around(expected)
    );
}

/// The message after the first header when that header is a `Received:` field (with its
/// continuation lines): what Postfix prepends.
pub(crate) fn strip_received_header(content: &[u8]) -> Option<&[u8]> {
    let mut rest = content.strip_prefix(b"Received: ")?;
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        rest = rest.get(eol + 2..)?;
        if !rest.starts_with(b" ") && !rest.starts_with(b"\t") {
            return Some(rest);
        }
    }
}

// ------------------------------------------------------------------------ processes

/// A temporary directory, removed on drop unless the test failed (then kept for a look).
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let path = env::temp_dir().join(format!("smtp-rs-real-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        // Whatever the umask: the servers' unprivileged users (nobody, postfix) must get in.
        set_mode(&path, 0o755);
        Self(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("kept for inspection: {}", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// A server process: stopped (SIGTERM, then SIGKILL after a grace period) and reaped on
/// drop. Its output goes to `log`.
pub(crate) struct ServerProcess {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    log: PathBuf,
}

impl ServerProcess {
    pub(crate) fn spawn(name: &'static str, mut command: Command, log: PathBuf) -> Self {
        let out =
            fs::File::create(&log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        let err = out.try_clone().expect("log file handle");
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        Self::from_command(name, command, log)
    }

    fn from_command(name: &'static str, mut command: Command, log: PathBuf) -> Self {
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {name} ({command:?}): {e}; run .ci/install-test-servers.sh \
                 (or set SMTP_SKIP_REAL_SERVERS=1 to skip these tests locally)"
            )
        });
        let stdin = child.stdin.take();
        Self {
            name,
            child,
            stdin,
            log,
        }
    }

    /// The log so far (for failure messages).
    pub(crate) fn log_text(&self) -> String {
        let text = fs::read(&self.log).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Waits until 127.0.0.1:`port` accepts TCP connections (`true`), or the process
    /// exits (`false`: e.g. the port was taken meanwhile); panics after [`START_LIMIT`].
    pub(crate) fn listening(&mut self, port: u16) -> bool {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "{} does not listen on {addr} after {START_LIMIT:?}; its output:\n{}",
                self.name,
                self.log_text()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SIGTERM lets Postfix's master stop its children; std only sends SIGKILL.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// `program` under coreutils' `timeout`: a server that outlives a killed test process
/// still ends (SIGTERM after [`SERVER_LIFETIME`], SIGKILL 5 s later). `timeout` passes
/// the SIGTERM of [`ServerProcess`]'s drop on to it.
pub(crate) fn bounded(program: &str) -> Command {
    let mut command = Command::new("timeout");
    command
        .args(["-k", "5"])
        .arg(SERVER_LIFETIME.as_secs().to_string())
        .arg(program);
    command
}

/// A port that was free a moment ago (for servers that cannot report the one they chose).
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// Whether this process runs as root (the effective uid, from /proc).
pub(crate) fn is_root() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

/// Polls `check` until it returns something or `limit` passes.
fn poll<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}
