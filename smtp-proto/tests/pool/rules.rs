//! One test per rule of `Policy` and `Job`, driven step by step.

use super::*;

// ---------------------------------------------------------------------------------------------
// The rules, one at a time.

#[test]
fn idle_connections_are_reused_most_recently_returned_first() {
    let t0 = Instant::now();
    let mut p = pool(|_| {});
    let (mut a, mut b) = (Job::new(), Job::new());
    assert_eq!(next(&mut a, &mut p, None, t0), S::Open);
    assert_eq!(next(&mut b, &mut p, None, t0), S::Open);
    assert_eq!(next(&mut a, &mut p, opened(1), t0), S::Send(1));
    assert_eq!(next(&mut b, &mut p, opened(2), t0), S::Send(2));
    // 2 comes back first, 1 last.
    assert_eq!(
        next(&mut b, &mut p, sent(2, ok()), t0 + secs(1)),
        S::Delivered
    );
    assert_eq!(
        next(&mut a, &mut p, sent(1, ok()), t0 + secs(2)),
        S::Delivered
    );
    assert_eq!((p.idle(), p.connections()), (2, 2));
    // The most recently returned is reused, again and again: 2 ages.
    for i in 3..6 {
        deliver_on_idle(&mut p, 1, t0 + secs(i));
    }
    // Taking 1 out, the next job gets 2.
    let mut c = Job::new();
    assert_eq!(next(&mut c, &mut p, None, t0 + secs(6)), S::Send(1));
    let mut d = Job::new();
    assert_eq!(next(&mut d, &mut p, None, t0 + secs(6)), S::Send(2));
    assert_eq!((p.idle(), p.connections()), (0, 2));
}

#[test]
fn a_second_message_reuses_the_connection_without_opening() {
    let t0 = Instant::now();
    let mut p = pool(|_| {});
    deliver_on_new(&mut p, 1, t0);
    assert_eq!((p.idle(), p.connections()), (1, 1));
    let mut job = Job::new();
    assert_eq!(next(&mut job, &mut p, None, t0 + ms(1)), S::Send(1));
    assert_eq!((p.idle(), p.connections()), (0, 1));
    assert_eq!(
        next(&mut job, &mut p, sent(1, ok()), t0 + ms(2)),
        S::Delivered
    );
    assert_eq!((p.idle(), p.connections()), (1, 1));
}

#[test]
fn a_connection_is_closed_after_max_messages_and_a_new_one_opened() {
    let t0 = Instant::now();
    let mut p = pool(|s| s.max_messages = Some(3));
    deliver_on_new(&mut p, 1, t0);
    deliver_on_idle(&mut p, 1, t0);
    // The third message is the connection's last: QUIT, then the outcome.
    let mut job = Job::new();
    assert_eq!(next(&mut job, &mut p, None, t0), S::Send(1));
    assert_eq!(next(&mut job, &mut p, sent(1, ok()), t0), S::Close(1));
    assert_eq!(p.connections(), 0);
    assert_eq!(next(&mut job, &mut p, None, t0), S::Delivered);
    // The next message opens a new connection, which starts counting from zero.
    deliver_on_new(&mut p, 2, t0);
    deliver_on_idle(&mut p, 2, t0);
    assert_eq!(p.connections(), 1);

    // No quota: a connection is never closed for its count.
    let mut p = pool(|s| s.max_messages = None);
    deliver_on_new(&mut p, 1, t0);
    for _ in 0..1000 {
        deliver_on_idle(&mut p, 1, t0);
    }
}

#[test]
fn a_refusal_counts_against_the_quota_too() {
    let t0 = Instant::now();
    let mut p = pool(|s| s.max_messages = Some(2));
    deliver_on_new(&mut p, 1, t0);
    let mut job = Job::new();
    assert_eq!(next(&mut job, &mut p, None, t0), S::Send(1));
    assert_eq!(
        next(&mut job, &mut p, sent(1, mail_refused(550)), t0),
        S::Close(1)
    );
    assert_eq!(next(&mut job, &mut p, None, t0), S::Refused(550));
    assert_eq!(p.connections(), 0);
}

