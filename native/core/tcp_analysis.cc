// The TCP analysis of one segment, with Zeek's semantics
// (../shared/spec/ZEEK-SEMANTICS.md, sections 1-4 and 7-8): header and
// checksum checks, sequence space, history, window, the per-endpoint state
// machine and close handling, options, and the per-packet statistics.
#include <cstring>
#include <vector>

#include "byte_order.h"
#include "engine.h"

namespace tcpsensor {

namespace {

constexpr int32_t kTooLargeSeqDelta = 1048576;
constexpr uint8_t kOrigSeen = 1;
constexpr uint8_t kRespSeen = 2;

inline int32_t seq_delta(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b); }

// True if a lies in [b, c] of the (wrapping) sequence space.
inline bool seq_between(uint32_t a, uint32_t b, uint32_t c) {
    return b <= c ? (a >= b && a <= c) : (a >= b || a <= c);
}

inline bool has(uint8_t flags, uint8_t f) { return (flags & f) != 0; }

char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

int32_t segment_length(int32_t payload, uint8_t flags) {
    int32_t n = payload;
    if (has(flags, tcp_flag::SYN)) ++n;
    if (has(flags, tcp_flag::FIN)) ++n;
    if (has(flags, tcp_flag::RST)) n -= payload;  // RST data is not stream data
    return n;
}

// Zeek's relative sequence number: 64-bit through the endpoint's wrap
// count, with a local one-off correction for numbers just behind or ahead
// of the wrap point. Without wraps a number below the start is reported
// as a (sign-extended) negative value and flagged as underflow.
uint64_t relative_seq(const TcpEndpoint& ep, uint32_t x, uint32_t last, uint32_t wraps, bool* underflow) {
    const int32_t d = seq_delta(x, last);
    if (d < 0) {
        if (wraps && x > last) --wraps;
    } else if (d > 0) {
        if (x < last) ++wraps;
    }
    if (wraps == 0) {
        const int32_t from_start = seq_delta(x, ep.start_seq32());
        if (from_start < 0) *underflow = true;
        return static_cast<uint64_t>(static_cast<int64_t>(from_start));
    }
    return ep.to_relative(x, wraps);
}

}  // namespace

// ---------------------------------------------------------------------------
// Weirds, history, scaled counters

void Engine::weird(Connection& c, const char* name) {
    c.did_weird = true;
    auto& entries = c.more().weirds.entries;
    WeirdCounts::Entry* e = nullptr;
    for (auto& x : entries)
        if (std::strcmp(x.name, name) == 0) e = &x;
    if (!e) {
        entries.push_back({name, 0, 0});
        e = &entries.back();
    }
    // Zeek's per-connection weird sampling: the first `threshold` of each
    // name, then one in `rate`, restarting after `duration`.
    const uint64_t threshold = options_.weird_sampling_threshold;
    bool permitted;
    ++e->count;
    if (e->count <= threshold) {
        permitted = true;
    } else {
        if (e->count == threshold + 1) {
            e->sampling_start = network_time_;
        } else if (network_time_ > e->sampling_start + options_.weird_sampling_duration) {
            e->sampling_start = 0;
            e->count = 1;
        }
        const uint64_t above = e->count - threshold;
        permitted = e->count <= threshold ||
                    (options_.weird_sampling_rate && above % options_.weird_sampling_rate == 0);
    }
    if (!permitted) return;
    if (writer_.wants(EventKind::conn_weird))
        writer_.conn_weird(c, name);
    else
        writer_.touch(c);
}

void Engine::add_history_letter(Connection& c, char code) {
    if (!c.history.add(code)) count(Anomaly::history_truncated);
}

void Engine::add_history(Connection& c, int side, char code) {
    add_history_letter(c, c.is_orig_side(side) ? code : to_lower(code));
}

bool Engine::check_history(Connection& c, int side, uint32_t mask, char code) {
    if ((code == 'A' || code == 'D') && c.history.view() == "H") {
        // The connection began with a SYN-ACK; productive traffic now makes
        // a stealth scan unlikely, so the SYN-ACK's sender becomes the
        // responder, as if the missing SYN had been seen.
        flip_roles(c);
        c.history.assign("^h");
        c.first_packet_seen |= kOrigSeen;
    }
    if (!c.is_orig_side(side)) {
        mask <<= 16;
        code = to_lower(code);
    }
    if (c.hist_seen & mask) return true;
    c.hist_seen |= mask;
    add_history_letter(c, code);
    return false;
}

void Engine::scaled_event(Connection& c, int side, ScaledCounter EndpointExtras::*counter, char letter,
                          EventKind kind) {
    uint32_t crossed;
    if (!(c.ep_more(side).*counter).bump(&crossed)) return;
    const bool is_orig = c.is_orig_side(side);
    add_history_letter(c, is_orig ? letter : to_lower(letter));
    // The first occurrence is not a *multiple* one.
    if (crossed != 1 && writer_.wants(kind)) writer_.threshold_event(kind, c, is_orig, crossed);
}

