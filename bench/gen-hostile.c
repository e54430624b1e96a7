/*
 * gen-hostile: writes, to stdout, a pcap of hostile TCP traffic, of one of
 * four kinds (bench/README.md says what each benchmark row makes of them).
 *
 *   gen-hostile CONNECTIONS BYTES [SEGMENT] [--hole-every N] [--legit N [BYTES]]
 *   gen-hostile --dup SEGMENTS_PER_CONNECTION TOTAL_SEGMENTS [SEGMENT]
 *   gen-hostile --storm CONNECTIONS SEGMENTS COPIES [SEGMENT]
 *   gen-hostile --tiny CONNECTIONS SEGMENTS WINDOW
 *
 *   gen-hostile 100000 1048576 | tcpsensor-native /dev/stdin ...   (100 GB)
 *
 * Holding (the default): many connections each send a lot of data above a
 * hole that is never filled. Every connection: SYN, SYN/ACK, ACK, then one
 * data byte from the client that the server acknowledges (so the client's
 * endpoint has "data acked", and Zeek's tcp_max_above_hole_without_any_acks
 * does not stop it), then a hole of one segment that is never sent, then
 * BYTES above the hole (with --hole-every N, another hole every N
 * segments, so that an endpoint made to give up its data holds again).
 * Nothing is acknowledged beyond the first byte and nothing closes. All
 * handshakes come first; the data segments then go round-robin over all
 * connections (segment 1 of each, then segment 2 of each, ...), so every
 * connection is holding data at once.
 *   --legit N [BYTES]: N legitimate connections (to port 8080; BYTES each,
 *   65536 by default) run through the attack, 16 at a time, one of their
 *   packets every so many of the attack's so that they span it. Each sends
 *   its bytes in 1460-byte segments, eight at a time, as a lossy path
 *   delivers them: pairs swapped, the fifth segment lost and sent again
 *   after three more, the server acknowledging as a receiver would; then
 *   both sides close.
 *
 * --dup (zeek/zeek#575): the receiver stops acknowledging after the first
 * four segments while the sender sends every segment twice. Connections
 * one after another, each SEGMENTS_PER_CONNECTION segments of SEGMENT bytes
 * (100 by default: 100,000 of them stay under Zeek's 10 MB
 * tcp_excessive_data_without_further_acks), TOTAL_SEGMENTS in all.
 *
 * --storm: CONNECTIONS send SEGMENTS segments each (SEGMENT bytes, 200 by
 * default), round-robin; every segment is sent COPIES times: the original,
 * copies re-cut to overlap the segment before, the server's ack, and the
 * rest of the copies after it (old data). Then both sides close.
 *
 * --tiny: CONNECTIONS send SEGMENTS one-byte segments each, WINDOW at a
 * time in reverse order (each window's last byte first, so every one
 * waits for the first), round-robin packet by packet, the server
 * acknowledging each window once it is complete. Then both sides close.
 *
 * Except the attack's own segments, payloads follow one pattern: the byte
 * at stream offset k (relative sequence number k + 1) is
 * (k * 7 + (k >> 8) * 13) mod 256, so that a reader can check every byte
 * delivered. Timestamps advance 1 microsecond per packet. IPv4 and TCP
 * checksums are correct.
 *
 * Built by bench/run.mjs with: cc -O2 -o gen-hostile gen-hostile.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ETH_LEN 14
#define IP_LEN 20
#define TCP_LEN 20
#define HDRS (ETH_LEN + IP_LEN + TCP_LEN)
#define MAX_SEGMENT 8960

enum { FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10 };

static uint8_t out[1 << 20];
static size_t out_len;
static uint8_t payload[MAX_SEGMENT];
static uint32_t payload_sum;  /* unfolded 16-bit sum of the full payload */
static uint64_t packets, clock_us;

static void flush_out(void) {
    size_t off = 0;
    while (off < out_len) {
        ssize_t n = write(1, out + off, out_len - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EPIPE) exit(0); /* the reader stopped: fine */
            perror("gen-hostile: write");
            exit(1);
        }
        off += (size_t)n;
    }
    out_len = 0;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static void le32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24); }

static uint32_t sum16(const uint8_t *p, size_t n) {
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1) s += (uint32_t)(p[n - 1] << 8);
    return s;
}