#[test]
fn an_idle_connection_past_idle_timeout_is_closed_at_the_next_call() {
    let t0 = Instant::now();
    let mut p = pool(|s| s.idle_timeout = secs(60));
    assert_eq!(p.poll_timeout(), None);
    deliver_on_new(&mut p, 1, t0);
    assert_eq!(p.poll_timeout(), Some(t0 + secs(60)));
    // Just before: still handed out (checked first: it idled more than check_after).
    let mut early = pool(|s| s.idle_timeout = secs(60));
    deliver_on_new(&mut early, 1, t0);
    let mut job = Job::new();
    assert_eq!(
        next(&mut job, &mut early, None, t0 + secs(60) - ms(1)),
        S::Check(1)
    );
    // At the timeout: whichever job asks first closes it, then goes on with a new one.
    let mut job = Job::new();
    assert_eq!(next(&mut job, &mut p, None, t0 + secs(60)), S::Close(1));
    assert_eq!((p.idle(), p.connections()), (0, 0));
    assert_eq!(p.poll_timeout(), None);
    assert_eq!(next(&mut job, &mut p, None, t0 + secs(60)), S::Open);
}

#[test]
fn expired_connections_are_closed_one_per_call_oldest_first() {
    let t0 = Instant::now();
    let mut p = pool(|s| s.idle_timeout = secs(60));
    let (mut a, mut b, mut c) = (Job::new(), Job::new(), Job::new());
    for job in [&mut a, &mut b, &mut c] {
        assert_eq!(next(job, &mut p, None, t0), S::Open);
    }
    assert_eq!(next(&mut a, &mut p, opened(1), t0), S::Send(1));
    assert_eq!(next(&mut b, &mut p, opened(2), t0), S::Send(2));
    assert_eq!(next(&mut c, &mut p, opened(3), t0), S::Send(3));
    assert_eq!(next(&mut a, &mut p, sent(1, ok()), t0), S::Delivered);
    assert_eq!(
        next(&mut b, &mut p, sent(2, ok()), t0 + secs(10)),
        S::Delivered
    );
    assert_eq!(
        next(&mut c, &mut p, sent(3, ok()), t0 + secs(20)),
        S::Delivered
    );
    assert_eq!(p.poll_timeout(), Some(t0 + secs(60)));
    let mut job = Job::new();
    let now = t0 + secs(75);
    assert_eq!(next(&mut job, &mut p, None, now), S::Close(1));
    assert_eq!(next(&mut job, &mut p, None, now), S::Close(2));
    // 3 has idled 55 s: reused, after a check.
    assert_eq!(next(&mut job, &mut p, None, now), S::Check(3));
}

#[test]
fn a_connection_idle_longer_than_check_after_is_checked_and_a_dead_one_costs_no_retry() {
    let t0 = Instant::now();
    let mut p = pool(|s| {
        s.check_after = secs(10);
        s.retries = 1;
        s.backoff = secs(1);
    });
    deliver_on_new(&mut p, 1, t0);
    // Idle exactly check_after: not checked.
    deliver_on_idle(&mut p, 1, t0 + secs(10));
    // Longer: checked; alive, it takes the message.
    let mut job = Job::new();
    let now = t0 + secs(20) + ms(1);
    assert_eq!(next(&mut job, &mut p, None, now), S::Check(1));
    let alive = Some(JobInput::Checked(Some(Conn(1))));
    assert_eq!(next(&mut job, &mut p, alive, now), S::Send(1));
    assert_eq!(next(&mut job, &mut p, sent(1, ok()), now), S::Delivered);
    // Idle again, checked, found dead: dropped, and the job opens another at once.
    let mut job = Job::new();
    let now = now + secs(11);
    assert_eq!(next(&mut job, &mut p, None, now), S::Check(1));
    assert_eq!(p.connections(), 1);
    let dead = Some(JobInput::Checked(None));
    assert_eq!(next(&mut job, &mut p, dead, now), S::Open);
    assert_eq!(p.connections(), 1, "only the one being opened");
    // The one retry is still there: a refused open waits for the back-off, not the end.
    assert_eq!(
        next(&mut job, &mut p, open_failed(refused()), now),
        S::Wait(Some(now + secs(1)))
    );
    let now = now + secs(1);
    assert_eq!(next(&mut job, &mut p, None, now), S::Open);
    assert_eq!(next(&mut job, &mut p, opened(2), now), S::Send(2));
    assert_eq!(next(&mut job, &mut p, sent(2, ok()), now), S::Delivered);
}

