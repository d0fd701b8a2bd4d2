#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/seeds/<target>/ (committed; re-run after adding transcripts).

Server lines come from tests/transcripts/*.smtp (`S:` lines, CRLF appended; `S|` raw with escapes),
plus hand-written replies, EHLO responses, bodies and command texts. Client seeds are scripts in the
layout documented in fuzz/src/client.rs: four settings bytes, then ops.

Usage: python3 fuzz/gen_seeds.py   (from anywhere; rewrites fuzz/seeds/)
"""

import hashlib
import pathlib
import re
import shutil

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
SEEDS = FUZZ / "seeds"


def unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "x" and i + 3 < len(s):
                out.append(int(s[i + 2 : i + 4], 16))
                i += 4
                continue
            out += {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\", '"': b'"'}.get(n, n.encode())
            i += 2
            continue
        out += c.encode()
        i += 1
    return bytes(out)


def transcripts():
    """Yields (name, steps); steps: ('S', bytes) | ('A', verb, rest) | ('eof',) | ('clock', secs)."""
    for path in sorted((ROOT / "tests" / "transcripts").glob("*.smtp")):
        steps = []
        for line in path.read_text().splitlines():
            if line.startswith("S: "):
                steps.append(("S", line[3:].encode() + b"\r\n"))
            elif line.rstrip() == "S:":
                steps.append(("S", b"\r\n"))
            elif line.startswith("S| "):
                steps.append(("S", unescape(line[3:])))
            elif line.startswith(">> "):
                verb, _, rest = line[3:].partition(" ")
                steps.append(("A", verb, rest))
            elif line.strip() == "!eof":
                steps.append(("eof",))
            elif line.startswith("@ +"):
                m = re.match(r"@ \+(\d+)(ms|s|m)", line)
                if m:
                    n, unit = int(m.group(1)), m.group(2)
                    steps.append(("clock", n * {"ms": 0.001, "s": 1, "m": 60}[unit]))
        yield path.stem, steps


def replies(stream):
    """Splits server bytes into replies (a line whose 4th byte is not '-' ends one)."""
    out, cur = [], b""
    for line in stream.splitlines(keepends=True):
        cur += line
        if line[3:4] != b"-":
            out.append(cur)
            cur = b""
    if cur:
        out.append(cur)
    return out


def write(target, data, name=None):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    name = name or hashlib.sha1(data).hexdigest()[:16]
    (d / name).write_bytes(data)


HAND_REPLIES = [
    b"220 mx.example.org ESMTP Postfix\r\n",
    b"250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n"
    b"250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n",
    b"250 2.1.0 Ok\r\n",
    b"354 End data with <CR><LF>.<CR><LF>\r\n",
    b"334 \r\n",
    b"334 VXNlcm5hbWU6\r\n",
    b"235 2.7.0 Authentication successful\r\n",
    b"550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 try again\r\n",
    b"421 4.3.2 Service shutting down\r\n",
    b"221 2.0.0 Bye\r\n",
    b"250\r\n",
    b"250 ok\n",
    b"250-a\n250-b\r\n250 c\n",
    b"250-\r\n250 x\r\n",
    b"250 a\rb\r\n",
    b"25\r\n",
    b"250-a\r\n251 b\r\n",
    b"2500 x\r\n",
    b"250 " + b"x" * 200 + b"\r\n",
]

EHLO_TEXTS = [
    [b"mx.example.org greets client.example", b"PIPELINING", b"SIZE 35882577", b"8BITMIME",
     b"AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH", b"ENHANCEDSTATUSCODES",
     b"CHUNKING", b"SMTPUTF8"],
    [b"smtp.example.com Hello [192.0.2.1]", b"SIZE 37748736", b"PIPELINING", b"DSN",
     b"ENHANCEDSTATUSCODES", b"STARTTLS", b"AUTH GSSAPI NTLM", b"AUTH=LOGIN", b"8BITMIME",
     b"BINARYMIME", b"CHUNKING", b"XRDST"],
    [b"foo.com greets bar.com", b"8BITMIME", b"SIZE", b"DSN", b"HELP"],
    [b"x", b"size 0", b"Size 100", b"auth plain", b"AUTH  cram-md5 ", b"auth=login  xoauth2",
     b"X-EXPS=LOGIN", b"-BAD", b"", b"STARTTLS extra params", b"\xc3\xa9T\xc3\xa9 x"],
]

BODIES = [
    b"",
    b"Blah blah blah...\r\n...etc. etc. etc.\r\n",
    b"Subject: hi\r\n\r\nHello.\r\n.\r\n..\r\n.x\r\n",
    b"no final line end",
    b".",
    b"\r\n.\r\n",
    b"a\n.\nb\r.\rc",
    b"bare\rCR and bare\nLF\r",
    b"\r",
    b"x\r\n" * 100 + b".\r\n" * 3,
    bytes(range(256)),
]

COMMAND_TEXTS = [
    [b"client.example", b"alice@example.org", b"<bob@example.net>", b"PLAIN", b"rfc822",
     b"bob@example.net", b"SIZE=1000", b"postmaster"],
    [b"[192.0.2.1]", b"<>", b"\"john doe\"@example.org", b"cram-md5", b"X-TAG", b"v\xce\xbbalue",
     b"[IPv6:2001:db8::1]", b"help me"],
    [b"evil\r\nRSET", b"a@b\r\nDATA", b"x\x00y", b"ok\ttab", b"line\nfeed", b"del\x7f", b"=", b"+"],
]

# ---------------------------------------------------------------- client scripts

RAW, SMTPISH, RESPOND, FEED, EOF, CLOCK, TIMEOUT, TRANSMIT, FLUSH, SENDMAIL, BODYWRITE, \
    BODYFINISH, AUTHPLAIN, LOGIN, STARTTLS, TLSDONE, NOOP, QUIT, RSET, HELLO, AUTO, \
    LOWMAIL, LOWRCPT, LOWDATA, QUERY, AUTHOTHER, BODYLEND = range(27)

ALL_CAPS = 0xFF
NO_CHUNKING = 0xFF & ~0x08


def auto(variant=0, mask=ALL_CAPS):
    return bytes([AUTO, variant, mask])


def raw(data):
    out = b""
    for i in range(0, len(data), 255):
        part = data[i : i + 255]
        out += bytes([RAW, len(part)]) + part
    return out


def body_write(data, repeat=0):
    out = b""
    for i in range(0, len(data), 255):
        part = data[i : i + 255]
        out += bytes([BODYWRITE, repeat, len(part)]) + part
    return out


def body_lend(data, repeat=0, checked=False):
    out = b""
    for i in range(0, len(data), 255):
        part = data[i : i + 255]
        out += bytes([BODYLEND, int(checked), repeat, len(part)]) + part
    return out


def client_scripts():
    s = []
    happy = lambda mask, body: (
        auto() + auto(0, mask) + bytes([SENDMAIL, 2, 0]) + auto() + auto() + auto() + auto()
        + body_write(body) + bytes([BODYFINISH]) + auto() + auto() + auto() + bytes([QUIT]) + auto()
    )
    # Plaintext, DATA (no CHUNKING), pipelined.
    s.append(bytes([0, 0, 0, 0]) + happy(NO_CHUNKING, BODIES[2]))
    # Plaintext, BDAT with tiny chunks.
    s.append(bytes([0, 2 << 3, 0, 0]) + happy(ALL_CAPS, BODIES[6]))
    # Lock-step (no PIPELINING offered).
    s.append(bytes([0, 0, 0, 0]) + happy(0x01 | 0x02 | 0x10 | 0x20, BODIES[1]))
    # Opportunistic STARTTLS, then AUTH PLAIN, then a mail.
    s.append(
        bytes([1, 0, 0, 0]) + auto() + auto() + auto() + bytes([TLSDONE]) + auto()
        + bytes([AUTHPLAIN]) + auto() + happy(NO_CHUNKING, BODIES[3])[6:]
    )
    # login() with CRAM-MD5 challenge, then LOGIN fallback after 535.
    s.append(
        bytes([0, 0, 0, 0]) + auto() + auto() + bytes([LOGIN]) + auto(0x40) + auto(3) + auto(0x20)
        + auto(2) + auto() + bytes([QUIT]) + auto()
    )
    # Manual set-up: greeting, explicit hello, STARTTLS, TLS, hello again, NOOP, RSET.
    s.append(
        bytes([1 | 4, 0, 0, 0]) + auto() + bytes([HELLO, 3]) + auto() + bytes([STARTTLS]) + auto()
        + bytes([TLSDONE, HELLO, 0]) + auto() + bytes([NOOP]) + auto() + bytes([RSET]) + auto()
        + bytes([QUIT]) + auto()
    )
    # Partial writes, a big body through a small outbox, clock jumps and a timeout.
    s.append(
        bytes([0, 2, 0, 0]) + auto() + auto(0, NO_CHUNKING) + bytes([SENDMAIL, 1, 0])
        + bytes([TRANSMIT, 5, 0, TRANSMIT, 0, 0, FLUSH]) + auto() + auto() + auto()
        + body_write(b".line\r\n" * 30, 255) + bytes([TRANSMIT, 0, 1]) + body_write(b"tail\n")
        + bytes([FLUSH, BODYFINISH, CLOCK, 200, TIMEOUT, 1])
    )
    # LMTP with two recipients.
    s.append(bytes([32, 0, 0, 0]) + happy(NO_CHUNKING, BODIES[1]))
    # Refusals: sender refused, then a DATA refusal, then EOF.
    s.append(
        bytes([0, 0, 0, 0]) + auto() + auto(0, NO_CHUNKING) + bytes([SENDMAIL, 1, 0]) + auto(3)
        + auto() + auto() + auto() + bytes([SENDMAIL, 3, 0]) + auto() + auto(3) + auto() + auto()
        + auto(3) + auto() + bytes([EOF])
    )
    # Low-level API: MAIL, RCPT, DATA with a body, then BDAT, VRFY/EXPN/HELP/raw.
    s.append(
        bytes([0, 0, 0, 0]) + auto() + auto() + bytes([LOWMAIL, 0]) + auto() + bytes([LOWRCPT, 1])
        + auto() + bytes([LOWDATA, 0]) + auto() + body_write(BODIES[2]) + bytes([BODYFINISH])
        + auto() + bytes([LOWMAIL, 2]) + auto() + bytes([LOWRCPT, 2]) + auto()
        + bytes([LOWDATA, 1]) + body_write(b"chunked\n") + bytes([BODYFINISH]) + auto() + auto()
        + bytes([QUERY, 0]) + auto() + bytes([QUERY, 1]) + auto() + bytes([QUERY, 3]) + auto()
        + bytes([QUERY, 4]) + auto() + bytes([QUIT]) + auto()
    )
    # Other SASL mechanisms: XOAUTH2 error challenge, LOGIN two rounds, EXTERNAL.
    s.append(
        bytes([0, 0, 0, 0]) + auto() + auto() + bytes([AUTHOTHER, 2]) + auto(2 | 0x60) + auto(3)
        + bytes([AUTHOTHER, 0]) + auto(0x20) + auto(2 | 0x20) + auto() + bytes([AUTHOTHER, 4])
        + auto() + bytes([QUIT]) + auto()
    )
    # Small reply limits and SMTP-token noise.
    s.append(bytes([0, 0, 4 | 1 << 3, 0]) + auto() + bytes([SMTPISH, 8]) + bytes(range(14, 22)) + bytes([FEED, 0]))
    # Transcripts: server lines as raw bytes, actions mapped to ops.
    for name, steps in transcripts():
        script = bytearray([0, 0, 0, 0])
        send_body = None
        for step in steps:
            if step[0] == "S":
                script += bytes([FLUSH]) + raw(step[1]) + bytes([FEED, 0])
                if step[1].startswith(b"354") and send_body is not None:
                    script += body_write(send_body) + bytes([BODYFINISH])
                    send_body = None
            elif step[0] == "eof":
                script += bytes([FLUSH, EOF])
            elif step[0] == "clock":
                script += bytes([CLOCK, min(255, 127 + max(1, int(step[1] // 10))), TIMEOUT, 0])
            else:
                verb, rest = step[1], step[2]
                if verb == "send":
                    to = re.search(r"to=(\S+)", rest)
                    n = len(to.group(1).split(",")) if to else 1
                    body = re.search(r'body="((?:[^"\\]|\\.)*)"', rest)
                    send_body = unescape(body.group(1)) if body else b""
                    script += bytes([SENDMAIL, n, 0])
                else:
                    op = {"quit": QUIT, "noop": NOOP, "rset": RSET, "starttls": STARTTLS,
                          "tls": TLSDONE, "login": LOGIN, "auth": AUTHPLAIN}.get(verb)
                    if op is not None:
                        script += bytes([op])
                    elif verb == "hello":
                        kinds = {"ehlo": 0, "helo": 1, "lhlo": 2, "ehlo-or-helo": 3}
                        script += bytes([HELLO, kinds.get(rest.strip(), 3)])
        s.append(bytes(script))
    # A body lent from memory (checked, and not), around a dot-led line and partial writes.
    s.append(
        bytes([0, 0, 0, 0]) + auto() + auto(0, NO_CHUNKING) + bytes([SENDMAIL, 1, 0]) + auto()
        + auto() + auto() + auto() + body_lend(b"line of text\r\n" * 18, 255)
        + bytes([TRANSMIT, 100, 0]) + body_write(b"in between\r\n") + bytes([FLUSH])
        + body_lend(b"checked line\r\n" * 17, 255, True) + bytes([TRANSMIT, 7, 0, FLUSH])
        + body_write(b".dot\r\n") + bytes([FLUSH]) + body_lend(b"x" * 200 + b"\r\n", 0, True)
        + bytes([FLUSH, BODYFINISH]) + auto() + auto() + bytes([QUIT]) + auto()
    )
    return s


def main():
    if SEEDS.exists():
        shutil.rmtree(SEEDS)
    server_streams = []
    for name, steps in transcripts():
        stream = b"".join(s[1] for s in steps if s[0] == "S")
        server_streams.append(stream)
        for r in replies(stream):
            write("reply", r)
            write("reply", b"\x40\x08" + r)
        write("reply_stream", b"\xff\x00\x02\x07" + stream, f"transcript-{name}")
        write("reply_stream", b"\x40\x08\x03\x01" + stream, f"transcript-{name}-small")
        texts = [r for r in replies(stream) if r.startswith(b"250-")]
        for i, r in enumerate(texts):
            lines = [l[4:].rstrip(b"\r\n") for l in r.splitlines()]
            write("ehlo", b"\x00" + b"\n".join(lines), f"transcript-{name}-{i}")
    for r in HAND_REPLIES:
        write("reply", r)
        write("reply", b"\x10\x83" + r)
    write("reply_stream", b"\xff\x00\x01\x00" + b"".join(HAND_REPLIES[:10]), "hand")
    write("reply_stream", b"\x20\x04\x04\x09" + b"".join(HAND_REPLIES), "hand-small")
    for i, lines in enumerate(EHLO_TEXTS):
        write("ehlo", bytes([0x00]) + b"\n".join(lines), f"hand-{i}")
        write("ehlo", bytes([0x55]) + b"\n".join(lines), f"hand-{i}-lf")
    for i, b in enumerate(BODIES):
        for mode in (0, 1, 2, 4, 5):
            write("body", bytes([mode, 2 + i % 4, i]) + b, f"body-{i}-mode{mode}")
    for i, texts in enumerate(COMMAND_TEXTS):
        write("command", bytes([i * 0x55]) + (1000 * (i + 1)).to_bytes(8, "little") + b"\xff".join(texts), f"texts-{i}")
    for i, script in enumerate(client_scripts()):
        write("client", script, f"script-{i:02}")


if __name__ == "__main__":
    main()
