// Turns capture files into fuzz-packets inputs (packet_input.h): the seed
// corpus of that target, from the same traces the capture-file target
// starts from. libpcap reads them (pcap and pcapng, any byte order,
// nanosecond stamps scaled to microseconds as the sensor reads them).
//
//   fuzz-packet-seeds OUTDIR FILE...
//
// A trace becomes up to kPiecesPerTrace inputs of consecutive packets,
// each at most kMaxInputBytes, spread over the trace: its start (the
// handshakes) and stretches later on (connections met in mid-stream).
// Checksums are ignored in them (mutated packets rarely keep them right;
// the settings byte is the fuzzer's to flip).
#include <pcap/pcap.h>

#include <cstdio>
#include <string>
#include <vector>

#include "packet_input.h"

using namespace tcpsensor;

namespace {

constexpr size_t kMaxInputBytes = 16384;
constexpr size_t kPiecesPerTrace = 4;
constexpr size_t kMaxPackets = 200000;  // read from one trace at most

struct Packet {
    uint32_t sec, usec, caplen, wirelen;
    std::vector<uint8_t> bytes;
};

std::string base_name(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: fuzz-packet-seeds OUTDIR FILE...\n");
        return 2;
    }
    const std::string out_dir = argv[1];
    size_t written = 0;
    for (int i = 2; i < argc; ++i) {
        char errbuf[PCAP_ERRBUF_SIZE] = {0};
        pcap_t* p = pcap_open_offline_with_tstamp_precision(argv[i], PCAP_TSTAMP_PRECISION_MICRO, errbuf);
        if (!p) {
            std::fprintf(stderr, "%s: %s (skipped)\n", argv[i], errbuf);
            continue;
        }
        const int linktype = pcap_datalink(p);
        std::vector<Packet> packets;
        pcap_pkthdr* h;
        const u_char* data;
        while (packets.size() < kMaxPackets && pcap_next_ex(p, &h, &data) == 1) {
            packets.push_back(Packet{static_cast<uint32_t>(h->ts.tv_sec), static_cast<uint32_t>(h->ts.tv_usec),
                                     h->caplen, h->len, std::vector<uint8_t>(data, data + h->caplen)});
        }
        pcap_close(p);
        if (packets.empty()) continue;

        // Pieces start at evenly spread packets; each runs until it is full.
        for (size_t piece = 0; piece < kPiecesPerTrace; ++piece) {
            const size_t first = packets.size() * piece / kPiecesPerTrace;
            if (piece > 0 && first == packets.size() * (piece - 1) / kPiecesPerTrace) continue;
            // Every other piece (and trace) with Zeek's extra events, which
            // make streams keep their bytes.
            const bool extra = (static_cast<size_t>(i) + piece) % 2 != 0;
            const auto feeding = static_cast<uint8_t>(fuzz::kFeedBatchMask | (extra ? fuzz::kFeedExtraEvents : 0));
            fuzz::PacketInputWriter w(linktype, fuzz::kSettingIgnoreChecksums, feeding, packets[first].sec);
            size_t k = first;
            for (; k < packets.size(); ++k) {
                const Packet& pk = packets[k];
                const size_t need = fuzz::kPacketRecordHeader + (pk.caplen > 0xffff ? 0xffff : pk.caplen);
                if (w.packets() > 0 && w.bytes().size() + need > kMaxInputBytes) break;
                w.add(pk.sec, pk.usec, pk.bytes.data(), pk.caplen, pk.wirelen);
            }
            // Numbered by argument: traces of one name in different folders stay apart.
            const std::string out =
                out_dir + "/" + std::to_string(i - 1) + "-" + base_name(argv[i]) + "." + std::to_string(piece);
            FILE* f = std::fopen(out.c_str(), "wb");
            if (!f || std::fwrite(w.bytes().data(), 1, w.bytes().size(), f) != w.bytes().size()) {
                std::fprintf(stderr, "%s: cannot write\n", out.c_str());
                if (f) std::fclose(f);
                return 1;
            }
            std::fclose(f);
            ++written;
            if (k == packets.size()) break;  // the rest of the trace fit in this piece
        }
    }
    std::printf("wrote %zu inputs to %s\n", written, out_dir.c_str());
    return 0;
}
