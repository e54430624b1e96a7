/*
 * gen-hostile: writes, to stdout, a pcap in which many connections each
 * send a lot of data above a hole that is never filled.
 *
 *   gen-hostile CONNECTIONS BYTES_PER_CONNECTION [SEGMENT_SIZE] > trace.pcap
 *   gen-hostile 100000 1048576 | tcpsensor-native /dev/stdin ...   (100 GB)
 *
 * Every connection: SYN, SYN/ACK, ACK, then one data byte from the client
 * that the server acknowledges (so the client's endpoint has "data acked",
 * and Zeek's tcp_max_above_hole_without_any_acks does not stop it), then a
 * hole of one segment that is never sent, then BYTES_PER_CONNECTION bytes
 * above the hole. Nothing is acknowledged beyond the first byte and nothing
 * closes, so a reassembler holds all of it until its own bounds stop it.
 *
 * All handshakes come first; the data segments then go round-robin over all
 * connections (segment 1 of each, then segment 2 of each, ...), so every
 * connection is holding data at once. Timestamps advance 1 microsecond per
 * packet. IPv4 and TCP checksums are correct (the payload is one fixed
 * pattern whose one's-complement sum is computed once).
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

/* One Ethernet/IPv4/TCP packet with `len` payload bytes: none, the
 * pattern's first byte, or the whole pattern (len == segment size). */
static void packet(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                   uint8_t flags, uint32_t len) {
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
    memcpy(tcp + TCP_LEN, payload, len);

    uint64_t s = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6 + TCP_LEN + len;
    s += sum16(tcp, TCP_LEN);
    s += len == 0 ? 0 : len == 1 ? (uint32_t)(payload[0] << 8) : payload_sum;
    put16(tcp + 16, fold(s));

    out_len += 16 + caplen;
    ++packets;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: gen-hostile CONNECTIONS BYTES_PER_CONNECTION [SEGMENT_SIZE] > out.pcap\n");
        return 2;
    }
    const uint64_t conns = strtoull(argv[1], NULL, 10);
    const uint64_t bytes = strtoull(argv[2], NULL, 10);
    const uint32_t seg = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 1460;
    if (conns == 0 || conns > 16000000 || seg < 2 || seg > MAX_SEGMENT) {
        fprintf(stderr, "gen-hostile: CONNECTIONS must be in [1, 16000000], SEGMENT_SIZE in [2, %d]\n", MAX_SEGMENT);
        return 2;
    }
    /* Into a pipe or FIFO: a bigger pipe buffer means far fewer wakeups of
     * the reader (Linux allows up to /proc/sys/fs/pipe-max-size, 1 MiB by
     * default); not an error if refused or stdout is a file. */
    (void)fcntl(1, F_SETPIPE_SZ, 1 << 20);
    for (uint32_t i = 0; i < seg; ++i) payload[i] = (uint8_t)(i * 131 + 7);
    payload_sum = sum16(payload, seg);
    const uint64_t segments = (bytes + seg - 1) / seg;

    /* pcap file header: microseconds, Ethernet */
    uint8_t *h = out;
    le32(h, 0xa1b2c3d4);
    h[4] = 2; h[5] = 0; h[6] = 4; h[7] = 0;
    memset(h + 8, 0, 8);
    le32(h + 16, 65535);
    le32(h + 20, 1);
    out_len = 24;

    /* Connection i: client 10.x.y.z:port -> server 198.51.100.(i%200+1):80. */
#define CLIENT(i) (0x0a000000u + (uint32_t)((i) / 50000) * 256u + 1u)
#define CPORT(i) ((uint16_t)(1024 + (i) % 50000))
#define SERVER(i) (0xc6336401u + (uint32_t)((i) % 200))
#define CISN(i) ((uint32_t)((i) * 2654435761u + 12345u))
#define SISN(i) ((uint32_t)((i) * 40503u * 65537u + 777u))
    for (uint64_t i = 0; i < conns; ++i) {
        const uint32_t c = CLIENT(i), s = SERVER(i), a = CISN(i), b = SISN(i);
        const uint16_t p = CPORT(i);
        packet(c, s, p, 80, a, 0, SYN, 0);
        packet(s, c, 80, p, b, a + 1, SYN | ACK, 0);
        packet(c, s, p, 80, a + 1, b + 1, ACK, 0);
        packet(c, s, p, 80, a + 1, b + 1, PSH | ACK, 1);      /* the first byte */
        packet(s, c, 80, p, b + 1, a + 2, ACK, 0);             /* ... acknowledged */
    }
    for (uint64_t k = 0; k < segments; ++k) {
        for (uint64_t i = 0; i < conns; ++i) {
            const uint32_t a = CISN(i), b = SISN(i);
            /* bytes [2, 2 + seg) are the hole */
            packet(CLIENT(i), SERVER(i), CPORT(i), 80, a + 2 + seg + (uint32_t)(k * seg), b + 1, ACK, seg);
        }
    }
    flush_out();
    fprintf(stderr, "gen-hostile: %llu packets, %llu connections, %llu bytes above the hole each\n",
            (unsigned long long)packets, (unsigned long long)conns, (unsigned long long)(segments * seg));
    return 0;
}