void Engine::flip_roles(Connection& c) {
    c.orig_side ^= 1;
    const uint8_t fps = c.first_packet_seen;
    c.first_packet_seen = static_cast<uint8_t>(((fps & kOrigSeen) ? kRespSeen : 0) | ((fps & kRespSeen) ? kOrigSeen : 0));
    c.is_partial = false;
    add_history_letter(c, '^');
    writer_.identity_changed(c);
    if (writer_.wants(EventKind::connection_flipped)) writer_.conn_event(EventKind::connection_flipped, c);
}

// ---------------------------------------------------------------------------
// Per-packet entry: header checks, checksum, analysis, packet statistics

void Engine::deliver_packet(Connection& c, bool is_orig, const IpPacket& ip, const TcpHeader& th, double t,
                            bool checksum_bad) {
    int32_t len = static_cast<int32_t>(ip.payload_len);
    int32_t caplen = static_cast<int32_t>(ip.captured_payload);
    // A zero IPv4 total length (segmentation offload) leaves only the
    // captured length to go by.
    if (ip.version == 4 && load_be16(ip.header + 2) == 0) len = caplen;

    const int32_t hdr_len = static_cast<int32_t>(th.header_len());
    if (th.data_offset < 5) {
        count(Anomaly::bad_TCP_header_len);
        return weird(c, "bad_TCP_header_len");
    }
    if (hdr_len > len || hdr_len > caplen) {
        count(Anomaly::truncated_header);
        return weird(c, "truncated_header");
    }
    len -= hdr_len;
    caplen -= hdr_len;
    const uint8_t* data = th.bytes + hdr_len;

    const int side = is_orig ? c.orig_side : c.orig_side ^ 1;
    if (checksum_bad) {
        weird(c, "bad_TCP_checksum");
        scaled_event(c, side, &EndpointExtras::checksum_errors, 'C', EventKind::tcp_multiple_checksum_errors);
        return;
    }

    const uint8_t orig_before = c.orig_side;
    uint64_t rel_data_seq = 0;
    process_segment(c, is_orig, side, ip, th, data, len, caplen, t, &rel_data_seq);
    // Later analysis sees the roles as they are after a flip.
    if (c.orig_side != orig_before) is_orig = !is_orig;

    const int32_t captured = len < caplen ? len : caplen;
    if (writer_.wants(EventKind::tcp_rexmit)) rexmit_stats(c, is_orig, rel_data_seq, captured, ip);
    TcpEndpoint& sender = c.ep[side];
    ++sender.num_pkts;
    sender.num_bytes_ip += ip.version == 4 ? load_be16(ip.header + 2) : ip.total_len;
}

