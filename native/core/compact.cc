// Compact records (compact_connection.h): made from a full connection at the
// end of its first frame when the full record can be rebuilt from them
// exactly, and rebuilt into it when anything needs more.

#include "engine.h"

namespace tcpsensor {

namespace {

constexpr uint8_t kOrigSeen = 1;  // Connection::first_packet_seen, as tcp_analysis.cc sets it

bool same_stream(const StreamState& a, const StreamState& b) {
    return a.last_reassem_seq == b.last_reassem_seq && a.trim_seq == b.trim_seq && !a.blocks && !b.blocks &&
           a.had_gap == b.had_gap && a.skip_deliveries == b.skip_deliveries && a.did_eof == b.did_eof &&
           a.deliver_contents == b.deliver_contents;
}

bool same_endpoint(const TcpEndpoint& a, const TcpEndpoint& b) {
    return a.start_seq == b.start_seq && a.last_seq == b.last_seq && a.ack_seq == b.ack_seq &&
           a.seq_wraps == b.seq_wraps && a.ack_wraps == b.ack_wraps && a.window == b.window &&
           a.window_seq == b.window_seq && a.window_ack_seq == b.window_ack_seq && a.window_scale == b.window_scale &&
           a.state == b.state && a.prev_state == b.prev_state && a.did_close == b.did_close &&
           a.fin_cnt == b.fin_cnt && a.rst_cnt == b.rst_cnt && a.rexmit_last_id == b.rexmit_last_id &&
           a.rexmit_seen == b.rexmit_seen && a.rexmit_max_top == b.rexmit_max_top && a.last_time == b.last_time &&
           a.num_pkts == b.num_pkts && a.num_bytes_ip == b.num_bytes_ip && same_stream(a.stream, b.stream);
}

// Everything a connection's analysis and events depend on: all but its
// place (slot, generation, eviction order) and the event writer's caches.
bool same_state(const Connection& a, const Connection& b) {
    // A field added to these structs must be compared here (and, if a SYN
    // can set it, held by the compact form): the sizes are a reminder.
#if defined(__x86_64__) || defined(__aarch64__)
    static_assert(sizeof(StreamState) == 32 && sizeof(TcpEndpoint) == 112 && sizeof(Connection) == 392,
                  "Connection changed: update same_state() in compact.cc");
#endif
    return a.side[0] == b.side[0] && a.side[1] == b.side[1] && a.orig_side == b.orig_side && a.uid == b.uid &&
           a.start_time == b.start_time && a.last_time == b.last_time &&
           a.inactivity_timeout == b.inactivity_timeout && same_endpoint(a.ep[0], b.ep[0]) &&
           same_endpoint(a.ep[1], b.ep[1]) && a.history.view() == b.history.view() && a.hist_seen == b.hist_seen &&
           a.analyzer_active == b.analyzer_active && a.seen_first_ack == b.seen_first_ack &&
           a.reassembling == b.reassembling && a.is_partial == b.is_partial &&
           a.close_deferred == b.close_deferred && a.deferred_gen_event == b.deferred_gen_event &&
           a.did_weird == b.did_weird && a.in_table == b.in_table && a.first_packet_seen == b.first_packet_seen &&
           a.analyzer_epoch == b.analyzer_epoch && a.inactivity_epoch == b.inactivity_epoch && !a.extras &&
           !b.extras;
}

}  // namespace

// Sets every field a compact record determines, whatever it held before
// (try_compact reuses one probe), but the sides, which the table keeps; the
// rest must be as a fresh record has them.
void Engine::fill_from_compact(const CompactConnection& k, Connection& c) const {
    c.orig_side = 0;
    c.uid = k.uid;
    c.start_time = c.last_time = k.time;
    c.inactivity_timeout = options_.udp_inactivity_timeout;
    c.inactivity_epoch = options_.udp_inactivity_timeout != 0 ? 1 : 0;
    TcpEndpoint& o = c.ep[0];
    TcpEndpoint& r = c.ep[1];
    o.start_seq = o.ack_seq = k.seq;
    o.last_seq = k.seq + 1;
    o.state = EpState::SynSent;
    o.window_scale = k.window_scale;
    const bool scaled = (k.flags & kCompactWindowScale) != 0;
    o.window_seq = scaled ? k.seq : 0;
    r.window_ack_seq = scaled ? k.seq : 0;
    o.rexmit_seen = (k.flags & kCompactRexmitSeen) != 0;
    o.rexmit_last_id = k.ip_id;
    o.last_time = k.time;
    o.num_pkts = 1;
    o.num_bytes_ip = k.ip_len;
    o.stream.deliver_contents = (k.flags & kCompactDeliverOrig) != 0;
    r.stream.deliver_contents = (k.flags & kCompactDeliverResp) != 0;
    c.history.assign("S");
    c.hist_seen = hist_bit::SYN;
    c.reassembling = true;
    c.first_packet_seen = kOrigSeen;
}

// The timers new_connection and the SYN armed, in their arming order.
size_t Engine::compact_timers(const CompactConnection& k, uint32_t slot, uint32_t generation, TimerEntry* out) const {
    size_t n = 0;
    uint64_t order = k.timer_order;
    out[n++] = TimerEntry{k.time + options_.tcp_SYN_timeout, order++, slot, generation, TimerKind::Expire, 0};
    if (options_.udp_inactivity_timeout != 0)
        out[n++] = TimerEntry{k.time + options_.udp_inactivity_timeout, order++, slot, generation, TimerKind::Inactivity, 1};
    if (options_.tcp_attempt_delay != 0)
        out[n++] = TimerEntry{k.time + options_.tcp_attempt_delay, order++, slot, generation, TimerKind::Attempt, 0};
    return n;
}

TimerEntry Engine::first_compact_timer(const CompactConnection& k) const {
    TimerEntry t[3];
    const size_t n = compact_timers(k, 0, 0, t);
    size_t first = 0;
    for (size_t i = 1; i < n; ++i)
        if (TimerQueue::before(t[i], t[first])) first = i;
    return t[first];
}

bool Engine::try_compact(Connection& c, const TimerEntry* timers, size_t count) {
    // Cheap refusals first; the comparison below is the real test.
    if (c.extras || c.orig_side != 0 || c.ep[0].state != EpState::SynSent || c.ep[1].state != EpState::Inactive ||
        c.history.size() != 1 || count == 0 || count > 3 || c.ep[0].num_bytes_ip > 0xffff ||
        c.start_time != network_time_)
        return false;

    CompactConnection k{};
    k.time = c.start_time;
    k.uid = c.uid;
    k.timer_order = timers[0].order;
    const TcpEndpoint& o = c.ep[0];
    k.seq = o.start_seq;
    k.ip_len = static_cast<uint16_t>(o.num_bytes_ip);
    k.ip_id = o.rexmit_last_id;
    k.window_scale = o.window_scale;
    if (o.window_seq != 0) k.flags |= kCompactWindowScale;
    if (o.rexmit_seen) k.flags |= kCompactRexmitSeen;
    if (o.stream.deliver_contents) k.flags |= kCompactDeliverOrig;
    if (c.ep[1].stream.deliver_contents) k.flags |= kCompactDeliverResp;

    // probe_ is a fresh record but for what fill_from_compact sets; the
    // table keeps the sides as they are.
    probe_.in_table = true;
    probe_.side[0] = c.side[0];
    probe_.side[1] = c.side[1];
    fill_from_compact(k, probe_);
    if (!same_state(c, probe_)) return false;
    TimerEntry implied[3];
    if (compact_timers(k, c.slot, c.generation, implied) != count) return false;
    for (size_t i = 0; i < count; ++i) {
        const TimerEntry& a = timers[i];
        const TimerEntry& b = implied[i];
        if (a.due != b.due || a.order != b.order || a.kind != b.kind || a.epoch != b.epoch) return false;
    }
    table_.compact(&c, k);
    return true;
}

// The end of a frame: its new connections are compacted where they can be;
// the timers of the others go to the queue, as if armed then.
void Engine::settle_fresh() {
    for (const auto& [slot, generation] : fresh_) {
        Connection* c = table_.at(slot, generation);
        if (!c) continue;  // removed within the frame: its timers are dead
        c->fresh = false;
        fresh_own_.clear();
        for (const TimerEntry& e : fresh_timers_)
            if (e.slot == slot && e.generation == generation) fresh_own_.push_back(e);
        if (options_.compact_records) try_compact(*c, fresh_own_.data(), fresh_own_.size());
    }
    // A compacted connection's slot has a new generation: its timers are
    // dropped here as dead.
    for (const TimerEntry& e : fresh_timers_)
        if (table_.at(e.slot, e.generation)) timers_.insert(e);
    fresh_.clear();
    fresh_timers_.clear();
}

Connection* Engine::expand(uint32_t slot, bool timed) {
    CompactConnection k;
    Connection* c = table_.expand(slot, second_, &k);
    fill_from_compact(k, *c);
    if (timed) {
        TimerEntry t[3];
        const size_t n = compact_timers(k, c->slot, c->generation, t);
        for (size_t i = 0; i < n; ++i) timers_.insert(t[i]);
    }
    return c;
}

}  // namespace tcpsensor
