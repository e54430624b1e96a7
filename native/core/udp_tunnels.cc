// UDP tunnels, decapsulated as Zeek's packet analysis does in bare mode
// (base/packet-protocols is loaded by init-bare): Teredo (3544), VXLAN
// (4789), Geneve (6081), GTPv1 (2152, 2123), AYIYA (5072) and GRE (4754), chosen by the
// outer UDP connection's responder port; on other ports, packets that look
// like Teredo or AYIYA are decapsulated too (Zeek's protocol detection).
//
// What Zeek does before a UDP payload reaches a tunnel analyzer, and what
// the analyzers check, is followed rule by rule: the checksum (a bad one
// stops the packet), the role flip by those ports (the responder's port
// picks the analyzer), and each analyzer's header checks, where a failure
// is a protocol violation that stops that analyzer for the rest of the
// UDP connection (GTPv1 aside). Nothing about UDP itself is reported: the
// events are TCP's, of the connections inside.
#include "byte_order.h"
#include "engine.h"

namespace tcpsensor {

namespace {

constexpr uint16_t kTeredoPort = 3544;
constexpr uint16_t kVxlanPort = 4789;
constexpr uint16_t kGenevePort = 6081;
constexpr uint16_t kGtpUserPort = 2152;
constexpr uint16_t kGtpControlPort = 2123;
constexpr uint16_t kAyiyaPort = 5072;
constexpr uint16_t kGrePort = 4754;

TunnelKind tunnel_for_port(uint16_t port) {
    switch (port) {
        case kTeredoPort:
            return TunnelKind::Teredo;
        case kVxlanPort:
            return TunnelKind::Vxlan;
        case kGenevePort:
            return TunnelKind::Geneve;
        case kGtpUserPort:
        case kGtpControlPort:
            return TunnelKind::Gtpv1;
        case kAyiyaPort:
            return TunnelKind::Ayiya;
        case kGrePort:
            return TunnelKind::Gre;
        default:
            return TunnelKind::None;
    }
}

// Zeek's Teredo detection on other ports: an IPv6 header with a Teredo
// (2001:0::/32) address, or one behind an origin indication (itself
// possibly behind an authentication header).
bool looks_like_teredo(const uint8_t* p, uint32_t n) {
    if (n < 40) return false;
    if ((p[0] >> 4) != 6 && (p[0] != 0 || (p[1] != 0 && p[1] != 1))) return false;
    const auto teredo_prefix = [](const uint8_t* a) { return a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0; };
    if (p[0] >= 0x60 && p[0] <= 0x6f && (teredo_prefix(p + 8) || teredo_prefix(p + 24))) return true;
    uint16_t tag = p[1];
    if (tag == 1) {
        const uint32_t auth = 13u + p[2] + p[3];
        if (n < auth) return false;
        p += auth;
        n -= auth;
        if (n < 40) return false;
        tag = load_be16(p);
    }
    if (tag != 0) return false;
    p += 8;
    n -= 8;
    return n >= 40 && (p[0] >> 4) == 6;
}

bool looks_like_ayiya(const uint8_t* p, uint32_t n) { return n >= 3 && p[1] == 0x52 && p[2] == 0x11; }

}  // namespace

void Engine::handle_udp(const IpPacket& ip, double t, const Encapsulation& encap) {
    if (ip.payload_len && ip.payload_len < 8) return count(Anomaly::truncated_UDP_header);
    if (ip.captured_payload < 8) return count(Anomaly::internally_truncated_UDP_header);
    const Endpoint4 src{ip.src, load_be16(ip.payload)};
    const Endpoint4 dst{ip.dst, load_be16(ip.payload + 2)};
    const uint8_t* data = ip.payload + 8;
    const uint32_t len = ip.captured_payload - 8;
    // Bytes of the datagram the capture cut off: the inner packet's wire
    // length counts them.
    const uint32_t uncaptured = ip.payload_len > ip.captured_payload ? ip.payload_len - ip.captured_payload : 0;

    // Zeek flips a UDP connection's roles when only the source port is a
    // likely server port; in bare mode those are exactly the tunnel ports.
    const bool src_tunnel = tunnel_for_port(src.port) != TunnelKind::None;
    const bool dst_tunnel = tunnel_for_port(dst.port) != TunnelKind::None;
    const double timeout = options_.udp_inactivity_timeout;
    // Zeek's detection, for flows no tunnel port names: looked at once.
    const auto detect = [&] {
        if (looks_like_teredo(data, len)) return TunnelKind::Teredo;
        if (looks_like_ayiya(data, len)) return TunnelKind::Ayiya;
        return TunnelKind::None;
    };
    TunnelKind detected = TunnelKind::None;
    bool detection_done = false;
    UdpSession* s = udp_sessions_.find(src, dst, network_time_, timeout);
    UdpSession alone;
    if (!s) {
        if (!src_tunnel && !dst_tunnel) {
            detected = detect();
            detection_done = true;
        }
        if (!src_tunnel && !dst_tunnel && detected == TunnelKind::None) {
            ++stats_.packets_non_tcp;
            return;
        }
        const bool flip = src_tunnel && !dst_tunnel && !dst.addr.is_v4_broadcast();
        s = udp_sessions_.insert(src, dst, flip, t, network_time_, timeout);
        if (!s) {
            count(Anomaly::udp_sessions_full);
            alone = udp_sessions_.transient(src, dst, flip, t);
            s = &alone;
        }
    }

    // Verified only when the whole datagram was captured. Its length is
    // the IP payload's (the UDP length field bounds nothing in Zeek).
    const uint32_t datagram = ip.payload_len ? ip.payload_len : ip.captured_payload;
    if (!options_.ignore_checksums && packet_complete_ && ip.captured_payload >= datagram) {
        const uint16_t checksum = load_be16(ip.payload + 6);
        bool verify = ip.version == 6 || checksum != 0;
        // VXLAN to its port may send no checksum even over IPv6.
        if (datagram > 8 + 8 + 14 && (data[0] & 0x08) && dst.port == kVxlanPort && checksum == 0) verify = false;
        if (verify && !transport_checksum_ok(ip, 17, ip.payload, datagram)) return count(Anomaly::bad_UDP_checksum);
    }
    s->last_time = t;

    TunnelKind kind = tunnel_for_port(s->resp.port);
    if (kind == TunnelKind::None) kind = detection_done ? detected : detect();
    if (kind == TunnelKind::None) return;
    // GRE in UDP is Zeek's IP tunnel analyzer again: no violation state,
    // and the tunnel is the outer address pair's.
    if (kind == TunnelKind::Gre) return gre(data, len, ip.src, ip.dst, ip.proto, t, encap);
    decapsulate_udp(kind, *s, data, len, uncaptured, t, encap);
}

// A tunnel analyzer refused the packet; all but GTPv1 stop for the rest of
// the UDP connection (`s`).
void Engine::tunnel_violation(UdpSession* s, TunnelKind kind) {
    if (s) s->violate(kind);
    count(Anomaly::tunnel_protocol_violation);
}

void Engine::decapsulate_udp(TunnelKind kind, UdpSession& s, const uint8_t* p, uint32_t n, uint32_t uncaptured,
                             double t, const Encapsulation& encap) {
    if (kind == TunnelKind::Gtpv1) return gtpv1(s, p, n, uncaptured, t, encap);
    if (s.violated_by(kind)) return;
    if (encap.depth >= kMaxTunnelDepth) return count(Anomaly::exceeded_tunnel_max_depth);
    const auto violation = [&] { tunnel_violation(&s, kind); };
    const Encapsulation inner = add_udp_layer(encap, kind, s.id);

    switch (kind) {
        case TunnelKind::Teredo:
            return teredo(s, p, n, uncaptured, t, inner);

        case TunnelKind::Vxlan:
            if (n < 8 || !(p[0] & 0x08)) return violation();  // the I flag: a valid VNI
            if (n == 8) return;
            return inner_ethernet(p + 8, n - 8, uncaptured, t, inner);

        case TunnelKind::Geneve: {
            if (n < 8) return violation();
            if (p[0] >> 6) return;  // another version: dropped, no violation
            const uint32_t header = 8u + (p[0] & 0x3fu) * 4u;
            if (header > n) return violation();
            const uint16_t proto = load_be16(p + 2);
            if (n == header) return;
            if (proto == 0x6558) return inner_ethernet(p + header, n - header, uncaptured, t, inner);
            if (proto == 0x0800 || proto == 0x86dd)
                return handle_l3(p + header, n - header, n - header + uncaptured, t, inner);
            ++stats_.packets_non_ip;
            return;
        }

        case TunnelKind::Ayiya: {
            if (n < 8) return violation();
            const uint32_t header = 8u + (1u << (p[0] >> 4)) + (p[1] >> 4) * 4u;
            if (header > n) return violation();
            if ((p[2] & 0x0f) != 1) return;  // only "forward" carries a packet
            const uint8_t next = p[3];
            if (n == header) return;
            if (next != 4 && next != 41) {
                ++stats_.packets_non_ip;
                return;
            }
            return handle_l3(p + header, n - header, n - header + uncaptured, t, inner);
        }

        default:
            return;
    }
}

// `inner` is the encapsulation of the packet inside.
void Engine::teredo(UdpSession& s, const uint8_t* p, uint32_t n, uint32_t uncaptured, double t,
                    const Encapsulation& inner) {
    const auto violation = [&] { tunnel_violation(&s, TunnelKind::Teredo); };
    // Optional authentication header, then optional origin indication (in
    // that order, once each), then the IPv6 packet.
    bool origin = false;
    bool auth = false;
    for (;;) {
        if (n < 2) return violation();
        const uint16_t tag = load_be16(p);
        if (tag == 0) {
            if (origin || n < 8) return violation();
            origin = true;
            p += 8;
            n -= 8;
        } else if (tag == 1) {
            if (origin || auth || n < 4) return violation();
            const uint32_t size = 4u + p[2] + p[3] + 8u + 1u;
            if (n < size) return violation();
            auth = true;
            p += size;
            n -= size;
        } else if ((p[0] >> 4) == 6) {
            if (n < 40) return violation();
            break;
        } else {
            return violation();
        }
    }
    const InnerFit fit = inner_ip_fit(p, n, 6);
    // A bubble (no next header, no payload) may carry bytes after it.
    const bool bubble = p[6] == 59 && load_be16(p + 4) == 0;
    if (fit == InnerFit::BadVersion || fit == InnerFit::TooSmall || (fit == InnerFit::TooLarge && !bubble))
        return violation();
    handle_l3(p, n, n + uncaptured, t, inner);
}

void Engine::gtpv1(UdpSession& s, const uint8_t* p, uint32_t n, uint32_t uncaptured, double t,
                   const Encapsulation& encap) {
    // GTPv1 keeps decapsulating after a violation, so none is remembered.
    const auto violation = [&] { tunnel_violation(nullptr, TunnelKind::Gtpv1); };
    if (n < 8) return violation();
    const uint8_t flags = p[0];
    const uint8_t type = p[1];
    uint32_t header = 8;
    if (flags & 0x07) {  // sequence number, N-PDU number or extension headers present
        if (n < 12) return violation();
        header = 12;
        if (flags & 0x04) {
            // Extension headers, each a length in 4-byte units (content,
            // then the next type), until a next type of 0.
            for (;;) {
                if (header >= n) return violation();
                const uint32_t units = p[header];
                if (units == 0 || header + units * 4 > n) return violation();
                const uint8_t next = p[header + units * 4 - 1];
                header += units * 4;
                if (next == 0) break;
            }
        }
    }
    if (encap.depth >= kMaxTunnelDepth) return count(Anomaly::exceeded_tunnel_max_depth);
    if (encap.innermost == TunnelKind::Gtpv1) return violation();  // GTP is never inside GTP
    if ((flags >> 5) != 1) return violation();
    if (!(flags & 0x10)) return;  // GTP' (protocol type 0)
    if (type != 255) return;      // signalling, not a user packet (G-PDU)
    if (n - header < 20) return violation();
    const uint8_t* inner = p + header;
    const uint32_t inner_len = n - header;
    const int version = inner[0] >> 4;
    if (version != 4 && version != 6) return violation();
    if (inner_ip_fit(inner, inner_len, version) != InnerFit::Exact) return violation();
    handle_l3(inner, inner_len, inner_len + uncaptured, t, add_udp_layer(encap, TunnelKind::Gtpv1, s.id));
}

}  // namespace tcpsensor
