//! Property tests for the command encoder: whatever text is offered to the validating constructors, an
//! accepted value can never smuggle a second line, a NUL or any other control byte onto the wire.

use proptest::prelude::*;
use smtp_proto::command::{
    xtext_decode, xtext_encode, Argument, BodyType, Command, Domain, InvalidInput, MailParams,
    Mailbox, MechanismName, Notify, Orcpt, Param, RcptParams, Ret, ReversePath, XText,
};

/// Pieces that make near-valid values and injection attempts likely.
const FRAGMENTS: &[&str] = &[
    "a",
    "user",
    "x-y",
    "@",
    "example.org",
    ".",
    "<",
    ">",
    "\"",
    "\\",
    " ",
    "\r",
    "\n",
    "\r\n",
    "\0",
    "\t",
    "\x7f",
    "\x1b",
    "[",
    "]",
    "IPv6:",
    "192.0.2.1",
    "::1",
    ":",
    "=",
    "+",
    "-",
    "_",
    "ü",
    "用",
    "postmaster",
    "\r\nRCPT TO:<evil@x>\r\n",
    "\nDATA",
    "=v",
    "PLAIN",
];

/// Text shaped like a domain, mailbox, mechanism or parameter, sometimes with a fragment inserted.
fn near_valid() -> impl Strategy<Value = String> {
    let shaped = prop_oneof![
        "[a-zA-Z0-9._-]{1,30}",
        "\\[(IPv6:)?[0-9a-fA-F.:]{1,20}\\]",
        "<?[a-zA-Z0-9.+_ü-]{1,12}@[a-z0-9.ü-]{1,12}>?",
        "<?\"[a-zA-Z0-9 @<>\\\\\"ü]{0,10}\"@[a-z0-9.-]{1,12}>?",
        "[A-Za-z0-9-]{1,10}(=[!-<>-~ü]{1,10})?",
    ];
    (
        shaped,
        prop::option::of(prop::sample::select(FRAGMENTS)),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(mut s, fragment, index)| {
            if let Some(fragment) = fragment {
                let boundaries: Vec<usize> = s.char_indices().map(|(i, _)| i).collect();
                let at = boundaries
                    .get(index.index(boundaries.len().max(1)))
                    .copied()
                    .unwrap_or(0);
                s.insert_str(at, fragment);
            }
            s
        })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9.@<>\"\\\\ \\[\\]:=+_\r\n\t\x00-]{0,40}",
        prop::collection::vec(prop::sample::select(FRAGMENTS), 0..12).prop_map(|v| v.concat()),
        near_valid(),
        near_valid(),
    ]
}

/// A string without control bytes, and a control byte to insert into it.
fn clean_and_control() -> impl Strategy<Value = (String, u8, prop::sample::Index)> {
    (
        "[^\x00-\x1f\x7f]{0,60}",
        prop_oneof![0x00u8..0x20, Just(0x7fu8)],
        any::<prop::sample::Index>(),
    )
}

/// The line is exactly one line: no control byte but the final CRLF.
fn check_line(line: &[u8]) -> Result<(), TestCaseError> {
    prop_assert!(line.ends_with(b"\r\n"), "no CRLF at the end: {line:?}");
    prop_assert_eq!(
        line.iter().filter(|&&b| b == b'\r').count(),
        1,
        "CR count: {:?}",
        line
    );
    prop_assert_eq!(
        line.iter().filter(|&&b| b == b'\n').count(),
        1,
        "LF count: {:?}",
        line
    );
    prop_assert!(!line.contains(&0), "NUL: {line:?}");
    let body = line.get(..line.len() - 2).unwrap_or_default();
    prop_assert!(
        body.iter().all(|&b| b >= 0x20 && b != 0x7f),
        "control byte: {line:?}"
    );
    Ok(())
}

