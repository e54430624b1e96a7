// fuzz-capture-file: arbitrary bytes as a whole capture file (pcap or
// pcapng), opened through PacketSource::open_file as the addon opens a
// file (libpcap vets it; a classic pcap is then read by our own reader)
// and read with next_batch into an Engine to the end, every batch
// checked. The file lives in memory (memfd), named by its /proc path.
//
// libpcap reads the same file alongside, packet by packet: whichever
// reader PacketSource uses, it must hand out what libpcap does (times,
// lengths, bytes, and where the file ends or breaks), since a file that
// is not a regular one (a pipe, standard input) is read by libpcap alone.
// One input in three is read through a BPF filter (libpcap's, or
// pcap_offline_filter over our reader's records), the reference too.
#include <pcap/pcap.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../capture/packet_source.h"
#include "batch_checker.h"

using namespace tcpsensor;

namespace {

bool one_of(const std::string& code, std::initializer_list<const char*> codes) {
    for (const char* c : codes)
        if (code == c) return true;
    return false;
}

// Returns the descriptor of a memory file holding the bytes, or -1.
int memory_file(const uint8_t* data, size_t size) {
    const int fd = memfd_create("capture", MFD_CLOEXEC);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < size) {
        const ssize_t n = ::write(fd, data + done, size - done);
        if (n <= 0) {
            ::close(fd);
            return -1;
        }
        done += static_cast<size_t>(n);
    }
    return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const int fd = memory_file(data, size);
    FUZZ_CHECK(fd >= 0);
    const std::string path = "/proc/self/fd/" + std::to_string(fd);

    const std::string filter = size % 3 == 0 ? "tcp or udp" : "";
    char errbuf[PCAP_ERRBUF_SIZE] = {0};
    pcap_t* reference = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    bool filter_ok = true;
    if (reference && !filter.empty()) {
        bpf_program program;
        filter_ok = pcap_compile(reference, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) == 0;
        if (filter_ok) {
            FUZZ_CHECK(pcap_setfilter(reference, &program) == 0);
            pcap_freecode(&program);
        }
    }

    CaptureError error;
    std::unique_ptr<PacketSource> source = PacketSource::open_file(path, filter, &error);
    if (!source) {
        // Refused, with one of the codes JavaScript gets for a bad file:
        // not a capture for libpcap, a link type we do not decode, or a
        // filter libpcap cannot compile for it.
        FUZZ_CHECK(error.set());
        if (reference) {
            if (error.code == "ERR_BPF") {
                FUZZ_CHECK(!filter_ok);
            } else {
                FUZZ_CHECK(error.code == "ERR_PCAP_LINKTYPE");
                FUZZ_CHECK(!linktype_supported(pcap_datalink(reference)));
            }
            pcap_close(reference);
        } else {
            FUZZ_CHECK(error.code == "ERR_PCAP_FORMAT");
        }
        ::close(fd);
        return 0;
    }
    FUZZ_CHECK(reference != nullptr && filter_ok);
    FUZZ_CHECK(!source->live());
    FUZZ_CHECK(linktype_supported(source->linktype()));
    FUZZ_CHECK(source->linktype() == pcap_datalink(reference));

    Options options;
    options.events.reset();
    for (const auto& k : kEventKinds) options.events.set(k.id);
    options.tcp_content_deliver_all_orig = options.tcp_content_deliver_all_resp = true;
    // Mutated files rarely keep checksums right; fuzz-packets covers both.
    options.ignore_checksums = true;
    fuzz::BatchChecker checker(options.events);
    Engine engine(options, source->linktype(), &checker, 0x5eed);

    constexpr size_t kMax = 64;
    PacketView views[kMax];
    std::vector<std::unique_ptr<uint8_t[]>> owned;
    for (;;) {
        size_t n = 0;
        const PacketSource::Next r = source->next_batch(views, kMax, &n, &error);
        if (r == PacketSource::Next::Packet) {
            FUZZ_CHECK(n >= 1 && n <= kMax);
            owned.clear();
            for (size_t i = 0; i < n; ++i) {
                FUZZ_CHECK(std::isfinite(views[i].ts));
                pcap_pkthdr* h;
                const u_char* bytes;
                FUZZ_CHECK(pcap_next_ex(reference, &h, &bytes) == 1);
                // The same formula as PacketSource's, on libpcap's numbers.
                const double ts = static_cast<double>(h->ts.tv_sec) + static_cast<double>(h->ts.tv_usec) / 1e6;
                FUZZ_CHECK(views[i].ts == ts);
                FUZZ_CHECK(views[i].caplen == h->caplen && views[i].wirelen == h->len);
                FUZZ_CHECK(views[i].caplen == 0 || std::memcmp(views[i].data, bytes, views[i].caplen) == 0);
                // A packet of exactly its captured length, so that reads past
                // it are AddressSanitizer's to see, not the next record's bytes.
                owned.emplace_back(new uint8_t[views[i].caplen]);
                if (views[i].caplen) std::memcpy(owned.back().get(), views[i].data, views[i].caplen);
                views[i].data = owned.back().get();
            }
            engine.process_batch(views, n);
            continue;
        }
        FUZZ_CHECK(r != PacketSource::Next::Timeout);  // files never time out
        pcap_pkthdr* h;
        const u_char* bytes;
        const int end = pcap_next_ex(reference, &h, &bytes);
        if (r == PacketSource::Next::Error) {
            FUZZ_CHECK(error.set());
            FUZZ_CHECK(one_of(error.code, {"ERR_PCAP_TRUNCATED", "ERR_PCAP_READ"}));
            FUZZ_CHECK(end == PCAP_ERROR);
        } else {
            FUZZ_CHECK(end == PCAP_ERROR_BREAK);  // libpcap's end of file
        }
        break;
    }
    engine.finish();
    FUZZ_CHECK(checker.events() == engine.stats().events);
    source.reset();
    pcap_close(reference);
    ::close(fd);
    return 0;
}
