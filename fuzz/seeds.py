#!/usr/bin/env python3
"""Write the small seed corpora under fuzz/corpus/ (committed; regenerate
with `python3 fuzz/seeds.py`). Everything here is made up: no captured
traffic. The import and session targets take a first "knob" byte (format or
scenario choice); seeds start with it."""

import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


SESSION = [
    ("s", "220 mail.example.com ESMTP Postfix\r\n"),
    ("c", "EHLO client.example\r\n"),
    ("s", "250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n"),
    ("c", "MAIL FROM:<alice@example.org> SIZE=20\r\n"),
    ("s", "250 2.1.0 Ok\r\n"),
    ("c", "RCPT TO:<bob@example.com>\r\n"),
    ("s", "250 2.1.5 Ok\r\n"),
    ("c", "DATA\r\n"),
    ("s", "354 End data with <CR><LF>.<CR><LF>\r\n"),
    ("c", "Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\n"),
    ("s", "250 2.0.0 Ok: queued as 4ABC123\r\n"),
    ("c", "QUIT\r\n"),
    ("s", "221 2.0.0 Bye\r\n"),
]

# --- protocol: knob byte, then lines --------------------------------------
put("protocol", "commands", b"\x10" + "".join(t for w, t in SESSION if w == "c").encode())
put("protocol", "replies", b"\x01" + "".join(t for w, t in SESSION if w == "s").encode())
put("protocol", "bare-lf-long", b"\x03" + b"NOOP\nMAIL FROM:<" + b"a" * 300 + b">\r\nQUIT\r\n")
put("protocol", "data", b"\x22" + b"line\r\n..stuffed\r\n\n.\n\r\n.\r\nafter\r\n")

# --- scenario: YAML ------------------------------------------------------
put("scenario", "rules", """name: seed
extends: postfix-default
hostname: mx.example.com
limits: {recipients: 2, idle_timeout: 30s, message_size: 1000}
rules:
  - name: grey
    verb: MAIL
    session: 1
    reply: "451 4.7.1 Greylisted"
  - verb: RCPT
    args: '(?i)^TO:<[^@]+@blocked\\.example>'
    nth: 2
    reply: "550 5.7.1 no"
  - except: [HELO, EHLO, MAIL, RCPT, DATA, QUIT]
    reply: "500 5.5.1 Command unrecognized"
    then: close
tls: {require: true}
""")
put("scenario", "anchors", "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\nbanner: {reply: \"220 {hostname} hi\"}\n")
put("scenario", "nested", "rules: " + "[" * 40 + "]" * 40 + "\n")
put("scenario", "ehlo", "ehlo:\n  greeting: \"{hostname}\"\n  keywords: [PIPELINING, \"SIZE {message_size}\", CHUNKING, AUTH PLAIN LOGIN]\nhelo: {reply: \"250 {hostname}\"}\n")

# --- import: knob 0 = detect ----------------------------------------------
swaks = "=== Trying 127.0.0.1:25...\n=== Connected to 127.0.0.1.\n"
for w, t in SESSION:
    for line in t.rstrip("\r\n").split("\r\n"):
        swaks += ("<-  " if w == "s" else " -> ") + line + "\n"
put("import", "swaks", b"\x00" + swaks.encode())

ex = ("#Software: Microsoft Exchange Server\r\n#Version: 15.0.0.0\r\n"
      "#Log-type: SMTP Receive Protocol Log\r\n"
      "#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\r\n")
seq = 0
ex += "2020-01-01T00:00:00.000Z,SRV\\Default,08D7000000000001,0,192.0.2.25:25,198.51.100.7:50000,+,,\r\n"
for w, t in SESSION:
    if t.startswith("Subject"):
        continue
    seq += 1
    ev = ">" if w == "s" else "<"
    data = t.rstrip("\r\n").replace("\r\n", " ")
    ex += f'2020-01-01T00:00:00.{seq:03d}Z,SRV\\Default,08D7000000000001,{seq},192.0.2.25:25,198.51.100.7:50000,{ev},"{data}",\r\n'
ex += f"2020-01-01T00:00:01.000Z,SRV\\Default,08D7000000000001,{seq + 1},192.0.2.25:25,198.51.100.7:50000,-,,Local\r\n"
put("import", "exchange", b"\x00" + ex.encode())