fn check(cmd: Command<'_>) -> Result<(), TestCaseError> {
    let mut out = Vec::new();
    cmd.encode(&mut out);
    check_line(&out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_constructor_yields_one_line(s in text()) {
        if let Ok(d) = Domain::try_from(s.as_str()) {
            check(Command::Ehlo(&d))?;
            check(Command::Helo(&d))?;
            check(Command::Lhlo(&d))?;
            prop_assert_eq!(Domain::try_from(d.as_str()), Ok(d.clone()));
        }
        if let Ok(m) = Mailbox::try_from(s.as_str()) {
            check(Command::Rcpt { to: &m, params: &RcptParams::default() })?;
            let params = MailParams { auth: Some(m.clone().into()), ..MailParams::default() };
            let from = ReversePath::from(m.clone());
            check(Command::Mail { from: &from, params: &params })?;
            prop_assert_eq!(Mailbox::try_from(m.as_str()), Ok(m.clone()));
            prop_assert_eq!(Mailbox::try_from(format!("<{m}>")), Ok(m.clone()));
            // The mailbox, not the input: `Name <addr>` keeps only the address.
            prop_assert_eq!(m.needs_smtputf8(), !m.as_str().is_ascii());
        }
        if let Ok(p) = ReversePath::try_from(s.as_str()) {
            check(Command::Mail { from: &p, params: &MailParams::default() })?;
        }
        if let Ok(m) = MechanismName::try_from(s.as_str()) {
            check(Command::Auth { mechanism: &m, initial_response: None })?;
            check(Command::Auth { mechanism: &m, initial_response: Some(s.as_bytes()) })?;
        }
        if let Ok(a) = Argument::try_from(s.as_str()) {
            for cmd in [
                Command::Noop(Some(&a)),
                Command::Vrfy(&a),
                Command::Expn(&a),
                Command::Help(Some(&a)),
                Command::Raw(&a),
            ] {
                check(cmd)?;
            }
        }
        if let Ok(p) = Param::try_from(s.as_str()) {
            prop_assert_eq!(Param::try_from(p.to_string().as_str()), Ok(p.clone()));
            let mail = MailParams { other: vec![p.clone()], ..MailParams::default() };
            let rcpt = RcptParams { other: vec![p], ..RcptParams::default() };
            let to = Mailbox::try_from("a@b").unwrap();
            check(Command::Mail { from: &ReversePath::Null, params: &mail })?;
            check(Command::Rcpt { to: &to, params: &rcpt })?;
        }
        if let Ok(x) = XText::try_from(s.as_str()) {
            let mail = MailParams { envid: Some(x), ..MailParams::default() };
            check(Command::Mail { from: &ReversePath::Null, params: &mail })?;
        }
        if let Ok(o) = Orcpt::rfc822(s.as_str()) {
            let rcpt = RcptParams { orcpt: Some(o), ..RcptParams::default() };
            let to = Mailbox::try_from("a@b").unwrap();
            check(Command::Rcpt { to: &to, params: &rcpt })?;
        }
    }

    #[test]
    fn full_mail_and_rcpt_lines(
        from in text(),
        auth in text(),
        envid in text(),
        params in prop::collection::vec(text(), 0..4),
        to in text(),
        orcpt in text(),
        size in any::<Option<u64>>(),
        flags in any::<(bool, bool, bool, bool)>(),
    ) {
        let from = ReversePath::try_from(from.as_str()).unwrap_or(ReversePath::Null);
        let other: Vec<Param> = params.iter().filter_map(|p| Param::try_from(p.as_str()).ok()).collect();
        let mail = MailParams {
            size,
            body: flags.0.then_some(BodyType::EightBitMime),
            smtputf8: flags.1,
            ret: flags.2.then_some(Ret::Hdrs),
            envid: XText::try_from(envid.as_str()).ok(),
            auth: ReversePath::try_from(auth.as_str()).ok(),
            requiretls: flags.3,
            other: other.clone(),
        };
        check(Command::Mail { from: &from, params: &mail })?;
        let to = Mailbox::try_from(to.as_str()).unwrap_or_else(|_| Mailbox::try_from("postmaster").unwrap());
        let rcpt = RcptParams {
            notify: Some(Notify::On { success: flags.0, failure: flags.1, delay: flags.2 }),
            orcpt: Orcpt::rfc822(orcpt.as_str()).ok(),
            other,
        };
        check(Command::Rcpt { to: &to, params: &rcpt })?;
    }

    #[test]
    fn auth_payloads_are_one_line(raw in prop::collection::vec(any::<u8>(), 0..300)) {
        let mech = MechanismName::try_from("PLAIN").unwrap();
        check(Command::AuthResponse(&raw))?;
        check(Command::Auth { mechanism: &mech, initial_response: Some(&raw) })?;
    }

    #[test]
    fn a_control_byte_is_always_named((clean, byte, index) in clean_and_control()) {
        let boundaries: Vec<usize> =
            clean.char_indices().map(|(i, _)| i).chain([clean.len()]).collect();
        let at = *index.get(&boundaries);
        let mut s = clean.clone();
        s.insert(at, char::from(byte));
        let want = Err(InvalidInput::ControlByte { byte, at });
        prop_assert_eq!(Domain::try_from(s.as_str()).map(drop), want.clone());
        prop_assert_eq!(Domain::try_from(s.clone()).map(drop), want.clone());
        prop_assert_eq!(Mailbox::try_from(s.as_str()).map(drop), want.clone());
        prop_assert_eq!(Mailbox::try_from(s.clone()).map(drop), want.clone());
        prop_assert_eq!(ReversePath::try_from(s.as_str()).map(drop), want.clone());
        prop_assert_eq!(MechanismName::try_from(s.as_str()).map(drop), want.clone());
        prop_assert_eq!(Argument::try_from(s.as_str()).map(drop), want.clone());
        prop_assert_eq!(Argument::try_from(s.clone()).map(drop), want.clone());
        prop_assert_eq!(Param::try_from(s.as_str()).map(drop), want.clone());
        prop_assert_eq!(XText::try_from(s.as_str()).map(drop), want.clone());
        prop_assert_eq!(Orcpt::rfc822(s.as_str()).map(drop), want.clone());
        match s.split_once('=') {
            Some((k, v)) => prop_assert_eq!(Param::new(k, Some(v)).map(drop), want),
            None => prop_assert_eq!(Param::new(&s, None).map(drop), want),
        }
    }

    #[test]
    fn xtext_round_trips(raw in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut wire = Vec::new();
        xtext_encode(&raw, &mut wire);
        prop_assert!(wire.iter().all(|b| (0x21..=0x7e).contains(b) && *b != b'='));
        prop_assert_eq!(xtext_decode(&wire), Some(raw));
    }

    #[test]
    fn xtext_decode_never_panics(s in prop::collection::vec(any::<u8>(), 0..100)) {
        if let Some(raw) = xtext_decode(&s) {
            // What decodes re-encodes to a text that decodes to the same bytes.
            let mut wire = Vec::new();
            xtext_encode(&raw, &mut wire);
            prop_assert_eq!(xtext_decode(&wire), Some(raw));
        }
    }
}
