// IP addresses in one 16-byte form: IPv4 is stored IPv4-mapped
// (::ffff:a.b.c.d), as Zeek stores it, so that one comparison and one hash
// serve both families.
#pragma once

#include <cstdint>
#include <cstring>

namespace tcpsensor {

struct IpAddress {
    uint8_t bytes[16];

    static IpAddress from_v4(const uint8_t* four) {
        IpAddress a{};
        a.bytes[10] = 0xff;
        a.bytes[11] = 0xff;
        std::memcpy(a.bytes + 12, four, 4);
        return a;
    }

    static IpAddress from_v6(const uint8_t* sixteen) {
        IpAddress a;
        std::memcpy(a.bytes, sixteen, 16);
        return a;
    }

    bool is_v4() const {
        static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        return std::memcmp(bytes, kPrefix, 12) == 0;
    }

    bool is_v4_broadcast() const {
        return is_v4() && bytes[12] == 0xff && bytes[13] == 0xff && bytes[14] == 0xff && bytes[15] == 0xff;
    }

    // Compared as two words (a memcmp call per comparison shows up on
    // the per-packet path).
    bool operator==(const IpAddress& o) const {
        uint64_t a[2], b[2];
        std::memcpy(a, bytes, 16);
        std::memcpy(b, o.bytes, 16);
        return ((a[0] ^ b[0]) | (a[1] ^ b[1])) == 0;
    }
    bool operator!=(const IpAddress& o) const { return !(*this == o); }
    // Byte-wise (big-endian) order.
    bool operator<(const IpAddress& o) const {
        uint64_t a[2], b[2];
        std::memcpy(a, bytes, 16);
        std::memcpy(b, o.bytes, 16);
        const uint64_t a0 = __builtin_bswap64(a[0]), b0 = __builtin_bswap64(b[0]);
        if (a0 != b0) return a0 < b0;
        return __builtin_bswap64(a[1]) < __builtin_bswap64(b[1]);
    }
};

// One side of a connection: an address and a TCP port (host byte order).
struct Endpoint4 {
    IpAddress addr;
    uint16_t port;

    bool operator==(const Endpoint4& o) const { return port == o.port && addr == o.addr; }
};

}  // namespace tcpsensor
