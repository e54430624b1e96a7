// The engine: packets in, Zeek's TCP events out.
//
// It follows a packet the way Zeek does: network time advances and due
// timers fire first; then link, IP (with fragment reassembly) and TCP
// decoding; the connection is found or made (with Zeek's reuse test and
// role choice); then the TCP analysis proper (tcp_analysis.cc: sequence
// space, history, state machine, close handling), stream reassembly
// (tcp_reassembly.cc) and the per-packet statistics. Events go to an
// EventWriter, one group per packet.
//
// Single-threaded by design: one engine per capture thread, each with its
// own flow table.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "anomalies.h"
#include "compact_connection.h"
#include "decode.h"
#include "encapsulation.h"
#include "output/event_writer.h"
#include "flow_table.h"
#include "fragments.h"
#include "options.h"
#include "timer_queue.h"
#include "udp_sessions.h"

namespace tcpsensor {

struct PacketView {
    double ts;
    const uint8_t* data;
    uint32_t caplen;
    uint32_t wirelen;
};

// A TCP packet decoded down to its segment, ready for connection analysis:
// where decoding (link, IP, fragments, tunnels, checksums) hands over to
// the TCP engine. A sharded capture decodes on one thread and analyses on
// several; a lone engine does both itself.
struct Segment {
    IpPacket ip;            // payload at the TCP header; views the packet (or a reassembled datagram)
    Encapsulation encap;
    double t;               // the packet's own timestamp
    bool checksum_bad;      // the TCP checksum was verified and is wrong
    uint32_t index;         // among its frame's segments (an 802.11 A-MSDU carries several)
};

// Takes the segments of an engine that only decodes.
class SegmentRouter {
public:
    virtual ~SegmentRouter() = default;
    virtual void route(const Segment& segment) = 0;
};

struct EngineStats {
    uint64_t packets = 0;
    uint64_t packets_non_ip = 0;
    uint64_t packets_non_tcp = 0;
    uint64_t packets_tcp = 0;
    uint64_t connections_total = 0;
    uint64_t connections_active = 0;
    uint64_t events = 0;
    uint64_t reassembly_bytes = 0;       // memory held by stream reassembly now (bytes, blocks)
    // Our reassembly bounds at work: endpoints flushed to make room, and
    // the stream bytes they gave up (holes declared gaps early, bytes that
    // could not be kept).
    uint64_t reassembly_flushes = 0;
    uint64_t reassembly_dropped_bytes = 0;
    uint64_t fragment_bytes = 0;         // fragment bytes buffered now
    uint64_t memory_bytes = 0;           // tables, timers and buffers (approximate)
    // Zeek's capture-loss evidence (get_gap_stats): acks seen in established
    // connections, and those that acked data never seen.
    uint64_t ack_events = 0;
    uint64_t ack_bytes = 0;
    uint64_t gap_events = 0;
    uint64_t gap_bytes = 0;
    uint64_t segments = 0;               // TCP segments analysed (a sharded capture's workers split them)
    uint64_t connections_evicted = 0;    // removed early to keep within max_connections
    uint64_t connections_compact = 0;    // held now in compact form (one SYN seen, nothing else)
    std::array<uint64_t, kAnomalyCount> anomalies{};
};

// Totals over several engines (every field adds up).
inline EngineStats& operator+=(EngineStats& a, const EngineStats& b) {
    a.packets += b.packets;
    a.packets_non_ip += b.packets_non_ip;
    a.packets_non_tcp += b.packets_non_tcp;
    a.packets_tcp += b.packets_tcp;
    a.connections_total += b.connections_total;
    a.connections_active += b.connections_active;
    a.events += b.events;
    a.reassembly_bytes += b.reassembly_bytes;
    a.reassembly_flushes += b.reassembly_flushes;
    a.reassembly_dropped_bytes += b.reassembly_dropped_bytes;
    a.fragment_bytes += b.fragment_bytes;
    a.memory_bytes += b.memory_bytes;
    a.ack_events += b.ack_events;
    a.ack_bytes += b.ack_bytes;
    a.gap_events += b.gap_events;
    a.gap_bytes += b.gap_bytes;
    a.segments += b.segments;
    a.connections_evicted += b.connections_evicted;
    a.connections_compact += b.connections_compact;
    for (size_t i = 0; i < a.anomalies.size(); ++i) a.anomalies[i] += b.anomalies[i];
    return a;
}

enum class ContentsDirection : uint8_t { None = 0, Orig = 1, Resp = 2, Both = 3 };

class Engine {
public:
    Engine(const Options& options, int linktype, BatchConsumer* consumer, uint64_t seed);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    void process(const PacketView& packet);
    void process_batch(const PacketView* packets, size_t count);