static uint16_t fold(uint64_t s) {
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* One Ethernet/IPv4/TCP packet carrying `len` bytes of `data`, whose
 * unfolded 16-bit sum is `data_sum`. */
static void packet(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                   uint8_t flags, const uint8_t *data, uint32_t len, uint32_t data_sum) {
    const uint32_t caplen = HDRS + len;
    if (out_len + 16 + caplen > sizeof out) flush_out();
    uint8_t *rec = out + out_len;
    le32(rec, (uint32_t)(1700000000 + clock_us / 1000000));
    le32(rec + 4, (uint32_t)(clock_us % 1000000));
    le32(rec + 8, caplen);
    le32(rec + 12, caplen);
    ++clock_us;
    uint8_t *eth = rec + 16;
    static const uint8_t eth_hdr[ETH_LEN] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0};
    memcpy(eth, eth_hdr, ETH_LEN);

    uint8_t *ip = eth + ETH_LEN;
    memset(ip, 0, IP_LEN);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(IP_LEN + TCP_LEN + len));
    put16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = 6;
    put32(ip + 12, src);
    put32(ip + 16, dst);
    put16(ip + 10, fold(sum16(ip, IP_LEN)));

    uint8_t *tcp = ip + IP_LEN;
    memset(tcp, 0, TCP_LEN);
    put16(tcp, sport);
    put16(tcp + 2, dport);
    put32(tcp + 4, seq);
    put32(tcp + 8, ack);
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    put16(tcp + 14, 65535);
    if (len) memcpy(tcp + TCP_LEN, data, len);

    uint64_t s = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6 + TCP_LEN + len;
    s += sum16(tcp, TCP_LEN) + data_sum;
    put16(tcp + 16, fold(s));

    out_len += 16 + caplen;
    ++packets;
}

static void bare(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags) {
    packet(src, dst, sport, dport, seq, ack, flags, NULL, 0, 0);
}

/* `len` bytes of the checkable pattern from stream offset `from`. */
static void patterned(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint32_t isn, uint32_t ack,
                      uint64_t from, uint32_t len) {
    uint8_t data[MAX_SEGMENT];
    for (uint32_t i = 0; i < len; ++i) {
        const uint64_t k = from + i;
        data[i] = (uint8_t)(k * 7 + (k >> 8) * 13);
    }
    packet(src, dst, sport, dport, isn + 1 + (uint32_t)from, ack, PSH | ACK, data, len, sum16(data, len));
}

/* A client and server of one of the checkable connections (all kinds but
 * the attack's): client 10.128.x.y:port -> server 192.0.2.(1 + i % 100):80
 * (8080 for --legit). */
struct peer {
    uint32_t client, server, cisn, sisn;
    uint16_t cport, sport;
};

static struct peer checkable(uint64_t i, uint16_t server_port) {
    struct peer p;
    p.client = 0x0a800000u + (uint32_t)(i / 40000) * 256u + 1u;
    p.cport = (uint16_t)(20000 + i % 40000);
    p.server = 0xc0000201u + (uint32_t)(i % 100);
    p.sport = server_port;
    p.cisn = (uint32_t)(i * 2246822519u + 99u);
    p.sisn = (uint32_t)(i * 3266489917u + 5u);
    return p;
}

static void handshake(const struct peer *p) {
    bare(p->client, p->server, p->cport, p->sport, p->cisn, 0, SYN);
    bare(p->server, p->client, p->sport, p->cport, p->sisn, p->cisn + 1, SYN | ACK);
    bare(p->client, p->server, p->cport, p->sport, p->cisn + 1, p->sisn + 1, ACK);
}

/* The server acknowledges the client's first `bytes`. */
static void server_ack(const struct peer *p, uint64_t bytes) {
    bare(p->server, p->client, p->sport, p->cport, p->sisn + 1, p->cisn + 1 + (uint32_t)bytes, ACK);
}

/* FIN from the client after `bytes`, the server's FIN, the last ACK. */
static void close_both(const struct peer *p, uint64_t bytes) {
    const uint32_t fin = p->cisn + 1 + (uint32_t)bytes;
    bare(p->client, p->server, p->cport, p->sport, fin, p->sisn + 1, FIN | ACK);
    bare(p->server, p->client, p->sport, p->cport, p->sisn + 1, fin + 1, FIN | ACK);
    bare(p->client, p->server, p->cport, p->sport, fin + 1, p->sisn + 2, ACK);
}

/* ------------------------------------------------------------------------
 * Legitimate connections run through the holding attack. */

enum { L_HANDSHAKE, L_DATA, L_ACK, L_CLOSE };
struct step {
    uint8_t kind;
    uint32_t segment; /* L_DATA: which; L_ACK: acknowledged up to the start of this one */
};

#define LEGIT_SEGMENT 1460
#define LEGIT_AT_ONCE 16