void Engine::process_segment(Connection& c, bool is_orig, int side, const IpPacket& ip, const TcpHeader& th,
                             const uint8_t* data, int32_t len, int32_t caplen, double t, uint64_t* rel_data_seq) {
    const uint8_t flags = th.flags;
    const uint32_t base_seq = th.seq;
    const uint32_t ack_seq = th.ack;
    TcpEndpoint& ep = c.ep[side];
    const int peer_side = side ^ 1;
    TcpEndpoint& peer = c.ep[peer_side];

    // Whether the connection is partial: its first packets were not a
    // clean SYN from the originator and a SYN-ACK from the responder.
    if (c.is_orig_side(side)) {
        if (!(c.first_packet_seen & kOrigSeen)) c.is_partial = !has(flags, tcp_flag::SYN) || has(flags, tcp_flag::ACK);
    } else if (!(c.first_packet_seen & kRespSeen) && !c.is_partial) {
        c.is_partial = !has(flags, tcp_flag::SYN);
    }

    const int32_t seg_len = segment_length(len, flags);
    const uint32_t seq_past_segment = base_seq + static_cast<uint32_t>(seg_len);
    init_endpoint(c, side, flags, base_seq, seq_past_segment);

    bool seq_underflow = false;
    const uint64_t rel_seq = relative_seq(ep, base_seq, ep.last_seq, ep.seq_wraps, &seq_underflow);
    if (seq_underflow && !has(flags, tcp_flag::RST)) weird(c, "TCP_seq_underflow_or_misorder");

    update_history(c, side, flags, rel_seq, len);
    update_window(c, side, th.window, base_seq, ack_seq, flags);
    if (!c.both_closed()) c.last_time = t;

    if (has(flags, tcp_flag::SYN)) syn_packet(c, is_orig, side, ip, th, len, base_seq, ack_seq);

    if (has(flags, tcp_flag::FIN)) {
        if (ep.fin_cnt < UINT16_MAX) ++ep.fin_cnt;
        if (ep.fin_cnt >= options_.tcp_storm_thresh && t < ep.last_time + options_.tcp_storm_interarrival_thresh)
            weird(c, "FIN_storm");
        c.ep_more(side).fin_seq = rel_seq + static_cast<uint64_t>(seg_len);
    }
    if (has(flags, tcp_flag::RST)) {
        if (ep.rst_cnt < UINT16_MAX) ++ep.rst_cnt;
        if (ep.rst_cnt >= options_.tcp_storm_thresh && t < ep.last_time + options_.tcp_storm_interarrival_thresh)
            weird(c, "RST_storm");
    }

    uint64_t rel_ack = 0;
    if (has(flags, tcp_flag::ACK)) {
        if (is_orig && !c.seen_first_ack && (ep.state == EpState::Established || ep.state == EpState::SynSent)) {
            c.seen_first_ack = true;
            if (writer_.wants(EventKind::connection_first_ACK))
                writer_.conn_event(EventKind::connection_first_ACK, c);
        }
        if (peer.state == EpState::Inactive) {
            rel_ack = 1;
            init_peer(c, peer_side, flags, ack_seq);
        } else {
            bool ack_underflow = false;
            rel_ack = relative_seq(peer, ack_seq, peer.ack_seq, peer.ack_wraps, &ack_underflow);
            if (ack_underflow) {
                rel_ack = 0;
                weird(c, "TCP_ack_underflow_or_misorder");
            } else if (!has(flags, tcp_flag::RST)) {
                // Acks in RSTs are not trusted; an ack of 0 far ahead is more
                // likely broken than a wrapped stream.
                const int32_t delta = seq_delta(ack_seq, peer.ack_seq);
                if (!(ack_seq == 0 && delta > kTooLargeSeqDelta) && delta > 0) peer.update_ack_seq(ack_seq);
            }
        }
    }

    const int32_t delta_last = update_last_seq(c, side, seq_past_segment, flags, len);
    ep.last_time = t;

    bool do_close = false;
    bool gen_event = false;
    state_machine(c, side, is_orig, base_seq, ack_seq, len, delta_last, flags, t, &do_close, &gen_event);

    // After the state machine, so that a gap an ack reveals can be judged
    // by the states it leaves.
    if (has(flags, tcp_flag::ACK)) ack_received(c, peer_side, rel_ack);

    if (writer_.wants(EventKind::tcp_packet)) {
        const int32_t shown = caplen < len ? caplen : len;
        writer_.tcp_packet(c, is_orig, flags, rel_seq, has(flags, tcp_flag::ACK) ? rel_ack : 0,
                           static_cast<uint32_t>(len), data, static_cast<uint32_t>(shown > 0 ? shown : 0));
    }
    if ((writer_.wants(EventKind::tcp_option) || writer_.wants(EventKind::tcp_options)) && th.header_len() > 20)
        parse_options(c, is_orig, th);

    if (is_orig && !(c.first_packet_seen & kOrigSeen)) c.first_packet_seen |= kOrigSeen;
    if (!is_orig && !(c.first_packet_seen & kRespSeen)) c.first_packet_seen |= kRespSeen;

    *rel_data_seq = has(flags, tcp_flag::SYN) ? rel_seq + 1 : rel_seq;
    if (len > 0 && !has(flags, tcp_flag::RST) && !seq_underflow) {
        if (caplen >= len)
            data_sent(c, side, *rel_data_seq, len, data, flags);
        else
            weird(c, "truncated_tcp_payload");
    }
    check_eof(c, side);

    // After the data, so that connection_finished follows data on the FIN.
    if (do_close) connection_closed(c, side, gen_event);
}

// ---------------------------------------------------------------------------
// Sequence space

void Engine::init_endpoint(Connection& c, int side, uint8_t flags, uint32_t seq, uint32_t last) {
    TcpEndpoint& ep = c.ep[side];
    const bool syn = has(flags, tcp_flag::SYN);
    switch (ep.state) {
        case EpState::Inactive:
            if (syn) {
                ep.start_seq = seq;
                ep.ack_seq = seq;
            } else {
                // A partial connection is numbered as if its SYN had been
                // seen; its first byte is 1 and not a retransmission.
                ep.start_seq = seq - 1;
                ep.ack_seq = seq - 1;
                last = seq;
            }
            ep.last_seq = last;
            break;
        case EpState::SynSent:
        case EpState::SynAckSent:
            if (syn && seq != ep.start_seq32()) {
                weird(c, "SYN_seq_jump");
                ep.reinit(seq, last);
            }
            break;
        case EpState::Established:
        case EpState::Partial:
            if (syn) {
                if (ep.size(c.ep[side ^ 1]) > 0) weird(c, "SYN_inside_connection");
                if (seq != ep.start_seq32()) weird(c, "SYN_seq_jump");
                // Guess that this SYN is the one that really sets it up.
                ep.reinit(seq, last);
            }
            break;
        case EpState::Reset:
            // Numbers initialised by a RST that may have been injected.
            if (syn && ep.prev_state == EpState::Inactive) ep.reinit(seq, last);
            break;
        case EpState::Closed:
            break;
    }
}