    // Decoding only: every TCP segment goes to `router` instead of being
    // analysed here (the dispatcher of a sharded capture).
    void route_segments_to(SegmentRouter* router) { router_ = router; }

    // The analysing half, for a worker of a sharded capture: one frame of
    // the capture (number `seq` in capture order, counted from 1) at its
    // time, then its segments that belong here (none for another worker's
    // frame: time and timers still move as they would in a lone engine).
    void begin_frame(double ts, uint64_t seq);
    void handle_segment(const Segment& segment);
    void end_frame();

    // Moves network time forward without a packet (live capture while the
    // link is quiet), firing the timers that come due.
    void advance_time(double t);

    // End of input: Zeek's termination. Only attempt and reset timers still
    // act; every remaining connection then gets connection_pending (if
    // still active) and connection_state_remove.
    void finish();

    // Hands a partly filled batch to the consumer.
    void flush() { writer_.flush(); }

    const EngineStats& stats();
    double network_time() const { return network_time_; }
    uint64_t packets() const { return stats_.packets; }
    // Whether the next frame, at `ts`, starts with a look at the share of
    // bad checksums; and that look, taken now (a dispatcher places the
    // warning between steps).
    bool checksum_check_due(double ts) const {
        const double clock = network_time_ > ts ? network_time_ : ts;
        return next_checksum_check_ != 0 && clock >= next_checksum_check_;
    }
    void check_checksums_at(double ts);
    void count_anomaly(Anomaly a) { count(a); }

    // Zeek's set_contents_file / get_contents_file, by uid. Returns false
    // if no such connection is active, or (with *error set) if the file
    // cannot be opened.
    bool set_contents_file(uint64_t uid, ContentsDirection dir, const std::string& path, std::string* error);
    bool get_contents_file(uint64_t uid, ContentsDirection dir, std::string* path);

    // Finds an active connection by its 4-tuple as given (either direction).
    uint64_t find_uid(const Endpoint4& a, const Endpoint4& b) const;

private:
    // --- packet path (engine.cc) ---
    void handle_frame(const PacketView& packet);
    void handle_80211(const PacketView& packet);
    // The packet path from the IP layer on; `encap` describes the tunnels
    // the packet came through (tunnels.cc).
    void handle_l3(const uint8_t* ip, uint32_t captured, uint32_t wire, double t, const Encapsulation& encap);
    void handle_ip(IpPacket& ip, double t, const Encapsulation& encap);
    void handle_tunnel(const IpPacket& outer, double t, const Encapsulation& encap);
    void gre(const uint8_t* data, uint32_t len, const IpAddress& src, const IpAddress& dst, uint8_t ip_proto, double t,
             const Encapsulation& encap);
    bool inner_ip_fits(const uint8_t* p, uint32_t n, int version);
    void inner_ethernet(const uint8_t* frame, uint32_t len, uint32_t uncaptured, double t, const Encapsulation& encap);
    // --- UDP tunnels (udp_tunnels.cc) ---
    void handle_udp(const IpPacket& ip, double t, const Encapsulation& encap);
    void decapsulate_udp(TunnelKind kind, UdpSession& s, const uint8_t* data, uint32_t len, uint32_t uncaptured,
                         double t, const Encapsulation& encap);
    void teredo(UdpSession& s, const uint8_t* data, uint32_t len, uint32_t uncaptured, double t,
                const Encapsulation& inner);
    void tunnel_violation(UdpSession* s, TunnelKind kind);
    void gtpv1(UdpSession& s, const uint8_t* data, uint32_t len, uint32_t uncaptured, double t,
               const Encapsulation& encap);
    void check_encapsulation(Connection& c, const Encapsulation& encap);
    Connection* new_connection(const Endpoint4& src, const Endpoint4& dst, const TcpHeader& th, uint32_t hash,
                               double t, const Encapsulation& encap);
    bool is_reuse(Connection& c, const TcpHeader& th, double t);
    // Raises connection_state_remove (after connection_pending, with
    // `pending`, as at termination) and removes the connection.
    void remove_connection(Connection& c, bool pending);
    void remove_connection(Connection& c) { remove_connection(c, finished_); }
    void done(Connection& c, bool pending);
    void evict_one();
    // --- compact records (compact.cc) ---
    void settle_fresh();
    bool try_compact(Connection& c, const TimerEntry* timers, size_t count);
    void fill_from_compact(const CompactConnection& k, Connection& c) const;
    size_t compact_timers(const CompactConnection& k, uint32_t slot, uint32_t generation, TimerEntry* out) const;
    TimerEntry first_compact_timer(const CompactConnection& k) const;
    // The full record in place of compact record `slot`; `timed`: with its
    // timers in the queue (false: it is about to be removed).
    Connection* expand(uint32_t slot, bool timed);
    Connection* find_by_uid(uint64_t uid, bool expand_compact);
    void count(Anomaly a) { ++stats_.anomalies[static_cast<size_t>(a)]; }
    // A connection's uid: a keyed hash of the segment that made it (its
    // frame and its place among the frame's segments), so that a capture
    // gets the same uids however it is sharded. A segment makes at most one
    // connection.
    uint64_t next_uid();
    bool tcp_checksum_bad(const IpPacket& ip) const;

