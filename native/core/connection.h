// Per-connection state: the two endpoints with Zeek's TCP endpoint state
// machine variables, the connection's history and lifecycle flags.
//
// Sides vs roles: ep[0] and ep[1] are the two physical sides, ep[0] being
// the originator when the connection was created. Zeek's role flips
// (connection_flipped) only change `orig_side`; per-endpoint state (scaled
// counters, TCP stats, reassembly choices, packet counts) stays with its
// physical side, exactly as it stays with Zeek's endpoint objects.
#pragma once

#include <cstdint>
#include <memory>

#include <vector>

#include "block_list.h"
#include "contents_files.h"
#include "history.h"
#include "ip_address.h"

namespace tcpsensor {

enum class EpState : uint8_t {
    Inactive = 0,     // nothing seen from this side
    SynSent = 1,      // SYN seen, no reply
    SynAckSent = 2,   // SYN-ACK seen without the initial SYN
    Partial = 3,      // data seen without a SYN
    Established = 4,  // handshake completed (implicit for a SYN from the responder)
    Closed = 5,       // FIN seen
    Reset = 6,        // RST seen
};

inline bool in_handshake(EpState s) {
    return s == EpState::Inactive || s == EpState::SynSent || s == EpState::SynAckSent;
}

// Zeek's scaled history letters: the letter is added at 1, 10, 100, ...
// occurrences; crossing 10, 100, ... also raises tcp_multiple_*.
struct ScaledCounter {
    uint32_t count = 0;
    uint32_t threshold = 1;

    // True when this occurrence crosses the current threshold; *crossed is
    // the threshold crossed.
    bool bump(uint32_t* crossed) {
        if (++count != threshold) return false;
        *crossed = threshold;
        const uint64_t next = static_cast<uint64_t>(threshold) * 10;
        if (next > 0xffffffffu)
            count = 0;  // keep counting at the last representable threshold
        else
            threshold = static_cast<uint32_t>(next);
        return true;
    }
};

// Stream reassembly bookkeeping of one endpoint (relative sequence space,
// first data byte is 1).
struct StreamState {
    uint64_t last_reassem_seq = 1;  // everything below is delivered or declared missing
    uint64_t trim_seq = 1;          // everything below is acknowledged and released
    std::unique_ptr<BlockList> blocks;
    bool had_gap = false;
    bool skip_deliveries = false;
    bool did_eof = false;
    bool deliver_contents = false;  // tcp_contents for this endpoint (fixed at creation)
};

// Per-endpoint state that most packets never touch: kept out of line
// (ConnectionExtras) so that the hot state stays within a few cache lines.
struct EndpointExtras {
    uint64_t fin_seq = 0;  // relative seq just past the FIN
    uint64_t hist_last_syn = 0;
    uint64_t hist_last_fin = 0;
    uint64_t hist_last_rst = 0;
    ScaledCounter checksum_errors;
    ScaledCounter retransmissions;
    ScaledCounter zero_windows;
    ScaledCounter gaps;
    std::unique_ptr<BlockList> old_blocks;  // tcp_max_old_segments
};

struct TcpEndpoint {
    // Sequence space: 32-bit wire numbers, 64-bit relative positions through
    // wrap counters. Zeek only ever starts an endpoint at a 32-bit number.
    uint32_t start_seq = 0;
    uint32_t last_seq = 0;
    uint32_t ack_seq = 0;
    uint32_t seq_wraps = 0;
    uint32_t ack_wraps = 0;
    // Window as this side last advertised it (scaled).
    uint32_t window = 0;
    uint32_t window_seq = 0;
    uint32_t window_ack_seq = 0;
    int8_t window_scale = 0;

    EpState state = EpState::Inactive;
    EpState prev_state = EpState::Inactive;
    bool did_close = false;  // ConnectionClosed reported for this side

    // FIN and RST counts (storm detection; saturating).
    uint16_t fin_cnt = 0;
    uint16_t rst_cnt = 0;

    // TCPStats (tcp_rexmit) state of the stats slot bound to this side.
    uint16_t rexmit_last_id = 0;
    bool rexmit_seen = false;
    uint64_t rexmit_max_top = 0;

    double last_time = 0;  // time of this side's last packet (0: none yet)

    // ConnSize: packets and IP bytes sent by this side.
    uint64_t num_pkts = 0;
    uint64_t num_bytes_ip = 0;

    StreamState stream;

    uint32_t start_seq32() const { return start_seq; }

    static uint64_t full_seq(uint32_t seq, uint32_t wraps) { return (static_cast<uint64_t>(wraps) << 32) + seq; }
    uint64_t to_relative(uint32_t seq, uint32_t wraps) const { return full_seq(seq, wraps) - start_seq; }

    void update_last_seq(uint32_t seq) {
        if (seq < last_seq) ++seq_wraps;
        last_seq = seq;
    }
    void update_ack_seq(uint32_t seq) {
        if (seq < ack_seq) ++ack_wraps;
        ack_seq = seq;
    }
    void reinit(uint32_t seq, uint32_t last) {
        start_seq = seq;
        ack_seq = seq;
        last_seq = last;
    }