void Engine::init_peer(Connection& c, int peer_side, uint8_t flags, uint32_t ack) {
    TcpEndpoint& peer = c.ep[peer_side];
    const TcpEndpoint& sender = c.ep[peer_side ^ 1];
    if (!has(flags, tcp_flag::SYN) && !has(flags, tcp_flag::FIN) && !has(flags, tcp_flag::RST)) {
        if (sender.state == EpState::SynSent || sender.state == EpState::SynAckSent ||
            sender.state == EpState::Established) {
            // Acking data from a side that never stirred.
            if (!c.did_weird) weird(c, "possible_split_routing");
        }
    }
    peer.start_seq = ack - 1;
    peer.ack_seq = ack - 1;
    peer.last_seq = ack - 1;
}

int32_t Engine::update_last_seq(Connection& c, int side, uint32_t last, uint8_t flags, int32_t len) {
    TcpEndpoint& ep = c.ep[side];
    const int32_t delta = seq_delta(last, ep.last_seq);
    if ((has(flags, tcp_flag::SYN) || has(flags, tcp_flag::RST)) &&
        (delta > kTooLargeSeqDelta || delta < -kTooLargeSeqDelta)) {
        // Outlandish numbers in a SYN or RST are not trusted.
    } else if (has(flags, tcp_flag::FIN) && ep.last_seq == static_cast<uint32_t>(ep.start_seq + 1)) {
        // Only SYN and FIN seen: accept even a seemingly backward FIN (a
        // stream of more than 2 GB).
        ep.update_last_seq(last);
    } else if (ep.state == EpState::Reset) {
        // Nothing after a RST is trusted.
    } else if (delta > 0) {
        ep.update_last_seq(last);
    } else if (len > 0) {
        scaled_event(c, side, &EndpointExtras::retransmissions, 'T', EventKind::tcp_multiple_retransmissions);
    }
    return delta;
}

// ---------------------------------------------------------------------------
// History and window

void Engine::update_history(Connection& c, int side, uint8_t flags, uint64_t rel_seq, int32_t len) {
    // The last SYN/FIN/RST positions live out of line; unset they are 0,
    // which a first SYN at 0 need not materialise.
    const EndpointExtras* seen = c.ep_more_if(side);
    auto remember = [&](uint64_t EndpointExtras::*field, uint64_t value) {
        if (value != 0 || seen) c.ep_more(side).*field = value;
    };
    const int control = has(flags, tcp_flag::SYN) + has(flags, tcp_flag::FIN) + has(flags, tcp_flag::RST);
    if (control > 1) {
        if (has(flags, tcp_flag::FIN) && has(flags, tcp_flag::RST))
            check_history(c, side, hist_bit::FIN_RST, 'I');
        else
            check_history(c, side, hist_bit::MULTI_FLAG, 'Q');
    } else if (control == 1) {
        if (has(flags, tcp_flag::SYN)) {
            const char code = has(flags, tcp_flag::ACK) ? 'H' : 'S';
            if (check_history(c, side, hist_bit::SYN, code) && rel_seq != (seen ? seen->hist_last_syn : 0))
                add_history(c, side, code);
            remember(&EndpointExtras::hist_last_syn, rel_seq);
            seen = c.ep_more_if(side);
        }
        if (has(flags, tcp_flag::FIN)) {
            // A FIN's number is at the end of its data.
            const uint64_t at = rel_seq + static_cast<uint64_t>(len);
            if (check_history(c, side, hist_bit::FIN, 'F') && at != (seen ? seen->hist_last_fin : 0))
                add_history(c, side, 'F');
            remember(&EndpointExtras::hist_last_fin, at);
            seen = c.ep_more_if(side);
        }
        if (has(flags, tcp_flag::RST)) {
            if (check_history(c, side, hist_bit::RST, 'R') && rel_seq != (seen ? seen->hist_last_rst : 0))
                add_history(c, side, 'R');
            remember(&EndpointExtras::hist_last_rst, rel_seq);
        }
    } else if (len) {
        check_history(c, side, hist_bit::DATA, 'D');
    } else if (has(flags, tcp_flag::ACK)) {
        check_history(c, side, hist_bit::ACK, 'A');
    }
}

