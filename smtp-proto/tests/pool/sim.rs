//! The simulator: fake connections and server, many jobs round-robin on one `Policy`.

use super::*;

// ---------------------------------------------------------------------------------------------
// The simulator.

/// What the fake server does to one attempt to send a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Nothing: stored and acknowledged.
    None,
    /// The connection resets before MAIL.
    ResetBeforeMail,
    /// The connection resets during the body: the end of data never went out.
    ResetInData,
    /// The end of data went out; the connection reset before the server stored the message.
    ResetAfterEndOfData,
    /// The server stored the message; the connection reset before its `250` came back.
    ResetAfterStore,
    /// MAIL answered `451`.
    Mail451,
    /// MAIL answered `550`.
    Mail550,
    /// `421` at MAIL, and the server closes the connection.
    Shutdown421,
}

/// What the server saw of one message.
#[derive(Clone, Debug, Default)]
struct MessageLog {
    /// Send steps for it.
    sends: u32,
    /// Times stored.
    stored: u32,
    /// Times acknowledged (`250` received by the client).
    acked: u32,
    /// Resets after its end of data was written.
    lost_after_eod: u32,
}

/// The fake server: connections, faults on command, and what it stored.
struct Server {
    next_id: u32,
    /// Connections the server holds open, and when each was last used.
    open: HashMap<u32, Instant>,
    /// Connections idle longer than this are closed by the server (found dead at their next
    /// use).
    idle_close: Option<Duration>,
    /// Whether to refuse an open (by the count of opens asked for, from 0).
    refuse_open: Box<dyn FnMut(u32) -> bool>,
    /// The fault for a message's attempt (message, attempt from 0, connection reused).
    script: Box<dyn FnMut(usize, u32, bool) -> Fault>,
    log: Vec<MessageLog>,
    opens_asked: u32,
    /// Connections found dead at a send or a check because the server closed them idle.
    idle_closed: u32,
    ok: MailReport,
    mail451: MailReport,
    mail550: MailReport,
}

impl Server {
    fn new(messages: usize) -> Self {
        Self {
            next_id: 1,
            open: HashMap::new(),
            idle_close: None,
            refuse_open: Box::new(|_| false),
            script: Box::new(|_, _, _| Fault::None),
            log: vec![MessageLog::default(); messages],
            opens_asked: 0,
            idle_closed: 0,
            ok: ok(),
            mail451: mail_refused(451),
            mail550: mail_refused(550),
        }
    }

    fn open(&mut self, now: Instant) -> Result<Conn, Error> {
        let n = self.opens_asked;
        self.opens_asked += 1;
        if (self.refuse_open)(n) {
            return Err(refused());
        }
        let id = self.next_id;
        self.next_id += 1;
        self.open.insert(id, now);
        Ok(Conn(id))
    }

    /// Whether the connection is still open on the server's side; marks it used.
    fn alive(&mut self, id: u32, now: Instant) -> bool {
        let Some(&last) = self.open.get(&id) else {
            return false;
        };
        if self
            .idle_close
            .is_some_and(|d| now.saturating_duration_since(last) > d)
        {
            self.open.remove(&id);
            self.idle_closed += 1;
            return false;
        }
        self.open.insert(id, now);
        true
    }

    fn send(&mut self, conn: Conn, msg: usize, reused: bool, now: Instant) -> JobInput<Conn> {
        let log = &mut self.log[msg];
        let attempt = log.sends;
        log.sends += 1;
        let gone = |error: Error, eod: bool| JobInput::Sent {
            conn: None,
            result: Err(error),
            end_of_data_unanswered: eod,
        };
        if !self.alive(conn.0, now) {
            return gone(reset(), false);
        }
        let fault = (self.script)(msg, attempt, reused);
        let log = &mut self.log[msg];
        let answered = |conn: Conn, report: &MailReport| JobInput::Sent {
            conn: Some(conn),
            result: Ok(report.clone()),
            end_of_data_unanswered: false,
        };
        match fault {
            Fault::None => {
                log.stored += 1;
                log.acked += 1;
                answered(conn, &self.ok)
            }
            Fault::Mail451 => answered(conn, &self.mail451),
            Fault::Mail550 => answered(conn, &self.mail550),
            Fault::ResetBeforeMail | Fault::ResetInData => {
                self.open.remove(&conn.0);
                gone(reset(), false)
            }
            Fault::Shutdown421 => {
                self.open.remove(&conn.0);
                gone(rejected_421(), false)
            }
            Fault::ResetAfterEndOfData | Fault::ResetAfterStore => {
                if fault == Fault::ResetAfterStore {
                    log.stored += 1;
                }
                log.lost_after_eod += 1;
                self.open.remove(&conn.0);
                gone(reset(), true)
            }
        }
    }

