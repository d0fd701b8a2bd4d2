//! `smtp-send`'s TLS material flags, on every runtime: `--ca` (extra trusted roots, with
//! certificate checks on) and `--cert`/`--key` (a client certificate), against Python's
//! `aiosmtpd` (through `tests/real-servers/aiosmtpd_server.py`) offering STARTTLS with the test
//! PKI of `tests/fixtures/`, and, for the client certificate, requiring one signed by the test
//! CA. The flags' usage errors need no server.
//!
//! aiosmtpd is installed by `.ci/install-test-servers.sh`; as in `real_servers.rs`, the only
//! opt-out is `SMTP_SKIP_REAL_SERVERS=1`, for local runs (refused when `CI` is set).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use std::{env, fs, thread};

use smtp_tests::cli::{each_runtime, send, smtp_send, MSG};

/// Exit codes of the contract (`smtp-send --help`).
const OK: i32 = 0;
const USAGE: i32 = 2;
const CLOSED: i32 = 9;
const TLS: i32 = 11;

/// How long aiosmtpd may take to start (Python's start-up on a busy machine).
const START_LIMIT: Duration = Duration::from_secs(60);

/// A `--timeout` generous enough for a TLS handshake with Python on two busy cores.
const TIMEOUT: &str = "30";

/// Whether to run: `false` only for a local `SMTP_SKIP_REAL_SERVERS=1` (refused under CI).
fn servers_required() -> bool {
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

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = env::temp_dir().join(format!("smtp-cli-tls-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temporary directory");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// aiosmtpd on 127.0.0.1 offering STARTTLS (required) with the `localhost` test identity,
/// recording each message as `<n>.json` in a temporary directory.
struct Aiosmtpd {
    // Field order: the process stops before its directory goes.
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Aiosmtpd {
    /// Starts it; with `client_ca`, a client certificate signed by that CA is required.
    fn start(client_ca: Option<&str>) -> Self {
        let dir = TempDir::new("aiosmtpd");
        let records = dir.0.join("records");
        fs::create_dir_all(&records).expect("records directory");
        let python = env::var("SMTP_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("real-servers/aiosmtpd_server.py");
        let mut command = Command::new(python);
        command
            .arg(script)
            .arg("--out")
            .arg(&records)
            .arg("--require-starttls")
            .arg("--tls-cert")
            .arg(fixture("server.pem"))
            .arg("--tls-key")
            .arg(fixture("server.key"));
        if let Some(ca) = client_ca {
            command.arg("--require-client-cert").arg(ca);
        }
        let log = dir.0.join("aiosmtpd.log");
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(fs::File::create(&log).expect("log file")))
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start aiosmtpd ({e}); run .ci/install-test-servers.sh")
            });
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line.strip_prefix("LISTENING ") {
                    let _ = tx.send(port.trim().parse::<u16>().ok());
                }
            }
        });
        let Ok(Some(port)) = rx.recv_timeout(START_LIMIT) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "aiosmtpd did not report a listening port (limit {START_LIMIT:?}); run \
                 .ci/install-test-servers.sh; its output:\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        };
        Self { child, port, dir }
    }

    fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The messages recorded so far (the CLI has exited when this is read, after the server
    /// accepted the data), as JSON.
    fn records(&self) -> Vec<serde_json::Value> {
        let mut found: Vec<(usize, serde_json::Value)> = fs::read_dir(self.dir.0.join("records"))
            .expect("records directory")
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let n = name.strip_suffix(".json")?.parse().ok()?;
                let record = serde_json::from_slice(&fs::read(e.path()).ok()?).ok()?;
                Some((n, record))
            })
            .collect();
        found.sort_by_key(|(n, _)| *n);
        found.into_iter().map(|(_, r)| r).collect()
    }
}