#[test]
fn the_rate_limit_delays_the_third_start_until_the_window_moves() {
    let t0 = Instant::now();
    let rate = Rate {
        messages: 2,
        per: secs(10),
    };
    let mut p = pool(|s| s.rate = Some(rate));
    let (mut a, mut b, mut c) = (Job::new(), Job::new(), Job::new());
    assert_eq!(next(&mut a, &mut p, None, t0), S::Open);
    assert_eq!(next(&mut b, &mut p, None, t0 + secs(1)), S::Open);
    assert_eq!(
        next(&mut c, &mut p, None, t0 + secs(2)),
        S::Wait(Some(t0 + secs(10)))
    );
    assert_eq!(p.poll_timeout(), Some(t0 + secs(10)));
    // Reuse counts as a start too.
    assert_eq!(next(&mut a, &mut p, opened(1), t0 + secs(2)), S::Send(1));
    assert_eq!(
        next(&mut a, &mut p, sent(1, ok()), t0 + secs(2)),
        S::Delivered
    );
    let early = t0 + secs(10) - ms(1);
    assert_eq!(
        next(&mut c, &mut p, None, early),
        S::Wait(Some(t0 + secs(10)))
    );
    // The window moves past a's start: one more may start, on the idle connection.
    assert_eq!(next(&mut c, &mut p, None, t0 + secs(10)), S::Send(1));
    let mut d = Job::new();
    assert_eq!(
        next(&mut d, &mut p, None, t0 + secs(10)),
        S::Wait(Some(t0 + secs(11)))
    );
}

#[test]
fn a_failed_open_or_check_gives_its_start_back_to_the_rate() {
    let t0 = Instant::now();
    let rate = Rate {
        messages: 2,
        per: secs(10),
    };
    let mut p = pool(|s| {
        s.rate = Some(rate);
        s.backoff = secs(1);
    });
    let (mut a, mut b, mut c) = (Job::new(), Job::new(), Job::new());
    assert_eq!(next(&mut a, &mut p, None, t0), S::Open);
    let t1 = t0 + secs(1);
    assert_eq!(
        next(&mut a, &mut p, open_failed(refused()), t0),
        S::Wait(Some(t1))
    );
    // Not a start: b is held by the open back-off only.
    assert_eq!(next(&mut b, &mut p, None, t0), S::Wait(Some(t1)));
    assert_eq!(next(&mut a, &mut p, None, t1), S::Open);
    assert_eq!(next(&mut a, &mut p, opened(1), t1), S::Send(1));
    assert_eq!(next(&mut a, &mut p, sent(1, ok()), t1), S::Delivered);
    assert_eq!(next(&mut b, &mut p, None, t1), S::Send(1));
    assert_eq!(next(&mut b, &mut p, sent(1, ok()), t1), S::Delivered);
    // Two starts, both at t1: the window ends 10 s after them, not after a's failed start.
    assert_eq!(next(&mut c, &mut p, None, t1), S::Wait(Some(t1 + secs(10))));
    assert_eq!(p.poll_timeout(), Some(t1 + secs(10)));

    // A failed check: its start is given back too.
    let t2 = t1 + secs(30);
    assert_eq!(next(&mut c, &mut p, None, t2), S::Check(1));
    assert_eq!(
        next(&mut c, &mut p, Some(JobInput::Checked(None)), t2),
        S::Open
    );
    assert_eq!(next(&mut c, &mut p, opened(2), t2), S::Send(2));
    let mut d = Job::new();
    assert_eq!(
        next(&mut d, &mut p, None, t2),
        S::Open,
        "the failed check is not a start"
    );
    let mut e = Job::new();
    assert_eq!(next(&mut e, &mut p, None, t2), S::Wait(Some(t2 + secs(10))));
}