static struct step *script;
static size_t script_len;
static uint64_t legit_total, legit_started, legit_bytes, legit_every, since_legit;
static struct {
    uint64_t conn;
    size_t at;
    int active;
} slots[LEGIT_AT_ONCE];
static size_t next_slot;

static void add_step(uint8_t kind, uint32_t segment) {
    script[script_len].kind = kind;
    script[script_len].segment = segment;
    ++script_len;
}

static void build_script(uint64_t bytes) {
    const uint32_t segments = (uint32_t)((bytes + LEGIT_SEGMENT - 1) / LEGIT_SEGMENT);
    script = calloc((size_t)segments * 2 + 16, sizeof *script);
    if (!script) exit(1);
    add_step(L_HANDSHAKE, 0);
    uint32_t k = 0;
    for (; k + 8 <= segments; k += 8) {
        /* pairs swapped; k + 4 lost, then sent again after the dupack */
        static const int order[] = {1, 0, -2, 3, 2, -4, 5, 6, 7, -4, 4, -8};
        for (size_t i = 0; i < sizeof order / sizeof *order; ++i)
            add_step(order[i] < 0 ? L_ACK : L_DATA, k + (uint32_t)(order[i] < 0 ? -order[i] : order[i]));
    }
    for (; k < segments; ++k) add_step(L_DATA, k);
    add_step(L_ACK, segments);
    add_step(L_CLOSE, 0);
}

static void legit_step(uint64_t conn, const struct step *s) {
    const struct peer p = checkable(conn, 8080);
    const uint64_t from = (uint64_t)s->segment * LEGIT_SEGMENT;
    switch (s->kind) {
        case L_HANDSHAKE: handshake(&p); break;
        case L_DATA: {
            const uint64_t left = legit_bytes - from;
            patterned(p.client, p.server, p.cport, p.sport, p.cisn, p.sisn + 1, from,
                      (uint32_t)(left < LEGIT_SEGMENT ? left : LEGIT_SEGMENT));
            break;
        }
        case L_ACK: server_ack(&p, from < legit_bytes ? from : legit_bytes); break;
        case L_CLOSE: close_both(&p, legit_bytes); break;
    }
}

/* The next legitimate packet, from the next slot with a connection under
 * way (a finished one takes the next connection). False when all are done. */
static int legit_next(void) {
    for (size_t tries = 0; tries < LEGIT_AT_ONCE; ++tries) {
        const size_t i = next_slot++ % LEGIT_AT_ONCE;
        if (!slots[i].active && legit_started < legit_total) {
            slots[i].conn = legit_started++;
            slots[i].at = 0;
            slots[i].active = 1;
        }
        if (!slots[i].active) continue;
        legit_step(slots[i].conn, &script[slots[i].at]);
        if (++slots[i].at == script_len) slots[i].active = 0;
        return 1;
    }
    return 0;
}

/* Called after every attack packet. */
static void attack_packet_done(void) {
    if (legit_total && ++since_legit >= legit_every) {
        since_legit = 0;
        legit_next();
    }
}

/* ------------------------------------------------------------------------
 * The kinds */

/* Connection i: client 10.x.y.z:port -> server 198.51.100.(i%200+1):80. */
#define CLIENT(i) (0x0a000000u + (uint32_t)((i) / 50000) * 256u + 1u)
#define CPORT(i) ((uint16_t)(1024 + (i) % 50000))
#define SERVER(i) (0xc6336401u + (uint32_t)((i) % 200))
#define CISN(i) ((uint32_t)((i) * 2654435761u + 12345u))
#define SISN(i) ((uint32_t)((i) * 40503u * 65537u + 777u))

