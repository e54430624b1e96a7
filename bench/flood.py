#!/usr/bin/env python3
"""Hostile traces for the connection table, beside the shared gen-synflood.py.

  flood.py ack OUT N [SECONDS]   N unanswered ACKs from distinct tuples over SECONDS
                                 (default 4): gen-synflood.py's flood, but every
                                 connection is a full one (no compact form)
  flood.py splice IN OUT [AT]    IN with one complete, legitimate connection from
                                 192.0.2.10:40000 to the floods' server,
                                 198.51.100.1:80, spliced in AT seconds (default 2)
                                 after the first packet: handshake (1 ms round
                                 trip), a request, a two-segment response and a
                                 FIN/ACK close, over about 50 ms. Its events must
                                 survive the flood.
"""
import struct, sys

CLIENT = bytes([192, 0, 2, 10])
SERVER = bytes([198, 51, 100, 1])
CPORT, SPORT = 40000, 80
REQUEST = b'GET /legit HTTP/1.1\r\nHost: legit.example\r\n\r\n'
RESPONSE = [b'HTTP/1.1 200 OK\r\nContent-Length: 24\r\n\r\n', b'legitimate response body']

def csum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s

def packet(src, dst, sport, dport, seq, ack, flags, payload=b'', window=65535):
    tcp = struct.pack('!HHIIBBHHH', sport, dport, seq, ack, 5 << 4, flags, window, 0, 0) + payload
    c = 0xffff - csum(src + dst + struct.pack('!BBH', 0, 6, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack('!H', c) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack('!H', 0xffff - csum(ip)) + ip[12:]
    return b'\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00' + ip + tcp

def legit(t0):
    """(time, frame) of the whole connection; flags: S 2, A 16, P 8, F 1."""
    c, s = 1000, 5000  # initial sequence numbers
    up = lambda seq, ack, f, p=b'': packet(CLIENT, SERVER, CPORT, SPORT, seq, ack, f, p)
    down = lambda seq, ack, f, p=b'': packet(SERVER, CLIENT, SPORT, CPORT, seq, ack, f, p)
    r0, r1 = RESPONSE
    q = len(REQUEST)
    return [
        (t0, up(c, 0, 0x02)),
        (t0 + 0.001, down(s, c + 1, 0x12)),
        (t0 + 0.002, up(c + 1, s + 1, 0x10)),
        (t0 + 0.003, up(c + 1, s + 1, 0x18, REQUEST)),
        (t0 + 0.010, down(s + 1, c + 1 + q, 0x18, r0)),
        (t0 + 0.011, down(s + 1 + len(r0), c + 1 + q, 0x18, r1)),
        (t0 + 0.012, up(c + 1 + q, s + 1 + len(r0) + len(r1), 0x10)),
        (t0 + 0.040, up(c + 1 + q, s + 1 + len(r0) + len(r1), 0x11)),
        (t0 + 0.041, down(s + 1 + len(r0) + len(r1), c + 2 + q, 0x11)),
        (t0 + 0.042, up(c + 2 + q, s + 2 + len(r0) + len(r1), 0x10)),
    ]

def record(t, frame):
    sec = int(t)
    usec = int(round((t - sec) * 1e6))
    if usec == 1000000:
        sec, usec = sec + 1, 0
    return struct.pack('<IIII', sec, usec, len(frame), len(frame)) + frame

def splice(src_path, out_path, at):
    with open(src_path, 'rb') as f, open(out_path, 'wb') as out:
        header = f.read(24)
        if struct.unpack('<I', header[:4])[0] != 0xa1b2c3d4:
            sys.exit('flood.py: a little-endian microsecond pcap is expected')
        out.write(header)
        pending = None
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            sec, usec, incl, orig = struct.unpack('<IIII', rec)
            data = f.read(incl)
            t = sec + usec / 1e6
            if pending is None:
                pending = legit(t + at)
            while pending and pending[0][0] <= t:
                out.write(record(*pending.pop(0)))
            out.write(rec + data)
        for p in pending or []:
            out.write(record(*p))

def ack_flood(out_path, n, secs):
    """The tuples, times and sequence numbers of gen-synflood.py, as ACKs."""
    with open(out_path, 'wb') as out:
        out.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i in range(n):
            src = struct.pack('!I', 0x0a000000 + (i // 50000) + 1)
            frame = packet(src, SERVER, 1024 + i % 50000, 80, (i * 2654435761) & 0xffffffff, 0, 0x10, window=64240)
            out.write(record(1700000000.0 + secs * i / n, frame))

if __name__ == '__main__':
    if len(sys.argv) >= 4 and sys.argv[1] == 'splice':
        splice(sys.argv[2], sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 2.0)
    elif len(sys.argv) >= 4 and sys.argv[1] == 'ack':
        ack_flood(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]) if len(sys.argv) > 4 else 4.0)
    else:
        sys.exit(__doc__)