    // None of this side's data acknowledged (the SYN's octet aside).
    bool no_data_acked() const {
        const uint64_t ack = full_seq(ack_seq, ack_wraps);
        return ack == start_seq || ack == uint64_t{start_seq} + 1;
    }

    // Zeek's endpoint size: bytes in sequence space, SYN and FIN octets
    // excluded; includes bytes acknowledged but never seen.
    uint64_t size(const TcpEndpoint& peer) const {
        if (prev_state == EpState::SynSent && state == EpState::Reset && peer.state == EpState::Inactive &&
            !no_data_acked())
            return 0;
        const uint64_t last64 = full_seq(last_seq, seq_wraps);
        const uint64_t ack64 = full_seq(ack_seq, ack_wraps);
        uint64_t size = (last64 > ack64 ? last64 : ack64) - start_seq;
        if (size != 0) --size;
        if (fin_cnt > 0 && size != 0) --size;
        return size;
    }

    bool is_active() const { return state != EpState::Inactive && !did_close; }
};

// Zeek's once-only history letters: one bit per kind and role (responder
// bits shifted by 16), kept across role flips.
namespace hist_bit {
constexpr uint32_t SYN = 0x1;
constexpr uint32_t FIN = 0x2;
constexpr uint32_t RST = 0x4;
constexpr uint32_t FIN_RST = 0x8;
constexpr uint32_t DATA = 0x10;
constexpr uint32_t ACK = 0x20;
constexpr uint32_t MULTI_FLAG = 0x40;
}  // namespace hist_bit

// Zeek's per-connection weird sampling state, per weird name; allocated
// on a connection's first weird.
struct WeirdCounts {
    struct Entry {
        const char* name;
        uint64_t count;
        double sampling_start;
    };
    std::vector<Entry> entries;
};

// What a connection only sometimes needs, allocated on first use.
struct ConnectionExtras {
    EndpointExtras ep[2];
    WeirdCounts weirds;
    ContentsFiles contents_files;
    uint64_t encapsulation = 0;  // fingerprint of the tunnels its packets came through
    uint8_t tunnel_changes = 0;
};

struct Connection {
    Endpoint4 side[2];
    uint8_t orig_side = 0;

    uint32_t slot = 0;        // index in the connection pool
    uint32_t generation = 0;  // bumped when the slot is reused
    uint64_t uid = 0;

    double start_time = 0;
    double last_time = 0;
    double inactivity_timeout = 0;

    TcpEndpoint ep[2];
    History history;
    uint32_t hist_seen = 0;

    // The TCP analyzer's flags (Zeek's TCPSessionAdapter).
    bool analyzer_active = true;  // is_active: cleared by finishing/reset/attempt/timeout
    bool seen_first_ack = false;
    bool reassembling = false;
    bool is_partial = false;
    bool close_deferred = false;
    bool deferred_gen_event = false;
    bool did_weird = false;
    bool in_table = false;
    uint8_t first_packet_seen = 0;  // bit 1: originator, bit 2: responder

    // Timer cancellation: analyzer timers carry analyzer_epoch, the
    // inactivity timer inactivity_epoch; a bump invalidates queued ones.
    uint8_t analyzer_epoch = 0;
    uint8_t inactivity_epoch = 0;

    // Made by the frame being processed: its timers wait for the frame's
    // end, where it may be compacted (engine.cc).
    bool fresh = false;

    // Its place in the table's eviction order (flow_table.h): neighbours
    // as slot + 1, which list, and the second it last moved.
    uint8_t lru_list = 0;
    uint32_t lru_prev = 0;
    uint32_t lru_next = 0;
    uint32_t lru_second = 0;

    // Batch bookkeeping of the event writer.
    uint32_t desc_batch = 0;
    uint32_t desc_offset = 0;
    uint64_t snap_group = 0;
    uint32_t snap_offset = 0;

    std::unique_ptr<ConnectionExtras> extras;

    TcpEndpoint& orig() { return ep[orig_side]; }
    TcpEndpoint& resp() { return ep[orig_side ^ 1]; }
    const TcpEndpoint& orig() const { return ep[orig_side]; }
    const TcpEndpoint& resp() const { return ep[orig_side ^ 1]; }
    bool is_orig_side(int s) const { return s == orig_side; }
    const Endpoint4& orig_id() const { return side[orig_side]; }
    const Endpoint4& resp_id() const { return side[orig_side ^ 1]; }
    bool both_closed() const { return ep[0].did_close && ep[1].did_close; }
    bool is_closed() const { return ep[0].did_close || ep[1].did_close; }

    ConnectionExtras& more() {
        if (!extras) extras = std::make_unique<ConnectionExtras>();
        return *extras;
    }
    EndpointExtras& ep_more(int s) { return more().ep[s]; }
    // Read-only views: a connection without extras has their defaults.
    const EndpointExtras* ep_more_if(int s) const { return extras ? &extras->ep[s] : nullptr; }
    const ContentsFile* contents_file(int s) const { return extras ? extras->contents_files.file[s].get() : nullptr; }
};

}  // namespace tcpsensor
