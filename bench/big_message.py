#!/usr/bin/env python3
"""Send one message of SIZE MiB to HOST:PORT (loopback only) over SMTP,
streaming the body in 64 KiB writes, and print the final reply and timing.

    python3 bench/big_message.py HOST PORT [MIB]

Used by bench/memory.sh: the RSS growth of a proxy relaying it shows whether
the proxy streams DATA or buffers it. One session, bounded by a 300 s timeout.
"""

import time

import smtp_client
from smtp_client import args, connect


def reply(f):
    return smtp_client.reply(f, "big_message")


def main():
    host, port, mib = args("big_message", 100)
    s, f = connect(host, port)
    reply(f)
    for cmd in (b"HELO bench.example\r\n", b"MAIL FROM:<a@example.com>\r\n",
                b"RCPT TO:<b@example.com>\r\n", b"DATA\r\n"):
        s.sendall(cmd)
        r = reply(f)
        if not r[0][:1] in "23":
            raise SystemExit(f"big_message: {cmd!r} got {r}")
    line = b"x" * 998 + b"\r\n"          # 1000 octets a line, RFC 5321's limit
    chunk = line * 64                    # 64,000 octets a write
    total = mib << 20
    sent = 0
    t0 = time.monotonic()
    s.sendall(b"Subject: big\r\n\r\n")
    while sent < total:
        s.sendall(chunk)
        sent += len(chunk)
    s.sendall(b".\r\n")
    final = reply(f)
    secs = time.monotonic() - t0
    s.sendall(b"QUIT\r\n")
    reply(f)
    s.close()
    print(f"sent {sent} octets in {secs:.2f} s ({sent / secs / 1048576:.0f} MiB/s): {final[0]}")


if __name__ == "__main__":
    main()
