#!/usr/bin/env python3
"""How long SMTP sessions stall while the control API serves a big answer.

One SMTP session to SMTP_HOST:PORT sends a NOOP every INTERVAL ms and times
each round trip, while the main thread fetches PATH (e.g. /sessions/1) from
the control API at CONTROL (HOST:PORT) a few times. Prints the longest round
trip before the fetches (baseline), during them, the fetch times and the
body size. Loopback only; bounded by timeouts.

    python3 bench/control_stall.py SMTP_HOST SMTP_PORT CONTROL PATH [FETCHES] [INTERVAL_MS]
"""

import socket
import sys
import threading
import time

from smtp_client import connect, loopback


def fetch(host, port, path):
    s = socket.create_connection((host, port), timeout=120)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
    size = 0
    head = b""
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        size += len(chunk)
        if len(head) < 64:
            head += chunk[:64]
    s.close()
    return head.split(b"\r\n", 1)[0].decode(errors="replace"), size


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    chost, cport = sys.argv[3].rsplit(":", 1)
    path = sys.argv[4]
    fetches = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    interval = (float(sys.argv[6]) if len(sys.argv) > 6 else 5) / 1000
    loopback("control_stall", host)
    loopback("control_stall", chost)
    s, f = connect(host, port, timeout=60)
    f.readline()
    s.sendall(b"HELO stall.example\r\n")
    f.readline()
    rtts = []  # (start, seconds)
    stop = threading.Event()

    def ping():
        while not stop.is_set():
            t = time.monotonic()
            s.sendall(b"NOOP\r\n")
            if not f.readline():
                return
            rtts.append((t, time.monotonic() - t))
            time.sleep(interval)

    pinger = threading.Thread(target=ping, daemon=True)
    pinger.start()
    time.sleep(0.5)
    windows = []
    results = []
    for _ in range(fetches):
        t0 = time.monotonic()
        status, size = fetch(chost, int(cport), path)
        t1 = time.monotonic()
        windows.append((t0, t1))
        results.append((status, size, t1 - t0))
        time.sleep(0.2)
    stop.set()
    pinger.join(10)
    s.sendall(b"QUIT\r\n")
    s.close()

    def during(start, secs):
        # A round trip overlapping a fetch counts as during it.
        return any(start <= b and start + secs >= a for a, b in windows)

    before = [d for t, d in rtts if t < windows[0][0]]
    inside = [d for t, d in rtts if during(t, d)]
    worst = max(inside, default=0.0)
    print(f"round trips: {len(rtts)}, before the fetches max {max(before, default=0) * 1000:.1f} ms, "
          f"during them ({len(inside)}) max {worst * 1000:.1f} ms")
    for status, size, secs in results:
        print(f"GET {path}: {status}, {size} octets in {secs * 1000:.0f} ms")
    print(f"STALL_MS={worst * 1000:.1f}")


if __name__ == "__main__":
    main()
