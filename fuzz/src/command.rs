//! `command` target: arbitrary text through every validating constructor, then every command
//! built from what was accepted.
//!
//! Input: `[flags][size: 8 bytes LE][text 0] 0xFF [text 1] 0xFF ...` (up to 8 texts, decoded as
//! lossy UTF-8; 0xFF never occurs in UTF-8, so it separates them).
//!
//! Properties:
//! - a text with a control byte (0x00–0x1F, 0x7F: CR, LF, NUL, HT, …) is refused by every
//!   single-text constructor with `ControlByte` naming the first one (as `command`'s docs say),
//!   and `Param::new`/`Orcpt::new` refuse control bytes in any part;
//! - accepted values hold no control byte;
//! - every command built from accepted values encodes to one line: it ends with CRLF and holds no
//!   other CR, LF, NUL or control byte.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use smtp_proto::command::{
    Argument, BodyType, InvalidInput, MechanismName, Notify, Orcpt, Param, Ret, XText,
};
use smtp_proto::{Command, Domain, MailParams, Mailbox, RcptParams, ReversePath};

use crate::util::{show, Reader};

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// The first control byte of `s`, with its position.
fn first_control(s: &str) -> Option<(usize, u8)> {
    s.bytes().enumerate().find(|&(_, b)| is_control(b))
}

/// Checks the control-byte rule for one constructor result.
fn check_ctor<T>(what: &str, s: &str, result: &Result<T, InvalidInput>, text: impl Fn(&T) -> &str) {
    match (first_control(s), result) {
        (Some((at, byte)), r) => {
            let Err(InvalidInput::ControlByte { byte: b, at: a }) = r else {
                panic!("{what} of {s:?}: control byte {byte:#04x} at {at} not reported first");
            };
            assert_eq!((*b, *a), (byte, at), "{what} of {s:?}");
        }
        (None, Ok(v)) => assert_eq!(
            first_control(text(v)),
            None,
            "{what} of {s:?} kept a control"
        ),
        (None, Err(_)) => {}
    }
}