/// Policy bug: `unstart` removes the newest start in the window, which is not the failed
/// job's own start when that one has already left the window (an open or a check that took
/// longer than `Rate::per`) — it removes another job's start, and the rate is exceeded.
#[test]
fn a_slow_failed_open_gives_back_its_own_start_not_a_later_one() {
    let t0 = Instant::now();
    let rate = Rate {
        messages: 2,
        per: secs(10),
    };
    let mut p = pool(|s| s.rate = Some(rate));
    let mut slow = Job::new();
    assert_eq!(next(&mut slow, &mut p, None, t0), S::Open);
    // Meanwhile b starts at t0+5 and c at t0+11 (the slow open's start has left the window).
    deliver_on_new(&mut p, 2, t0 + secs(5));
    deliver_on_idle(&mut p, 2, t0 + secs(11));
    // The slow open fails at t0+12: its start is long gone from the window.
    let now = t0 + secs(12);
    assert!(matches!(
        next(&mut slow, &mut p, open_failed(refused()), now),
        S::Wait(Some(_))
    ));
    // b (t0+5) and c (t0+11) started within 10 s: a third start waits until t0+15.
    let mut d = Job::new();
    assert_eq!(
        next(&mut d, &mut p, None, now),
        S::Wait(Some(t0 + secs(15)))
    );
}

#[test]
fn refused_opens_back_off_doubling_up_to_max_backoff_then_fail() {
    let t0 = Instant::now();
    let mut p = pool(|s| {
        s.retries = 4;
        s.backoff = secs(1);
        s.max_backoff = secs(5);
    });
    let mut job = Job::new();
    let mut now = t0;
    for wait in [1, 2, 4, 5] {
        assert_eq!(next(&mut job, &mut p, None, now), S::Open);
        let until = now + secs(wait);
        assert_eq!(
            next(&mut job, &mut p, open_failed(refused()), now),
            S::Wait(Some(until))
        );
        assert_eq!(p.poll_timeout(), Some(until), "the back-off's end");
        assert_eq!(p.connections(), 0);
        // Asked early, it waits still; another job waits for the pool's back-off too.
        assert_eq!(
            next(&mut job, &mut p, None, until - ms(1)),
            S::Wait(Some(until))
        );
        let mut other = Job::new();
        assert_eq!(
            next(&mut other, &mut p, None, until - ms(1)),
            S::Wait(Some(until))
        );
        now = until;
    }
    assert_eq!(next(&mut job, &mut p, None, now), S::Open);
    let last = next(&mut job, &mut p, open_failed(refused()), now);
    assert_eq!(last, S::Failed(REFUSED.into()));
    assert_eq!(p.connections(), 0);
}

#[test]
fn a_successful_open_ends_the_pools_back_off() {
    let t0 = Instant::now();
    let mut p = pool(|s| s.backoff = secs(1));
    let mut a = Job::new();
    assert_eq!(next(&mut a, &mut p, None, t0), S::Open);
    assert_eq!(
        next(&mut a, &mut p, open_failed(refused()), t0),
        S::Wait(Some(t0 + secs(1)))
    );
    let t1 = t0 + secs(1);
    assert_eq!(next(&mut a, &mut p, None, t1), S::Open);
    assert_eq!(next(&mut a, &mut p, opened(1), t1), S::Send(1));
    // Another job opens at once (no back-off left), and a later failure starts from 1 s.
    let mut b = Job::new();
    assert_eq!(next(&mut b, &mut p, None, t1), S::Open);
    assert_eq!(
        next(&mut b, &mut p, open_failed(refused()), t1),
        S::Wait(Some(t1 + secs(1)))
    );
}