    fn close(&mut self, id: u32) {
        self.open.remove(&id);
    }
}

/// One message in flight.
struct Slot {
    msg: usize,
    job: Job,
    input: Option<JobInput<Conn>>,
    /// Waiting until this instant (a `Wait(None)` is retried every round).
    until: Option<Instant>,
    /// The connection lent to this job, and whether it came from the idle list.
    holding: Option<(u32, bool)>,
}

impl Slot {
    fn new(msg: usize) -> Self {
        Self {
            msg,
            job: Job::new(),
            input: None,
            until: None,
            holding: None,
        }
    }
}

/// The driver: jobs round-robin on one policy, against the fake server, on virtual time.
struct Sim {
    policy: Policy<Conn>,
    server: Server,
    now: Instant,
    /// Virtual time per round in which something happened.
    tick: Duration,
    /// Connections the client holds: opened, not yet closed or found lost.
    client_open: HashSet<u32>,
    /// Connections lent to a job now.
    in_use: HashSet<u32>,
    max_open: usize,
    opens: u32,
    closes: u32,
    /// Connections the client found lost (a send or a check).
    losses: u32,
    /// Reused connections lost before the end of data.
    stale_losses: u32,
    checks: u32,
    dead_checks: u32,
    waits_none: u32,
    jumps: u32,
}

impl Sim {
    fn new(settings: PoolSettings, server: Server, now: Instant) -> Self {
        Self {
            policy: Policy::new(settings),
            server,
            now,
            tick: ms(10),
            client_open: HashSet::new(),
            in_use: HashSet::new(),
            max_open: 0,
            opens: 0,
            closes: 0,
            losses: 0,
            stale_losses: 0,
            checks: 0,
            dead_checks: 0,
            waits_none: 0,
            jumps: 0,
        }
    }

    /// A connection handed to a job by a step: lent to no other job, and open.
    fn lend(&mut self, holding: &mut Option<(u32, bool)>, id: u32) -> bool {
        if let Some((held, reused)) = *holding {
            assert_eq!(held, id, "a job was handed another connection than its own");
            return reused;
        }
        assert!(self.client_open.contains(&id), "{id} is not open");
        assert!(self.in_use.insert(id), "{id} lent to two jobs");
        *holding = Some((id, true));
        true
    }

    /// The job handed its connection back (to the policy or to a Close step).
    fn give_back(&mut self, holding: &mut Option<(u32, bool)>, still_open: bool) {
        let (id, _) = holding.take().expect("a connection held");
        self.in_use.remove(&id);
        if !still_open {
            assert!(self.client_open.remove(&id));
            self.losses += 1;
        }
    }

