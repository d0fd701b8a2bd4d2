//! The pump's contract with a loop of its own: a step asked for again is the same step,
//! `WouldBlock` is "not ready" (never a timeout), `TimedOut` is the deadline, and a deadline
//! that passes while the loop waits ends the call with the stage it was in.
#![allow(clippy::disallowed_methods)] // one Instant as the origin of virtual time

use std::io::{self, ErrorKind};
use std::time::{Duration, Instant};

use smtp_proto::client::{Config, Setup, Stage, Timeouts};
use smtp_proto::session::op::{Command, Greeting, Request};
use smtp_proto::session::{Error, Pump, Step};
use smtp_proto::{Client, Domain};

fn client(t0: Instant) -> Client {
    let mut config = Config::new(Domain::try_from("c.example").expect("name"));
    config.setup = Setup::Manual;
    config.timeouts = Timeouts::uniform(Duration::from_secs(10));
    Client::new(config, t0)
}

fn would_block() -> io::Result<&'static [u8]> {
    Err(ErrorKind::WouldBlock.into())
}

#[test]
fn a_step_asked_for_again_is_the_same_and_would_block_is_not_a_timeout() {
    let t0 = Instant::now();
    let mut client = client(t0);
    let mut sink = None;
    let mut greeting = Pump::new(Greeting);
    let Step::Read { deadline } = greeting.next(&mut client, &mut sink, t0) else {
        panic!("the greeting is read first");
    };
    assert_eq!(deadline, t0 + Duration::from_secs(10));
    // Not ready, again and again: the same step, nothing lost.
    for _ in 0..3 {
        greeting.read(&mut client, would_block(), t0);
        assert!(matches!(
            greeting.next(&mut client, &mut sink, t0),
            Step::Read { .. }
        ));
    }
    greeting.read(&mut client, Ok(b"220 mx ESMTP\r\n"), t0);
    assert!(matches!(
        greeting.next(&mut client, &mut sink, t0),
        Step::Done {
            result: Ok(_),
            close: false
        }
    ));

    let mut noop = Pump::new(Command::new(Request::Noop));
    let first = noop.next(&mut client, &mut sink, t0);
    assert!(
        matches!(
            first,
            Step::Write {
                look_first: false,
                ..
            }
        ),
        "{first:?}"
    );
    // Asked again before the write was reported: the same write.
    assert!(matches!(
        noop.next(&mut client, &mut sink, t0),
        Step::Write { .. }
    ));
    noop.wrote(&mut client, Err(ErrorKind::WouldBlock.into()), t0);
    assert!(matches!(
        noop.next(&mut client, &mut sink, t0),
        Step::Write { .. }
    ));
    noop.wrote(&mut client, Ok(6), t0);
    let t1 = t0 + Duration::from_secs(1);
    let Step::Read { deadline } = noop.next(&mut client, &mut sink, t1) else {
        panic!("the reply is read next");
    };
    // The server says nothing: a loop that keeps finding the socket not ready still ends
    // at the deadline, with the stage it was in.
    noop.read(&mut client, would_block(), deadline);
    match noop.next(&mut client, &mut sink, deadline) {
        Step::Done {
            result: Err(Error::Smtp(smtp_proto::Error::Timeout { stage, .. })),
            close: true,
        } => assert_eq!(stage, Stage::Noop),
        other => panic!("{other:?}"),
    }
}

#[test]
fn timed_out_is_the_deadline_passing() {
    let t0 = Instant::now();
    let mut client = client(t0);
    let mut sink = None;
    let mut greeting = Pump::new(Greeting);
    let Step::Read { deadline } = greeting.next(&mut client, &mut sink, t0) else {
        panic!("the greeting is read first");
    };
    greeting.read(&mut client, Err(ErrorKind::TimedOut.into()), deadline);
    match greeting.next(&mut client, &mut sink, deadline) {
        Step::Done { result, close } => {
            assert!(result.is_err_and(|e| e.is_timeout()) && close);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_first_write_of_a_call_looks_first_and_finds_a_server_gone_while_idle() {
    let t0 = Instant::now();
    let mut client = client(t0);
    let mut sink = None;
    let mut greeting = Pump::new(Greeting);
    assert!(matches!(
        greeting.next(&mut client, &mut sink, t0),
        Step::Read { .. }
    ));
    greeting.read(&mut client, Ok(b"220 mx ESMTP\r\n"), t0);
    assert!(matches!(
        greeting.next(&mut client, &mut sink, t0),
        Step::Done { result: Ok(_), .. }
    ));
    // Idle for a minute: meanwhile the server said 421 and closed.
    let t1 = t0 + Duration::from_secs(60);
    let mut noop = Pump::new(Command::new(Request::Noop));
    let Step::Write { look_first, .. } = noop.next(&mut client, &mut sink, t1) else {
        panic!("NOOP is written first");
    };
    assert!(
        look_first,
        "the first write of a call after a quiet spell looks first"
    );
    noop.read(&mut client, Ok(b"421 4.4.2 idle too long\r\n"), t1);
    let step = noop.next(&mut client, &mut sink, t1);
    match step {
        Step::Write { .. } => panic!("written to a server that is gone"),
        Step::Done { close, .. } => assert!(close),
        // The 421 may be read as the end of the session first.
        other => {
            noop.read(&mut client, Ok(b""), t1);
            assert!(
                matches!(
                    noop.next(&mut client, &mut sink, t1),
                    Step::Done { close: true, .. }
                ),
                "{other:?}"
            );
        }
    }
    assert!(client.is_closed());
}