static void hold(uint64_t conns, uint64_t bytes, uint32_t seg, uint64_t hole_every) {
    for (uint32_t i = 0; i < seg; ++i) payload[i] = (uint8_t)(i * 131 + 7);
    payload_sum = sum16(payload, seg);
    const uint64_t segments = (bytes + seg - 1) / seg;
    if (legit_total) {
        build_script(legit_bytes);
        const uint64_t legit_packets = legit_total * (script_len + 5);
        legit_every = conns * (5 + segments) / (legit_packets ? legit_packets : 1);
        if (legit_every == 0) legit_every = 1;
    }
    for (uint64_t i = 0; i < conns; ++i) {
        const uint32_t c = CLIENT(i), s = SERVER(i), a = CISN(i), b = SISN(i);
        const uint16_t p = CPORT(i);
        bare(c, s, p, 80, a, 0, SYN);
        attack_packet_done();
        bare(s, c, 80, p, b, a + 1, SYN | ACK);
        attack_packet_done();
        bare(c, s, p, 80, a + 1, b + 1, ACK);
        attack_packet_done();
        packet(c, s, p, 80, a + 1, b + 1, PSH | ACK, payload, 1, (uint32_t)(payload[0] << 8)); /* the first byte */
        attack_packet_done();
        bare(s, c, 80, p, b + 1, a + 2, ACK); /* ... acknowledged */
        attack_packet_done();
    }
    for (uint64_t k = 0; k < segments; ++k) {
        /* bytes [2, 2 + seg) are the first hole; each later one is one segment too */
        const uint64_t holes = 1 + (hole_every ? k / hole_every : 0);
        for (uint64_t i = 0; i < conns; ++i) {
            packet(CLIENT(i), SERVER(i), CPORT(i), 80, CISN(i) + 2 + (uint32_t)((k + holes) * seg), SISN(i) + 1, ACK,
                   payload, seg, payload_sum);
            attack_packet_done();
        }
    }
    while (legit_next()) {
    }
    fprintf(stderr, "gen-hostile: %llu packets, %llu connections, %llu bytes above holes each, %llu legitimate\n",
            (unsigned long long)packets, (unsigned long long)conns, (unsigned long long)(segments * seg),
            (unsigned long long)legit_total);
}

static void duplicates(uint64_t per_conn, uint64_t total, uint32_t seg) {
    uint64_t conn = 0;
    for (uint64_t sent = 0; sent < total; ++conn) {
        const struct peer p = checkable(conn, 80);
        handshake(&p);
        for (uint64_t k = 0; k < per_conn && sent < total; ++k, ++sent) {
            patterned(p.client, p.server, p.cport, p.sport, p.cisn, p.sisn + 1, k * seg, seg);
            patterned(p.client, p.server, p.cport, p.sport, p.cisn, p.sisn + 1, k * seg, seg);
            if (k < 4) server_ack(&p, (k + 1) * seg); /* then silence */
        }
    }
    fprintf(stderr, "gen-hostile --dup: %llu packets, %llu connections, %llu segments each, sent twice\n",
            (unsigned long long)packets, (unsigned long long)conn, (unsigned long long)per_conn);
}

static void storm(uint64_t conns, uint64_t segments, uint32_t copies, uint32_t seg) {
    for (uint64_t i = 0; i < conns; ++i) {
        const struct peer p = checkable(i, 80);
        handshake(&p);
    }
    const uint32_t before = copies > 1 ? copies / 2 : 1; /* copies before the ack */
    const uint32_t shift = seg / (copies + 1); /* how far back each is re-cut */
    for (uint64_t k = 0; k < segments; ++k) {
        for (uint64_t i = 0; i < conns; ++i) {
            const struct peer p = checkable(i, 80);
            const uint64_t at = k * seg;
            for (uint32_t r = 0; r < copies; ++r) {
                if (r == before) server_ack(&p, at + seg);
                /* copy r starts r shifts back (not before the stream) */
                const uint64_t back = (uint64_t)r * shift < at ? (uint64_t)r * shift : at;
                patterned(p.client, p.server, p.cport, p.sport, p.cisn, p.sisn + 1, at - back, seg);
            }
            if (before >= copies) server_ack(&p, at + seg);
        }
    }
    for (uint64_t i = 0; i < conns; ++i) {
        const struct peer p = checkable(i, 80);
        close_both(&p, segments * seg);
    }
    fprintf(stderr, "gen-hostile --storm: %llu packets, %llu connections, %llu segments each, %u copies\n",
            (unsigned long long)packets, (unsigned long long)conns, (unsigned long long)segments, copies);
}

static void tiny(uint64_t conns, uint64_t segments, uint64_t window) {
    for (uint64_t i = 0; i < conns; ++i) {
        const struct peer p = checkable(i, 80);
        handshake(&p);
    }
    for (uint64_t w = 0; w < segments; w += window) {
        const uint64_t n = segments - w < window ? segments - w : window;
        for (uint64_t r = 0; r < n; ++r) {
            for (uint64_t i = 0; i < conns; ++i) {
                const struct peer p = checkable(i, 80);
                patterned(p.client, p.server, p.cport, p.sport, p.cisn, p.sisn + 1, w + n - 1 - r, 1);
            }
        }
        for (uint64_t i = 0; i < conns; ++i) {
            const struct peer p = checkable(i, 80);
            server_ack(&p, w + n);
        }
    }
    for (uint64_t i = 0; i < conns; ++i) {
        const struct peer p = checkable(i, 80);
        close_both(&p, segments);
    }
    fprintf(stderr, "gen-hostile --tiny: %llu packets, %llu connections, %llu one-byte segments each, windows of %llu\n",
            (unsigned long long)packets, (unsigned long long)conns, (unsigned long long)segments,
            (unsigned long long)window);
}