    fn perform(&mut self, slot: &mut Slot, step: JobStep<Conn>) -> Option<JobInput<Conn>> {
        let now = self.now;
        match step {
            JobStep::Open => {
                assert!(slot.holding.is_none());
                let result = self.server.open(now);
                if let Ok(conn) = &result {
                    self.opens += 1;
                    assert!(self.client_open.insert(conn.0));
                    self.in_use.insert(conn.0);
                    slot.holding = Some((conn.0, false));
                    self.max_open = self.max_open.max(self.client_open.len());
                    let max = self.policy.settings().max_connections;
                    assert!(
                        self.client_open.len() <= max,
                        "{} connections open, at most {max}",
                        self.client_open.len()
                    );
                }
                Some(JobInput::Opened(result))
            }
            JobStep::Check(conn) => {
                self.lend(&mut slot.holding, conn.0);
                self.checks += 1;
                if self.server.alive(conn.0, now) {
                    Some(JobInput::Checked(Some(conn)))
                } else {
                    self.dead_checks += 1;
                    self.give_back(&mut slot.holding, false);
                    Some(JobInput::Checked(None))
                }
            }
            JobStep::Send(conn) => {
                let reused = self.lend(&mut slot.holding, conn.0);
                let input = self.server.send(conn, slot.msg, reused, now);
                let JobInput::Sent {
                    conn,
                    end_of_data_unanswered,
                    ..
                } = &input
                else {
                    unreachable!()
                };
                let still_open = conn.is_some();
                if reused && !still_open && !end_of_data_unanswered {
                    self.stale_losses += 1;
                }
                self.give_back(&mut slot.holding, still_open);
                Some(input)
            }
            JobStep::Close(conn) => {
                assert!(!self.in_use.contains(&conn.0), "closing a lent connection");
                assert!(self.client_open.remove(&conn.0), "closing {} twice", conn.0);
                self.server.close(conn.0);
                self.closes += 1;
                None
            }
            JobStep::Wait(_) | JobStep::Done(_) => unreachable!(),
        }
    }

    /// Runs the messages `messages` (indices into the server's log), at most `concurrency`
    /// in flight; each one's outcome, in order.
    fn run(&mut self, messages: Range<usize>, concurrency: usize) -> Vec<Outcome> {
        let first = messages.start;
        let mut outcomes: Vec<Option<Outcome>> = messages.clone().map(|_| None).collect();
        let mut queue = messages;
        let mut slots: Vec<Slot> = queue.by_ref().take(concurrency).map(Slot::new).collect();
        let mut rounds = 0u64;
        while !slots.is_empty() {
            rounds += 1;
            assert!(rounds < 10_000_000, "no end in sight");
            let mut progressed = false;
            let mut earliest: Option<Instant> = None;
            let mut i = 0;
            while i < slots.len() {
                let slot = &mut slots[i];
                if let Some(until) = slot.until.filter(|&t| t > self.now) {
                    earliest = Some(earliest.map_or(until, |e| e.min(until)));
                    i += 1;
                    continue;
                }
                slot.until = None;
                let step = slot.job.next(&mut self.policy, slot.input.take(), self.now);
                match step {
                    JobStep::Wait(until) => {
                        assert!(slot.holding.is_none(), "waiting with a connection");
                        if let Some(until) = until {
                            assert!(until > self.now, "a wait that is already over");
                            slot.until = Some(until);
                            earliest = Some(earliest.map_or(until, |e| e.min(until)));
                        } else {
                            self.waits_none += 1;
                        }
                    }
                    JobStep::Done(outcome) => {
                        assert!(slot.holding.is_none(), "done with a connection");
                        assert!(slot.input.is_none());
                        let previous = outcomes[slot.msg - first].replace(outcome);
                        assert!(previous.is_none(), "message {} ended twice", slot.msg);
                        progressed = true;
                        if let Some(msg) = queue.next() {
                            *slot = Slot::new(msg);
                        } else {
                            slots.remove(i);
                            continue;
                        }
                    }
                    step => {
                        progressed = true;
                        let input = self.perform(slot, step);
                        slot.input = input;
                    }
                }
                i += 1;
            }
            if progressed {
                self.now += self.tick;
            } else {
                let until = earliest.expect("deadlock: every job waits for a connection");
                self.now = until;
                self.jumps += 1;
            }
        }
        assert_eq!(self.in_use.len(), 0);
        // The pool's count and the client's agree: every connection left is idle.
        assert_eq!(self.policy.connections(), self.client_open.len());
        assert_eq!(self.policy.idle(), self.client_open.len());
        outcomes
            .into_iter()
            .enumerate()
            .map(|(i, o)| o.unwrap_or_else(|| panic!("message {} never ended", first + i)))
            .collect()
    }

    /// Closes the pool: every connection left is closed.
    fn shut_down(&mut self) {
        for conn in self.policy.close() {
            assert!(self.client_open.remove(&conn.0));
            self.server.close(conn.0);
            self.closes += 1;
        }
        assert!(self.client_open.is_empty());
        assert_eq!(self.policy.connections(), 0);
    }
}

