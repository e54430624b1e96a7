// The connection table: connections live in a pool of fixed-size chunks
// (stable addresses, slots reused through a free list) and are found
// through an open-addressing index keyed by the full, direction-independent
// tuple. The hash is keyed with a per-table secret so that hostile traffic
// cannot aim at one probe chain.
//
// A connection is held either as a full Connection or, when it has seen
// one pure SYN and nothing else, as a CompactConnection in a pool of its
// own (compact_connection.h); an index entry says which. The engine turns
// one into the other; the table keeps both in place in the index.
//
// Eviction order (victim()): compact records oldest first; then full
// connections in which only one side has spoken, then the rest, each
// least recently active first. Activity is kept to the second of network
// time (touch() moves a connection to the end of its list at most once a
// second), so a busy connection costs one comparison per packet.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "compact_connection.h"
#include "connection.h"
#include "ip_address.h"

namespace tcpsensor {

// Keyed hash of the unordered pair {a, b}: the same for both directions,
// and unpredictable without the seed (hostile traffic cannot aim at one
// probe chain).
uint32_t hash_tuple(uint64_t seed, const Endpoint4& a, const Endpoint4& b);

class FlowTable {
public:
    static constexpr uint32_t kNone = 0xffffffffu;

    // What a lookup finds: a full record, a compact one (its slot), or
    // neither.
    struct Found {
        Connection* full = nullptr;
        uint32_t compact = kNone;
        bool any() const { return full || compact != kNone; }
    };

    explicit FlowTable(uint64_t seed);
    ~FlowTable();
    FlowTable(const FlowTable&) = delete;
    FlowTable& operator=(const FlowTable&) = delete;

    uint32_t hash(const Endpoint4& a, const Endpoint4& b) const { return hash_tuple(seed_, a, b); }

    Found find(const Endpoint4& a, const Endpoint4& b, uint32_t h) const;

    // A fresh connection in a free slot, indexed under `h`, the newest of
    // the one-sided ones as of `second` (of network time).
    Connection* insert(uint32_t h, uint32_t second);
    // Takes the connection out of the index and returns its slot to the pool
    // (its sides must still be those it was found by).
    void erase(Connection* c);

    // Puts `k` in the place of the indexed full record `c`, whose slot
    // returns to the pool; `k` becomes the newest compact record, with c's
    // sides (the table keeps the addresses).
    void compact(Connection* c, const CompactConnection& k);
    // Puts a fresh full record in the place of compact record `slot`, which
    // is freed after being copied to *k; the full one has its sides and is
    // the newest one-sided connection as of `second`.
    Connection* expand(uint32_t slot, uint32_t second, CompactConnection* k);
    const CompactConnection& compact_at(uint32_t slot) const { return *compact_ptr(slot); }
    // Side `side` (0: the originator) of compact record `slot`.
    Endpoint4 compact_side(uint32_t slot, int side) const { return side_of(*compact_ptr(slot), side); }
    // The compact record made first among those left (kNone if none).
    uint32_t oldest_compact() const { return compact_head_ ? compact_head_ - 1 : kNone; }
    size_t compact_count() const { return compact_count_; }

    // A full record in a free slot that is in no index and no list (the
    // events of a compact record that is not kept); back with release().
    Connection* scratch();
    void release(Connection* c);

    // The connection has had a packet at `second`; `two_sided` once both
    // of its sides have sent one.
    void touch(Connection& c, uint32_t second, bool two_sided) {
        const uint8_t list = two_sided ? 1 : 0;
        if (c.lru_second != second || c.lru_list != list) relink(c, second, list);
    }
    // The connection least worth keeping (see above); none if empty.
    Found victim() const;

    // Erases every connection, after `f` has seen each full one (pool
    // order); compact ones go without a word.
    template <typename F>
    void erase_all(F&& f) {
        for (uint32_t slot = 0; slot < slots_used_; ++slot) {
            Connection* c = slot_ptr(slot);
            if (!c->in_table) continue;
            f(c);
            erase(c);
        }
        clear_compact();
    }

    // The full connection in `slot` if it still has `generation`.
    Connection* at(uint32_t slot, uint32_t generation) const;

    // Connections held, full and compact.
    size_t size() const { return count_; }
    size_t memory_bytes() const;

    // Visits every indexed connection, full or compact (index order).
    template <typename F>
    void for_each(F&& f) const {
        for (const auto& e : index_) {
            if (!e.ref) continue;
            Found found;
            if (e.ref & kCompactBit)
                found.compact = (e.ref & ~kCompactBit) - 1;
            else
                found.full = slot_ptr(e.ref - 1);
            f(found);
        }
    }

private:
    // An index entry's ref: 0 empty; else slot + 1, with kCompactBit for a
    // compact record.
    static constexpr uint32_t kCompactBit = 0x80000000u;
    struct IndexEntry {
        uint32_t hash;
        uint32_t ref;
    };
    static constexpr uint32_t kChunkShift = 12;
    static constexpr uint32_t kChunkSize = 1u << kChunkShift;

    Connection* slot_ptr(uint32_t slot) const {
        return &chunks_[slot >> kChunkShift][slot & (kChunkSize - 1)];
    }
    CompactConnection* compact_ptr(uint32_t slot) const {
        return &compact_chunks_[slot >> kChunkShift][slot & (kChunkSize - 1)];
    }
    // The IPv6 addresses of a compact record, out of line so that IPv4 ones
    // (the usual flood) cost nothing for them.
    struct V6Pair {
        uint8_t addr[2][16];
    };
    V6Pair* v6_ptr(uint32_t i) const { return &v6_chunks_[i >> kChunkShift][i & (kChunkSize - 1)]; }
    Endpoint4 side_of(const CompactConnection& k, int side) const;
    void keep_sides(CompactConnection* k, const Connection& c);
    void release_sides(const CompactConnection& k);
    void grow();
    void place(uint32_t h, uint32_t ref);
    size_t index_of(uint32_t h, uint32_t ref) const;
    Connection* take_slot();
    void free_slot(Connection* c);
    void relink(Connection& c, uint32_t second, uint8_t list);
    void lru_unlink(Connection& c);
    void clear_compact();

    uint64_t seed_;
    std::vector<IndexEntry> index_;
    size_t mask_ = 0;
    size_t count_ = 0;
    std::vector<std::unique_ptr<Connection[]>> chunks_;
    std::vector<uint32_t> free_slots_;
    uint32_t slots_used_ = 0;
    // Full connections in eviction order, per list (one-sided, two-sided):
    // slot + 1 of the first and last, 0 when empty.
    uint32_t lru_head_[2] = {0, 0};
    uint32_t lru_tail_[2] = {0, 0};
    // Compact records: their pool (freed slots chained through `next`), and
    // the oldest and newest (slot + 1, 0 when none).
    std::vector<std::unique_ptr<CompactConnection[]>> compact_chunks_;
    uint32_t compact_used_ = 0;
    uint32_t compact_free_ = 0;
    uint32_t compact_head_ = 0;
    uint32_t compact_tail_ = 0;
    size_t compact_count_ = 0;
    // IPv6 pairs: freed ones chained through their first four bytes.
    std::vector<std::unique_ptr<V6Pair[]>> v6_chunks_;
    uint32_t v6_used_ = 0;
    uint32_t v6_free_ = 0;
};

}  // namespace tcpsensor