impl Drop for Aiosmtpd {
    fn drop(&mut self) {
        // Its standard input closing ends it; kill it in case it does not.
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `--ca` makes a verified STARTTLS session work: the server's certificate is signed by the
/// test CA, which the system does not trust. Without `--ca` the same session is a TLS error.
#[test]
fn ca_flag_trusts_a_private_ca_with_verification_on() {
    if !servers_required() {
        return;
    }
    let server = Aiosmtpd::start(None);
    let ca = fixture("ca.pem");
    each_runtime(|rt| {
        let tls = ["--tls", "starttls-required", "--timeout", TIMEOUT];
        send(
            &server.server(),
            rt,
            &[&tls[..], &["--ca", &ca]].concat(),
            MSG,
        )
        .assert_code(OK);
        send(&server.server(), rt, &tls, MSG).assert_code(TLS);
    });
    let records = server.records();
    assert_eq!(records.len(), 3, "{records:?}");
    for r in &records {
        assert_eq!(r["tls"], true, "{r}");
        assert_eq!(r["client_cert_cn"], serde_json::Value::Null, "{r}");
    }
}

/// A server that requires a client certificate signed by the test CA takes the session with
/// `--cert`/`--key` (and sees the certificate's name), and refuses it without them (no
/// message gets through).
#[test]
fn cert_and_key_flags_present_a_client_certificate() {
    if !servers_required() {
        return;
    }
    let ca = fixture("ca.pem");
    let server = Aiosmtpd::start(Some(&ca));
    let (cert, key) = (fixture("client.pem"), fixture("client.key"));
    each_runtime(|rt| {
        let tls = [
            "--tls",
            "starttls-required",
            "--timeout",
            TIMEOUT,
            "--ca",
            &ca,
        ];
        let identity = ["--cert", &cert, "--key", &key];
        send(&server.server(), rt, &[&tls[..], &identity].concat(), MSG).assert_code(OK);
        // With TLS 1.3 the client's side of the handshake is over before the server checks for
        // a client certificate: the refusal (an alert, or the connection closed) shows up as
        // the client waits for the reply to its EHLO, as a TLS error or as the connection
        // closed, depending on what the server's TLS library sends first.
        send(&server.server(), rt, &tls, MSG).assert_code_in(&[TLS, CLOSED]);
    });
    let records = server.records();
    assert_eq!(records.len(), 3, "{records:?}");
    for r in &records {
        assert_eq!(r["client_cert_cn"], "smtp-rs test client", "{r}");
    }
}

/// The flags' usage errors (exit 2) come before any connection: the server given is a port
/// nothing listens on, which would be exit 3.
#[test]
fn tls_flag_usage_errors_come_before_connecting() {
    let dir = TempDir::new("usage");
    let junk = dir.0.join("junk.pem");
    fs::write(&junk, "not a certificate\n").expect("junk file");
    let junk = junk.to_string_lossy().into_owned();
    let missing = dir.0.join("missing.pem").to_string_lossy().into_owned();
    let (ca, cert, key) = (
        fixture("ca.pem"),
        fixture("client.pem"),
        fixture("client.key"),
    );
    // A port that was free a moment ago: nothing listens there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("127.0.0.1:{}", listener.local_addr().expect("addr").port())
    };
    let cases: [&[&str]; 7] = [
        &["--cert", &cert],
        &["--key", &key],
        &["--ca", &missing],
        &["--cert", &missing, "--key", &key],
        &["--cert", &cert, "--key", &missing],
        &["--ca", &junk],
        &["--cert", &junk, "--key", &key],
    ];
    each_runtime(|rt| {
        for extra in cases {
            let args = [&["--tls", "starttls-required", "--ca", &ca][..], extra].concat();
            let out = send(&closed, rt, &args, MSG);
            out.assert_code(USAGE);
            assert!(!out.stderr.is_empty(), "{}: no message", out.what);
        }
    });
    // And the help names the flags.
    let help = smtp_send(&["--help"], b"");
    for flag in ["--ca", "--cert", "--key"] {
        assert!(
            help.stdout.contains(flag),
            "{flag} missing:\n{}",
            help.stdout
        );
    }
}
