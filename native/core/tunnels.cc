// IP tunnels, decapsulated as Zeek's packet analysis does even in bare
// mode: IP in IP (protocols 4 and 41) and GRE (47; version 0 with raw IP,
// transparent Ethernet bridging or ERSPAN inside, version 1 as PPTP). UDP
// tunnels are in udp_tunnels.cc. The inner packet runs through the same path; the connection notes the tunnels
// it came through, and when they change (Zeek's tunnel_changed) more than
// Tunnel::max_changes_per_connection times, it gets history X and the weird
// tunnel_max_changes_per_connection_exceeded.
#include <cstring>

#include "byte_order.h"
#include "engine.h"

namespace tcpsensor {

namespace {

// Zeek's Tunnel::max_changes_per_connection.
constexpr uint8_t kMaxTunnelChanges = 5;
// Zeek's session-level history bit for analyzer limits ('X').
constexpr uint32_t kHistLimitReached = 0x400;

uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

uint32_t gre_header_len(uint16_t flags) {
    uint32_t len = 4;
    if (flags & 0x8000) len += 4;  // checksum
    if (flags & 0x2000) len += 4;  // key
    if (flags & 0x1000) len += 4;  // sequence
    if (flags & 0x0080) len += 4;  // acknowledgement
    return len;
}

}  // namespace

// One more layer: Zeek compares IP tunnels by kind, IP protocol and the
// unordered pair of addresses.
Encapsulation add_ip_layer(const Encapsulation& encap, const IpAddress& src, const IpAddress& dst, uint8_t proto,
                           TunnelKind kind) {
    const bool forward = !(dst < src);
    const IpAddress& a = forward ? src : dst;
    const IpAddress& b = forward ? dst : src;
    uint64_t h = mix(encap.fingerprint ? encap.fingerprint : 0x6a09e667f3bcc909ull,
                     (static_cast<uint64_t>(kind) << 8) | proto);
    for (int i = 0; i < 16; i += 8) {
        uint64_t w;
        std::memcpy(&w, a.bytes + i, 8);
        h = mix(h, w);
        std::memcpy(&w, b.bytes + i, 8);
        h = mix(h, w);
    }
    return Encapsulation{h | 1, static_cast<uint8_t>(encap.depth + 1), kind};
}

// UDP tunnels compare by their outer UDP connection (addresses, ports and
// uid in Zeek), which the session's identity stands for.
Encapsulation add_udp_layer(const Encapsulation& encap, TunnelKind kind, uint64_t session) {
    uint64_t h = mix(encap.fingerprint ? encap.fingerprint : 0x6a09e667f3bcc909ull,
                     (static_cast<uint64_t>(kind) << 8) | 17);
    h = mix(h, session);
    return Encapsulation{h | 1, static_cast<uint8_t>(encap.depth + 1), kind};
}

void Engine::check_encapsulation(Connection& c, const Encapsulation& encap) {
    const uint64_t before = c.extras ? c.extras->encapsulation : 0;
    if (before == encap.fingerprint) return;
    ConnectionExtras& x = c.more();
    x.encapsulation = encap.fingerprint;
    if (x.tunnel_changes < kMaxTunnelChanges) {
        ++x.tunnel_changes;
        return;
    }
    weird(c, "tunnel_max_changes_per_connection_exceeded");
    if (!(c.hist_seen & kHistLimitReached)) {
        c.hist_seen |= kHistLimitReached;
        add_history_letter(c, 'X');
    }
}

InnerFit inner_ip_fit(const uint8_t* p, uint32_t n, int version) {
    uint32_t total;
    if (version == 6) {
        if (n < 40) return InnerFit::TooSmall;
        if ((p[0] >> 4) != 6) return InnerFit::BadVersion;
        total = 40u + load_be16(p + 4);
    } else {
        if (n < 20 || (p[0] >> 4) != 4) return InnerFit::BadVersion;
        total = load_be16(p + 2);
    }
    return n == total ? InnerFit::Exact : (n < total ? InnerFit::TooSmall : InnerFit::TooLarge);
}

bool Engine::inner_ip_fits(const uint8_t* p, uint32_t n, int version) {
    switch (inner_ip_fit(p, n, version)) {
        case InnerFit::Exact:
            return true;
        case InnerFit::BadVersion:
            count(Anomaly::invalid_inner_IP_version);
            return false;
        case InnerFit::TooSmall:
            count(Anomaly::truncated_inner_IP);
            return false;
        case InnerFit::TooLarge:
            count(Anomaly::inner_IP_payload_length_mismatch);
            return false;
    }
    return false;
}

void Engine::handle_tunnel(const IpPacket& outer, double t, const Encapsulation& encap) {
    const uint8_t* data = outer.payload;
    const uint32_t len = outer.captured_payload;
    if (outer.proto == 4 || outer.proto == 41) {
        if (encap.depth >= kMaxTunnelDepth) return count(Anomaly::exceeded_tunnel_max_depth);
        // The inner packet must be of the version the protocol says and
        // fill the payload exactly.
        if (!inner_ip_fits(data, len, outer.proto == 4 ? 4 : 6)) return;
        packet_complete_ = true;
        return handle_l3(data, len, len, t, add_ip_layer(encap, outer.src, outer.dst, outer.proto, TunnelKind::Ip));
    }
    gre(data, len, outer.src, outer.dst, outer.proto, t, encap);
}

// GRE, in IP (protocol 47) or in UDP (4754); `ip_proto` is the outer IP
// packet's protocol, part of the tunnel's identity.
void Engine::gre(const uint8_t* data, uint32_t len, const IpAddress& src, const IpAddress& dst, uint8_t ip_proto,
                 double t, const Encapsulation& encap) {
    if (encap.depth >= kMaxTunnelDepth) return count(Anomaly::exceeded_tunnel_max_depth);
    const uint8_t* const gre_start = data;
    if (len < 4) return count(Anomaly::truncated_GRE);
    const uint16_t flags_ver = load_be16(data);
    const uint16_t proto = load_be16(data + 2);
    const int version = flags_ver & 0x0007;
    const uint32_t gre_len = gre_header_len(flags_ver);
    const uint32_t pptp_len = version == 1 ? 4 : 0;
    uint32_t eth_len = 0;
    uint32_t erspan_len = 0;
    bool ethernet = false;

    if (version != 0 && version != 1) return count(Anomaly::unknown_gre_version);
    if (version == 0) {
        if (proto == 0x6558) {  // transparent Ethernet bridging
            if (len <= gre_len + 14) return count(Anomaly::truncated_GRE);
            eth_len = 14;
            ethernet = true;
        } else if (proto == 0x88be) {  // ERSPAN type II
            if (len <= gre_len + 14) return count(Anomaly::truncated_GRE);
            eth_len = 14;
            ethernet = true;
            if (flags_ver & 0x1000) {
                erspan_len += 8;
                if (len < gre_len + eth_len + erspan_len) return count(Anomaly::truncated_GRE);
            }
        } else if (proto == 0x22eb) {  // ERSPAN type III
            if (len <= gre_len + 14 + 12) return count(Anomaly::truncated_GRE);
            erspan_len = 12;
            eth_len = 14;
            ethernet = true;
            if (data[gre_len + erspan_len - 1] & 0x01) {
                if (len <= gre_len + erspan_len + 8 + eth_len) return count(Anomaly::truncated_GRE);
                erspan_len += 8;
            }
        } else if (((proto & 0x8200) == 0x8200 && (proto & 0x0f) == 0) ||
                   ((proto & 0x8300) == 0x8300 && (proto & 0x0f) == 0 && proto <= 0x8370) || proto == 0x9000) {
            // Wireless frames (Aruba) or loopback: no IP for us.
            if (len <= gre_len) return count(Anomaly::truncated_GRE);
            ++stats_.packets_non_ip;
            return;
        }
    } else if (proto != 0x880b) {
        return count(Anomaly::egre_protocol_type);
    }
    if (flags_ver & 0x4000) return count(Anomaly::gre_routing);
    if (flags_ver & 0x0078) return count(Anomaly::unknown_gre_flags);
    if (len < gre_len + pptp_len + eth_len + erspan_len) return count(Anomaly::truncated_GRE);

    const uint32_t skip = gre_len + pptp_len + erspan_len;
    data += skip;
    len -= skip;
    const Encapsulation inner = add_ip_layer(encap, src, dst, ip_proto, TunnelKind::Gre);
    // Zeek hands on a packet whose capture is complete from here on.
    packet_complete_ = true;

    if (version == 1) {
        // PPTP: PPP carrying IPv4 or IPv6, which must fill the payload exactly.
        const uint16_t ppp = load_be16(gre_start + gre_len + 2);
        if (ppp != 0x0021 && ppp != 0x0057) return count(Anomaly::non_ip_packet_in_encap);
        if (!inner_ip_fits(data, len, ppp == 0x0021 ? 4 : 6)) return;
        return handle_l3(data, len, len, t, inner);
    }
    if (!ethernet) return handle_l3(data, len, len, t, inner);
    inner_ethernet(data, len, 0, t, inner);
}

// An Ethernet frame inside a tunnel (GRE bridging and ERSPAN, VXLAN,
// Geneve); `uncaptured` bytes of it were cut off by the capture.
void Engine::inner_ethernet(const uint8_t* frame, uint32_t len, uint32_t uncaptured, double t,
                            const Encapsulation& encap) {
    uint32_t l3 = 0;
    switch (decode_link(linktype::kEthernet, frame, len, &l3)) {
        case LinkResult::NotIp:
            ++stats_.packets_non_ip;
            return;
        case LinkResult::Malformed:
            return count(Anomaly::link_truncated);
        case LinkResult::Ip:
            return handle_l3(frame + l3, len - l3, len - l3 + uncaptured, t, encap);
    }
}

}  // namespace tcpsensor
