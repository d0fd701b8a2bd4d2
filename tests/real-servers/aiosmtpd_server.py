#!/usr/bin/env python3
"""An aiosmtpd SMTP or LMTP server for tests/tests/real_servers.rs.

It listens on 127.0.0.1 on a port the kernel picks, prints ``LISTENING <port>`` on stdout once it
accepts connections, and writes every message it accepts as one JSON file into ``--out``
(``<n>.json``, written to a temporary name and renamed, so a file that exists is complete):

    mail_from, rcpt_tos, mail_options, rcpt_options, smtp_utf8, content_hex (the message as
    received: line ends as sent, dot-stuffing removed), tls (whether the session was TLS when
    the message arrived), auth_mechanism, auth_login (None without AUTH), helo,
    client_cert_cn (the common name of the TLS client certificate presented, else None)

It exits when its standard input reaches end of file (the test process went away) or on
SIGTERM/SIGKILL. Only aiosmtpd's documented hooks are used: handle_RCPT, handle_DATA and the
``authenticator`` callback.
"""

import argparse
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Recorder:
    """Accepts recipients (refusing some on request) and records each message."""

    def __init__(self, out_dir, refuse_rcpt, lmtp_fail_rcpt):
        self.out_dir = out_dir
        self.refuse_rcpt = refuse_rcpt
        self.lmtp_fail_rcpt = lmtp_fail_rcpt
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_rcpt and self.refuse_rcpt in address:
            return "550 5.1.1 <%s>: recipient refused by the test" % address
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        auth = session.auth_data if session.authenticated else None
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "mail_options": envelope.mail_options,
            "rcpt_options": envelope.rcpt_options,
            "smtp_utf8": bool(envelope.smtp_utf8),
            "content_hex": envelope.original_content.hex(),
            "tls": session.ssl is not None,
            "auth_mechanism": auth[0] if auth else None,
            "auth_login": auth[1] if auth else None,
            "helo": session.host_name,
            "client_cert_cn": client_cert_cn(session),
        }
        self.count += 1
        path = os.path.join(self.out_dir, "%d.json" % self.count)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        if isinstance(server, LMTP):
            # RFC 2033: one reply per accepted recipient, in RCPT order.
            replies = []
            for rcpt in envelope.rcpt_tos:
                if self.lmtp_fail_rcpt and self.lmtp_fail_rcpt in rcpt:
                    replies.append("452 4.2.2 <%s> mailbox full (test)" % rcpt)
                else:
                    replies.append("250 2.0.0 <%s> delivered" % rcpt)
            return "\r\n".join(replies)
        return "250 2.0.0 OK: queued as %d" % self.count


def client_cert_cn(session):
    """The common name of the client certificate the TLS session verified, else None."""
    ssl_object = session.ssl.get("ssl_object") if session.ssl else None
    cert = ssl_object.getpeercert() if ssl_object else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


def make_authenticator(user, password):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode("utf-8")
            and auth_data.password == password.encode("utf-8")
        )
        if not ok:
            # handled=False: aiosmtpd itself answers 535 (its default, handled=True, would
            # leave the client without a reply).
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        return AuthResult(success=True, auth_data=(mechanism, login))

    return authenticator


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="directory for the JSON records")
    p.add_argument("--lmtp", action="store_true", help="speak LMTP instead of SMTP")
    p.add_argument("--smtputf8", action="store_true", help="offer SMTPUTF8")
    p.add_argument("--tls-cert", help="PEM certificate chain: offer STARTTLS")
    p.add_argument("--tls-key", help="PEM private key for --tls-cert")
    p.add_argument("--require-starttls", action="store_true")
    p.add_argument("--require-client-cert", metavar="CA_PEM",
                   help="TLS: refuse a client without a certificate signed by this CA")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="accept AUTH with these credentials")
    p.add_argument("--auth-required", action="store_true", help="refuse MAIL before AUTH")
    p.add_argument("--auth-allow-plaintext", action="store_true",
                   help="offer AUTH before TLS (aiosmtpd's auth_require_tls=False)")
    p.add_argument("--refuse-rcpt", help="refuse RCPT TO addresses containing this")
    p.add_argument("--lmtp-fail-rcpt", help="LMTP: a 452 after the data for these recipients")
    args = p.parse_args()

    kwargs = {
        "enable_SMTPUTF8": args.smtputf8,
        "decode_data": False,
        "hostname": "aiosmtpd.test",
        "timeout": 60,
        "require_starttls": args.require_starttls,
        "auth_required": args.auth_required,
        "auth_require_tls": not args.auth_allow_plaintext,
    }
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        if args.require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(args.require_client_cert)
        kwargs["tls_context"] = context
    if args.auth:
        user, _, password = args.auth.partition(":")
        kwargs["authenticator"] = make_authenticator(user, password)
    handler = Recorder(args.out, args.refuse_rcpt, args.lmtp_fail_rcpt)
    server_class = LMTP if args.lmtp else SMTP

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: server_class(handler, **kwargs), host="127.0.0.1", port=0
    )
    port = server.sockets[0].getsockname()[1]
    print("LISTENING %d" % port, flush=True)

    # Serve until the parent closes our standard input.
    stdin_closed = loop.run_in_executor(None, sys.stdin.buffer.read)
    await stdin_closed
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
