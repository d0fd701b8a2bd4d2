//! Postfix's `smtp-sink` in the foreground, one dump file per message: what a dump holds for a
//! message sent ([`as_dumped`]), and the dump taken apart ([`parse`]).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::{bounded, free_port, is_root, poll, set_mode, ServerProcess, TempDir, DELIVERY_LIMIT};

pub(crate) const SMTP_SINK: &str = "/usr/sbin/smtp-sink";

/// One dump file of `smtp-sink -d`.
#[derive(Debug)]
pub(crate) struct Dump {
    pub(crate) proto: String,
    pub(crate) helo_args: String,
    pub(crate) mail_args: String,
    pub(crate) rcpt_args: Vec<String>,
    /// What follows smtp-sink's own header lines.
    pub(crate) content: Vec<u8>,
}

/// What `smtp-sink -d` writes for a message sent as `body`, determined empirically
/// with Postfix 3.7 (and matching its man page, "DUMP FILE FORMAT"): smtp-sink reads
/// the data line by line, so each CRLF becomes LF and dot-stuffing is undone; after
/// the message it writes one empty line. Before it come smtp-sink's own lines
/// (`X-Client-Addr`, `X-Client-Proto`, `X-Helo-Args`, `X-Mail-Args`, one `X-Rcpt-Args`
/// per RCPT, and a three-line `Received:` header), which [`parse`] takes apart.
pub(crate) fn as_dumped(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 1);
    let mut rest = body;
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        out.extend_from_slice(&rest[..eol]);
        out.push(b'\n');
        rest = &rest[eol + 2..];
    }
    out.extend_from_slice(rest);
    out.push(b'\n');
    out
}

/// Splits a dump file into smtp-sink's lines and the message, or `None` if it is not
/// complete yet.
pub(crate) fn parse(file: &[u8]) -> Option<Dump> {
    if !file.ends_with(b"\n\n") {
        return None;
    }
    let mut dump = Dump {
        proto: String::new(),
        helo_args: String::new(),
        mail_args: String::new(),
        rcpt_args: Vec::new(),
        content: Vec::new(),
    };
    let mut rest = file;
    let mut in_received = false;
    loop {
        let eol = rest.iter().position(|&b| b == b'\n')?;
        let line = String::from_utf8_lossy(&rest[..eol]).into_owned();
        if in_received && !line.starts_with('\t') {
            break;
        }
        rest = &rest[eol + 1..];
        if let Some(v) = line.strip_prefix("X-Client-Proto: ") {
            dump.proto = v.to_owned();
        } else if let Some(v) = line.strip_prefix("X-Helo-Args: ") {
            dump.helo_args = v.to_owned();
        } else if let Some(v) = line.strip_prefix("X-Mail-Args: ") {
            dump.mail_args = v.to_owned();
        } else if let Some(v) = line.strip_prefix("X-Rcpt-Args: ") {
            dump.rcpt_args.push(v.to_owned());
        } else if line.starts_with("Received: ") {
            in_received = true;
        }
    }
    dump.content = rest.to_vec();
    Some(dump)
}

/// The `X-Test-Seq` of a dumped message.
fn seq(content: &[u8]) -> Option<usize> {
    let text = String::from_utf8_lossy(content);
    text.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix("X-Test-Seq: "))
        .and_then(|s| s.trim().parse().ok())
}

/// `smtp-sink` on 127.0.0.1, in the foreground, dumping each message to a file.
pub(crate) struct SmtpSink {
    process: ServerProcess,
    port: u16,
    dumps: PathBuf,
    _dir: TempDir,
}

impl SmtpSink {
    pub(crate) fn start() -> Self {
        assert!(
            Path::new(SMTP_SINK).exists(),
            "{SMTP_SINK} is missing: run .ci/install-test-servers.sh (Debian package \
             postfix), or set SMTP_SKIP_REAL_SERVERS=1 to skip these tests locally"
        );
        let dir = TempDir::new("smtp-sink");
        let dumps = dir.path().join("dumps");
        fs::create_dir_all(&dumps).expect("dump directory");
        let root = is_root();
        if root {
            // smtp-sink refuses to run as root without -u; user nobody writes here.
            set_mode(&dumps, 0o777);
        }
        // The port is chosen here, so it may be taken meanwhile: try a few.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let port = free_port();
            let mut command = bounded(SMTP_SINK);
            if root {
                command.args(["-u", "nobody"]);
            }
            // -d: one file per message, named from this template plus a random suffix.
            command
                .arg("-d")
                .arg(dumps.join("msg."))
                .args(["-h", "sink.test", "-t", "60"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("64");
            let log = dir.path().join(format!("smtp-sink-{attempts}.log"));
            let mut process = ServerProcess::spawn("smtp-sink", command, log);
            if process.listening(port) {
                return Self {
                    process,
                    port,
                    dumps,
                    _dir: dir,
                };
            }
            assert!(
                attempts < 3,
                "smtp-sink did not start:\n{}",
                process.log_text()
            );
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Every message dumped, by `X-Test-Seq`, once `n` complete dumps exist (waits,
    /// bounded). The probe connection of the start-up check dumps nothing.
    pub(crate) fn dumps(&self, n: usize) -> BTreeMap<usize, Dump> {
        let mut last = 0;
        let got = poll(DELIVERY_LIMIT, || {
            let entries: Vec<PathBuf> = fs::read_dir(&self.dumps)
                .ok()?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            last = entries.len();
            if entries.len() < n {
                return None;
            }
            let mut dumps = BTreeMap::new();
            for path in entries {
                let dump = parse(&fs::read(&path).ok()?)?;
                let seq = seq(&dump.content)
                    .unwrap_or_else(|| panic!("{}: no X-Test-Seq header", path.display()));
                assert!(
                    dumps.insert(seq, dump).is_none(),
                    "message {seq} dumped twice"
                );
            }
            Some(dumps)
        });
        got.unwrap_or_else(|| {
            panic!(
                "smtp-sink dumped {last} of {n} messages within {DELIVERY_LIMIT:?}:\n{}",
                self.process.log_text()
            )
        })
    }
}
