"""What the bench's SMTP clients share: their HOST PORT [COUNT] arguments
(loopback addresses only: they flood whatever they reach), the connection,
and reading a reply. Imported by the scripts next to it.
"""

import ipaddress
import socket
import sys


def loopback(prog, host):
    if not ipaddress.ip_address(host).is_loopback:
        sys.exit(f"{prog}: loopback addresses only")


def args(prog, default):
    """HOST, PORT and the optional COUNT (`default` when absent)."""
    host, port = sys.argv[1], int(sys.argv[2])
    count = int(sys.argv[3]) if len(sys.argv) > 3 else default
    loopback(prog, host)
    return host, port, count


def connect(host, port, timeout=300):
    """The socket and a binary file reading from it."""
    s = socket.create_connection((host, port), timeout=timeout)
    return s, s.makefile("rb")


def reply(f, prog):
    """The lines of one reply, multi-line ones whole."""
    lines = []
    while True:
        line = f.readline()
        if not line:
            raise SystemExit(f"{prog}: connection closed")
        lines.append(line.decode(errors="replace").rstrip())
        if len(line) < 4 or line[3:4] != b"-":
            return lines