void Engine::update_window(Connection& c, int side, uint32_t window, uint32_t seq, uint32_t ack, uint8_t flags) {
    TcpEndpoint& ep = c.ep[side];
    const int scale = ep.window_scale;
    window <<= scale;

    // A zero window that comes with or after a RST, or after the peer's
    // FIN, is no news; from a side that sent a FIN it still is.
    if (window == 0 && !has(flags, tcp_flag::RST) && c.ep[side ^ 1].state != EpState::Closed &&
        ep.state != EpState::Reset)
        scaled_event(c, side, &EndpointExtras::zero_windows, 'W', EventKind::tcp_multiple_zero_windows);

    // Windows on SYNs, FINs and RSTs, and after a close, are too often
    // rescinded to judge.
    if (has(flags, tcp_flag::SYN) || has(flags, tcp_flag::FIN) || has(flags, tcp_flag::RST) ||
        ep.state == EpState::Closed || ep.state == EpState::Reset)
        return;
    if (seq_delta(seq, ep.window_seq) < 0 || seq_delta(ack, ep.window_ack_seq) < 0) return;
    const uint32_t new_edge = ack + window;
    const uint32_t old_edge = ep.window_ack_seq + ep.window;
    const int64_t advance = seq_delta(new_edge, old_edge);
    // Scaling granularity makes small apparent recisions normal.
    if (advance < 0 && -advance >= (int64_t{1} << scale)) weird(c, "window_recision");
    ep.window = window;
    ep.window_ack_seq = ack;
    ep.window_seq = seq;
}

void Engine::init_window(Connection& c, int side, uint8_t flags, int scale, uint32_t seq, uint32_t ack) {
    TcpEndpoint& ep = c.ep[side];
    TcpEndpoint& peer = c.ep[side ^ 1];
    if (scale < 0) {
        // No window scaling offered; in a SYN-ACK that means none was
        // negotiated for either side.
        ep.window_scale = 0;
        if (has(flags, tcp_flag::ACK)) peer.window_scale = 0;
        return;
    }
    if (scale > 14) {
        // RFC 7323 caps the shift at 14.
        if (!c.did_weird) weird(c, "TCP_scale_range");
        scale = 14;
    }
    ep.window_scale = static_cast<int8_t>(scale);
    ep.window_seq = seq;
    ep.window_ack_seq = ack;
    peer.window_seq = ack;
    peer.window_ack_seq = seq;
}

// ---------------------------------------------------------------------------
// SYN packets and options

void Engine::syn_packet(Connection& c, bool is_orig, int side, const IpPacket& ip, const TcpHeader& th, int32_t len,
                        uint32_t seq, uint32_t ack) {
    const uint8_t flags = th.flags;
    if (has(flags, tcp_flag::RST)) weird(c, "TCP_christmas");
    if (has(flags, tcp_flag::URG)) weird(c, "baroque_SYN");
    // Legal, but it makes the other side buffer before the handshake ends.
    if (len > 0) weird(c, "SYN_with_data");

    SynPacketInfo pkt{};
    pkt.is_orig = is_orig;
    pkt.df = ip.dont_fragment;
    pkt.ttl = ip.ttl;
    pkt.size = ip.version == 4 ? load_be16(ip.header + 2) : ip.total_len;
    pkt.win_size = th.window;
    pkt.win_scale = -1;
    // connection_SYN_packet's own walk over the options: lenient about
    // lengths beyond the minimum, strict about running off the header.
    const uint8_t* p = th.bytes + 20;
    const uint8_t* end = th.bytes + th.header_len();
    while (p < end) {
        const uint8_t kind = p[0];
        if (kind == 0) break;
        if (kind == 1) {
            ++p;
            continue;
        }
        if (p + 1 >= end) break;
        const uint8_t olen = p[1];
        if (p + olen > end || olen == 0) break;
        switch (kind) {
            case 4:
                pkt.sack_ok = true;
                break;
            case 2:
                if (olen >= 4) pkt.mss = load_be16(p + 2);
                break;
            case 3:
                if (olen >= 3) pkt.win_scale = p[2];
                break;
            case 8:
                if (olen >= 10) {
                    pkt.has_ts = true;
                    pkt.ts_val = load_be32(p + 2);
                    pkt.ts_ecr = load_be32(p + 6);
                }
                break;
            default:
                break;
        }
        p += olen;
    }
    init_window(c, side, flags, pkt.win_scale, seq, ack);
    if (writer_.wants(EventKind::connection_SYN_packet)) writer_.syn_packet(c, pkt);
}