#[test]
fn a_permanent_open_failure_fails_at_once() {
    let t0 = Instant::now();
    let permanent = [
        Error::AuthFailed(reply(b"535 5.7.8 authentication credentials invalid\r\n")),
        Error::tls(io::Error::other("certificate verify failed")),
        Error::Smtp(smtp_proto::Error::Rejected {
            stage: Stage::Greeting,
            reply: reply(b"554 5.7.1 no service for you\r\n"),
        }),
        Error::HeloRefused(reply(b"550 go away\r\n")),
    ];
    for error in permanent {
        let mut p = pool(|s| s.retries = 3);
        let mut job = Job::new();
        let text = format!("{error:?}");
        assert_eq!(next(&mut job, &mut p, None, t0), S::Open);
        assert_eq!(
            next(&mut job, &mut p, open_failed(error), t0),
            S::Failed(text)
        );
        assert_eq!(p.connections(), 0);
    }
    // A 421 greeting, by contrast, is temporary.
    let mut p = pool(|s| s.retries = 3);
    let mut job = Job::new();
    let busy = Error::Smtp(smtp_proto::Error::Rejected {
        stage: Stage::Greeting,
        reply: reply(b"421 4.3.2 too busy\r\n"),
    });
    assert_eq!(next(&mut job, &mut p, None, t0), S::Open);
    assert_eq!(
        next(&mut job, &mut p, open_failed(busy), t0),
        S::Wait(Some(t0 + secs(1)))
    );
}

#[test]
fn lost_before_the_end_of_data_on_a_fresh_connection_is_retried_after_the_backoff() {
    let t0 = Instant::now();
    let mut p = pool(|s| {
        s.retries = 1;
        s.backoff = secs(1);
    });
    let mut job = Job::new();
    assert_eq!(next(&mut job, &mut p, None, t0), S::Open);
    assert_eq!(next(&mut job, &mut p, opened(1), t0), S::Send(1));
    assert_eq!(
        next(&mut job, &mut p, lost(false), t0),
        S::Wait(Some(t0 + secs(1)))
    );
    assert_eq!(p.connections(), 0, "the lost connection is discarded");
    let t1 = t0 + secs(1);
    assert_eq!(next(&mut job, &mut p, None, t1), S::Open);
    // Sent again, on the new connection.
    assert_eq!(next(&mut job, &mut p, opened(2), t1), S::Send(2));
    assert_eq!(next(&mut job, &mut p, sent(2, ok()), t1), S::Delivered);

    // Beyond the retries: failed, with the error.
    let mut job = Job::new();
    assert_eq!(next(&mut job, &mut p, None, t1), S::Send(2));
    assert_eq!(
        next(&mut job, &mut p, lost(false), t1),
        S::Open,
        "stale: free"
    );
    assert_eq!(next(&mut job, &mut p, opened(3), t1), S::Send(3));
    assert_eq!(
        next(&mut job, &mut p, lost(false), t1),
        S::Wait(Some(t1 + secs(1)))
    );
    let t2 = t1 + secs(1);
    assert_eq!(next(&mut job, &mut p, None, t2), S::Open);
    assert_eq!(next(&mut job, &mut p, opened(4), t2), S::Send(4));
    assert_eq!(
        next(&mut job, &mut p, lost(false), t2),
        S::Failed(RESET.into())
    );
    assert_eq!(p.connections(), 0);
}