jl = []
at = 0
jl.append({"session": 1, "at_us": at, "type": "connect", "peer": "198.51.100.7:50000", "local": "192.0.2.25:25", "unix_ms": 0})
for w, t in SESSION:
    at += 100
    if w == "c":
        if t.startswith("Subject"):
            jl.append({"session": 1, "at_us": at, "type": "data", "leg": "client", "size": len(t) - 3, "bare_lf": False})
        else:
            jl.append({"session": 1, "at_us": at, "type": "command", "leg": "client", "line": t.rstrip("\r\n"), "bare_lf": False})
    else:
        lines = t.rstrip("\r\n").split("\r\n")
        jl.append({"session": 1, "at_us": at, "type": "reply", "leg": "client", "code": int(lines[0][:3]), "lines": lines})
jl.append({"session": 1, "at_us": at + 1, "type": "close", "by": "server"})
put("import", "jsonl", b"\x00" + "".join(json.dumps(e) + "\n" for e in jl).encode())


def tcp_frames():
    """(from_client, flags, seq, ack, payload) for one session."""
    c_isn, s_isn = 1000, 5000
    out = [(True, 0x02, c_isn, 0, b""), (False, 0x12, s_isn, c_isn + 1, b""), (True, 0x10, c_isn + 1, s_isn + 1, b"")]
    cs, ss = c_isn + 1, s_isn + 1
    for w, t in SESSION:
        p = t.encode()
        if w == "c":
            out.append((True, 0x18, cs, ss, p))
            cs += len(p)
        else:
            out.append((False, 0x18, ss, cs, p))
            ss += len(p)
    out.append((False, 0x11, ss, cs, b""))
    out.append((True, 0x11, cs, ss + 1, b""))
    return out


def frame(from_client, flags, seq, ack, payload):
    c, s = bytes([198, 51, 100, 7]), bytes([192, 0, 2, 25])
    src, dst = (c, s) if from_client else (s, c)
    sport, dport = (50000, 25) if from_client else (25, 50000)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return eth + ip + tcp


pcap = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
for i, f in enumerate(tcp_frames()):
    b = frame(*f)
    pcap += struct.pack("<IIII", 1_600_000_000, i * 1000, len(b), len(b)) + b
put("import", "pcap", b"\x00" + pcap)

def block(t, body):
    body += b"\x00" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack("<II", t, n) + body + struct.pack("<I", n)

ng = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
ng += block(1, struct.pack("<HHI", 1, 0, 65535))
for i, f in enumerate(tcp_frames()):
    b = frame(*f)
    ts = 1_600_000_000_000_000 + i * 1000
    ng += block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(b), len(b)) + b)
put("import", "pcapng", b"\x00" + ng)

# --- session: knob picks the scenario, the next byte the read size -------
# (1 << (byte % 17) octets a read; 0x10 is 64 KiB, the whole seed at once)
client = "".join(t for w, t in SESSION if w == "c")
put("session", "postfix", b"\x00\x10" + client.encode())
put("session", "pipelined-rset", b"\x01\x10" + b"EHLO a\r\nMAIL FROM:<>\r\nRCPT TO:<x@y>\r\nRSET\r\nNOOP\r\nVRFY x\r\nQUIT\r\n")
put("session", "bdat", b"\x0e\x10" + b"EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 5\r\nhelloBDAT 3 LAST\r\nabcQUIT\r\n")
put("session", "starttls-auth", b"\x0c\x10" + b"EHLO a\r\nSTARTTLS\r\nEHLO a\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nAUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\nQUIT\r\n")
put("session", "helo-garbage", b"\x05\x10" + b"HELO\r\n\x00\xff\r\nmail from:<a@b> BODY=8BITMIME\r\nrcpt to:<postmaster>\r\ndata\r\n.\r\n")
# Overlong lines pipelined with what follows them (issue 13): in one read,
# in 8-octet reads, after a message, and as an AUTH response.
overlong = b"EHLO a\r\nNOOP " + b"x" * 600 + b"\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nNOOP\r\nQUIT\r\n"
put("session", "overlong-pipelined", b"\x00\x10" + overlong)
put("session", "overlong-small-reads", b"\x00\x03" + overlong)
put("session", "overlong-after-data", b"\x00\x0a" + b"EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n" + b"body\r\n" * 300 + b".\r\nRSET " + b"y" * 2000 + b"\nNOOP\r\nQUIT\r\n")
put("session", "overlong-auth", b"\x10\x10" + b"EHLO a\r\nAUTH PLAIN\r\n" + b"A" * 100 + b"\r\nNOOP\r\nAUTH LOGIN\r\nYWxpY2U=\r\n" + b"B" * 70 + b"\nQUIT\r\n")
# Knob 0x11: a scenario whose rule answers BDAT ... LAST.
put("session", "bdat-rule", b"\x11\x10" + b"EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 6 LAST\r\nNOOP\r\nRSET\r\nQUIT\r\n")