/// Runs every property on `data`.
pub fn check(data: &[u8]) {
    let mut r = Reader::new(data);
    let flags = r.u8();
    let size = r.u64();
    let rest = r.rest();
    let owned: Vec<String> = rest
        .split(|&b| b == 0xFF)
        .take(8)
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect();
    let texts: Vec<&str> = owned.iter().map(String::as_str).collect();

    let mut domains = vec![
        Domain::address_literal(IpAddr::V4(Ipv4Addr::from(size as u32))),
        Domain::address_literal(IpAddr::V6(Ipv6Addr::from(
            u128::from(size) << 64 | u128::from(flags),
        ))),
    ];
    let mut mailboxes = Vec::new();
    let mut paths = Vec::new();
    let mut args = Vec::new();
    let mut mechs = Vec::new();
    let mut xtexts = Vec::new();
    let mut params = Vec::new();
    let mut orcpts = Vec::new();

    for &s in &texts {
        let d = Domain::try_from(s);
        check_ctor("Domain", s, &d, Domain::as_str);
        let m = Mailbox::try_from(s);
        check_ctor("Mailbox", s, &m, Mailbox::as_str);
        let p = ReversePath::try_from(s);
        check_ctor("ReversePath", s, &p, |p| {
            p.mailbox().map_or("", Mailbox::as_str)
        });
        let a = Argument::try_from(s);
        check_ctor("Argument", s, &a, Argument::as_str);
        let n = MechanismName::try_from(s);
        check_ctor("MechanismName", s, &n, MechanismName::as_str);
        let x = XText::try_from(s);
        check_ctor("XText", s, &x, XText::as_str);
        let q = Param::try_from(s);
        check_ctor("Param", s, &q, Param::keyword);
        if let Ok(q) = &q {
            assert_eq!(first_control(q.value().unwrap_or_default()), None);
        }
        // The owned constructors must agree with the borrowed ones.
        assert_eq!(Domain::try_from(s.to_string()), d);
        assert_eq!(Mailbox::try_from(s.to_string()), m);
        assert_eq!(Argument::try_from(s.to_string()), a);
        assert_eq!(MechanismName::try_from(s.to_string()), n);
        domains.extend(d);
        mailboxes.extend(m);
        paths.extend(p);
        args.extend(a);
        mechs.extend(n);
        xtexts.extend(x);
        params.extend(q);
    }
    for pair in texts.windows(2) {
        let (k, v) = (pair[0], pair[1]);
        let q = Param::new(k, Some(v));
        let o = Orcpt::new(k, v);
        if first_control(k).is_some() || first_control(v).is_some() {
            assert!(
                matches!(q, Err(InvalidInput::ControlByte { .. })),
                "Param::new({k:?}, {v:?})"
            );
            assert!(o.is_err(), "Orcpt::new({k:?}, {v:?})");
        }
        params.extend(q);
        orcpts.extend(o);
    }

    let mut commands: Vec<Command<'_>> = vec![
        Command::StartTls,
        Command::AuthCancel,
        Command::Data,
        Command::Rset,
        Command::Quit,
        Command::Noop(None),
        Command::Help(None),
        Command::Bdat {
            size,
            last: flags & 1 != 0,
        },
    ];
    for d in &domains {
        commands.extend([Command::Ehlo(d), Command::Helo(d), Command::Lhlo(d)]);
    }
    for (i, m) in mechs.iter().enumerate() {
        let ir = texts.get(i).map(|t| t.as_bytes());
        commands.push(Command::Auth {
            mechanism: m,
            initial_response: None,
        });
        commands.push(Command::Auth {
            mechanism: m,
            initial_response: Some(b""),
        });
        commands.push(Command::Auth {
            mechanism: m,
            initial_response: ir,
        });
    }
    for t in &texts {
        commands.push(Command::AuthResponse(t.as_bytes()));
    }
    commands.push(Command::AuthResponse(rest));
    for a in &args {
        commands.extend([
            Command::Noop(Some(a)),
            Command::Vrfy(a),
            Command::Expn(a),
            Command::Help(Some(a)),
            Command::Raw(a),
        ]);
    }
    let mail_params = MailParams {
        size: (flags & 2 != 0).then_some(size),
        body: match flags >> 2 & 3 {
            0 => None,
            1 => Some(BodyType::SevenBit),
            2 => Some(BodyType::EightBitMime),
            _ => Some(BodyType::BinaryMime),
        },
        smtputf8: flags & 16 != 0,
        ret: match flags >> 5 & 3 {
            0 => None,
            1 => Some(Ret::Full),
            _ => Some(Ret::Hdrs),
        },
        envid: xtexts.first().cloned(),
        auth: paths.last().cloned(),
        requiretls: flags & 128 != 0,
        other: params.clone(),
    };
    let rcpt_params = RcptParams {
        notify: match flags >> 4 & 7 {
            0 => None,
            1 => Some(Notify::Never),
            n => Some(Notify::On {
                success: n & 1 != 0,
                failure: n & 2 != 0,
                delay: n & 4 != 0,
            }),
        },
        orcpt: orcpts.first().cloned(),
        other: params.clone(),
    };
    let plain = MailParams::default();
    for p in &paths {
        commands.push(Command::Mail {
            from: p,
            params: &mail_params,
        });
        commands.push(Command::Mail {
            from: p,
            params: &plain,
        });
    }
    for m in &mailboxes {
        commands.push(Command::Rcpt {
            to: m,
            params: &rcpt_params,
        });
    }

    let mut out = Vec::new();
    for command in &commands {
        out.clear();
        command.encode(&mut out);
        let Some(line) = out.strip_suffix(b"\r\n") else {
            panic!("{command:?} does not end with CRLF: {}", show(&out));
        };
        if let Some(at) = line.iter().position(|&b| is_control(b)) {
            panic!(
                "{command:?} encodes a control byte {:#04x} at {at}: {}",
                line[at],
                show(&out)
            );
        }
    }
}
