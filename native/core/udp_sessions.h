// The outer UDP connections of UDP tunnels, as far as decapsulation needs
// them: Zeek makes a connection of every UDP flow, and a tunnel analyzer's
// behaviour depends on it (which side is the responder, whose port picks
// the analyzer; a protocol violation, which stops that analyzer for the
// rest of the connection; the connection's identity, part of every inner
// packet's encapsulation). A session ends as Zeek's connection would, after
// udp_inactivity_timeout without a packet; ended ones are found stale on
// lookup. Only flows a tunnel analyzer could see get a session, and the
// table is bounded.
#pragma once

#include <cstdint>
#include <vector>

#include "encapsulation.h"
#include "ip_address.h"

namespace tcpsensor {

struct UdpSession {
    Endpoint4 orig;
    Endpoint4 resp;
    double last_time = 0;    // time of the last packet counted
    double due = 0;          // when Zeek's inactivity timer would next look at it
    uint64_t id = 0;         // distinct for every session the engine ever had
    uint32_t hash = 0;
    uint8_t violated = 0;    // one bit per TunnelKind that met a protocol violation
    bool used = false;

    bool violated_by(TunnelKind k) const { return violated & bit(k); }
    void violate(TunnelKind k) { violated = static_cast<uint8_t>(violated | bit(k)); }

private:
    static uint8_t bit(TunnelKind k) { return static_cast<uint8_t>(1u << static_cast<unsigned>(k)); }
};

class UdpSessions {
public:
    UdpSessions(uint64_t seed, uint32_t max_sessions) : seed_(seed), max_sessions_(max_sessions) {}

    // The live session of the flow between a and b (either direction) at
    // network time `now`, or nullptr. A session ends as Zeek's connection
    // does: its inactivity timer, first due `timeout` after its first
    // packet, looks again `timeout` after the last packet until that is
    // `timeout` ago. Ended sessions are removed.
    UdpSession* find(const Endpoint4& a, const Endpoint4& b, double now, double timeout);

    // A new session for the flow whose first packet, at time t, goes from
    // src to dst; `flip` makes dst the originator. nullptr when the table
    // is full of live sessions at network time `now`.
    UdpSession* insert(const Endpoint4& src, const Endpoint4& dst, bool flip, double t, double now, double timeout);

    // A session standing alone (the table being full): it lives for one
    // packet, with an identity of its flow's own, the same every time.
    UdpSession transient(const Endpoint4& src, const Endpoint4& dst, bool flip, double t) const;

    size_t size() const { return count_; }
    size_t memory_bytes() const { return slots_.capacity() * sizeof(UdpSession); }

private:
    size_t home(uint32_t h) const { return h & (slots_.size() - 1); }
    void erase_at(size_t i);
    void grow();
    void sweep(double now, double timeout);
    static bool ended(UdpSession& s, double now, double timeout);

    uint64_t seed_;
    uint32_t max_sessions_;
    std::vector<UdpSession> slots_;
    size_t count_ = 0;
    uint64_t next_id_ = 0;
    double last_sweep_ = -1e300;
};

}  // namespace tcpsensor
