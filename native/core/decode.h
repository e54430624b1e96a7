// Packet decoding: link layer to IP to TCP, in place over the captured
// bytes. Every read is bounded by the captured length; the views point into
// the caller's buffer and are valid as long as it is.
#pragma once

#include <cstdint>

#include "anomalies.h"
#include "ip_address.h"

namespace tcpsensor {

// libpcap's LINKTYPE_ values that we decode.
namespace linktype {
constexpr int kNull = 0;
constexpr int kEthernet = 1;
constexpr int kPpp = 9;
constexpr int kFddi = 10;
constexpr int kPppSerial = 50;
constexpr int kRawAlt1 = 12;
constexpr int kRawAlt2 = 14;
constexpr int kRaw = 101;
constexpr int kIeee80211 = 105;
constexpr int kLoop = 108;
constexpr int kLinuxSll = 113;
constexpr int kIeee80211Radio = 127;
constexpr int kIpv4 = 228;
constexpr int kIpv6 = 229;
constexpr int kNflog = 239;
constexpr int kLinuxSll2 = 276;
}  // namespace linktype

bool linktype_supported(int linktype);

enum class LinkResult : uint8_t { Ip, NotIp, Malformed };

// Finds the start of the IP header under the link-layer, VLAN, MPLS and
// PPPoE headers. On Ip, *l3_offset is the IP header's offset in the frame.
LinkResult decode_link(int linktype, const uint8_t* frame, uint32_t caplen, uint32_t* l3_offset);

// An IP packet after Zeek's IP-layer checks.
struct IpPacket {
    const uint8_t* header = nullptr;  // first byte of the IP header
    uint32_t captured = 0;            // captured bytes from header on
    uint8_t version = 0;
    uint8_t proto = 0;                // upper-layer protocol (after IPv6 extension headers)
    uint8_t ttl = 0;
    bool dont_fragment = false;
    bool is_fragment = false;
    bool more_fragments = false;
    uint16_t header_len = 0;          // IPv4 IHL*4, or IPv6 fixed plus extension headers
    uint32_t total_len = 0;           // from the header (IPv6: payload length + 40)
    uint32_t frag_offset = 0;         // bytes
    uint32_t id = 0;                  // IPv4 identification, IPv6 fragment identification, else 0
    IpAddress src, dst;
    const uint8_t* payload = nullptr;
    uint32_t payload_len = 0;         // per the header: total_len - header_len (0 if IPv4 total is 0)
    uint32_t captured_payload = 0;    // captured payload bytes, at most payload_len when that is non-zero
};

enum class IpResult : uint8_t { Ok, Fragment, Drop };

// Parses the IP header at `ip` (captured bytes `captured`, wire bytes
// `wire`) with Zeek's checks. On Drop, *why says which check failed; on Ok
// it may name a tolerated oddity worth counting (else Anomaly::Count).
// A Fragment still needs reassembly; its payload fields describe the
// fragment alone.
IpResult parse_ip(const uint8_t* ip, uint32_t captured, uint32_t wire, bool ignore_checksums, IpPacket* out,
                  Anomaly* why);

// Fills the payload fields of an IP packet whose header fields are set
// (after parse_ip, or for a reassembled datagram).
void set_ip_payload(IpPacket* ip);

// A TCP header read from its first 20 bytes.
struct TcpHeader {
    const uint8_t* bytes = nullptr;
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
    uint32_t seq = 0;
    uint32_t ack = 0;
    uint8_t data_offset = 0;  // header length in 32-bit words
    uint8_t flags = 0;
    uint16_t window = 0;
    uint16_t urgent = 0;
    uint32_t header_len() const { return data_offset * 4u; }
};

namespace tcp_flag {
constexpr uint8_t FIN = 0x01;
constexpr uint8_t SYN = 0x02;
constexpr uint8_t RST = 0x04;
constexpr uint8_t PSH = 0x08;
constexpr uint8_t ACK = 0x10;
constexpr uint8_t URG = 0x20;
}  // namespace tcp_flag

// Requires at least 20 readable bytes.
TcpHeader read_tcp_header(const uint8_t* p);

// Verifies a TCP or UDP (`proto`) checksum over the pseudo-header and the
// `len` bytes of the segment (header plus payload), all of which must be
// captured.
bool transport_checksum_ok(const IpPacket& ip, uint8_t proto, const uint8_t* segment, uint32_t len);

// The Internet checksum (RFC 1071) of a byte range, folded, not inverted.
uint16_t ones_complement_sum(const uint8_t* data, size_t len, uint32_t initial = 0);

// Whether an IPv4 header's checksum is right.
bool ipv4_header_checksum_ok(const uint8_t* header, uint32_t len);

}  // namespace tcpsensor
