//! The I/O of each [`JobStep`](super::JobStep), written once for every adapter's pool.

/// Expands, inside the `impl` block of an adapter's pool, the I/O of each
/// [`JobStep`](crate::pool::JobStep), on the adapter's client type `$client` (which has the
/// [`smtplib_methods!`](crate::smtplib_methods) and `is_connected`, `close`,
/// `end_of_data_unanswered`), blocking or `async` as the adapter is:
///
/// - `fn perform(&self, step, envelope, body) -> Option<JobInput<$client>>`: opens (and
///   logs in), checks with `RSET`, sends (the message read from a new `body()`: each try
///   reads it from the start), or closes with `QUIT`; `None` for the steps that take no
///   answer (`Close`, `Wait`, `Done`);
/// - `fn open_logged_in(&self) -> Result<$client>`: a new connection set up as a single
///   client's, then the pool's [`Login`](crate::pool::Login), if any.
///
/// The pool provides `fn connect(&self) -> Result<$client>` (connect and read the greeting,
/// as the adapter's builder does) and `fn settings(&self) -> &Settings`.
#[macro_export]
macro_rules! pool_steps {
    (
        client: $client:ty,
        read: [$($read:tt)+],
        asyncness: [$($async:tt)*],
        await: [$($await:tt)*] $(,)?
    ) => {
        /// Performs `step` for a message: its answer for the job, if the step takes one.
        $($async)* fn perform<B: $($read)+>(
            &self,
            step: $crate::pool::JobStep<$client>,
            envelope: &$crate::client::Envelope,
            body: &(impl Fn() -> B + ?Sized),
        ) -> ::std::option::Option<$crate::pool::JobInput<$client>> {
            use $crate::pool::{JobInput, JobStep};
            match step {
                JobStep::Open => Some(JobInput::Opened(self.open_logged_in() $($await)*)),
                JobStep::Check(mut conn) => {
                    let alive = matches!(
                        conn.rset() $($await)*,
                        Ok(reply) if reply.code().is_positive_completion()
                    );
                    if !alive {
                        conn.close();
                    }
                    Some(JobInput::Checked(alive.then_some(conn)))
                }
                JobStep::Send(mut conn) => {
                    let result = conn.send_with_report(envelope.clone(), body()) $($await)*;
                    let end_of_data_unanswered = conn.end_of_data_unanswered();
                    let conn = conn.is_connected().then_some(conn);
                    Some(JobInput::Sent {
                        conn,
                        result,
                        end_of_data_unanswered,
                    })
                }
                JobStep::Close(mut conn) => {
                    // Best effort: the session's timeouts bound the wait for `221`.
                    let _ = conn.quit() $($await)*;
                    conn.close();
                    None
                }
                JobStep::Wait(_) | JobStep::Done(_) => None,
            }
        }

        /// A new connection, set up as a single client's, then logged in as the pool says.
        $($async)* fn open_logged_in(&self) -> $crate::session::Result<$client> {
            let mut conn = self.connect() $($await)*?;
            if let Some(login) = &self.settings().pool.login {
                let logged_in = match &login.mechanism {
                    Some(name) => {
                        conn.login_with(name, &login.user, &login.password) $($await)*
                    }
                    None => conn.login(&login.user, &login.password) $($await)*,
                };
                if let Err(e) = logged_in {
                    conn.close();
                    return Err(e);
                }
            }
            Ok(conn)
        }
    };
}