void Engine::parse_options(Connection& c, bool is_orig, const TcpHeader& th) {
    TcpOptionEntry opts[40];
    size_t n = 0;
    const uint8_t* p = th.bytes + 20;
    const uint8_t* end = th.bytes + th.header_len();
    while (p < end) {
        const uint8_t kind = p[0];
        uint8_t olen;
        if (kind < 2) {
            olen = 1;
        } else if (p + 1 >= end) {
            break;  // no room for the length
        } else {
            olen = p[1];
        }
        // A zero length or an option running off the header ends the walk;
        // that option is dropped without a weird.
        if (olen == 0 || p + olen > end) break;
        opts[n++] = TcpOptionEntry{kind, olen, TcpOptionEntry::kBare, p + 2,
                                   static_cast<uint8_t>(olen > 2 ? olen - 2 : 0)};
        p += olen;
        if (kind == 0) break;
    }

    if (writer_.wants(EventKind::tcp_option))
        for (size_t i = 0; i < n; ++i) writer_.tcp_option(c, is_orig, opts[i].kind, opts[i].length);
    if (!writer_.wants(EventKind::tcp_options)) return;

    // Fields are decoded only at the exact valid length; otherwise the raw
    // bytes are reported, with a weird for the kinds Zeek knows.
    struct KnownKind {
        uint8_t kind;
        bool (*valid)(uint8_t length);
        bool has_fields;  // SACK-permitted, UTO, AO and TFO carry none
        const char* weird;
    };
    static constexpr KnownKind kKnown[] = {
        {2, [](uint8_t l) { return l == 4; }, true, "tcp_option_mss_invalid_len"},
        {3, [](uint8_t l) { return l == 3; }, true, "tcp_option_window_scale_invalid_len"},
        {4, [](uint8_t l) { return l == 2; }, false, "tcp_option_sack_invalid_len"},
        {5, [](uint8_t l) { return l == 10 || l == 18 || l == 26 || l == 34; }, true, "tcp_option_sack_blocks_invalid_len"},
        {8, [](uint8_t l) { return l == 10; }, true, "tcp_option_timestamps_invalid_len"},
        {27, [](uint8_t l) { return l == 8; }, true, "tcp_option_qsresponse_invalid_len"},
        {28, [](uint8_t l) { return l == 4; }, false, "tcp_option_uto_invalid_len"},
        {29, [](uint8_t l) { return l >= 4; }, false, "tcp_option_ao_invalid_len"},
        {34, [](uint8_t l) { return l == 2 || (l >= 6 && l <= 18); }, false, "tcp_option_tfo_invalid_len"},
    };
    for (size_t i = 0; i < n; ++i) {
        TcpOptionEntry& o = opts[i];
        if (o.kind < 2) continue;  // EOL and NOP: kind and length only
        const KnownKind* known = nullptr;
        for (const auto& k : kKnown)
            if (k.kind == o.kind) known = &k;
        if (known && known->valid(o.length)) {
            o.shape = known->has_fields ? TcpOptionEntry::kDecoded : TcpOptionEntry::kBare;
            continue;
        }
        o.shape = o.data_len ? TcpOptionEntry::kData : TcpOptionEntry::kBare;
        if (known) weird(c, known->weird);
    }
    writer_.tcp_options(c, is_orig, opts, n);
}

// ---------------------------------------------------------------------------
// State machine

void Engine::set_state(Connection& c, int side, EpState s) {
    TcpEndpoint& ep = c.ep[side];
    if (s == ep.state) return;
    // Leaving the handshake switches to the TCP inactivity timeout.
    if (!in_handshake(s) && in_handshake(ep.state) && in_handshake(c.ep[side ^ 1].state))
        set_inactivity_timeout(c, options_.tcp_inactivity_timeout);
    ep.prev_state = ep.state;
    ep.state = s;
}

void Engine::connection_reset(Connection& c) {
    if (writer_.wants(EventKind::connection_reset)) writer_.conn_event(EventKind::connection_reset, c);
    c.analyzer_active = false;
}

