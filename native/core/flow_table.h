// The connection table: connections live in a pool of fixed-size chunks
// (stable addresses, slots reused through a free list) and are found
// through an open-addressing index keyed by the full, direction-independent
// tuple. The hash is keyed with a per-table secret so that hostile traffic
// cannot aim at one probe chain.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "connection.h"
#include "ip_address.h"

namespace tcpsensor {

// Keyed hash of the unordered pair {a, b}: the same for both directions,
// and unpredictable without the seed (hostile traffic cannot aim at one
// probe chain).
uint32_t hash_tuple(uint64_t seed, const Endpoint4& a, const Endpoint4& b);

class FlowTable {
public:
    explicit FlowTable(uint64_t seed);
    ~FlowTable();
    FlowTable(const FlowTable&) = delete;
    FlowTable& operator=(const FlowTable&) = delete;

    uint32_t hash(const Endpoint4& a, const Endpoint4& b) const { return hash_tuple(seed_, a, b); }

    Connection* find(const Endpoint4& a, const Endpoint4& b, uint32_t h) const;

    // A fresh connection in a free slot, indexed under `h`.
    Connection* insert(uint32_t h);
    // Takes the connection out of the index and returns its slot to the pool
    // (its sides must still be those it was found by).
    void erase(Connection* c);

    // Erases every connection, after `f` has seen it (pool order).
    template <typename F>
    void erase_all(F&& f) {
        for (uint32_t slot = 0; slot < slots_used_; ++slot) {
            Connection* c = slot_ptr(slot);
            if (!c->in_table) continue;
            f(c);
            erase(c);
        }
    }

    // The connection in `slot` if it still has `generation`.
    Connection* at(uint32_t slot, uint32_t generation) const;

    size_t size() const { return count_; }
    size_t memory_bytes() const;

    // Visits every indexed connection (order unspecified).
    template <typename F>
    void for_each(F&& f) const {
        for (const auto& e : index_)
            if (e.slot_plus_one) f(slot_ptr(e.slot_plus_one - 1));
    }

private:
    struct IndexEntry {
        uint32_t hash;
        uint32_t slot_plus_one;  // 0: empty
    };
    static constexpr uint32_t kChunkShift = 12;
    static constexpr uint32_t kChunkSize = 1u << kChunkShift;

    Connection* slot_ptr(uint32_t slot) const {
        return &chunks_[slot >> kChunkShift][slot & (kChunkSize - 1)];
    }
    void grow();
    void place(uint32_t h, uint32_t slot);

    uint64_t seed_;
    std::vector<IndexEntry> index_;
    size_t mask_ = 0;
    size_t count_ = 0;
    std::vector<std::unique_ptr<Connection[]>> chunks_;
    std::vector<uint32_t> free_slots_;
    uint32_t slots_used_ = 0;
};

}  // namespace tcpsensor
