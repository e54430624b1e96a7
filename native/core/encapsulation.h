// The tunnels a packet came through, condensed the way Zeek compares them
// (Connection::CheckEncapsulation): a connection whose packets arrive
// through different tunnels than before sees a tunnel change.
#pragma once

#include <cstdint>

#include "ip_address.h"

namespace tcpsensor {

// Zeek's Tunnel::max_depth: a packet already inside this many tunnels is
// not decapsulated further.
constexpr uint8_t kMaxTunnelDepth = 4;

enum class TunnelKind : uint8_t { None = 0, Ip, Gre, Teredo, Vxlan, Geneve, Gtpv1, Ayiya };

// depth 0 is a packet seen directly. Each layer adds what Zeek's
// EncapsulatingConn compares: for IP tunnels the kind, IP protocol and
// unordered address pair; for UDP tunnels the outer UDP connection, whose
// identity (`session`) stands for its addresses, ports and uid.
struct Encapsulation {
    uint64_t fingerprint = 0;
    uint8_t depth = 0;
    TunnelKind innermost = TunnelKind::None;
};

// How a tunnelled IP packet fits the bytes it came in (Zeek's
// IP::ParsePacket): of the expected version, and filling them exactly.
enum class InnerFit : uint8_t { Exact, BadVersion, TooSmall, TooLarge };
InnerFit inner_ip_fit(const uint8_t* p, uint32_t n, int version);

Encapsulation add_ip_layer(const Encapsulation& encap, const IpAddress& src, const IpAddress& dst, uint8_t proto,
                           TunnelKind kind);
Encapsulation add_udp_layer(const Encapsulation& encap, TunnelKind kind, uint64_t session);

}  // namespace tcpsensor
