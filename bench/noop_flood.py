#!/usr/bin/env python3
"""One SMTP session to HOST:PORT (loopback only): EHLO, N pipelined NOOPs,
QUIT, written in 64 KiB pieces while a thread reads every reply; prints the
count of replies and the time. Bounded: a 300 s socket timeout.

    python3 bench/noop_flood.py HOST PORT [N]

Used by bench/memory.sh: the server's RSS after it shows whether what it
keeps of a session grows with what the client sends.
"""

import sys
import threading
import time

from smtp_client import args, connect


def main():
    host, port, n = args("noop_flood", 1_000_000)
    s, f = connect(host, port)
    if not f.readline().startswith(b"220"):
        sys.exit("noop_flood: no greeting")
    replies = {"count": 0, "last": b""}

    def read():
        # One reply per command; EHLO's is multi-line (only its last line counts).
        expected = n + 2
        while replies["count"] < expected:
            line = f.readline()
            if not line:
                return
            if line[3:4] != b"-":
                replies["count"] += 1
                replies["last"] = line

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    t0 = time.monotonic()
    s.sendall(b"EHLO flood.example\r\n")
    piece = b"NOOP\r\n" * 10_000
    sent = 0
    while sent < n:
        k = min(10_000, n - sent)
        s.sendall(piece if k == 10_000 else b"NOOP\r\n" * k)
        sent += k
    s.sendall(b"QUIT\r\n")
    reader.join(300)
    secs = time.monotonic() - t0
    s.close()
    print(f"{n} NOOPs ({n * 6 + 26} octets) in {secs:.2f} s: "
          f"{replies['count']} replies, last {replies['last'].decode(errors='replace').strip()}")
    if replies["count"] != n + 2:
        sys.exit(1)


if __name__ == "__main__":
    main()
