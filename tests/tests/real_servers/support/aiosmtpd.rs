//! Python's aiosmtpd through `tests/real-servers/aiosmtpd_server.py`: started on a port it
//! reports, each message it receives recorded as one JSON file ([`Record`]).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use std::{env, fs, thread};

use super::{poll, ServerProcess, TempDir, DELIVERY_LIMIT, START_LIMIT};

/// One message as aiosmtpd's handler recorded it.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    pub(crate) mail_from: String,
    pub(crate) rcpt_tos: Vec<String>,
    pub(crate) mail_options: Vec<String>,
    pub(crate) smtp_utf8: bool,
    pub(crate) content: Vec<u8>,
    pub(crate) tls: bool,
    pub(crate) auth_mechanism: Option<String>,
    pub(crate) auth_login: Option<String>,
    pub(crate) helo: Option<String>,
}

impl Record {
    fn parse(json: &[u8]) -> Result<Self, String> {
        let v: serde_json::Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        let list = |k: &str| -> Vec<String> {
            v.get(k)
                .and_then(|x| x.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let content = text("content_hex").ok_or("no content")?;
        Ok(Self {
            mail_from: text("mail_from").ok_or("no mail_from")?,
            rcpt_tos: list("rcpt_tos"),
            mail_options: list("mail_options"),
            smtp_utf8: v.get("smtp_utf8").and_then(|x| x.as_bool()) == Some(true),
            content: decode_hex(&content)?,
            tls: v.get("tls").and_then(|x| x.as_bool()) == Some(true),
            auth_mechanism: text("auth_mechanism"),
            auth_login: text("auth_login"),
            helo: text("helo"),
        })
    }
}

fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return Err("odd-length hex".into());
    }
    digits
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| format!("bad hex {pair:?}"))
        })
        .collect()
}

/// Options of `tests/real-servers/aiosmtpd_server.py`.
#[derive(Clone, Debug, Default)]
pub(crate) struct AiosmtpdOptions {
    pub(crate) lmtp: bool,
    pub(crate) smtputf8: bool,
    /// Offer STARTTLS with the `localhost` test identity.
    pub(crate) tls: bool,
    pub(crate) require_starttls: bool,
    pub(crate) auth: Option<(&'static str, &'static str)>,
    pub(crate) auth_required: bool,
    pub(crate) auth_allow_plaintext: bool,
    pub(crate) refuse_rcpt: Option<&'static str>,
    pub(crate) lmtp_fail_rcpt: Option<&'static str>,
}

/// aiosmtpd on 127.0.0.1, recording into a temporary directory.
pub(crate) struct Aiosmtpd {
    // Field order: the process stops before its directory goes.
    process: ServerProcess,
    port: u16,
    dir: TempDir,
}

fn python() -> String {
    env::var("SMTP_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

impl Aiosmtpd {
    pub(crate) fn start(options: &AiosmtpdOptions) -> Self {
        let dir = TempDir::new(if options.lmtp {
            "aiosmtpd-lmtp"
        } else {
            "aiosmtpd"
        });
        let records = dir.path().join("records");
        fs::create_dir_all(&records).expect("records directory");
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut command = Command::new(python());
        command
            .arg(here.join("real-servers/aiosmtpd_server.py"))
            .arg("--out")
            .arg(&records);
        let flags = [
            (options.lmtp, "--lmtp"),
            (options.smtputf8, "--smtputf8"),
            (options.require_starttls, "--require-starttls"),
            (options.auth_required, "--auth-required"),
            (options.auth_allow_plaintext, "--auth-allow-plaintext"),
        ];
        for (on, flag) in flags {
            if on {
                command.arg(flag);
            }
        }
        if options.tls {
            command
                .arg("--tls-cert")
                .arg(here.join("fixtures/server.pem"))
                .arg("--tls-key")
                .arg(here.join("fixtures/server.key"));
        }
        if let Some((user, password)) = options.auth {
            command.arg("--auth").arg(format!("{user}:{password}"));
        }
        if let Some(s) = options.refuse_rcpt {
            command.arg("--refuse-rcpt").arg(s);
        }
        if let Some(s) = options.lmtp_fail_rcpt {
            command.arg("--lmtp-fail-rcpt").arg(s);
        }
        // stdout is read for `LISTENING <port>`; stderr goes to the log.
        let log = dir.path().join("aiosmtpd.log");
        let err = fs::File::create(&log).expect("log file");
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err));
        let mut process = ServerProcess::from_command("aiosmtpd", command, log);
        let stdout = process.child.stdout.take().expect("piped stdout");
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
            // Exited (its output says why), or silent for START_LIMIT.
            thread::sleep(Duration::from_millis(200));
            panic!(
                "aiosmtpd did not report a listening port (limit {START_LIMIT:?}); \
                 run .ci/install-test-servers.sh; its output:\n{}",
                process.log_text()
            );
        };
        Self { process, port, dir }
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(super) fn read_records(&self) -> Vec<Record> {
        let mut found: Vec<(usize, Record)> = fs::read_dir(self.dir.path().join("records"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| {
                        let name = e.file_name().into_string().ok()?;
                        let n = name.strip_suffix(".json")?.parse().ok()?;
                        let bytes = fs::read(e.path()).ok()?;
                        let record = Record::parse(&bytes)
                            .unwrap_or_else(|err| panic!("record {name}: {err}"));
                        Some((n, record))
                    })
                    .collect()
            })
            .unwrap_or_default();
        found.sort_by_key(|(n, _)| *n);
        found.into_iter().map(|(_, r)| r).collect()
    }

    /// The first `n` messages received, in arrival order (waits for them, bounded).
    pub(crate) fn records(&self, n: usize) -> Vec<Record> {
        let got = poll(DELIVERY_LIMIT, || {
            let records = self.read_records();
            (records.len() >= n).then_some(records)
        });
        got.unwrap_or_else(|| {
            panic!(
                "aiosmtpd recorded {} of {n} messages within {DELIVERY_LIMIT:?}:\n{}",
                self.read_records().len(),
                self.process.log_text()
            )
        })
    }

    /// Nothing was received (checked after the client's session is over).
    pub(crate) fn assert_no_records(&self) {
        thread::sleep(Duration::from_millis(100));
        let records = self.read_records();
        assert!(records.is_empty(), "aiosmtpd received {records:?}");
    }
}
