// Writes events into packed batches (batch_format.h) and hands full
// batches to a consumer. Only requested event kinds are written; callers
// test `wants` first so that unrequested events cost nothing to build.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "batch_format.h"
#include "../event_kinds.h"

namespace tcpsensor {

struct Connection;

// A finished batch. Its buffer comes from a process-wide pool, and its
// ownership passes to the consumer, who gives it back with
// release_batch_buffer (from any thread) when done with it.
struct Batch {
    uint8_t* data = nullptr;
    uint32_t size = 0;
    uint32_t capacity = 0;
    uint32_t events = 0;
};

// Batch buffers are recycled: a fresh megabyte per batch would cost page
// faults and zeroing on every batch.
uint8_t* acquire_batch_buffer(uint32_t min_capacity, uint32_t* capacity);
void release_batch_buffer(uint8_t* data, uint32_t capacity);

// Something about the capture as a whole, not about a connection, that the
// engine reports once: Node code sees it as a warning.
struct Notice {
    enum class Kind : uint8_t {
        // More than 5% of the packets carry bad checksums (Zeek's
        // find-checksum-offloading), or, with the 'auto' policy, the first
        // packets did and validation was turned off.
        ChecksumOffload,
    };
    Kind kind;
    double network_time;
    uint64_t packets;  // received when it was raised
    uint64_t bad_ip_checksums;
    uint64_t bad_tcp_checksums;
    uint64_t bad_udp_checksums;
    bool validation_disabled;
};

class BatchConsumer {
public:
    virtual ~BatchConsumer() = default;
    virtual void on_batch(Batch batch) = 0;
    // Raised between batches: every event before it is in a batch already
    // handed over, every event after it will be in a later one.
    virtual void on_notice(const Notice&) {}
};

// connection_SYN_packet's `pkt` record.
struct SynPacketInfo {
    bool is_orig;
    bool df;
    uint8_t ttl;
    bool sack_ok;
    uint32_t size;
    uint16_t win_size;
    int16_t win_scale;  // -1 without the option
    uint16_t mss;
    bool has_ts;
    uint32_t ts_val;
    uint32_t ts_ecr;
};

// One parsed TCP option, as tcp_options reports it.
struct TcpOptionEntry {
    uint8_t kind;
    uint8_t length;
    enum Shape : uint8_t { kBare = 0, kData = 1, kDecoded = 2 } shape;
    const uint8_t* data;  // bytes after kind and length
    uint8_t data_len;
};

class EventWriter {
public:
    EventWriter(const EventSet& events, uint32_t max_events, uint32_t max_bytes, BatchConsumer* consumer);
    ~EventWriter();
    EventWriter(const EventWriter&) = delete;
    EventWriter& operator=(const EventWriter&) = delete;

    bool wants(EventKind k) const { return events_.test(static_cast<size_t>(k)); }

    // A group is everything raised while one packet (and the timers due
    // before it) is processed; batches only end between groups.
    void begin_group(double network_time);
    void end_group();
    // Ends the group and starts the next at the same time: where the events
    // before and after cannot share a connection record (a timer that
    // removed its connection, one connection of the final flush), so that
    // a batch may end there.
    void next_group() {
        end_group();
        begin_group(now_);
    }
    void flush();
    double network_time() const { return now_; }
    uint64_t events_written() const { return events_written_; }

    // Zeek refreshes the shared connection record whenever it builds an
    // event's arguments, including weirds nobody handles; `touch` is that
    // refresh for a connection with events in the current group.
    void touch(Connection& c);
    // A role flip changes the connection's identity in later events.
    void identity_changed(Connection& c);

    void conn_event(EventKind k, Connection& c);
    void is_orig_event(EventKind k, Connection& c, bool is_orig);
    void threshold_event(EventKind k, Connection& c, bool is_orig, uint32_t threshold);
    void syn_packet(Connection& c, const SynPacketInfo& pkt);
    void tcp_packet(Connection& c, bool is_orig, uint8_t flags, uint64_t seq, uint64_t ack, uint32_t len,
                    const uint8_t* payload, uint32_t payload_captured);
    void tcp_option(Connection& c, bool is_orig, uint8_t opt, uint8_t optlen);
    void tcp_options(Connection& c, bool is_orig, const TcpOptionEntry* opts, size_t count);
    void tcp_contents(Connection& c, bool is_orig, uint64_t seq, const uint8_t* data, uint32_t len);
    void tcp_rexmit(Connection& c, bool is_orig, uint64_t seq, uint32_t len, uint32_t data_in_flight,
                    uint32_t window);
    void conn_weird(Connection& c, std::string_view name);
    void content_gap(Connection& c, bool is_orig, uint64_t seq, uint64_t length);
    void write_failure(Connection& c, bool is_orig, std::string_view msg);
    void rexmit_inconsistency(Connection& c, const uint8_t* old_bytes, const uint8_t* new_bytes, uint32_t n,
                              uint8_t flags);

private:
    uint8_t* begin_event(EventKind k, Connection& c, uint32_t arg_bytes);
    uint8_t* reserve(uint32_t bytes);
    void ensure_descriptor(Connection& c);
    void write_snapshot(Connection& c);
    void start_batch();

    EventSet events_;
    uint32_t max_events_;
    uint32_t max_bytes_;
    BatchConsumer* consumer_;

    uint8_t* buf_ = nullptr;
    uint32_t size_ = 0;
    uint32_t capacity_ = 0;
    uint32_t batch_events_ = 0;
    uint32_t batch_records_ = 0;
    uint32_t batch_id_ = 1;
    uint64_t group_id_ = 0;
    double now_ = 0;
    uint64_t events_written_ = 0;
};

}  // namespace tcpsensor
