// Packets from libpcap: capture files (pcap and pcapng) and live
// interfaces. The only place that includes pcap.h (in the .cc); callers see
// packets as views into libpcap's own buffer, valid until the next call.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "../core/engine.h"

struct pcap;
struct bpf_program;

namespace tcpsensor {

// A failure with a stable code for JavaScript (ERR_PCAP_OPEN, ERR_BPF, ...)
// and a message naming the cause.
struct CaptureError {
    std::string code;
    std::string message;
    bool set() const { return !code.empty(); }
};

struct LiveOptions {
    std::string interface;
    int snaplen = 262144;
    bool promiscuous = true;
    int buffer_size = 0;  // bytes; 0 keeps libpcap's default
    bool immediate = true;
    int timeout_ms = 100;
};

struct CaptureStats {
    uint64_t received = 0;
    uint64_t dropped_by_kernel = 0;
    uint64_t dropped_by_interface = 0;
};

class PacketSource {
public:
    static std::unique_ptr<PacketSource> open_file(const std::string& path, const std::string& filter,
                                                   CaptureError* error);
    static std::unique_ptr<PacketSource> open_live(const LiveOptions& options, const std::string& filter,
                                                   CaptureError* error);
    ~PacketSource();
    PacketSource(const PacketSource&) = delete;
    PacketSource& operator=(const PacketSource&) = delete;

    enum class Next { Packet, Timeout, End, Error };
    // Up to `max` packets (at least one on Packet), all viewed in place
    // until the next call. libpcap hands out one at a time; our own file
    // reader as many as its buffer holds. Timeout only happens live.
    Next next_batch(PacketView* packets, size_t max, size_t* count, CaptureError* error);

    int linktype() const { return linktype_; }
    bool live() const { return live_; }
    // Kernel counters (live only; zeros for files).
    CaptureStats stats() const;
    // Makes a blocked next_batch() return End soon; callable from any thread.
    void interrupt();

private:
    PacketSource(pcap* handle, bool live);
    bool apply_filter(const std::string& filter, CaptureError* error);
    Next next_from_pcap(PacketView* packet, CaptureError* error);
    static void view(int64_t sec, int64_t usec, const uint8_t* data, uint32_t caplen, uint32_t wirelen,
                     PacketView* out);
    Next reader_end(int result, CaptureError* error) const;

    // libpcap reads live captures and pcapng; classic pcap files go
    // through our own reader, with BPF applied by pcap_offline_filter.
    pcap* handle_;
    std::unique_ptr<class SavefileReader> reader_;
    std::unique_ptr<bpf_program> offline_filter_;
    bool live_;
    int linktype_ = 0;
    uint64_t received_ = 0;
    std::atomic<bool> interrupted_{false};
};

}  // namespace tcpsensor
