#include "decode.h"

#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "byte_order.h"

namespace tcpsensor {

namespace {

constexpr uint16_t kEtherIPv4 = 0x0800;
constexpr uint16_t kEtherIPv6 = 0x86DD;
constexpr uint16_t kEtherVlan = 0x8100;
constexpr uint16_t kEtherQinQ = 0x88A8;
constexpr uint16_t kEtherQinQOld = 0x9100;
constexpr uint16_t kEtherMplsUnicast = 0x8847;
constexpr uint16_t kEtherMplsMulticast = 0x8848;
constexpr uint16_t kEtherPppoeSession = 0x8864;
constexpr uint16_t kEtherCiscoFabricPath = 0x8903;
constexpr uint16_t kEtherVnTag = 0x8926;
constexpr uint16_t kEtherPbb = 0x88E7;
constexpr uint16_t kPppIPv4 = 0x0021;
constexpr uint16_t kPppIPv6 = 0x0057;

// Nesting bound for tag chains: a frame of nothing but tags must not keep
// the decoder busy.
constexpr int kMaxEncapsulations = 16;

LinkResult by_ip_version(const uint8_t* frame, uint32_t caplen, uint32_t offset, uint32_t* l3_offset) {
    if (offset >= caplen) return LinkResult::Malformed;
    const uint8_t version = frame[offset] >> 4;
    if (version != 4 && version != 6) return LinkResult::NotIp;
    *l3_offset = offset;
    return LinkResult::Ip;
}

// An MPLS label stack, then IP (Zeek's MPLS analyzer has IP as its default).
LinkResult mpls(const uint8_t* frame, uint32_t caplen, uint32_t offset, uint32_t* l3_offset) {
    bool bottom = false;
    while (!bottom) {
        if (offset >= caplen || caplen - offset <= 4) return LinkResult::Malformed;
        bottom = (frame[offset + 2] & 0x01) != 0;
        offset += 4;
    }
    return by_ip_version(frame, caplen, offset, l3_offset);
}

// A PPP protocol number: IPv4, IPv6 or MPLS (Zeek's PPP analyzers).
LinkResult by_ppp_protocol(const uint8_t* frame, uint32_t caplen, uint32_t offset, uint16_t protocol,
                           uint32_t* l3_offset) {
    if (protocol == 0x0021 || protocol == 0x0057) return by_ip_version(frame, caplen, offset, l3_offset);
    if (protocol == 0x0281) return mpls(frame, caplen, offset, l3_offset);
    return LinkResult::NotIp;
}

// NFLOG: a family, version 0, then TLVs (in host byte order, as libpcap
// hands them) until the one holding the packet.
LinkResult nflog(const uint8_t* frame, uint32_t caplen, uint32_t* l3_offset) {
    if (caplen <= 4 || frame[1] != 0) return LinkResult::Malformed;
    const uint8_t family = frame[0];
    uint32_t offset = 4;
    for (;;) {
        if (caplen - offset <= 4) return LinkResult::Malformed;
        uint16_t tlv_len, tlv_type;
        std::memcpy(&tlv_len, frame + offset, 2);
        std::memcpy(&tlv_type, frame + offset + 2, 2);
        if (tlv_type == 9) {  // NFULA_PAYLOAD
            offset += 4;
            break;
        }
        if (tlv_len < 4) return LinkResult::Malformed;
        const uint32_t skip = (tlv_len + 3u) & ~3u;  // TLVs are padded to 32 bits
        if (skip > caplen - offset) return LinkResult::Malformed;
        offset += skip;
    }
    if (family != 2 && family != 10) return LinkResult::NotIp;  // AF_INET, AF_INET6
    return by_ip_version(frame, caplen, offset, l3_offset);
}

// What follows an Ethernet or VLAN header whose type field is an 802.3
// length: IP only behind SNAP with a zero OUI, as Zeek's SNAP analyzer has
// it registered.
LinkResult by_llc(const uint8_t* frame, uint32_t caplen, uint32_t offset, uint32_t* l3_offset) {
    if (offset >= caplen || caplen - offset < 2) return LinkResult::Malformed;
    const uint8_t* p = frame + offset;
    if (p[0] != 0xAA || p[1] != 0xAA) return LinkResult::NotIp;  // plain LLC or Novell raw
    const uint32_t left = caplen - offset;
    if (left < 3) return LinkResult::Malformed;
    const uint32_t llc = (p[2] & 0x03) == 0x03 ? 3 : 4;
    if (left < llc + 5) return LinkResult::Malformed;
    const uint32_t oui = (uint32_t{p[llc]} << 16) | (uint32_t{p[llc + 1]} << 8) | p[llc + 2];
    const uint16_t type = load_be16(p + llc + 3);
    if (oui != 0 || (type != kEtherIPv4 && type != kEtherIPv6)) return LinkResult::NotIp;
    *l3_offset = offset + llc + 5;
    return *l3_offset < caplen ? LinkResult::Ip : LinkResult::Malformed;
}

LinkResult ethernet(const uint8_t* frame, uint32_t caplen, uint32_t base, uint32_t* l3_offset, int depth);

// Follows an EtherType chain starting at `offset` (which holds the type's
// payload) until IP is reached, with the dispatch Zeek's packet analyzers
// register (base/packet-protocols).
LinkResult by_ethertype(const uint8_t* frame, uint32_t caplen, uint32_t offset, uint16_t type,
                        uint32_t* l3_offset, int depth = 0) {
    for (; depth < kMaxEncapsulations; ++depth) {
        if (offset >= caplen) return LinkResult::Malformed;
        const uint32_t left = caplen - offset;
        switch (type) {
            case kEtherIPv4:
            case kEtherIPv6:
                *l3_offset = offset;
                return LinkResult::Ip;
            case kEtherVlan:
            case kEtherQinQ:
            case kEtherQinQOld:
                if (left <= 4) return LinkResult::Malformed;
                type = load_be16(frame + offset + 2);
                offset += 4;
                if (type <= 1500) return by_llc(frame, caplen, offset, l3_offset);
                if (type < 1536) return LinkResult::NotIp;
                continue;
            case kEtherVnTag:
                if (left <= 6) return LinkResult::Malformed;
                type = load_be16(frame + offset + 4);
                offset += 6;
                // Zeek follows a VN-Tag only into VLAN tags.
                if (type != kEtherVlan && type != kEtherQinQ && type != kEtherQinQOld) return LinkResult::NotIp;
                continue;
            case kEtherPbb:
                // An 802.1ah I-TAG, then the customer's whole Ethernet frame.
                if (left <= 18) return LinkResult::Malformed;
                return ethernet(frame, caplen, offset + 4, l3_offset, depth + 1);
            case kEtherMplsUnicast:
            case kEtherMplsMulticast:
                return mpls(frame, caplen, offset, l3_offset);
            case kEtherPppoeSession: {
                if (left <= 8) return LinkResult::Malformed;
                const uint16_t ppp = load_be16(frame + offset + 6);
                offset += 8;
                if (ppp == kPppIPv4 || ppp == kPppIPv6) {
                    *l3_offset = offset;
                    return LinkResult::Ip;
                }
                return LinkResult::NotIp;
            }
            default:
                return LinkResult::NotIp;
        }
    }
    return LinkResult::Malformed;
}

LinkResult ethernet(const uint8_t* frame, uint32_t caplen, uint32_t base, uint32_t* l3_offset, int depth) {
    if (caplen <= base || caplen - base <= 16) return LinkResult::Malformed;
    if (load_be16(frame + base + 12) == kEtherCiscoFabricPath) {
        if (caplen - base <= 16 + 14) return LinkResult::Malformed;
        base += 16;
    }
    const uint16_t type = load_be16(frame + base + 12);
    if (type <= 1500) return by_llc(frame, caplen, base + 14, l3_offset);
    if (type < 1536) return LinkResult::NotIp;
    return by_ethertype(frame, caplen, base + 14, type, l3_offset, depth);
}

}  // namespace

bool linktype_supported(int lt) {
    switch (lt) {
        case linktype::kNull:
        case linktype::kEthernet:
        case linktype::kRawAlt1:
        case linktype::kRawAlt2:
        case linktype::kRaw:
        case linktype::kLoop:
        case linktype::kLinuxSll:
        case linktype::kIpv4:
        case linktype::kIpv6:
        case linktype::kLinuxSll2:
        case linktype::kFddi:
        case linktype::kPpp:
        case linktype::kPppSerial:
        case linktype::kNflog:
        case linktype::kIeee80211:       // decoded by the engine (an A-MSDU
        case linktype::kIeee80211Radio:  // carries several packets)
            return true;
        default:
            return false;
    }
}

LinkResult decode_link(int lt, const uint8_t* frame, uint32_t caplen, uint32_t* l3_offset) {
    switch (lt) {
        case linktype::kEthernet:
            return ethernet(frame, caplen, 0, l3_offset, 0);
        case linktype::kLinuxSll:
            if (caplen <= 16) return LinkResult::Malformed;
            return by_ethertype(frame, caplen, 16, load_be16(frame + 14), l3_offset);
        case linktype::kLinuxSll2:
            if (caplen <= 20) return LinkResult::Malformed;
            return by_ethertype(frame, caplen, 20, load_be16(frame), l3_offset);
        case linktype::kNull: {
            // As Zeek reads DLT_NULL: the family little-endian; 2 is IPv4 and
            // 24, 28, 30 are the BSDs' IPv6.
            if (caplen <= 4) return LinkResult::Malformed;
            const uint32_t family = load_le32(frame);
            if (family == 2 || family == 24 || family == 28 || family == 30)
                return by_ip_version(frame, caplen, 4, l3_offset);
            return LinkResult::NotIp;
        }
        case linktype::kLoop: {
            // OpenBSD's loopback: the family in network order. Zeek has no
            // decoder for it; we take the families DLT_NULL has.
            if (caplen <= 4) return LinkResult::Malformed;
            const uint32_t family = load_be32(frame);
            if (family == 2 || family == 24 || family == 28 || family == 30)
                return by_ip_version(frame, caplen, 4, l3_offset);
            return LinkResult::NotIp;
        }
        case linktype::kRaw:
        case linktype::kRawAlt1:
        case linktype::kRawAlt2:
        case linktype::kIpv4:
        case linktype::kIpv6:
            return by_ip_version(frame, caplen, 0, l3_offset);
        case linktype::kFddi:
            // Zeek skips the FDDI header and an LLC/SNAP header (13 + 8)
            // and takes the rest for IP.
            if (caplen <= 21) return LinkResult::Malformed;
            return by_ip_version(frame, caplen, 21, l3_offset);
        case linktype::kPpp:
            // HDLC-like framing (ff 03) before the protocol, or none.
            if (caplen <= 2) return LinkResult::Malformed;
            if (frame[0] == 0xff && frame[1] == 0x03) {
                if (caplen <= 4) return LinkResult::Malformed;
                return by_ppp_protocol(frame, caplen, 4, load_be16(frame + 2), l3_offset);
            }
            return by_ppp_protocol(frame, caplen, 2, load_be16(frame), l3_offset);
        case linktype::kPppSerial:
            if (caplen <= 4) return LinkResult::Malformed;
            return by_ppp_protocol(frame, caplen, 4, load_be16(frame + 2), l3_offset);
        case linktype::kNflog:
            return nflog(frame, caplen, l3_offset);
        default:
            return LinkResult::NotIp;
    }
}

namespace {

constexpr uint8_t kProtoHopOpts = 0;
constexpr uint8_t kProtoRouting = 43;
constexpr uint8_t kProtoFragment = 44;
constexpr uint8_t kProtoEsp = 50;
constexpr uint8_t kProtoAh = 51;
constexpr uint8_t kProtoNone = 59;
constexpr uint8_t kProtoDstOpts = 60;
constexpr uint8_t kProtoMobility = 135;

bool is_ipv6_extension(uint8_t t) {
    switch (t) {
        case kProtoHopOpts:
        case kProtoRouting:
        case kProtoDstOpts:
        case kProtoFragment:
        case kProtoAh:
        case kProtoEsp:
        case kProtoMobility:
            return true;
        default:
            return false;
    }
}

struct Ipv6Chain {
    uint16_t length = 0;      // bytes of all headers in the chain
    uint8_t last_type = 0;    // type of the last header in the chain
    uint8_t next = kProtoNone;
    const uint8_t* fragment = nullptr;
    const uint8_t* final_destination = nullptr;  // from a routing header with segments left
    const uint8_t* home_address = nullptr;       // Mobile IPv6 Home Address option
    bool routing_seen = false;
};

// A routing header names the final destination when segments are left
// (types 0 and 2, with Zeek's length rules); the first one counts.
void routing_header(Ipv6Chain* chain, const uint8_t* r, uint32_t len) {
    if (chain->routing_seen) return;
    chain->routing_seen = true;
    const uint8_t hdr_len = r[1], type = r[2], segments_left = r[3];
    if (segments_left == 0) return;
    if ((type == 0 && hdr_len >= 2 && hdr_len % 2 == 0) || (type == 2 && hdr_len == 2))
        chain->final_destination = r + len - 16;
}

// Destination options may carry a Home Address, which stands in for the
// source address.
void destination_options(Ipv6Chain* chain, const uint8_t* d, uint32_t len) {
    const uint8_t* p = d + 2;
    uint32_t left = len - 2;
    while (left > 0) {
        if (p[0] == 0) {  // Pad1
            ++p;
            --left;
            continue;
        }
        if (left < 2 || left < 2u + p[1]) return;
        if (p[0] == 201 && p[1] == 16 && !chain->home_address) chain->home_address = p + 2;
        left -= 2u + p[1];
        p += 2u + p[1];
    }
}

// Walks the IPv6 header chain the way Zeek does: it ends at a fragment,
// ESP or mobility header, at a non-extension next header, or before a
// header that is not fully captured.
Ipv6Chain walk_ipv6_chain(const uint8_t* ip6, uint32_t available) {
    Ipv6Chain chain;
    uint8_t current = 0;
    uint8_t next = 41;  // the fixed header itself
    const uint8_t* p = ip6;
    bool first = true;
    do {
        if (available < 2) break;
        current = next;
        uint32_t len;
        uint8_t following;
        if (first) {
            len = 40;
            following = ip6[6];
        } else {
            following = p[0];
            switch (current) {
                case kProtoHopOpts:
                case kProtoDstOpts:
                case kProtoRouting:
                case kProtoMobility:
                    len = 8 + 8u * p[1];
                    break;
                case kProtoFragment:
                case kProtoEsp:
                    len = 8;
                    break;
                case kProtoAh:
                    len = 8 + 4u * p[1];
                    break;
                default:
                    len = 0;
            }
        }
        if (len > available) break;
        if (current == kProtoFragment) chain.fragment = p;
        if (!first && current == kProtoRouting) routing_header(&chain, p, len);
        if (!first && current == kProtoDstOpts) destination_options(&chain, p, len);
        chain.last_type = first ? 41 : current;
        chain.next = following;
        chain.length = static_cast<uint16_t>(chain.length + len);
        p += len;
        available -= len;
        next = following;
        first = false;
    } while (current != kProtoFragment && current != kProtoEsp && current != kProtoMobility &&
             is_ipv6_extension(next));
    return chain;
}

}  // namespace

void set_ip_payload(IpPacket* ip) {
    ip->payload = ip->header + ip->header_len;
    ip->payload_len = ip->total_len > ip->header_len ? ip->total_len - ip->header_len : 0;
    if (ip->version == 4 && load_be16(ip->header + 2) == 0) ip->payload_len = 0;
    uint32_t cap = ip->captured > ip->header_len ? ip->captured - ip->header_len : 0;
    if (ip->payload_len != 0 && cap > ip->payload_len) cap = ip->payload_len;
    ip->captured_payload = cap;
}

IpResult parse_ip(const uint8_t* ip, uint32_t captured, uint32_t wire, bool ignore_checksums, IpPacket* out,
                  Anomaly* why) {
    auto drop = [why](Anomaly a) {
        *why = a;
        return IpResult::Drop;
    };
    *why = Anomaly::Count;
    if (captured < 20) return drop(Anomaly::truncated_IP);

    IpPacket& p = *out;
    p.header = ip;
    p.captured = captured;
    p.version = ip[0] >> 4;

    if (p.version == 4) {
        p.header_len = static_cast<uint16_t>((ip[0] & 0x0f) * 4);
        p.total_len = load_be16(ip + 2);
        p.ttl = ip[8];
        p.proto = ip[9];
        const uint16_t frag = load_be16(ip + 6);
        p.dont_fragment = (frag & 0x4000) != 0;
        p.more_fragments = (frag & 0x2000) != 0;
        p.frag_offset = (frag & 0x1fffu) * 8;
        p.is_fragment = (frag & 0x3fff) != 0;
        p.id = load_be16(ip + 4);
        p.src = IpAddress::from_v4(ip + 12);
        p.dst = IpAddress::from_v4(ip + 16);
    } else if (p.version == 6) {
        if (captured < 40) return drop(Anomaly::truncated_IP);
        const Ipv6Chain chain = walk_ipv6_chain(ip, captured);
        p.header_len = chain.length;
        p.total_len = load_be16(ip + 4) + 40u;
        p.ttl = ip[7];
        // Zeek stops at ESP (encrypted) and mobility headers: nothing above
        // them is analysed.
        p.proto = (chain.last_type == kProtoEsp || chain.last_type == kProtoMobility) ? 255 : chain.next;
        p.dont_fragment = false;
        p.is_fragment = chain.last_type == kProtoFragment;
        if (p.is_fragment) {
            const uint16_t offlg = load_be16(chain.fragment + 2);
            p.frag_offset = offlg & 0xfff8u;
            p.more_fragments = (offlg & 1) != 0;
            p.id = load_be32(chain.fragment + 4);
        } else {
            p.frag_offset = 0;
            p.more_fragments = false;
            p.id = 0;
        }
        p.src = IpAddress::from_v6(chain.home_address ? chain.home_address : ip + 8);
        p.dst = IpAddress::from_v6(chain.final_destination ? chain.final_destination : ip + 24);
    } else {
        return drop(Anomaly::unknown_ip_version);
    }

    uint32_t total = p.total_len;
    if (total == 0) {
        // Segmentation offload leaves the length zero; only when checksums
        // are not trusted anyway does the captured length stand in for it.
        if (!ignore_checksums) return drop(Anomaly::ip_hdr_len_zero);
        *why = Anomaly::ip_hdr_len_zero;
        total = captured;
    }
    if (wire < total) return drop(Anomaly::truncated_IP_len);
    if (p.header_len > total) return drop(Anomaly::invalid_IP_header_size);
    if (p.header_len > captured) return drop(Anomaly::internally_truncated_IP_header);
    if (p.version == 4 && p.header_len < 20) return drop(Anomaly::IPv4_min_header_size);
    if (p.version == 6 && p.header_len < 40) return drop(Anomaly::IPv6_min_header_size);
    if (p.version == 4 && !ignore_checksums && !ipv4_header_checksum_ok(ip, p.header_len))
        return drop(Anomaly::bad_IP_checksum);

    set_ip_payload(out);
    if (p.is_fragment) {
        if (captured < total) {
            // Reassembly of a partly captured fragment is doomed; the first
            // one still carries headers worth analysing.
            if (p.frag_offset != 0) return drop(Anomaly::incompletely_captured_fragment);
            *why = Anomaly::incompletely_captured_fragment;
            p.is_fragment = false;
            return IpResult::Ok;
        }
        return IpResult::Fragment;
    }
    return IpResult::Ok;
}

TcpHeader read_tcp_header(const uint8_t* p) {
    TcpHeader h;
    h.bytes = p;
    h.src_port = load_be16(p);
    h.dst_port = load_be16(p + 2);
    h.seq = load_be32(p + 4);
    h.ack = load_be32(p + 8);
    h.data_offset = p[12] >> 4;
    h.flags = p[13];
    h.window = load_be16(p + 14);
    h.urgent = load_be16(p + 18);
    return h;
}

namespace {

// The Internet checksum works on 16-bit words, but summing larger native
// chunks and folding the total gives the same 16-bit sum, in native byte
// order (RFC 1071: byte-order independence); a final swap gives network
// order. Chunks must start at even offsets of the checksummed data.

#if defined(__x86_64__) && defined(__GNUC__)
// Adds the 16-bit words of data[0, len & ~31) in 32-bit lanes; a lane
// cannot overflow below 4 MiB per call.
__attribute__((target("avx2"))) uint64_t sum_words_avx2(const uint8_t* data, size_t len) {
    const __m256i zero = _mm256_setzero_si256();
    __m256i a = zero, b = zero;
    for (; len >= 32; data += 32, len -= 32) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data));
        a = _mm256_add_epi32(a, _mm256_unpacklo_epi16(v, zero));
        b = _mm256_add_epi32(b, _mm256_unpackhi_epi16(v, zero));
    }
    alignas(32) uint32_t part[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(part), _mm256_add_epi32(a, b));
    uint64_t total = 0;
    for (uint32_t x : part) total += x;
    return total;
}

