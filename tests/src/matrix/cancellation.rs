//! What only the async adapters have, written once for both runtimes: futures dropped
//! mid-command, and sessions over a stream the caller opened.

use std::io::ErrorKind;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::future;
use smol::Timer;
use smtp_blocking::{Error, UsageError};
use smtp_smol::GenericSmtpClient;

use super::AsyncRuntime;
use crate::server::{Action, Server, Trigger};

const T: Duration = Duration::from_secs(10);

/// Generates the async-only tests for a runtime type (`smtp_smol::Smol`,
/// `smtp_async_std::AsyncStd`).
#[macro_export]
macro_rules! async_only_tests {
    ($runtime:ty) => {
        $crate::async_only_tests!(@each $runtime;
            a_request_dropped_mid_command_breaks_the_session,
            a_send_dropped_while_streaming_the_body_is_never_reused,
            dropping_send_message_while_it_reads_headers_keeps_the_session,
            a_session_runs_over_any_futures_io_stream,
        );
    };
    (@each $runtime:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::matrix::cancellation::$name::<$runtime>()
            }
        )*
    };
}

/// A body that yields `first`, then never anything again.
struct Stalling(Option<Vec<u8>>);

impl futures_lite::AsyncRead for Stalling {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.0.take() {
            Some(bytes) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                Poll::Ready(Ok(n))
            }
            None => Poll::Pending,
        }
    }
}

/// `Some(output)`, or `None` when `after` passed first (the future is then dropped).
async fn within<F: std::future::Future>(after: Duration, work: F) -> Option<F::Output> {
    let expired = async {
        Timer::after(after).await;
        None
    };
    future::or(async { Some(work.await) }, expired).await
}

async fn connect<R: AsyncRuntime>(server: &Server) -> GenericSmtpClient<R> {
    GenericSmtpClient::<R>::builder()
        .timeout(T)
        .connect("127.0.0.1", server.port())
        .await
        .expect("connect")
}

fn assert_abandoned<T: std::fmt::Debug>(result: Result<T, Error>) {
    match result {
        Err(Error::Io(e)) if e.kind() == ErrorKind::ConnectionAborted => {}
        other => panic!("expected the abandoned-session error, got {other:?}"),
    }
}

/// A NOOP whose reply is slow, dropped after 100 ms: the session is closed, reported once,
/// then `NotConnected`; reconnecting works.
pub fn a_request_dropped_mid_command_breaks_the_session<R: AsyncRuntime>() {
    let server = Server::builder()
        .on_times(
            Trigger::command("NOOP"),
            Action::Delay(Duration::from_millis(800)),
            1,
        )
        .start()
        .expect("server");
    R::block_on(async {
        let mut smtp = connect::<R>(&server).await;
        assert!(within(Duration::from_millis(100), smtp.noop())
            .await
            .is_none());
        assert!(!smtp.is_connected(), "broken from the moment of the drop");
        assert_abandoned(smtp.noop().await);
        assert!(matches!(smtp.noop().await, Err(Error::NotConnected)));
        smtp.connect("127.0.0.1", server.port())
            .await
            .expect("reconnect");
        assert_eq!(smtp.noop().await.expect("noop").code().get(), 250);
        smtp.quit().await.expect("quit");
    });
    let logs = server.wait_finished(2, T);
    assert_eq!(logs[0].commands, ["NOOP"], "nothing after the dropped NOOP");
    assert_eq!(logs[1].commands, ["NOOP", "QUIT"]);
}

/// A send dropped while its body streams: the half-sent message is never completed, and the
/// session is not reused (no RSET, no QUIT sent into the middle of the data).
pub fn a_send_dropped_while_streaming_the_body_is_never_reused<R: AsyncRuntime>() {
    let server = Server::start().expect("server");
    R::block_on(async {
        let mut smtp = connect::<R>(&server).await;
        let body = Stalling(Some(b"first line\r\n".to_vec()));
        let send = smtp.sendmail("a@x.org", &["b@y.org"], body);
        assert!(within(Duration::from_millis(300), send).await.is_none());
        assert!(!smtp.is_connected());
        assert_abandoned(smtp.rset().await);
    });
    let logs = server.wait_finished(1, T);
    assert!(logs[0].messages.is_empty(), "{:?}", logs[0].messages);
    let last = logs[0].commands.last().map(String::as_str);
    assert_eq!(last, Some("DATA"), "{:?}", logs[0].commands);
}

/// `send_message` dropped while it still reads the header block has sent nothing: the session
/// stays usable.
pub fn dropping_send_message_while_it_reads_headers_keeps_the_session<R: AsyncRuntime>() {
    let server = Server::start().expect("server");
    R::block_on(async {
        let mut smtp = connect::<R>(&server).await;
        let headers = Stalling(Some(b"From: a@x.org\r\nTo: b".to_vec()));
        assert!(
            within(Duration::from_millis(200), smtp.send_message(headers))
                .await
                .is_none()
        );
        assert!(smtp.is_connected());
        assert_eq!(smtp.noop().await.expect("noop").code().get(), 250);
        smtp.quit().await.expect("quit");
    });
    let logs = server.wait_finished(1, T);
    assert!(logs[0].commands.iter().all(|c| !c.starts_with("MAIL")));
}

/// `connect_stream` runs a session over a stream opened by the caller; such a peer counts as
/// remote, so AUTH needs TLS.
pub fn a_session_runs_over_any_futures_io_stream<R: AsyncRuntime>() {
    let server = Server::start().expect("server");
    R::block_on(async {
        let stream = smol::net::TcpStream::connect(("127.0.0.1", server.port()))
            .await
            .expect("tcp");
        let mut smtp = GenericSmtpClient::<R>::builder()
            .timeout(T)
            .connect_stream(stream, "mx.test")
            .await
            .expect("session");
        assert_eq!(smtp.server_name(), Some("mx.test"));
        let refused = smtp.login("alice", "correct horse").await;
        assert!(
            matches!(refused, Err(Error::Usage(UsageError::AuthWithoutTls))),
            "{refused:?}"
        );
        let body: &[u8] = b"over a stream of my own\r\n";
        smtp.sendmail("a@x.org", &["b@y.org"], body)
            .await
            .expect("send");
        smtp.quit().await.expect("quit");
    });
    let logs = server.wait_finished(1, T);
    assert_eq!(logs[0].messages[0].data, b"over a stream of my own\r\n");
}