    // --- timers (engine.cc) ---
    void add_timer(Connection& c, TimerKind kind, double due);
    void set_inactivity_timeout(Connection& c, double timeout);
    void expire_timers(double now);
    bool timer_live(const TimerEntry& e) const;
    void dispatch_timer(const TimerEntry& e, double now, bool terminating);

    // --- TCP analysis (tcp_analysis.cc) ---
    void deliver_packet(Connection& c, bool is_orig, const IpPacket& ip, const TcpHeader& th, double t,
                        bool checksum_bad);
    void process_segment(Connection& c, bool is_orig, int side, const IpPacket& ip, const TcpHeader& th,
                         const uint8_t* data, int32_t len, int32_t caplen, double t, uint64_t* rel_data_seq);
    void init_endpoint(Connection& c, int side, uint8_t flags, uint32_t seq, uint32_t last);
    void update_history(Connection& c, int side, uint8_t flags, uint64_t rel_seq, int32_t len);
    bool check_history(Connection& c, int side, uint32_t mask, char code);
    void add_history(Connection& c, int side, char code);
    void add_history_letter(Connection& c, char code);
    void update_window(Connection& c, int side, uint32_t window, uint32_t seq, uint32_t ack, uint8_t flags);
    void init_window(Connection& c, int side, uint8_t flags, int scale, uint32_t seq, uint32_t ack);
    void init_peer(Connection& c, int peer_side, uint8_t flags, uint32_t ack);
    int32_t update_last_seq(Connection& c, int side, uint32_t last, uint8_t flags, int32_t len);
    void state_machine(Connection& c, int side, bool is_orig, uint32_t seq, uint32_t ack, int32_t len,
                       int32_t delta_last, uint8_t flags, double t, bool* do_close, bool* gen_event);
    void inactive_state(Connection& c, int side, bool is_orig, uint32_t seq, uint32_t ack, int32_t len,
                        uint8_t flags, double t, bool* do_close, bool* gen_event);
    void set_state(Connection& c, int side, EpState s);
    void flip_roles(Connection& c);
    void connection_closed(Connection& c, int side, bool gen_event);
    void connection_reset(Connection& c);
    void scaled_event(Connection& c, int side, ScaledCounter EndpointExtras::*counter, char letter, EventKind kind);
    void weird(Connection& c, const char* name);
    void parse_options(Connection& c, bool is_orig, const TcpHeader& th);
    void syn_packet(Connection& c, bool is_orig, int side, const IpPacket& ip, const TcpHeader& th, int32_t len,
                    uint32_t seq, uint32_t ack);
    void rexmit_stats(Connection& c, bool is_orig, uint64_t seq, int32_t len, const IpPacket& ip);
    void after_group();
    // --- checksum offload (engine.cc) ---
    void check_checksum_offload(bool at_end);
    void decide_auto_checksums();
    void raise_checksum_notice(bool disabling);