const bool kHaveAvx2 = __builtin_cpu_supports("avx2");
#endif

inline uint64_t add_chunks(const uint8_t* data, size_t len) {
    uint64_t acc = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (kHaveAvx2 && len >= 128 && len <= (4u << 20)) {
        acc = sum_words_avx2(data, len);
        data += len & ~size_t{31};
        len &= 31;
    }
#endif
    for (; len >= 8; data += 8, len -= 8) {
        uint64_t w;
        std::memcpy(&w, data, 8);
        acc += (w & 0xffffffffu) + (w >> 32);
    }
    if (len >= 4) {
        uint32_t w;
        std::memcpy(&w, data, 4);
        acc += w;
        data += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t w;
        std::memcpy(&w, data, 2);
        acc += w;
        data += 2;
        len -= 2;
    }
    if (len) {
        const uint8_t last[2] = {data[0], 0};
        uint16_t w;
        std::memcpy(&w, last, 2);
        acc += w;
    }
    return acc;
}

// Folds a native chunk sum to 16 bits, in network order.
inline uint16_t fold(uint64_t acc) {
    acc = (acc & 0xffffffffu) + (acc >> 32);
    acc = (acc & 0xffffffffu) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    auto folded = static_cast<uint16_t>(acc);
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
    folded = static_cast<uint16_t>((folded >> 8) | (folded << 8));
#endif
    return folded;
}

