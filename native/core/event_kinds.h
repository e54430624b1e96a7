// The one list of event kinds. Adding an event is one entry here and one
// member of the TypeScript union (lib/events.ts); test/event-kinds.test.ts
// checks the two against each other through the addon.
//
// Columns: numeric id (stable: it is the tag in the batch format), Zeek's
// name, the argument layout (ArgShape), whether `--events all` includes it,
// and whether it is on when the caller names no events (the per-packet
// ones are expensive and stay off, as the contract says).
#pragma once

#include <bitset>
#include <cstdint>
#include <string_view>

namespace tcpsensor {

// How the arguments after the common header are laid out in a batch record.
enum class ArgShape : uint8_t {
    None,          // connection only
    IsOrig,        // is_orig
    SynPacket,     // pkt: SYN_packet record
    WriteFailure,  // is_orig, msg
    Contents,      // is_orig, seq, contents
    Threshold,     // is_orig, threshold
    Option,        // is_orig, opt, optlen
    Options,       // is_orig, options[]
    Packet,        // is_orig, flags, seq, ack, len, payload
    Rexmit,        // is_orig, seq, len, data_in_flight, window
    Weird,         // name
    Gap,           // is_orig, seq, length
    Inconsistency, // t1, t2, tcp_flags
};

#define TCPSENSOR_EVENT_KINDS(X)                                               \
    X(1, new_connection, None, true, true)                                     \
    X(2, new_connection_contents, None, true, true)                            \
    X(3, connection_established, None, true, true)                             \
    X(4, connection_attempt, None, true, true)                                 \
    X(5, connection_finished, None, true, true)                                \
    X(6, connection_first_ACK, None, true, true)                               \
    X(7, connection_half_finished, None, true, true)                           \
    X(8, connection_partial_close, None, true, true)                           \
    X(9, connection_pending, None, true, true)                                 \
    X(10, connection_rejected, None, true, true)                               \
    X(11, connection_reset, None, true, true)                                  \
    X(12, partial_connection, None, true, true)                                \
    X(13, connection_EOF, IsOrig, true, true)                                  \
    X(14, connection_SYN_packet, SynPacket, true, false)                       \
    X(15, contents_file_write_failure, WriteFailure, true, true)               \
    X(16, tcp_contents, Contents, true, true)                                  \
    X(17, tcp_multiple_checksum_errors, Threshold, true, true)                 \
    X(18, tcp_multiple_gap, Threshold, true, true)                             \
    X(19, tcp_multiple_retransmissions, Threshold, true, true)                 \
    X(20, tcp_multiple_zero_windows, Threshold, true, true)                    \
    X(21, tcp_option, Option, true, false)                                     \
    X(22, tcp_options, Options, true, false)                                   \
    X(23, tcp_packet, Packet, true, false)                                     \
    X(24, tcp_rexmit, Rexmit, true, true)                                      \
    X(25, connection_state_remove, None, true, true)                           \
    X(26, connection_timeout, None, true, true)                                \
    X(27, connection_reused, None, true, true)                                 \
    X(28, connection_flipped, None, true, true)                                \
    X(29, conn_weird, Weird, true, true)                                       \
    X(30, content_gap, Gap, false, false)                                      \
    X(31, rexmit_inconsistency, Inconsistency, false, false)

enum class EventKind : uint8_t {
#define TCPSENSOR_KIND_ENUM(id, name, shape, all, dflt) name = id,
    TCPSENSOR_EVENT_KINDS(TCPSENSOR_KIND_ENUM)
#undef TCPSENSOR_KIND_ENUM
};

constexpr int kMaxEventKind = 31;

using EventSet = std::bitset<kMaxEventKind + 1>;

struct EventKindInfo {
    uint8_t id;
    std::string_view name;
    ArgShape shape;
    bool in_all;
    bool in_default;
};

inline constexpr EventKindInfo kEventKinds[] = {
#define TCPSENSOR_KIND_INFO(id, name, shape, all, dflt) {id, #name, ArgShape::shape, all, dflt},
    TCPSENSOR_EVENT_KINDS(TCPSENSOR_KIND_INFO)
#undef TCPSENSOR_KIND_INFO
};

inline EventSet default_event_set() {
    EventSet s;
    for (const auto& k : kEventKinds)
        if (k.in_default) s.set(k.id);
    return s;
}

inline EventSet all_event_set() {
    EventSet s;
    for (const auto& k : kEventKinds)
        if (k.in_all) s.set(k.id);
    return s;
}

}  // namespace tcpsensor