#[test]
fn lost_after_the_end_of_data_is_unknown_and_never_sent_again() {
    let t0 = Instant::now();
    let mut p = pool(|s| s.retries = 3);
    let mut job = Job::new();
    assert_eq!(next(&mut job, &mut p, None, t0), S::Open);
    assert_eq!(next(&mut job, &mut p, opened(1), t0), S::Send(1));
    assert_eq!(
        next(&mut job, &mut p, lost(true), t0),
        S::Unknown(RESET.into())
    );
    assert_eq!(p.connections(), 0);

    // Also on a reused connection (no stale free retry), and after a timeout.
    deliver_on_new(&mut p, 2, t0);
    let mut job = Job::new();
    assert_eq!(next(&mut job, &mut p, None, t0), S::Send(2));
    let timeout = Error::timeout(Stage::DataEnd, secs(600));
    let text = format!("{timeout:?}");
    let input = Some(JobInput::Sent {
        conn: None,
        result: Err(timeout),
        end_of_data_unanswered: true,
    });
    assert_eq!(next(&mut job, &mut p, input, t0), S::Unknown(text));
    assert_eq!(p.connections(), 0);
}

#[test]
fn a_stale_reused_connection_costs_no_retry_up_to_max_connections() {
    let t0 = Instant::now();
    let mut p = pool(|s| {
        s.retries = 0;
        s.max_connections = 2;
    });
    deliver_on_new(&mut p, 1, t0);
    // Reused and found dead before the message went out: opened again at once, no back-off,
    // though no retry is left.
    let mut job = Job::new();
    assert_eq!(next(&mut job, &mut p, None, t0), S::Send(1));
    assert_eq!(next(&mut job, &mut p, lost(false), t0), S::Open);
    assert_eq!(next(&mut job, &mut p, opened(2), t0), S::Send(2));
    assert_eq!(next(&mut job, &mut p, sent(2, ok()), t0), S::Delivered);
    assert_eq!(p.connections(), 1);

    // The free retries are bounded by max_connections (2).
    let mut p = pool(|s| {
        s.retries = 0;
        s.max_connections = 2;
    });
    idle_pool(&mut p, &[1, 2], t0);
    let mut victim = Job::new();
    assert_eq!(next(&mut victim, &mut p, None, t0), S::Send(2));
    assert_eq!(
        next(&mut victim, &mut p, lost(false), t0),
        S::Send(1),
        "free 1 of 2"
    );
    // Meanwhile another job opens a connection and returns it.
    deliver_on_new(&mut p, 3, t0);
    // A 421 on a reused connection is taken for an idle close too.
    let gone_421 = Some(JobInput::Sent {
        conn: None,
        result: Err(rejected_421()),
        end_of_data_unanswered: false,
    });
    assert_eq!(
        next(&mut victim, &mut p, gone_421, t0),
        S::Send(3),
        "free 2 of 2"
    );
    // The third dead reused connection costs a retry: none is left.
    assert_eq!(
        next(&mut victim, &mut p, lost(false), t0),
        S::Failed(RESET.into())
    );
    assert_eq!(p.connections(), 0);
}

#[test]
fn a_4xx_closes_the_connection_and_is_retried_after_the_backoff_then_refused() {
    let t0 = Instant::now();
    let temporary = [
        mail_refused(451),
        mail_refused(452),
        report(&[b"250 ok\r\n", b"452 4.5.3 too many recipients\r\n"]),
        report(&[
            b"250 ok\r\n",
            b"250 ok\r\n",
            b"354 go\r\n",
            b"451 4.3.0 try later\r\n",
        ]),
    ];
    for refusal in temporary {
        let code = refusal_code(&refusal);
        let mut p = pool(|s| {
            s.retries = 2;
            s.backoff = secs(1);
        });
        // A connection that idled: refused on it, the message waits, then goes on a new one.
        deliver_on_new(&mut p, 1, t0);
        let mut job = Job::new();
        assert_eq!(next(&mut job, &mut p, None, t0), S::Send(1));
        assert_eq!(
            next(&mut job, &mut p, sent(1, refusal.clone()), t0),
            S::Close(1)
        );
        assert_eq!(p.connections(), 0, "closed, not returned");
        let t1 = t0 + secs(1);
        assert_eq!(next(&mut job, &mut p, None, t0), S::Wait(Some(t1)));
        assert_eq!(next(&mut job, &mut p, None, t1), S::Open);
        assert_eq!(next(&mut job, &mut p, opened(2), t1), S::Send(2));
        assert_eq!(
            next(&mut job, &mut p, sent(2, refusal.clone()), t1),
            S::Close(2)
        );
        let t3 = t1 + secs(2);
        assert_eq!(next(&mut job, &mut p, None, t1), S::Wait(Some(t3)));
        assert_eq!(next(&mut job, &mut p, None, t3), S::Open);
        assert_eq!(next(&mut job, &mut p, opened(3), t3), S::Send(3));
        // The retries spent: refused, with the last report.
        assert_eq!(next(&mut job, &mut p, sent(3, refusal), t3), S::Close(3));
        assert_eq!(next(&mut job, &mut p, None, t3), S::Refused(code));
        assert_eq!(p.connections(), 0);
    }
}

