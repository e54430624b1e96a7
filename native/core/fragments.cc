#include "fragments.h"

#include <algorithm>
#include <cstring>

#include "byte_order.h"

namespace tcpsensor {

namespace {

// Zeek's plausibility bounds for fragment sizes.
constexpr uint32_t kMinAcceptableFragment = 64;
constexpr uint32_t kMaxAcceptableFragment = 64000;
// What a set costs besides its bytes (map node, vectors, its expiry
// entries: at most about two of 48 bytes, see compact_expiry), for the
// bound.
constexpr uint64_t kSetOverhead = 224;
// Entries of finished sets tolerated in the expiry queue beyond one per
// live set.
constexpr size_t kExpirySlack = 64;

void bump(uint64_t* anomalies, Anomaly a) { ++anomalies[static_cast<size_t>(a)]; }

}  // namespace

bool FragmentReassembler::KeyLess::operator()(const Key& a, const Key& b) const {
    const int s = std::memcmp(std::get<0>(a).bytes, std::get<0>(b).bytes, 16);
    if (s != 0) return s < 0;
    const int d = std::memcmp(std::get<1>(a).bytes, std::get<1>(b).bytes, 16);
    if (d != 0) return d < 0;
    return std::get<2>(a) < std::get<2>(b);
}

void FragmentReassembler::drop(std::map<Key, Set, KeyLess>::iterator it) {
    bytes_ -= it->second.bytes;
    sets_.erase(it);
}

// Every datagram reassembled would otherwise leave an entry for
// frag_timeout seconds (an hour's worth of fragmented traffic with a
// long timeout), beyond any bound on held bytes. Rebuilt from the live
// sets, the queue is at most twice their number (plus the slack) again;
// the rebuild happens after as many drops as there are entries, so its
// cost spreads over them. (Not from expire(), which walks the queue.)
void FragmentReassembler::compact_expiry() {
    if (expiry_.size() <= 2 * sets_.size() + kExpirySlack) return;
    expiry_.clear();
    for (const auto& [key, set] : sets_) expiry_.emplace_back(set.expires, key);
    std::stable_sort(expiry_.begin(), expiry_.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
}

void FragmentReassembler::expire(double now) {
    while (!expiry_.empty() && expiry_.front().first <= now) {
        auto it = sets_.find(expiry_.front().second);
        // A set completed and re-created under the same key is younger than
        // this entry; its own entry comes later.
        if (it != sets_.end() && it->second.expires <= now) drop(it);
        expiry_.pop_front();
    }
}

bool FragmentReassembler::add(const IpPacket& f, double now, IpPacket* out, uint64_t* anomalies) {
    const Key key{f.src, f.dst, f.id};
    // The fragment header is not part of the datagram's headers.
    const uint32_t header_len = f.version == 4 ? f.header_len : f.header_len - 8u;
    auto it = sets_.find(key);
    if (it == sets_.end()) {
        Set s;
        s.header.assign(f.header, f.header + header_len);
        s.next_proto = f.proto;
        s.expires = timeout_ > 0 ? now + timeout_ : 1e300;
        s.bytes = kSetOverhead + header_len;
        if (bytes_ + s.bytes > max_bytes_) {
            bump(anomalies, Anomaly::fragment_memory_exceeded);
            return false;
        }
        bytes_ += s.bytes;
        it = sets_.emplace(key, std::move(s)).first;
        if (timeout_ > 0) expiry_.emplace_back(it->second.expires, key);
    } else {
        const Set& s = it->second;
        const bool inconsistent = f.version == 4 ? (f.proto != s.header[9] || (f.header[0] & 0x0f) != (s.header[0] & 0x0f))
                                                 : (f.proto != s.next_proto || header_len != s.header.size());
        if (inconsistent) bump(anomalies, Anomaly::fragment_protocol_inconsistency);
    }
    Set& s = it->second;

    if (f.dont_fragment) bump(anomalies, Anomaly::fragment_with_DF);
    if (f.total_len < f.header_len) {
        bump(anomalies, Anomaly::fragment_protocol_inconsistency);
        return false;
    }
    const uint32_t len = f.total_len - f.header_len;
    const uint32_t offset = f.frag_offset;
    const uint32_t upper = offset + len;
    if (offset == 0) s.next_proto = f.proto;

    if (!f.more_fragments) {
        if (s.frag_size == 0) {
            s.frag_size = upper;
        } else if (upper != s.frag_size) {
            bump(anomalies, Anomaly::fragment_size_inconsistency);
            if (upper > s.frag_size) s.frag_size = upper;
        }
    } else if (f.total_len < kMinAcceptableFragment) {
        bump(anomalies, Anomaly::excessively_small_fragment);
    }
    if (upper > kMaxAcceptableFragment) bump(anomalies, Anomaly::excessively_large_fragment);
    if (s.frag_size && upper > s.frag_size) {
        bump(anomalies, Anomaly::fragment_size_inconsistency);
        s.frag_size = upper;
    }
    // Zeek's reassembler ignores an empty block, so an empty fragment
    // completes nothing (not even as the last one); a datagram completes
    // only when a fragment with bytes is inserted, and is then forgotten.
    if (len == 0) return false;

    // Insert the stretches no piece covers yet; covered bytes are compared.
    const uint8_t* data = f.header + f.header_len;
    uint32_t at = offset;
    auto pos = s.pieces.begin();
    while (at < upper) {
        while (pos != s.pieces.end() && pos->upper <= at) ++pos;
        if (pos != s.pieces.end() && pos->offset <= at) {
            const uint32_t end = std::min(upper, pos->upper);
            const bool same = std::memcmp(pos->bytes.data() + (at - pos->offset), data + (at - offset), end - at) == 0;
            bump(anomalies, same ? Anomaly::fragment_overlap : Anomaly::fragment_inconsistency);
            at = end;
            continue;
        }
        const uint32_t end = pos != s.pieces.end() ? std::min(upper, pos->offset) : upper;
        if (bytes_ + (end - at) > max_bytes_) {
            bump(anomalies, Anomaly::fragment_memory_exceeded);
            drop(it);
            compact_expiry();
            return false;
        }
        Piece p{at, end, std::vector<uint8_t>(data + (at - offset), data + (end - offset))};
        pos = s.pieces.insert(pos, std::move(p));
        ++pos;
        s.bytes += end - at;
        bytes_ += end - at;
        at = end;
    }
    const bool complete = try_complete(s, out, anomalies);
    if (complete) {
        drop(it);
        compact_expiry();
    }
    return complete;
}

bool FragmentReassembler::try_complete(Set& s, IpPacket* out, uint64_t* anomalies) {
    if (s.pieces.empty() || s.pieces.front().offset > 0 || !s.frag_size) return false;
    size_t run = 0;  // last piece of the contiguous run from offset 0
    while (run + 1 < s.pieces.size() && s.pieces[run].upper == s.pieces[run + 1].offset) ++run;
    const uint32_t run_end = s.pieces[run].upper;
    const uint32_t last_upper = s.pieces.back().upper;
    if (run + 1 < s.pieces.size()) {
        if (run_end < s.frag_size) return false;
        bump(anomalies, Anomaly::fragment_size_inconsistency);
        s.frag_size = run_end;
    } else if (last_upper > s.frag_size) {
        bump(anomalies, Anomaly::fragment_size_inconsistency);
        s.frag_size = last_upper;
    } else if (last_upper < s.frag_size) {
        return false;
    }

    const uint32_t header_len = static_cast<uint32_t>(s.header.size());
    const uint32_t total = header_len + s.frag_size;
    datagram_.assign(total, 0);
    std::memcpy(datagram_.data(), s.header.data(), header_len);
    for (size_t i = 0; i <= run && s.pieces[i].offset < s.frag_size; ++i) {
        const Piece& p = s.pieces[i];
        const uint32_t end = std::min(p.upper, s.frag_size);
        std::memcpy(datagram_.data() + header_len + p.offset, p.bytes.data(), end - p.offset);
    }
    uint8_t* h = datagram_.data();
    if (h[0] >> 4 == 4) {
        h[2] = static_cast<uint8_t>(total >> 8);
        h[3] = static_cast<uint8_t>(total);
        h[6] &= 0x40;  // keep DF; the datagram is no fragment
        h[7] = 0;
    } else {
        const uint32_t plen = total - 40;
        h[4] = static_cast<uint8_t>(plen >> 8);
        h[5] = static_cast<uint8_t>(plen);
        // The header that pointed at the fragment header now points at
        // what the fragments carried.
        uint32_t next_field = 6;
        uint32_t pos = 40;
        uint8_t type = h[6];
        while (pos + 2 <= header_len) {
            const uint32_t len = type == 51 ? 8 + 4u * h[pos + 1] : 8 + 8u * h[pos + 1];
            next_field = pos;
            type = h[pos];
            pos += len;
        }
        h[next_field] = s.next_proto;
    }
    Anomaly why;
    const IpResult r = parse_ip(h, total, total, true, out, &why);
    return r == IpResult::Ok;
}

}  // namespace tcpsensor
