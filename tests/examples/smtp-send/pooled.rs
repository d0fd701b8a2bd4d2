//! `--connections N`: the copies spread over a pool of N connections (the library's `Pool`),
//! each report tallied as it comes.

use smtp_blocking::proto::pool::{Login as PoolLogin, Outcome, Report};

use super::session::{settings, BlockOn, LocalRead};
use super::*;

/// Sends `opts.count` copies of `message` with `envelope` over `opts.connections`
/// connections; returns the exit code.
pub(crate) fn send(
    opts: &Options,
    message: &Message,
    envelope: Envelope,
    stdout: &mut dyn Write,
    stderr: &SharedWrite,
    summary: &mut Summary,
) -> i32 {
    let mut pool_settings = settings(opts).pool;
    pool_settings.max_connections = opts.connections;
    // The N connections share the messages until the end.
    pool_settings.max_messages = None;
    if let Some((user, password, mech)) = &opts.auth {
        pool_settings.login = Some(PoolLogin {
            user: user.clone(),
            password: password.clone(),
            mechanism: mech.map(|m| m.name().to_owned()),
        });
    }
    let copies = (0..opts.count).map(|_| (envelope.clone(), || message.reader()));
    let start = Instant::now();
    let mut first_failure = None;
    let mut tally = |report: Report| {
        let n = report.index + 1;
        let (code, lost) = match report.outcome {
            Outcome::Delivered(r) | Outcome::Refused(r) => {
                (record(summary, opts.json, stdout, n, &r), None)
            }
            Outcome::Failed(e) => {
                summary.failed += 1;
                (
                    Some(fail_once(summary, &e, Phase::Connect)),
                    Some(("failed", e)),
                )
            }
            Outcome::Unknown(e) => {
                summary.unknown += 1;
                (
                    Some(fail_once(summary, &e, Phase::Mail)),
                    Some(("unknown", e)),
                )
            }
        };
        if let Some(code) = code {
            first_failure.get_or_insert(code);
        }
        if let (false, Some((what, e))) = (opts.json, lost) {
            let _ = writeln!(stdout, "message {n}: {what}: {}", printable(&e.to_string()));
        }
    };
    match opts.runtime {
        Runtime::Blocking => {
            let builder = configured!(SmtpClient::builder(), opts, stderr).pool(pool_settings);
            let pool = match &opts.server {
                Server::Tcp(host, port) => builder.into_pool(host, *port),
                Server::Unix(path) => builder.into_pool_unix(path),
            };
            pool.send_all_with(copies, &mut tally);
            pool.close();
        }
        Runtime::Smol => {
            send_async::<smtp_smol::Smol>(opts, pool_settings, copies, &mut tally, stderr)
        }
        Runtime::AsyncStd => {
            send_async::<smtp_async_std::AsyncStd>(opts, pool_settings, copies, &mut tally, stderr)
        }
    }
    summary.elapsed = Some(start.elapsed());
    first_failure.unwrap_or(exit::OK)
}

fn send_async<'a, R: BlockOn>(
    opts: &Options,
    pool_settings: smtp_blocking::proto::pool::PoolSettings,
    copies: impl Iterator<Item = (Envelope, impl Fn() -> Reader<'a>)>,
    tally: &mut dyn FnMut(Report),
    stderr: &SharedWrite,
) {
    let builder = configured!(GenericSmtpClient::<R>::builder(), opts, stderr).pool(pool_settings);
    let pool = match &opts.server {
        Server::Tcp(host, port) => builder.into_pool(host, *port),
        Server::Unix(path) => builder.into_pool_unix(path),
    };
    let copies = copies.map(|(envelope, body)| (envelope, move || LocalRead(body())));
    R::block_on(async {
        pool.send_all_with(copies, tally).await;
        pool.close().await;
    });
}

/// [`fail`] for the first failure only: the summary keeps the first error.
fn fail_once(summary: &mut Summary, error: &Error, phase: Phase) -> i32 {
    if summary.error.is_some() {
        return exit_code(error, phase);
    }
    fail(summary, error, phase)
}