void Engine::state_machine(Connection& c, int side, bool is_orig, uint32_t seq, uint32_t ack, int32_t len,
                           int32_t delta_last, uint8_t flags, double t, bool* do_close, bool* gen_event) {
    TcpEndpoint& ep = c.ep[side];
    TcpEndpoint& peer = c.ep[side ^ 1];
    const bool syn = has(flags, tcp_flag::SYN);
    const bool fin = has(flags, tcp_flag::FIN);
    const bool rst = has(flags, tcp_flag::RST);
    const bool ackf = has(flags, tcp_flag::ACK);

    switch (ep.state) {
        case EpState::Inactive:
            return inactive_state(c, side, is_orig, seq, ack, len, flags, t, do_close, gen_event);

        case EpState::SynSent:
        case EpState::SynAckSent:
            if (syn) {
                if (is_orig) {
                    if (ackf && !fin && !rst && ep.state != EpState::SynAckSent) weird(c, "repeated_SYN_with_ack");
                } else if (!ackf && ep.state != EpState::SynSent) {
                    weird(c, "repeated_SYN_reply_wo_ack");
                }
            }
            if (fin) {
                if (peer.state == EpState::Inactive || peer.state == EpState::SynSent) weird(c, "inappropriate_FIN");
                set_state(c, side, EpState::Closed);
                *do_close = *gen_event = true;
            }
            if (rst) {
                set_state(c, side, EpState::Reset);
                connection_reset(c);
                *do_close = true;
            } else if (len > 0) {
                weird(c, "data_before_established");
            }
            return;

        case EpState::Established:
        case EpState::Partial:
            if (syn && ep.state == EpState::Partial && peer.state == EpState::Inactive && !ackf) {
                weird(c, "SYN_after_partial");
                set_state(c, side, EpState::SynSent);
            }
            if (fin && !rst) {
                set_state(c, side, EpState::Closed);
                // A FIN then a RST from the peer was a normal close after all.
                if (peer.state == EpState::Reset && peer.prev_state == EpState::Closed)
                    set_state(c, side ^ 1, EpState::Closed);
                *do_close = *gen_event = true;
            }
            if (rst) {
                set_state(c, side, EpState::Reset);
                *do_close = true;
                // A second RST of an aborted connection is no news.
                if (peer.state != EpState::Reset || peer.prev_state != EpState::Established) connection_reset(c);
            }
            return;

        case EpState::Closed:
            if (syn) weird(c, "SYN_after_close");
            if (fin && delta_last > 0) weird(c, "FIN_advanced_last_seq");
            // After both FINs a RST changes nothing.
            if (rst && peer.state != EpState::Closed) {
                set_state(c, side, EpState::Reset);
                if (!ep.did_close) *do_close = true;
                if (writer_.wants(EventKind::connection_reset))
                    add_timer(c, TimerKind::Reset, t + options_.tcp_reset_delay);
            }
            return;

        case EpState::Reset:
            if (syn) weird(c, "SYN_after_reset");
            if (fin) weird(c, "FIN_after_reset");
            if (len > 0 && !rst) weird(c, "data_after_reset");
            return;
    }
}

void Engine::inactive_state(Connection& c, int side, bool is_orig, uint32_t seq, uint32_t ack, int32_t len,
                            uint8_t flags, double t, bool* do_close, bool* gen_event) {
    TcpEndpoint& ep = c.ep[side];
    TcpEndpoint& peer = c.ep[side ^ 1];
    const int peer_side = side ^ 1;
    const bool ackf = has(flags, tcp_flag::ACK);

    if (has(flags, tcp_flag::SYN)) {
        if (is_orig) {
            if (ackf) {
                weird(c, "connection_originator_SYN_ack");
                set_state(c, side, EpState::SynAckSent);
            } else {
                set_state(c, side, EpState::SynSent);
            }
            if (options_.tcp_attempt_delay != 0) add_timer(c, TimerKind::Attempt, t + options_.tcp_attempt_delay);
        } else {
            if (ackf) {
                if (peer.state != EpState::Inactive && peer.state != EpState::Partial &&
                    !seq_between(ack, peer.start_seq32(), peer.last_seq))
                    weird(c, "bad_SYN_ack");
            } else if (peer.state == EpState::SynAckSent && seq == ep.start_seq32()) {
                // SYN-ACK seen before its SYN (e.g. two capture interfaces):
                // flip the roles and call it established.
                c.is_partial = false;
                flip_roles(c);
                set_state(c, peer_side, EpState::Established);
                c.first_packet_seen |= kOrigSeen;
            } else {
                weird(c, "simultaneous_open");
            }
            if (peer.state == EpState::SynSent)
                set_state(c, peer_side, EpState::Established);
            else if (peer.state == EpState::Inactive)
                weird(c, "unsolicited_SYN_response");
            set_state(c, side, EpState::Established);
            if (peer.state != EpState::Partial) {
                if (writer_.wants(EventKind::connection_established))
                    writer_.conn_event(EventKind::connection_established, c);
                established_in_group_.emplace_back(c.slot, c.generation);
            }
        }
    }

    if (has(flags, tcp_flag::FIN)) {
        set_state(c, side, EpState::Closed);
        *do_close = *gen_event = true;
        if (peer.state != EpState::Partial && !has(flags, tcp_flag::SYN)) weird(c, "spontaneous_FIN");
    }

    if (has(flags, tcp_flag::RST)) {
        set_state(c, side, EpState::Reset);
        // A RST from the originator to an established (SYN-ACK'ing) peer is
        // a reverse scan's reject; from the responder it rejects the SYN.
        const bool reject = is_orig ? peer.state == EpState::Established
                                    : (peer.state == EpState::SynSent || peer.state == EpState::SynAckSent);
        *do_close = true;
        *gen_event = !reject;
        if (reject) {
            if (writer_.wants(EventKind::connection_rejected)) writer_.conn_event(EventKind::connection_rejected, c);
        } else if (peer.state == EpState::Inactive) {
            weird(c, "spontaneous_RST");
        }
    }

    if (ep.state == EpState::Inactive) {
        if (!is_orig && len == 0 && c.orig().state == EpState::SynSent) {
            // Some stacks ack a SYN before replying to it; not a partial
            // connection yet.
        } else if (ackf && peer.state == EpState::Established) {
            // The SYN was missed but the SYN-ACK seen: established.
            set_state(c, side, EpState::Established);
            c.is_partial = false;
            c.first_packet_seen |= is_orig ? kOrigSeen : kRespSeen;
        } else {
            set_state(c, side, EpState::Partial);
            if (peer.state == EpState::Partial && writer_.wants(EventKind::partial_connection))
                writer_.conn_event(EventKind::partial_connection, c);
        }
    }
}