#[test]
fn never_more_than_max_connections_open_at_once() {
    let t0 = Instant::now();
    let settings = {
        let mut s = PoolSettings::default();
        s.max_connections = 4;
        s
    };
    let mut sim = Sim::new(settings, Server::new(200), t0);
    let outcomes = sim.run(0..200, 20);
    assert!(outcomes.iter().all(Outcome::is_delivered));
    assert_eq!(sim.max_open, 4, "the four are used");
    assert_eq!(sim.opens, 4, "and reused: no more are opened");
    assert!(sim.waits_none > 0, "jobs waited for a connection");
    assert!(sim.server.log.iter().all(|m| m.stored == 1 && m.sends == 1));
    sim.shut_down();
    assert_eq!((sim.closes, sim.losses), (4, 0));
}

#[test]
fn never_more_than_max_connections_open_while_connections_fail() {
    let t0 = Instant::now();
    let settings = {
        let mut s = PoolSettings::default();
        s.max_connections = 4;
        s.max_messages = Some(7);
        s.retries = 10;
        s
    };
    let mut server = Server::new(300);
    server.refuse_open = Box::new(|n| n % 5 == 1);
    server.script = Box::new(|msg, attempt, _| match (msg % 9, attempt) {
        (1, 0) => Fault::ResetInData,
        (2, 0) => Fault::Mail451,
        (3, 0) => Fault::Shutdown421,
        _ => Fault::None,
    });
    let mut sim = Sim::new(settings, server, t0);
    let outcomes = sim.run(0..300, 20);
    assert!(outcomes.iter().all(Outcome::is_delivered));
    assert_eq!(sim.max_open, 4);
    assert!(sim.opens > 4 + 300 / 7, "renewed: {}", sim.opens);
    assert!(sim.losses > 0 && sim.stale_losses > 0);
    sim.shut_down();
    // Every connection opened ended once: closed by a step, or lost.
    assert_eq!(sim.opens, sim.closes + sim.losses);
}

#[test]
fn the_quota_renews_connections_in_a_sequential_run() {
    let t0 = Instant::now();
    let settings = {
        let mut s = PoolSettings::default();
        s.max_messages = Some(3);
        s
    };
    let mut sim = Sim::new(settings, Server::new(10), t0);
    let outcomes = sim.run(0..10, 1);
    assert!(outcomes.iter().all(Outcome::is_delivered));
    assert_eq!((sim.opens, sim.closes, sim.max_open), (4, 3, 1));
}

/// A small xorshift generator: the chaos is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// True with probability `n` in 10,000.
    fn chance(&mut self, n: u64) -> bool {
        self.next() % 10_000 < n
    }
}