#[test]
fn a_4xx_then_success_is_delivered_and_a_421_is_retried_like_a_4xx() {
    let t0 = Instant::now();
    let mut p = pool(|s| {
        s.retries = 2;
        s.backoff = secs(1);
    });
    let mut job = Job::new();
    assert_eq!(next(&mut job, &mut p, None, t0), S::Open);
    assert_eq!(next(&mut job, &mut p, opened(1), t0), S::Send(1));
    assert_eq!(
        next(&mut job, &mut p, sent(1, mail_refused(451)), t0),
        S::Close(1)
    );
    assert_eq!(
        next(&mut job, &mut p, None, t0),
        S::Wait(Some(t0 + secs(1)))
    );
    let t1 = t0 + secs(1);
    assert_eq!(next(&mut job, &mut p, None, t1), S::Open);
    assert_eq!(next(&mut job, &mut p, opened(2), t1), S::Send(2));
    assert_eq!(next(&mut job, &mut p, sent(2, ok()), t1), S::Delivered);

    // A 421 (the server closed the session) on a fresh connection: retried after the
    // back-off, the connection already gone; after the retries, failed.
    let mut p = pool(|s| {
        s.retries = 1;
        s.backoff = secs(1);
    });
    let gone_421 = || {
        Some(JobInput::Sent {
            conn: None,
            result: Err(rejected_421()),
            end_of_data_unanswered: false,
        })
    };
    let mut job = Job::new();
    assert_eq!(next(&mut job, &mut p, None, t0), S::Open);
    assert_eq!(next(&mut job, &mut p, opened(1), t0), S::Send(1));
    assert_eq!(next(&mut job, &mut p, gone_421(), t0), S::Wait(Some(t1)));
    assert_eq!(p.connections(), 0);
    assert_eq!(next(&mut job, &mut p, None, t1), S::Open);
    assert_eq!(next(&mut job, &mut p, opened(2), t1), S::Send(2));
    let last = next(&mut job, &mut p, gone_421(), t1);
    assert_eq!(last, S::Failed(format!("{:?}", rejected_421())));
}

#[test]
fn a_5xx_is_refused_at_once_and_the_connection_kept() {
    let t0 = Instant::now();
    let permanent = [
        mail_refused(550),
        report(&[b"250 ok\r\n", b"550 5.1.1 no such user\r\n"]),
        report(&[
            b"250 ok\r\n",
            b"250 ok\r\n",
            b"354 go\r\n",
            b"554 5.6.0 rejected\r\n",
        ]),
        // Not every recipient refused temporarily: the 4xx one is not worth a retry alone.
        report_to(
            2,
            &[b"250 ok\r\n", b"452 4.2.2 full\r\n", b"550 5.1.1 no\r\n"],
        ),
    ];
    for refusal in permanent {
        let code = refusal_code(&refusal);
        let mut p = pool(|s| s.retries = 3);
        let mut job = Job::new();
        assert_eq!(next(&mut job, &mut p, None, t0), S::Open);
        assert_eq!(next(&mut job, &mut p, opened(1), t0), S::Send(1));
        assert_eq!(
            next(&mut job, &mut p, sent(1, refusal), t0),
            S::Refused(code)
        );
        assert_eq!((p.idle(), p.connections()), (1, 1));
        // The next message takes the same connection.
        deliver_on_idle(&mut p, 1, t0 + ms(1));
    }
}