// Network-order bytes as the native chunk summing sees them.
inline uint64_t native16(uint16_t v) {
    const uint8_t b[2] = {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
    uint16_t w;
    std::memcpy(&w, b, 2);
    return w;
}

}  // namespace

uint16_t ones_complement_sum(const uint8_t* data, size_t len, uint32_t initial) {
    uint32_t sum = fold(add_chunks(data, len)) + initial;
    sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>((sum & 0xffff) + (sum >> 16));
}

bool ipv4_header_checksum_ok(const uint8_t* header, uint32_t len) { return fold(add_chunks(header, len)) == 0xffff; }

bool transport_checksum_ok(const IpPacket& ip, uint8_t proto, const uint8_t* segment, uint32_t len) {
    // The pseudo-header, summed in place: addresses, protocol, length.
    uint64_t acc = add_chunks(segment, len);
    if (ip.version == 4) {
        acc += add_chunks(ip.src.bytes + 12, 4) + add_chunks(ip.dst.bytes + 12, 4);
        acc += native16(proto) + native16(static_cast<uint16_t>(len));
    } else {
        acc += add_chunks(ip.src.bytes, 16) + add_chunks(ip.dst.bytes, 16);
        acc += native16(static_cast<uint16_t>(len >> 16)) + native16(static_cast<uint16_t>(len)) + native16(proto);
    }
    return fold(acc) == 0xffff;
}

}  // namespace tcpsensor
