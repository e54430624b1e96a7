/*
 * The read floor: what libpcap alone costs to read a capture file. Reads
 * every packet with pcap_next_ex and touches it (sums one byte of every
 * 64 and the lengths, so the data is really read and nothing is optimized
 * away), then prints one line the benchmark parses:
 *
 *   # packets N bytes B seconds S packets_per_second P checksum X
 *
 * Built by bench/run.mjs with: cc -O2 -o floor floor.c -lpcap
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: floor FILE | floor --version\n");
        return 2;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("%s\n", pcap_lib_version());
        return 0;
    }
    char errbuf[PCAP_ERRBUF_SIZE];
    const double start = now();
    pcap_t *p = pcap_open_offline(argv[1], errbuf);
    if (!p) {
        fprintf(stderr, "floor: %s\n", errbuf);
        return 1;
    }
    struct pcap_pkthdr *h;
    const u_char *data;
    uint64_t packets = 0, bytes = 0, sum = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        ++packets;
        bytes += h->caplen;
        for (uint32_t i = 0; i < h->caplen; i += 64) sum += data[i];
    }
    if (rc != PCAP_ERROR_BREAK) {
        fprintf(stderr, "floor: %s\n", pcap_geterr(p));
        pcap_close(p);
        return 1;
    }
    pcap_close(p);
    const double secs = now() - start;
    printf("# packets %llu bytes %llu seconds %.6f packets_per_second %.0f checksum %llu\n",
           (unsigned long long)packets, (unsigned long long)bytes, secs,
           (double)packets / (secs > 0 ? secs : 1e-9), (unsigned long long)sum);
    return 0;
}