static uint64_t count_arg(const char *s, uint64_t lo, uint64_t hi, const char *what) {
    char *end;
    errno = 0;
    const unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) {
        fprintf(stderr, "gen-hostile: %s must be in [%llu, %llu]\n", what, (unsigned long long)lo, (unsigned long long)hi);
        exit(2);
    }
    return v;
}

static const char usage[] =
    "usage: gen-hostile CONNECTIONS BYTES [SEGMENT] [--hole-every N] [--legit N [BYTES]] > out.pcap\n"
    "       gen-hostile --dup SEGMENTS_PER_CONNECTION TOTAL_SEGMENTS [SEGMENT] > out.pcap\n"
    "       gen-hostile --storm CONNECTIONS SEGMENTS COPIES [SEGMENT] > out.pcap\n"
    "       gen-hostile --tiny CONNECTIONS SEGMENTS WINDOW > out.pcap\n";

int main(int argc, char **argv) {
    if (argc < 3) {
        fputs(usage, stderr);
        return 2;
    }
    /* Into a pipe or FIFO: a bigger pipe buffer means far fewer wakeups of
     * the reader (Linux allows up to /proc/sys/fs/pipe-max-size, 1 MiB by
     * default); not an error if refused or stdout is a file. */
    (void)fcntl(1, F_SETPIPE_SZ, 1 << 20);

    /* pcap file header: microseconds, Ethernet */
    uint8_t *h = out;
    le32(h, 0xa1b2c3d4);
    h[4] = 2; h[5] = 0; h[6] = 4; h[7] = 0;
    memset(h + 8, 0, 8);
    le32(h + 16, 65535);
    le32(h + 20, 1);
    out_len = 24;

    const char *mode = argv[1];
    if (!strcmp(mode, "--dup")) {
        if (argc < 4 || argc > 5) return fputs(usage, stderr), 2;
        duplicates(count_arg(argv[2], 1, 1u << 30, "SEGMENTS_PER_CONNECTION"), count_arg(argv[3], 1, 1u << 30, "TOTAL_SEGMENTS"),
            argc > 4 ? (uint32_t)count_arg(argv[4], 1, MAX_SEGMENT, "SEGMENT") : 100);
    } else if (!strcmp(mode, "--storm")) {
        if (argc < 5 || argc > 6) return fputs(usage, stderr), 2;
        storm(count_arg(argv[2], 1, 4000000, "CONNECTIONS"), count_arg(argv[3], 1, 1u << 30, "SEGMENTS"),
              (uint32_t)count_arg(argv[4], 1, 1000, "COPIES"),
              argc > 5 ? (uint32_t)count_arg(argv[5], 2, MAX_SEGMENT, "SEGMENT") : 200);
    } else if (!strcmp(mode, "--tiny")) {
        if (argc != 5) return fputs(usage, stderr), 2;
        tiny(count_arg(argv[2], 1, 4000000, "CONNECTIONS"), count_arg(argv[3], 1, 1u << 30, "SEGMENTS"),
             count_arg(argv[4], 1, 1u << 30, "WINDOW"));
    } else {
        const uint64_t conns = count_arg(argv[1], 1, 16000000, "CONNECTIONS");
        const uint64_t bytes = count_arg(argv[2], 1, UINT64_MAX / 2, "BYTES");
        uint32_t seg = 1460;
        uint64_t hole_every = 0;
        int i = 3;
        if (i < argc && argv[i][0] != '-') seg = (uint32_t)count_arg(argv[i++], 2, MAX_SEGMENT, "SEGMENT_SIZE");
        for (; i < argc; ++i) {
            if (!strcmp(argv[i], "--hole-every") && i + 1 < argc) {
                hole_every = count_arg(argv[++i], 1, UINT32_MAX, "--hole-every");
            } else if (!strcmp(argv[i], "--legit") && i + 1 < argc) {
                legit_total = count_arg(argv[++i], 1, 4000000, "--legit");
                legit_bytes = 65536;
                if (i + 1 < argc && argv[i + 1][0] != '-')
                    legit_bytes = count_arg(argv[++i], 1, 1u << 30, "legitimate BYTES");
            } else {
                fputs(usage, stderr);
                return 2;
            }
        }
        hold(conns, bytes, seg, hole_every);
    }
    flush_out();
    return 0;
}