#[test]
fn a_usage_error_fails_the_message_and_keeps_the_connection() {
    let t0 = Instant::now();
    let mut p = pool(|s| s.retries = 3);
    let mut job = Job::new();
    assert_eq!(next(&mut job, &mut p, None, t0), S::Open);
    assert_eq!(next(&mut job, &mut p, opened(1), t0), S::Send(1));
    let error = Error::Usage(UsageError::TooLarge {
        size: 20_000_000,
        limit: 10_000_000,
    });
    let text = format!("{error:?}");
    let input = Some(JobInput::Sent {
        conn: Some(Conn(1)),
        result: Err(error),
        end_of_data_unanswered: false,
    });
    assert_eq!(next(&mut job, &mut p, input, t0), S::Failed(text));
    assert_eq!((p.idle(), p.connections()), (1, 1));
    deliver_on_idle(&mut p, 1, t0);
}

#[test]
fn close_returns_the_idle_connections_and_closes_those_lent_when_they_return() {
    let t0 = Instant::now();
    let mut p = pool(|_| {});
    let (mut a, mut b, mut c) = (Job::new(), Job::new(), Job::new());
    for job in [&mut a, &mut b, &mut c] {
        assert_eq!(next(job, &mut p, None, t0), S::Open);
    }
    assert_eq!(next(&mut a, &mut p, opened(1), t0), S::Send(1));
    assert_eq!(next(&mut b, &mut p, opened(2), t0), S::Send(2));
    assert_eq!(next(&mut c, &mut p, opened(3), t0), S::Send(3));
    assert_eq!(next(&mut a, &mut p, sent(1, ok()), t0), S::Delivered);
    assert_eq!(next(&mut b, &mut p, sent(2, ok()), t0), S::Delivered);
    let idle = p.close();
    assert_eq!(idle, [Conn(1), Conn(2)]);
    assert_eq!((p.idle(), p.connections()), (0, 1));
    assert_eq!(p.poll_timeout(), None);
    // The busy one is closed as it comes back, the outcome after.
    assert_eq!(next(&mut c, &mut p, sent(3, ok()), t0), S::Close(3));
    assert_eq!(next(&mut c, &mut p, None, t0), S::Delivered);
    assert_eq!(p.connections(), 0);
    assert!(p.close().is_empty());
    // The pool stays usable: a later message opens a connection, kept as usual.
    let mut d = Job::new();
    assert_eq!(next(&mut d, &mut p, None, t0), S::Open);
    assert_eq!(next(&mut d, &mut p, opened(4), t0), S::Send(4));
    assert_eq!(next(&mut d, &mut p, sent(4, ok()), t0), S::Delivered);
    assert_eq!((p.idle(), p.connections()), (1, 1));
}

/// Policy bug (minor): an ended open back-off stays in `poll_timeout` until an open
/// succeeds, as an instant in the past; a loop that sleeps until `poll_timeout()` to close
/// idle connections would spin.
#[test]
fn poll_timeout_forgets_a_backoff_that_has_ended() {
    let t0 = Instant::now();
    let mut p = pool(|s| {
        s.backoff = secs(1);
        s.idle_timeout = secs(60);
    });
    let mut a = Job::new();
    assert_eq!(next(&mut a, &mut p, None, t0), S::Open);
    deliver_on_new(&mut p, 2, t0);
    let auth = Error::AuthFailed(reply(b"535 5.7.8 no\r\n"));
    assert!(matches!(
        next(&mut a, &mut p, open_failed(auth), t0),
        S::Failed(_)
    ));
    assert_eq!(p.poll_timeout(), Some(t0 + secs(1)));
    // Later, the idle connection is reused and returned: the next change is its expiry.
    let t5 = t0 + secs(5);
    deliver_on_idle(&mut p, 2, t5);
    assert_eq!(p.poll_timeout(), Some(t5 + secs(60)));
}