void Engine::connection_closed(Connection& c, int side, bool gen_event) {
    TcpEndpoint& ep = c.ep[side];
    TcpEndpoint& peer = c.ep[side ^ 1];
    if (data_pending(c, side)) {
        // Data still to deliver: the close waits for this side's EOF.
        c.close_deferred = true;
        if (!c.deferred_gen_event) c.deferred_gen_event = gen_event;
        return;
    }
    c.close_deferred = false;
    if (ep.did_close) return;
    ep.did_close = true;

    const bool complete = ep.state == EpState::Reset || peer.did_close || peer.state == EpState::Inactive;
    if (complete) {
        if (ep.prev_state != EpState::Inactive || peer.state != EpState::Inactive) {
            if (c.deferred_gen_event) {
                gen_event = true;
                c.deferred_gen_event = false;
            }
            if (gen_event) {
                const bool half = peer.state == EpState::Inactive;
                const EventKind k = half ? EventKind::connection_half_finished : EventKind::connection_finished;
                if (writer_.wants(k)) writer_.conn_event(k, c);
                c.analyzer_active = false;
            }
        }
        ++c.analyzer_epoch;  // cancels the analyzer's pending timers
        if (options_.tcp_close_delay != 0)
            add_timer(c, TimerKind::ConnDelete, c.last_time + options_.tcp_close_delay);
        else
            add_timer(c, TimerKind::Delete, c.last_time);
    } else if (ep.prev_state == EpState::Inactive) {
        // The first thing this side did was to close.
        if (writer_.wants(EventKind::connection_partial_close))
            add_timer(c, TimerKind::PartialClose, c.last_time + options_.tcp_partial_close_delay);
    } else {
        // Wait for the other side to close too.
        add_timer(c, TimerKind::Expire, c.last_time + options_.tcp_session_timer);
    }
}

// ---------------------------------------------------------------------------
// TCPStats: Zeek's retransmission detector behind tcp_rexmit

void Engine::rexmit_stats(Connection& c, bool is_orig, uint64_t seq, int32_t len, const IpPacket& ip) {
    // The stats slots stay bound to the endpoints they were made for, and
    // are fed by the current role: after a flip, values come inverted.
    const int slot = is_orig ? 0 : 1;
    TcpEndpoint& ep = c.ep[slot];
    const int id = static_cast<int>(ip.version == 4 ? ip.id : 0);
    if (!ep.rexmit_seen) {
        ep.rexmit_seen = true;
        ep.rexmit_last_id = static_cast<uint16_t>(id);
        return;
    }
    if (id == ep.rexmit_last_id) return;  // a replayed packet

    // IP IDs usually count up, in host or network byte order; a small step
    // back means reordering.
    auto swap16 = [](int n) { return ((n & 0xff) << 8) | ((n & 0xff00) >> 8); };
    const auto id_delta = static_cast<int16_t>(id - ep.rexmit_last_id);
    const auto swapped_delta = static_cast<int16_t>(swap16(id) - swap16(ep.rexmit_last_id));
    const int abs_delta = id_delta < 0 ? -id_delta : id_delta;
    const int abs_swapped = swapped_delta < 0 ? -swapped_delta : swapped_delta;
    const int final_delta = abs_delta < abs_swapped ? id_delta : swapped_delta;
    if (final_delta < 0 && final_delta > -256) return;
    ep.rexmit_last_id = static_cast<uint16_t>(id);

    const uint64_t top = seq + static_cast<uint64_t>(len);
    const int32_t in_flight = seq_delta(ep.last_seq, ep.ack_seq);
    if (static_cast<int64_t>(top - ep.rexmit_max_top) <= 0) {
        writer_.tcp_rexmit(c, c.is_orig_side(slot), seq, static_cast<uint32_t>(len),
                           static_cast<uint32_t>(in_flight < 0 ? 0 : in_flight), c.ep[slot ^ 1].window);
    } else {
        ep.rexmit_max_top = top;
    }
}

}  // namespace tcpsensor
