// Every tunable of the engine in one place, with Zeek's defaults.
//
// The TypeScript options type (lib/options.ts) mirrors this struct one-to-one;
// the addon copies validated values across. Intervals are seconds of network
// time, as in Zeek's script-level constants of the same names.
#pragma once

#include <bitset>
#include <cstdint>
#include <utility>
#include <vector>

#include "event_kinds.h"

namespace tcpsensor {

struct Options {
    // --- Zeek's TCP tunables (scripts/base/init-bare.zeek) ---
    double tcp_SYN_timeout = 5.0;
    double tcp_session_timer = 6.0;
    double tcp_connection_linger = 5.0;
    double tcp_attempt_delay = 5.0;
    double tcp_close_delay = 5.0;
    double tcp_reset_delay = 5.0;
    double tcp_partial_close_delay = 3.0;
    double tcp_inactivity_timeout = 300.0;
    // A new TCP connection starts with this inactivity timeout until its
    // handshake ends (Zeek arms udp_inactivity_timeout there).
    double udp_inactivity_timeout = 60.0;
    uint32_t tcp_storm_thresh = 1000;
    double tcp_storm_interarrival_thresh = 1.0;
    uint64_t tcp_max_initial_window = 16384;
    uint64_t tcp_max_above_hole_without_any_acks = 16384;
    uint64_t tcp_excessive_data_without_further_acks = 10 * 1024 * 1024;
    uint32_t tcp_max_old_segments = 0;
    bool tcp_content_deliver_all_orig = false;
    bool tcp_content_deliver_all_resp = false;
    bool ignore_checksums = false;
    // Not Zeek's: with `auto_checksums` (Suricata's checksum-validation:
    // auto), validation stops if more than a tenth of the first
    // `checksum_sample` packets carry bad checksums (NIC offload).
    bool auto_checksums = false;
    uint32_t checksum_sample = 1000;
    // Zeek's ChecksumOffloading::check_interval: how often (network time)
    // the share of bad checksums is looked at while few packets have come.
    double checksum_check_interval = 10.0;
    // Port sets, indexed by port number (a bit per TCP port).
    std::bitset<65536> tcp_content_delivery_ports_orig;
    std::bitset<65536> tcp_content_delivery_ports_resp;
    std::bitset<65536> likely_server_ports;

    // Zeek's conn scripts give interactive services a longer inactivity
    // timeout once established (Conn::port_inactivity_timeouts).
    std::vector<std::pair<uint16_t, double>> port_inactivity_timeouts = {
        {21, 3600.0}, {22, 3600.0}, {23, 3600.0}, {513, 3600.0}};

    // --- Zeek's weird sampling (Weird::sampling_*) ---
    uint64_t weird_sampling_threshold = 25;
    uint64_t weird_sampling_rate = 1000;
    double weird_sampling_duration = 600.0;

    // --- Memory bounds of our own (Zeek has none of these) ---
    // Memory held by all stream reassemblers together (bytes as allocated,
    // block records). At the bound, room is made by flushing the endpoints
    // holding more than their fair share (the bound over the endpoints
    // holding anything), oldest first: their holes become gaps, their data
    // is delivered (tcp_reassembly.cc, Engine::flush).
    uint64_t max_reassembly_bytes = 256ull * 1024 * 1024;
    // Blocks one endpoint may hold (what one ack or flush may have to walk);
    // one at the bound is flushed likewise. Above Zeek's own 10 MB
    // tcp_excessive_data_without_further_acks in full-sized segments.
    uint32_t max_blocks_per_endpoint = 16384;
    // Bytes held by IP fragment reassembly; frag_timeout is Zeek's own.
    uint64_t max_fragment_bytes = 64ull * 1024 * 1024;
    double frag_timeout = 300.0;
    // Outer UDP flows of UDP tunnels tracked at once (64 bytes each, in a
    // table at most twice that size); beyond it, a new flow's packets are
    // decapsulated without memory of earlier ones (counted).
    uint32_t max_udp_sessions = 1u << 18;
    // TCP connections held at once (0: no bound). A new connection past it
    // first evicts the one least worth keeping (flow_table.h), which gets
    // connection_pending (if still active) and connection_state_remove.
    // A sharded capture gives each engine an equal share.
    uint32_t max_connections = 0;
    // Connections that have seen one SYN are held compact (compact_connection.h).
    // Off only to check that compact records change nothing.
    bool compact_records = true;

    // --- Event selection ---
    EventSet events = default_event_set();

    // --- Batching ---
    uint32_t batch_max_events = 4096;
    uint32_t batch_max_bytes = 1u << 20;
};

}  // namespace tcpsensor