    // --- stream reassembly (tcp_reassembly.cc) ---
    void enable_reassembly(Connection& c);
    void data_sent(Connection& c, int side, uint64_t seq, int32_t len, const uint8_t* data, uint8_t flags);
    void settle_blocks(Connection& c, int side, bool keep_all);
    // Our bound on reassembly memory, made fair: room for `need` more bytes
    // is made by flushing the oldest holders of more than their fair share
    // (BlockMemory::victim). False: the list asking, `mine`, is itself the
    // one to give way.
    bool make_room(const BlockList* mine, uint64_t need);
    void give_way(BlockList& list);
    void flush(Connection& c, int side);
    void ack_received(Connection& c, int side, uint64_t seq);
    void new_block(Connection& c, int side, uint64_t seq, uint64_t len, const uint8_t* data, uint8_t flags);
    void block_inserted(Connection& c, int side, BlockList::iterator from);
    // Returns the bytes below `seq` that were never seen (Zeek's gap accounting).
    uint64_t trim_to_seq(Connection& c, int side, uint64_t seq);
    void undelivered(Connection& c, int side, uint64_t up_to);
    void deliver_block(Connection& c, int side, uint64_t seq, uint64_t len, const uint8_t* data);
    void gap(Connection& c, int side, uint64_t seq, uint64_t len);
    void check_overlap(Connection& c, int side, const BlockList& list, uint64_t seq, uint64_t len,
                       const uint8_t* data, uint8_t flags);
    void check_eof(Connection& c, int side);
    bool data_pending(const Connection& c, int side) const;
    void endpoint_eof(Connection& c, int side);
    void clear_blocks(Connection& c, int side);
    bool stream_needs_bytes(const Connection& c, int side) const;
    BlockList& blocks(Connection& c, int side);
    void close_contents_files(Connection& c);
    void record_bytes(Connection& c, int side, const uint8_t* data, uint64_t len);
    void record_gap(Connection& c, int side, uint64_t len);
    void record_to_seq(Connection& c, int side, uint64_t start, uint64_t stop);

    Options options_;
    BatchConsumer* consumer_;
    int linktype_;
    EventWriter writer_;
    FlowTable table_;
    TimerQueue timers_;
    FragmentReassembler fragments_;
    UdpSessions udp_sessions_;
    BlockMemory block_memory_;
    // Emptied block lists, kept for reuse: connections come and go at
    // packet rate, and their lists need not be reallocated each time.
    std::vector<std::unique_ptr<BlockList>> spare_block_lists_;
    EngineStats stats_;
    double network_time_ = 0;
    // Whether the packet being decoded was captured whole: the frame, or,
    // inside an IP tunnel or a reassembled datagram, the inner packet (UDP
    // checksums are only verified then, as Zeek does).
    bool packet_complete_ = true;
    uint64_t uid_key_;
    uint64_t frame_seq_ = 0;            // the frame being processed, in capture order
    uint32_t segments_in_frame_ = 0;    // TCP segments it has carried so far
    uint32_t segment_index_ = 0;        // the segment being analysed, within its frame
    SegmentRouter* router_ = nullptr;
    bool finished_ = false;
    // Zeek's find-checksum-offloading: the next look at the share of bad
    // checksums (0 until the first packet schedules it), and whether the
    // warning was given.
    double next_checksum_check_ = 0;
    bool checksum_warned_ = false;
    // Connections whose connection_established was raised in the current
    // group; Zeek's conn scripts adjust their inactivity timeout when the
    // event is handled, after the packet.
    std::vector<std::pair<uint32_t, uint32_t>> established_in_group_;
    // Connections made by the current frame (slot, generation), and the
    // timers they armed (orders reserved): at the frame's end each is
    // either compacted, its timers then implied, or its timers are queued.
    std::vector<std::pair<uint32_t, uint32_t>> fresh_;
    std::vector<TimerEntry> fresh_timers_;
    std::vector<TimerEntry> fresh_own_;
    // Where a compact candidate is rebuilt, to be compared with the original.
    Connection probe_;
    // The delay of a compact record's first timer (the smallest of them).
    double compact_first_delay_ = 0;
    // This engine's share of max_connections (0: no bound).
    uint32_t max_connections_ = 0;
    // Network time's second, as the flow table's eviction order keeps it.
    uint32_t second_ = 0;
};

}  // namespace tcpsensor
