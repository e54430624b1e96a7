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

// A sensor's defaults: throughput first. Without immediate mode the kernel
// fills whole blocks of packets (TPACKET_V3) and wakes the reader once per
// block, or when a block has waited `timeout_ms`: that bounds the latency.
// Immediate mode wakes the reader for every packet (and makes libpcap use
// TPACKET_V2, whose frames are sized for the largest packet, so a ring holds
// far fewer of them).
struct LiveOptions {
    std::string interface;
    int snaplen = 262144;
    bool promiscuous = true;
    int buffer_size = 64 << 20;  // bytes of kernel ring
    bool immediate = false;
    int timeout_ms = 50;
};

struct CaptureStats {
    CaptureStats& operator+=(const CaptureStats& o) {
        received += o.received;
        received_by_filter += o.received_by_filter;
        dropped_by_kernel += o.dropped_by_kernel;
        dropped_by_interface += o.dropped_by_interface;
        return *this;
    }

    uint64_t received = 0;              // packets handed to the engine
    uint64_t received_by_filter = 0;    // live: packets that passed the filter (ps_recv)
    uint64_t dropped_by_kernel = 0;     // live: no room in the ring (ps_drop)
    uint64_t dropped_by_interface = 0;  // live: lost by the interface or its driver (ps_ifdrop)
};

// Where a live capture hands each packet: in place, valid during the call.
using PacketCallback = void (*)(void* context, const PacketView& packet);

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
    // reader as many as its buffer holds. Reading a pipe that has nothing
    // for `wait_ms` (-1: no limit) gives Timeout.
    Next next_batch(PacketView* packets, size_t max, size_t* count, CaptureError* error, int wait_ms = -1);

    // Live capture: joins a PACKET_FANOUT group that spreads packets over
    // its members by a symmetric flow hash (both directions of a flow reach
    // the same member; IP fragments are reassembled first, so they follow
    // their flow). *group 0 asks the kernel for a fresh group and sets
    // *group to it.
    bool join_fanout(int* group, CaptureError* error);

    // Live capture: hands the packets libpcap has ready (at most `max`, one
    // ring block's worth at most) to `callback`, each in place. With none
    // ready, waits up to `wait_ms` for some: Timeout if none came, End if
    // interrupt() was called (once per call of interrupt()). A quiet wait
    // also looks whether the interface is still up (unless `draining`:
    // taking in the last blocks of a capture already ending).
    Next dispatch(PacketCallback callback, void* context, int max, int wait_ms, size_t* count, CaptureError* error,
                  bool draining = false);

    int linktype() const { return linktype_; }
    // The link type's libpcap name and description ("EN10MB", "Ethernet"),
    // and the snapshot length in effect: what tcpdump says as it starts.
    std::string linktype_name() const;
    std::string linktype_description() const;
    int snaplen() const;
    bool live() const { return live_; }
    // Kernel counters (live only; zeros for files). Call from one thread
    // at a time (it keeps the running totals).
    CaptureStats stats() const;
    // Makes a blocked next_batch() or dispatch() return End soon; callable
    // from any thread.
    void interrupt();

private:
    PacketSource(pcap* handle, bool live);
    bool apply_filter(const std::string& filter, CaptureError* error);
    Next next_from_pcap(PacketView* packet, CaptureError* error);
    static void view(int64_t sec, int64_t usec, const uint8_t* data, uint32_t caplen, uint32_t wirelen,
                     PacketView* out);
    Next reader_end(int result, CaptureError* error) const;
    Next live_error(int rc, CaptureError* error);
    bool interface_up() const;

    // libpcap reads live captures and pcapng; classic pcap files go
    // through our own reader, with BPF applied by pcap_offline_filter.
    pcap* handle_;
    std::unique_ptr<class SavefileReader> reader_;
    std::unique_ptr<bpf_program> offline_filter_;
    bool live_;
    int linktype_ = 0;
    uint64_t received_ = 0;
    std::atomic<bool> interrupted_{false};
    // Live: libpcap's descriptor (non-blocking) and an eventfd that
    // interrupt() writes, both polled by dispatch(); a pipe's are polled by
    // next_batch().
    int capture_fd_ = -1;
    int pipe_fd_ = -1;  // a FIFO or standard input being read
    int wake_fd_ = -1;
    std::string interface_;
    struct PcapCounters {
        unsigned ps_recv, ps_drop, ps_ifdrop;
    };
    mutable CaptureStats kernel_;
    mutable PcapCounters last_kernel_{0, 0, 0};
};

// libpcap's version string ("libpcap version 1.10.3 (with TPACKET_V3)").
std::string libpcap_version();

}  // namespace tcpsensor
