#include "engine.h"

#include <cstring>
#include <limits>

#include "byte_order.h"
#include "contents_files.h"

namespace tcpsensor {

Engine::Engine(const Options& options, int linktype, BatchConsumer* consumer, uint64_t seed)
    : options_(options),
      consumer_(consumer),
      linktype_(linktype),
      writer_(options.events, options.batch_max_events, options.batch_max_bytes, consumer),
      table_(seed),
      fragments_(options.max_fragment_bytes, options.frag_timeout),
      udp_sessions_(seed ^ 0x2545f4914f6cdd1dull, options.max_udp_sessions),
      uid_key_(seed ^ 0x5bd1e9955bd1e995ull),
      max_connections_(options.max_connections) {
    // A compact record's timers: expire, inactivity (if any), attempt (if any).
    compact_first_delay_ = options_.tcp_SYN_timeout;
    if (options_.udp_inactivity_timeout != 0 && options_.udp_inactivity_timeout < compact_first_delay_)
        compact_first_delay_ = options_.udp_inactivity_timeout;
    if (options_.tcp_attempt_delay != 0 && options_.tcp_attempt_delay < compact_first_delay_)
        compact_first_delay_ = options_.tcp_attempt_delay;
}

Engine::~Engine() {
    // Close contents files of connections still open (finish() was not
    // reached, e.g. the capture was aborted).
    table_.for_each([this](const FlowTable::Found& f) {
        if (!f.full) return;  // compact records hold no files and no blocks
        close_contents_files(*f.full);
        // Block lists report to block_memory_, which goes first.
        clear_blocks(*f.full, 0);
        clear_blocks(*f.full, 1);
    });
}

uint64_t Engine::next_uid() {
    // splitmix64's finaliser over the key and the segment's position:
    // distinct per connection, unpredictable without the seed.
    uint64_t z = uid_key_ + (frame_seq_ * 0x9e3779b97f4a7c15ull) + (segment_index_ * 0xd1b54a32d192ed03ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// ---------------------------------------------------------------------------
// Packet path

void Engine::process(const PacketView& packet) {
    ++stats_.packets;
    begin_frame(packet.ts, stats_.packets);
    handle_frame(packet);
    end_frame();
    if (stats_.packets == options_.checksum_sample && options_.auto_checksums) decide_auto_checksums();
}

namespace {

// Network time's second as the flow table's eviction order keeps it (only
// ever compared for equality).
uint32_t second_of(double t) { return t > 0 && t < 4294967295.0 ? static_cast<uint32_t>(t) : 0; }

}  // namespace

void Engine::begin_frame(double ts, uint64_t seq) {
    frame_seq_ = seq;
    segments_in_frame_ = 0;
    // Network time never goes back; connection times use the packet's own.
    // Before any packet Zeek's clock reads 1 (its timer manager's "not set"),
    // so captures stamped near the epoch run at network time 1.
    const double clock = network_time_ != 0 ? network_time_ : 1.0;
    network_time_ = ts > clock ? ts : clock;
    second_ = second_of(network_time_);
    if (network_time_ >= next_checksum_check_) check_checksum_offload(false);
    writer_.begin_group(network_time_);
    expire_timers(network_time_);
}

void Engine::check_checksums_at(double ts) {
    const double clock = network_time_ != 0 ? network_time_ : 1.0;
    network_time_ = ts > clock ? ts : clock;
    if (network_time_ >= next_checksum_check_) check_checksum_offload(false);
}

void Engine::end_frame() {
    after_group();
    if (!fresh_.empty()) settle_fresh();
    writer_.end_group();
}

void Engine::process_batch(const PacketView* packets, size_t count) {
    for (size_t i = 0; i < count; ++i) process(packets[i]);
}

void Engine::advance_time(double t) {
    if (t <= network_time_) return;
    network_time_ = t;
    second_ = second_of(network_time_);
    writer_.begin_group(network_time_);
    expire_timers(network_time_);
    after_group();
    writer_.end_group();
}

// ---------------------------------------------------------------------------
// Checksum offload. A sensor on a host whose NIC computes checksums sees its
// own outgoing packets before the NIC does: their TCP and UDP checksums are
// unfinished, every such packet is discarded, and whole connections vanish.
// Zeek warns (base/misc/find-checksum-offloading.zeek): once some packets
// have come, it looks every 10 s, and at the end, whether more than 5% of
// them carried a bad IP, TCP or UDP checksum. It counts the weirds it sees,
// which weird sampling thins out; the engine counts the packets themselves.

void Engine::check_checksum_offload(bool at_end) {
    constexpr uint64_t kEnoughPackets = 20;
    if (checksum_warned_ || options_.ignore_checksums) {
        next_checksum_check_ = std::numeric_limits<double>::infinity();
        return;
    }
    // Until 'auto' has made its decision, only the look at the end counts.
    const bool auto_pending = options_.auto_checksums && stats_.packets < options_.checksum_sample;
    if (!at_end && (next_checksum_check_ == 0 || auto_pending)) {
        next_checksum_check_ = network_time_ + options_.checksum_check_interval;
        return;
    }
    const uint64_t packets = stats_.packets;
    const auto share = [&](Anomaly a) {
        return packets ? static_cast<double>(stats_.anomalies[static_cast<size_t>(a)]) / static_cast<double>(packets) : 0;
    };
    if (share(Anomaly::bad_IP_checksum) > 0.05 || share(Anomaly::bad_TCP_checksum) > 0.05 ||
        share(Anomaly::bad_UDP_checksum) > 0.05) {
        raise_checksum_notice(false);
        next_checksum_check_ = std::numeric_limits<double>::infinity();
    } else if (packets < kEnoughPackets) {
        next_checksum_check_ = network_time_ + options_.checksum_check_interval;
    } else {
        next_checksum_check_ = std::numeric_limits<double>::infinity();
    }
}

// Suricata's answer: if more than a tenth of the first packets carry bad
// checksums, stop verifying them.
void Engine::decide_auto_checksums() {
    if (options_.ignore_checksums) return;
    const uint64_t bad = stats_.anomalies[static_cast<size_t>(Anomaly::bad_IP_checksum)] +
                         stats_.anomalies[static_cast<size_t>(Anomaly::bad_TCP_checksum)] +
                         stats_.anomalies[static_cast<size_t>(Anomaly::bad_UDP_checksum)];
    if (bad * 10 <= stats_.packets) return;
    raise_checksum_notice(true);
    options_.ignore_checksums = true;
}

void Engine::raise_checksum_notice(bool disabling) {
    checksum_warned_ = true;
    if (!consumer_) return;
    // Events raised so far go out first, so the warning sits where it
    // happened in the stream.
    writer_.flush();
    Notice n{};
    n.kind = Notice::Kind::ChecksumOffload;
    n.network_time = network_time_;
    n.packets = stats_.packets;
    n.bad_ip_checksums = stats_.anomalies[static_cast<size_t>(Anomaly::bad_IP_checksum)];
    n.bad_tcp_checksums = stats_.anomalies[static_cast<size_t>(Anomaly::bad_TCP_checksum)];
    n.bad_udp_checksums = stats_.anomalies[static_cast<size_t>(Anomaly::bad_UDP_checksum)];
    n.validation_disabled = disabling;
    consumer_->on_notice(n);
}

void Engine::handle_frame(const PacketView& packet) {
    if (linktype_ == linktype::kIeee80211 || linktype_ == linktype::kIeee80211Radio) return handle_80211(packet);
    uint32_t l3 = 0;
    switch (decode_link(linktype_, packet.data, packet.caplen, &l3)) {
        case LinkResult::NotIp:
            ++stats_.packets_non_ip;
            return;
        case LinkResult::Malformed:
            count(Anomaly::link_truncated);
            return;
        case LinkResult::Ip:
            break;
    }
    packet_complete_ = packet.wirelen <= packet.caplen;
    const uint32_t wire = packet.wirelen > l3 ? packet.wirelen - l3 : 0;
    handle_l3(packet.data + l3, packet.caplen - l3, wire, packet.ts, Encapsulation{});
}

// 802.11, as Zeek's IEEE802_11 analyzer reads it (after a radiotap header,
// for that link type): data frames only, past the 3 or 4 addresses and a
// QoS field, then LLC/SNAP before each packet; an A-MSDU carries several.
void Engine::handle_80211(const PacketView& packet) {
    const uint8_t* data = packet.data;
    uint32_t len = packet.caplen;
    if (linktype_ == linktype::kIeee80211Radio) {
        if (len <= 3) return count(Anomaly::link_truncated);
        const uint32_t radiotap = data[2] | (data[3] << 8);
        if (radiotap >= len) return count(Anomaly::link_truncated);
        data += radiotap;
        len -= radiotap;
    }
    uint32_t header = 24;
    if (header >= len) return count(Anomaly::link_truncated);
    const uint8_t fc = data[0];
    // Management and control frames, and data subtypes without data.
    if (!((fc >> 2) & 0x02) || ((fc >> 4) & 0x04)) {
        ++stats_.packets_non_ip;
        return;
    }
    if ((data[1] & 0x03) == 0x03) header += 6;  // to and from DS: a fourth address
    if (header >= len) return count(Anomaly::link_truncated);
    bool amsdu = false;
    if ((fc >> 4) & 0x08) {  // QoS data
        amsdu = (data[header] & 0x80) != 0;
        if (data[1] & 0x40) {  // protected: nothing readable
            ++stats_.packets_non_ip;
            return;
        }
        header += 2;
    }
    if (header >= len) return count(Anomaly::link_truncated);
    packet_complete_ = packet.wirelen <= packet.caplen;
    const uint32_t uncaptured = packet.wirelen > packet.caplen ? packet.wirelen - packet.caplen : 0;
    data += header;
    len -= header;

    // One packet behind LLC/SNAP (zero OUI); false if there is none.
    const auto inner = [&](const uint8_t* p, uint32_t n) {
        if (n < 8) return false;
        if (p[0] != 0xaa || p[1] != 0xaa || p[2] != 0x03 || p[3] || p[4] || p[5]) return false;
        const uint16_t type = load_be16(p + 6);
        if (type == 0x0800 || type == 0x86dd)
            handle_l3(p + 8, n - 8, n - 8 + uncaptured, packet.ts, Encapsulation{});
        else
            ++stats_.packets_non_ip;
        return true;
    };
    if (!amsdu) {
        if (!inner(data, len)) ++stats_.packets_non_ip;
        return;
    }
    while (len > 0) {
        if (len < 14) return count(Anomaly::link_truncated);
        const uint32_t sub = load_be16(data + 12);
        if (len < sub + 14) return count(Anomaly::link_truncated);
        data += 14;
        len -= 14;
        if (!inner(data, sub)) return count(Anomaly::link_truncated);
        data += sub;
        len -= sub;
        // Subframes are padded to 4 bytes, the last one excepted.
        const uint32_t pad = sub % 4;
        if (len >= pad) {
            data += pad;
            len -= pad;
        }
    }
}

void Engine::handle_l3(const uint8_t* data, uint32_t captured, uint32_t wire, double t, const Encapsulation& encap) {
    IpPacket ip;
    Anomaly why;
    const IpResult r = parse_ip(data, captured, wire, options_.ignore_checksums, &ip, &why);
    if (why != Anomaly::Count) count(why);
    if (r == IpResult::Drop) return;
    if (r == IpResult::Fragment) {
        IpPacket whole;
        if (!fragments_.add(ip, network_time_, &whole, stats_.anomalies.data())) return;
        packet_complete_ = true;
        handle_ip(whole, t, encap);
        return;
    }
    handle_ip(ip, t, encap);
}

void Engine::handle_ip(IpPacket& ip, double t, const Encapsulation& encap) {
    if (ip.proto == 4 || ip.proto == 41 || ip.proto == 47) return handle_tunnel(ip, t, encap);
    if (ip.proto == 17) return handle_udp(ip, t, encap);
    if (ip.proto != 6) {
        // A Teredo bubble has no next header, and Zeek says nothing of it.
        if (ip.proto == 59 && encap.innermost != TunnelKind::Teredo) count(Anomaly::ipv6_no_next);
        ++stats_.packets_non_tcp;
        return;
    }
    ++stats_.packets_tcp;
    if (ip.payload_len && ip.payload_len < 20) return count(Anomaly::truncated_header);
    if (ip.captured_payload < 20) return count(Anomaly::internally_truncated_header);

    // Verifying the checksum is decoding work (it needs only the packet);
    // the analysis acts on the answer at Zeek's point, after the
    // connection is found or made.
    // Numbered here, in the frame's order, whichever engine analyses it.
    const Segment segment{ip, encap, t, tcp_checksum_bad(ip), segments_in_frame_++};
    if (segment.checksum_bad) count(Anomaly::bad_TCP_checksum);
    if (router_) return router_->route(segment);
    handle_segment(segment);
}

bool Engine::tcp_checksum_bad(const IpPacket& ip) const {
    if (options_.ignore_checksums) return false;
    const uint32_t hdr_len = (ip.payload[12] >> 4) * 4u;
    // A zero IPv4 total length (segmentation offload) leaves only the
    // captured length to go by.
    const uint32_t len = ip.version == 4 && load_be16(ip.header + 2) == 0 ? ip.captured_payload : ip.payload_len;
    // Headers that the analysis refuses, and packets not captured whole,
    // are not verified (as deliver_packet checks them).
    if (hdr_len < 20 || hdr_len > len || hdr_len > ip.captured_payload || ip.captured_payload < len) return false;
    return !transport_checksum_ok(ip, 6, ip.payload, len);
}

void Engine::handle_segment(const Segment& segment) {
    ++stats_.segments;
    segment_index_ = segment.index;
    const IpPacket& ip = segment.ip;
    const TcpHeader th = read_tcp_header(ip.payload);
    const Endpoint4 src{ip.src, th.src_port};
    const Endpoint4 dst{ip.dst, th.dst_port};
    const uint32_t h = table_.hash(src, dst);
    const FlowTable::Found found = table_.find(src, dst, h);
    Connection* c = found.compact != FlowTable::kNone ? expand(found.compact, true) : found.full;
    if (!c) {
        c = new_connection(src, dst, th, h, segment.t, segment.encap);
    } else if (is_reuse(*c, th, segment.t)) {
        if (writer_.wants(EventKind::connection_reused)) writer_.conn_event(EventKind::connection_reused, *c);
        remove_connection(*c);
        c = new_connection(src, dst, th, h, segment.t, segment.encap);
    } else {
        check_encapsulation(*c, segment.encap);
    }
    const bool is_orig = c->orig_id() == src;
    deliver_packet(*c, is_orig, ip, th, segment.t, segment.checksum_bad);
    if (c->in_table) table_.touch(*c, second_, c->ep[0].num_pkts && c->ep[1].num_pkts);
}

Connection* Engine::new_connection(const Endpoint4& src, const Endpoint4& dst, const TcpHeader& th, uint32_t hash,
                                   double t, const Encapsulation& encap) {
    // Anything but a pure SYN may come from the server: with both ports
    // plausible, only a non-SYN towards a higher port is turned around
    // (a SYN-ACK could be a stealth scan's).
    bool flip = false;
    const bool pure_syn = (th.flags & tcp_flag::SYN) && !(th.flags & tcp_flag::ACK);
    if (!pure_syn && options_.likely_server_ports.test(src.port)) {
        if (options_.likely_server_ports.test(dst.port))
            flip = !(th.flags & tcp_flag::SYN) && src.port < dst.port;
        else
            flip = true;
    }
    if (flip && dst.addr.is_v4_broadcast()) flip = false;

    if (max_connections_ && table_.size() >= max_connections_) evict_one();
    Connection* c = table_.insert(hash, second_);
    ++stats_.connections_total;
    // Its timers wait for the frame's end, where it may be compacted.
    c->fresh = true;
    fresh_.emplace_back(c->slot, c->generation);
    c->side[0] = flip ? dst : src;
    c->side[1] = flip ? src : dst;
    c->uid = next_uid();
    c->start_time = c->last_time = t;
    if (encap.fingerprint) c->more().encapsulation = encap.fingerprint;
    if (flip) {
        add_history_letter(*c, '^');
        if (writer_.wants(EventKind::connection_flipped)) writer_.conn_event(EventKind::connection_flipped, *c);
    }
    add_timer(*c, TimerKind::Expire, network_time_ + options_.tcp_SYN_timeout);
    set_inactivity_timeout(*c, options_.udp_inactivity_timeout);
    enable_reassembly(*c);
    if (writer_.wants(EventKind::new_connection)) writer_.conn_event(EventKind::new_connection, *c);
    return c;
}

bool Engine::is_reuse(Connection& c, const TcpHeader& th, double t) {
    if (th.data_offset < 5 || !(th.flags & tcp_flag::SYN)) return false;
    // Reuse starts with an initial SYN, or with a SYN-ACK for a connection
    // whose originator was never seen.
    TcpEndpoint* starter = &c.orig();
    if (th.flags & tcp_flag::ACK) {
        if (c.orig().state != EpState::Inactive) return false;
        starter = &c.resp();
    }
    const TcpEndpoint& o = c.orig();
    const TcpEndpoint& r = c.resp();
    if (!c.is_closed()) {
        if (th.seq == starter->start_seq32()) return false;
        // SYN and SYN-ACK seen in reverse order: not a reuse, the state
        // machine flips the roles.
        if (!(th.flags & tcp_flag::ACK) && starter->state == EpState::SynAckSent && r.state == EpState::Inactive &&
            th.seq == r.start_seq32())
            return false;
        weird(c, starter->state == EpState::SynSent ? "SYN_seq_jump" : "active_connection_reuse");
    } else if ((o.is_active() || r.is_active()) && o.state != EpState::Reset && r.state != EpState::Reset) {
        weird(c, "active_connection_reuse");
    } else if (t - c.last_time < options_.tcp_connection_linger && o.state != EpState::Reset &&
               r.state != EpState::Reset) {
        weird(c, "premature_connection_reuse");
    }
    return true;
}

void Engine::done(Connection& c, bool pending) {
    if (pending && c.analyzer_active && !c.both_closed() && writer_.wants(EventKind::connection_pending))
        writer_.conn_event(EventKind::connection_pending, c);
    close_contents_files(c);
}

// Past max_connections: the connection least worth keeping goes, as if the
// input ended for it (connection_pending if its analysis is still active,
// then connection_state_remove), its timers dead.
void Engine::evict_one() {
    const FlowTable::Found v = table_.victim();
    if (!v.any()) return;
    ++stats_.connections_evicted;
    remove_connection(v.full ? *v.full : *expand(v.compact, false), true);
}

void Engine::remove_connection(Connection& c, bool pending) {
    if (!c.in_table) return;
    done(c, pending);
    if (writer_.wants(EventKind::connection_state_remove)) writer_.conn_event(EventKind::connection_state_remove, c);
    clear_blocks(c, 0);
    clear_blocks(c, 1);
    table_.erase(&c);
}

void Engine::after_group() {
    // Zeek's conn scripts, on connection_established, lengthen the
    // inactivity timeout of interactive services (Conn::port_inactivity_timeouts).
    for (const auto& [slot, generation] : established_in_group_) {
        Connection* c = table_.at(slot, generation);
        if (!c) continue;
        uint16_t service = c->resp_id().port;
        if (c->orig().state == EpState::Inactive && !options_.likely_server_ports.test(service) &&
            options_.likely_server_ports.test(c->orig_id().port))
            service = c->orig_id().port;
        for (const auto& [port, timeout] : options_.port_inactivity_timeouts)
            if (port == service) set_inactivity_timeout(*c, timeout);
    }
    established_in_group_.clear();
}

// ---------------------------------------------------------------------------
// Timers

void Engine::add_timer(Connection& c, TimerKind kind, double due) {
    const uint8_t epoch = kind == TimerKind::Inactivity ? c.inactivity_epoch : c.analyzer_epoch;
    if (c.fresh)
        fresh_timers_.push_back(TimerEntry{due, timers_.reserve_order(), c.slot, c.generation, kind, epoch});
    else
        timers_.add(due, c.slot, c.generation, kind, epoch);
}

void Engine::set_inactivity_timeout(Connection& c, double timeout) {
    if (timeout == c.inactivity_timeout) return;
    ++c.inactivity_epoch;
    if (timeout != 0) add_timer(c, TimerKind::Inactivity, c.last_time + timeout);
    c.inactivity_timeout = timeout;
}

bool Engine::timer_live(const TimerEntry& e) const {
    const Connection* c = table_.at(e.slot, e.generation);
    if (!c) return false;
    return e.kind == TimerKind::Inactivity ? e.epoch == c->inactivity_epoch : e.epoch == c->analyzer_epoch;
}

void Engine::expire_timers(double now) {
    fragments_.expire(now);
    timers_.advance(now, [this](const TimerEntry& e) { return timer_live(e); });
    for (;;) {
        // The oldest compact record holds the compact records' next timer;
        // when it comes before the queue's, the record is expanded and its
        // timers join the queue, in their places.
        // (Rounding is monotonic: time + the smallest delay is the first due.)
        const uint32_t oldest = table_.oldest_compact();
        if (oldest != FlowTable::kNone && table_.compact_at(oldest).time + compact_first_delay_ <= now) {
            const TimerEntry first = first_compact_timer(table_.compact_at(oldest));
            if (first.due <= now && (!timers_.ready(now) || TimerQueue::before(first, timers_.front()))) {
                expand(oldest, true);
                continue;
            }
        }
        if (!timers_.ready(now)) break;
        dispatch_timer(timers_.pop(), now, false);
        // Timers that raise events remove their connection: a mass timeout
        // may span batches.
        writer_.next_group();
    }
}

void Engine::dispatch_timer(const TimerEntry& e, double now, bool terminating) {
    if (!timer_live(e) || (terminating && !acts_at_termination(e.kind))) return;
    Connection* c = table_.at(e.slot, e.generation);

    TcpEndpoint& o = c->orig();
    TcpEndpoint& r = c->resp();
    auto timeout_and_remove = [&] {
        if (writer_.wants(EventKind::connection_timeout)) writer_.conn_event(EventKind::connection_timeout, *c);
        remove_connection(*c);
    };

    switch (e.kind) {
        case TimerKind::Expire: {
            if (!c->analyzer_active) return;
            if (c->last_time + options_.tcp_connection_linger < now) {
                if (o.did_close || r.did_close) {
                    if ((o.did_close && r.did_close) || o.state == EpState::Reset || r.state == EpState::Reset ||
                        o.state == EpState::Inactive || r.state == EpState::Inactive) {
                        c->analyzer_active = false;
                        return timeout_and_remove();
                    }
                }
                // A connection made by a broken packet never did anything.
                if (r.state == EpState::Inactive && o.state == EpState::Inactive) return timeout_and_remove();
            }
            add_timer(*c, TimerKind::Expire, now + options_.tcp_session_timer);
            return;
        }
        case TimerKind::Attempt:
            if (!c->analyzer_active) return;
            if ((o.state == EpState::SynSent || o.state == EpState::SynAckSent) && r.state == EpState::Inactive) {
                if (writer_.wants(EventKind::connection_attempt)) writer_.conn_event(EventKind::connection_attempt, *c);
                c->analyzer_active = false;
                remove_connection(*c);
            }
            return;
        case TimerKind::PartialClose:
            if (!c->analyzer_active) return;
            if (o.state != EpState::Inactive && r.state != EpState::Inactive && !c->both_closed()) {
                // The RST presumably caused the partial close; no report.
                if (o.state == EpState::Reset || r.state == EpState::Reset) return;
                if (writer_.wants(EventKind::connection_partial_close))
                    writer_.conn_event(EventKind::connection_partial_close, *c);
                remove_connection(*c);
            }
            return;
        case TimerKind::Reset:
            if (!c->analyzer_active) return;
            if (!c->both_closed()) connection_reset(*c);
            remove_connection(*c);
            return;
        case TimerKind::Delete:
            remove_connection(*c);
            return;
        case TimerKind::ConnDelete:
            // The session's own activity flag is never cleared for TCP, so
            // every delayed removal reports a timeout.
            return timeout_and_remove();
        case TimerKind::Inactivity:
            if (c->last_time + c->inactivity_timeout <= now) return timeout_and_remove();
            add_timer(*c, TimerKind::Inactivity, c->last_time + c->inactivity_timeout);
            return;
    }
}

void Engine::finish() {
    if (finished_) return;
    finished_ = true;
    writer_.begin_group(network_time_);
    // Zeek expires every pending timer at termination; only the attempt and
    // reset timers act then. Compact records' attempt timers (in the order
    // of the records) take their turns among the queue's, each record
    // expanded just before it is removed.
    const auto compact_attempts_before = [this](const TimerEntry* limit) {
        if (options_.tcp_attempt_delay == 0) return;
        for (uint32_t k = table_.oldest_compact(); k != FlowTable::kNone; k = table_.oldest_compact()) {
            TimerEntry t[3];
            // With an attempt delay, the attempt timer is the last one armed.
            const size_t n = compact_timers(table_.compact_at(k), 0, 0, t);
            TimerEntry attempt = t[n - 1];
            if (limit && !TimerQueue::before(attempt, *limit)) return;
            const Connection* c = expand(k, false);
            attempt.slot = c->slot;
            attempt.generation = c->generation;
            dispatch_timer(attempt, network_time_, true);
            writer_.next_group();
        }
    };
    timers_.drain([this](const TimerEntry& e) { return timer_live(e) && acts_at_termination(e.kind); },
                  [&](const TimerEntry& e) {
                      compact_attempts_before(&e);
                      dispatch_timer(e, network_time_, true);
                      writer_.next_group();
                  });
    compact_attempts_before(nullptr);
    table_.for_each([this](const FlowTable::Found& f) {
        // A compact record left (no attempt timers) is shown as its full
        // record, in a slot lent for the occasion.
        Connection* c = f.full;
        if (!c) {
            c = table_.scratch();
            c->side[0] = table_.compact_side(f.compact, 0);
            c->side[1] = table_.compact_side(f.compact, 1);
            fill_from_compact(table_.compact_at(f.compact), *c);
        }
        done(*c, true);
        if (writer_.wants(EventKind::connection_state_remove))
            writer_.conn_event(EventKind::connection_state_remove, *c);
        writer_.next_group();
        if (!f.full) table_.release(c);
    });
    table_.erase_all([this](Connection* c) {
        clear_blocks(*c, 0);
        clear_blocks(*c, 1);
    });
    writer_.end_group();
    writer_.flush();
    check_checksum_offload(true);
}

// ---------------------------------------------------------------------------
// Statistics and lookups

const EngineStats& Engine::stats() {
    stats_.connections_active = table_.size();
    stats_.connections_compact = table_.compact_count();
    stats_.events = writer_.events_written();
    stats_.reassembly_bytes = block_memory_.bytes_held;
    stats_.fragment_bytes = fragments_.bytes();
    stats_.memory_bytes = table_.memory_bytes() + timers_.memory_bytes() + udp_sessions_.memory_bytes() +
                          block_memory_.bytes_held + fragments_.bytes();
    return stats_;
}

uint64_t Engine::find_uid(const Endpoint4& a, const Endpoint4& b) const {
    const FlowTable::Found f = table_.find(a, b, table_.hash(a, b));
    if (f.compact != FlowTable::kNone) return table_.compact_at(f.compact).uid;
    return f.full ? f.full->uid : 0;
}

Connection* Engine::find_by_uid(uint64_t uid, bool expand_compact) {
    FlowTable::Found target;
    table_.for_each([&](const FlowTable::Found& f) {
        if ((f.full ? f.full->uid : table_.compact_at(f.compact).uid) == uid) target = f;
    });
    if (target.compact == FlowTable::kNone) return target.full;
    return expand_compact ? expand(target.compact, true) : nullptr;
}

}  // namespace tcpsensor