#[test]
fn chaos_every_message_ends_once_as_the_server_saw_it() {
    const MESSAGES: usize = 2000;
    let t0 = Instant::now();
    let settings = {
        let mut s = PoolSettings::default();
        s.max_connections = 4;
        s.max_messages = Some(50);
        s.check_after = secs(1);
        s.idle_timeout = secs(5);
        s.retries = 3;
        s.backoff = ms(200);
        s.max_backoff = secs(2);
        s
    };
    let retries = settings.retries;
    let max_connections = settings.max_connections as u32;
    let mut server = Server::new(MESSAGES);
    server.idle_close = Some(secs(3));
    let mut opens = Rng(0x9e37_79b9_7f4a_7c15);
    server.refuse_open = Box::new(move |_| opens.chance(300));
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    server.script = Box::new(move |msg, _, _| {
        // 2% resets at random points, half of them after the end of data; some 4xx and 5xx.
        let fault = match rng.next() % 10_000 {
            0..50 => Fault::ResetBeforeMail,
            50..100 => Fault::ResetInData,
            100..150 => Fault::ResetAfterEndOfData,
            150..200 => Fault::ResetAfterStore,
            200..260 => Fault::Mail451,
            260..290 => Fault::Mail550,
            290..320 => Fault::Shutdown421,
            _ => Fault::None,
        };
        // And a few messages that never pass: one the server keeps deferring (a full
        // mailbox), one whose body kills every connection it is sent on.
        match msg % 250 {
            17 => Fault::Mail451,
            101 => Fault::ResetInData,
            _ => fault,
        }
    });
    let mut sim = Sim::new(settings, server, t0);
    // Bursts with pauses between them, so that connections idle, get checked, expire and
    // are closed by the server.
    let mut outcomes = Vec::new();
    let mut pause = Rng(7);
    for start in (0..MESSAGES).step_by(100) {
        outcomes.extend(sim.run(start..(start + 100).min(MESSAGES), 12));
        sim.now += ms(pause.next() % 6000);
    }
    assert_eq!(outcomes.len(), MESSAGES);
    let log = std::mem::take(&mut sim.server.log);

    let mut counts: HashMap<&str, u32> = HashMap::new();
    for (i, (outcome, m)) in outcomes.iter().zip(&log).enumerate() {
        let kind = match outcome {
            Outcome::Delivered(report) => {
                assert!(report.is_accepted());
                assert_eq!((m.stored, m.acked), (1, 1), "delivered {i}: {m:?}");
                assert_eq!(m.lost_after_eod, 0, "delivered {i}: {m:?}");
                "delivered"
            }
            Outcome::Refused(report) => {
                assert!(!report.is_accepted());
                assert_eq!(
                    (m.stored, m.acked, m.lost_after_eod),
                    (0, 0, 0),
                    "refused {i}"
                );
                if refusal_code(report) < 500 {
                    "refused 4xx"
                } else {
                    "refused 5xx"
                }
            }
            Outcome::Failed(_) => {
                assert_eq!(
                    (m.stored, m.acked, m.lost_after_eod),
                    (0, 0, 0),
                    "failed {i}"
                );
                "failed"
            }
            Outcome::Unknown(_) => {
                assert_eq!(m.lost_after_eod, 1, "unknown {i}: {m:?}");
                assert!(m.stored <= 1, "unknown {i}: {m:?}");
                assert_eq!(m.acked, 0, "unknown {i}: {m:?}");
                "unknown"
            }
        };
        *counts.entry(kind).or_default() += 1;
        // Never stored while the client saw no reply, unless reported unknown.
        if m.stored > m.acked {
            assert!(matches!(outcome, Outcome::Unknown(_)), "{i}: {m:?}");
        }
        assert!(m.stored <= 1, "{i} stored twice: {m:?}");
        let bound = retries + 1 + max_connections;
        assert!(m.sends <= bound, "{i} sent {} times: {m:?}", m.sends);
        // The messages that never pass use up their retries, then end as they must.
        match i % 250 {
            17 => assert!(matches!(outcome, Outcome::Refused(r) if refusal_code(r) == 451)),
            101 => assert!(matches!(outcome, Outcome::Failed(_))),
            _ => continue,
        }
        assert!(m.sends > retries, "{i}: {m:?}");
    }
    let lost_after_eod: u32 = log.iter().map(|m| m.lost_after_eod).sum();
    assert_eq!(counts.get("unknown").copied().unwrap_or(0), lost_after_eod);
    sim.shut_down();
    assert_eq!(sim.opens, sim.closes + sim.losses);
    // The chaos did reach every path.
    let stats = format!(
        "{counts:?} opens {} refused opens {} checks {} dead checks {} idle closes {} \
         stale losses {} jumps {}",
        sim.opens,
        sim.server.opens_asked - sim.opens,
        sim.checks,
        sim.dead_checks,
        sim.server.idle_closed,
        sim.stale_losses,
        sim.jumps
    );
    for kind in [
        "delivered",
        "refused 4xx",
        "refused 5xx",
        "failed",
        "unknown",
    ] {
        assert!(
            counts.get(kind).is_some_and(|&n| n > 0),
            "no {kind}: {stats}"
        );
    }
    assert!(sim.checks > 0 && sim.dead_checks > 0, "{stats}");
    assert!(sim.stale_losses > 0, "{stats}");
    assert!(sim.server.opens_asked > sim.opens, "refused opens: {stats}");
    assert_eq!(sim.max_open, 4, "{stats}");
}
