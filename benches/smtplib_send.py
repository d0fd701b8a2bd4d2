#!/usr/bin/env python3
"""Python smtplib peer for benches/e2e.sh: the same message COUNT times on one connection.

Usage: smtplib_send.py HOST PORT COUNT FILE  ->  prints "msgs_per_sec=<rate>".
"""
import smtplib
import sys
import time


def main() -> None:
    host, port, count, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    with open(path, "rb") as f:
        body = f.read()
    smtp = smtplib.SMTP(host, port, timeout=120)
    smtp.ehlo()
    start = time.perf_counter()
    for _ in range(count):
        smtp.sendmail("bench@example.org", ["sink@example.net"], body)
    elapsed = time.perf_counter() - start
    smtp.quit()
    print(f"msgs_per_sec={count / elapsed:.1f}")


if __name__ == "__main__":
    main()
