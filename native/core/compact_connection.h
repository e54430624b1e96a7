// A connection that has seen one pure SYN and nothing else, kept in 56
// bytes (88 over IPv6) instead of a full Connection and its three timers.
//
// Under a SYN flood almost every connection is such a one, and most never
// see a second packet. Its first packet goes through the normal path as a
// full Connection; when the frame ends, the engine compacts it if the full
// record can be rebuilt exactly from these fields (it builds the rebuilt
// record and compares, so no event logic is duplicated and a field the
// compact form cannot hold keeps the connection full). Its timers are not
// stored: they are due at `time` plus the option's delay, with arming
// orders from `timer_order` on, and since compact records are made in
// network-time order the oldest one always holds the next of them
// (engine.cc merges them with the timer queue). Its second packet, a timer
// coming due, eviction, a lookup by uid or the end of input expands it back
// into the identical full record.
#pragma once

#include <cstdint>

namespace tcpsensor {

struct CompactConnection {
    double time;           // the SYN's timestamp, which was network time too: start and last time
    uint64_t uid;
    uint64_t timer_order;  // arming order of its first timer; the others followed it
    // IPv4 addresses, originator first; over IPv6 (kCompactV6), the first
    // four bytes are where the table keeps the pair (flow_table.h).
    uint8_t addr[2][4];
    uint16_t port[2];
    uint32_t seq;          // the SYN's sequence number
    uint16_t ip_len;       // its IP total length (the originator's num_bytes_ip)
    uint16_t ip_id;        // its IP id (tcp_rexmit's first look at the originator)
    int8_t window_scale;   // as the window-scale option set it (0 without one)
    uint8_t flags;         // kCompact* below
    // Creation order (the table's oldest-first list), as pool slot + 1.
    uint32_t prev;
    uint32_t next;
};

constexpr uint8_t kCompactDeliverOrig = 0x1;   // tcp_contents for the originator's stream
constexpr uint8_t kCompactDeliverResp = 0x2;   // ... and the responder's
constexpr uint8_t kCompactRexmitSeen = 0x4;    // tcp_rexmit looked at the SYN
constexpr uint8_t kCompactWindowScale = 0x8;   // the SYN carried a window-scale option
constexpr uint8_t kCompactV6 = 0x10;           // the addresses are IPv6 ones, kept apart

static_assert(sizeof(CompactConnection) == 56, "the compact record is meant to stay small");

}  // namespace tcpsensor
