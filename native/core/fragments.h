// IPv4 and IPv6 fragment reassembly with Zeek's rules: fragments keyed by
// (source, destination, identification); overlapping bytes keep what came
// first; a datagram is complete when the bytes from 0 to the size the last
// fragment declares are all present. Held bytes are bounded (a set is
// dropped whole when the bound would be crossed) and a set expires after
// frag_timeout seconds of network time.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "anomalies.h"
#include "decode.h"

namespace tcpsensor {

class FragmentReassembler {
public:
    FragmentReassembler(uint64_t max_bytes, double timeout) : max_bytes_(max_bytes), timeout_(timeout) {}

    // Adds a fragment (a parse_ip result of kind Fragment). When this
    // completes its datagram, returns true with *out describing it; the
    // bytes stay valid until the next call. Oddities are counted in
    // `anomalies` (indexed by Anomaly).
    bool add(const IpPacket& fragment, double now, IpPacket* out, uint64_t* anomalies);

    void expire(double now);
    uint64_t bytes() const { return bytes_; }
    size_t sets() const { return sets_.size(); }
    size_t queued_expiries() const { return expiry_.size(); }

private:
    struct Piece {
        uint32_t offset;
        uint32_t upper;
        std::vector<uint8_t> bytes;
    };
    struct Set {
        std::vector<uint8_t> header;  // the first-seen fragment's IP header (IPv6: without the fragment header)
        uint8_t next_proto = 0;
        uint32_t frag_size = 0;        // 0: not known yet
        std::vector<Piece> pieces;     // sorted, disjoint
        double expires = 0;
        uint64_t bytes = 0;
    };
    using Key = std::tuple<IpAddress, IpAddress, uint32_t>;
    struct KeyLess {
        bool operator()(const Key& a, const Key& b) const;
    };

    bool try_complete(Set& s, IpPacket* out, uint64_t* anomalies);
    void drop(std::map<Key, Set, KeyLess>::iterator it);
    void compact_expiry();

    uint64_t max_bytes_;
    double timeout_;
    uint64_t bytes_ = 0;
    std::map<Key, Set, KeyLess> sets_;
    // Sets in creation order (which is expiry order). A set that completes
    // or is dropped leaves its entry behind; compact_expiry() keeps those
    // from outnumbering the live sets.
    std::deque<std::pair<double, Key>> expiry_;
    std::vector<uint8_t> datagram_;
};

}  // namespace tcpsensor
