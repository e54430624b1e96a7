#include "flow_table.h"

#include <cstring>

namespace tcpsensor {

namespace {

inline uint64_t mum(uint64_t a, uint64_t b) {
    const __uint128_t r = static_cast<__uint128_t>(a) * b;
    return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

inline uint64_t load64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

constexpr uint64_t kP0 = 0xa0761d6478bd642full;
constexpr uint64_t kP1 = 0xe7037ed1a0b428dbull;
constexpr uint64_t kP2 = 0x8ebc6af09c88c6e3ull;

}  // namespace

FlowTable::FlowTable(uint64_t seed) : seed_(seed) {
    index_.assign(1024, IndexEntry{0, 0});
    mask_ = index_.size() - 1;
}

FlowTable::~FlowTable() = default;

uint32_t hash_tuple(uint64_t seed, const Endpoint4& a, const Endpoint4& b) {
    const bool a_first = a.addr < b.addr || (a.addr == b.addr && a.port <= b.port);
    const Endpoint4& lo = a_first ? a : b;
    const Endpoint4& hi = a_first ? b : a;
    uint64_t h = seed;
    h = mum(load64(lo.addr.bytes) ^ kP0, load64(lo.addr.bytes + 8) ^ h);
    h = mum(load64(hi.addr.bytes) ^ kP1, load64(hi.addr.bytes + 8) ^ h);
    h = mum((static_cast<uint64_t>(lo.port) << 16 | hi.port) ^ kP2, h ^ kP0);
    return static_cast<uint32_t>(h ^ (h >> 32));
}

Connection* FlowTable::find(const Endpoint4& a, const Endpoint4& b, uint32_t h) const {
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
        const IndexEntry& e = index_[i];
        if (!e.slot_plus_one) return nullptr;
        if (e.hash != h) continue;
        Connection* c = slot_ptr(e.slot_plus_one - 1);
        if ((c->side[0] == a && c->side[1] == b) || (c->side[0] == b && c->side[1] == a)) return c;
    }
}

void FlowTable::place(uint32_t h, uint32_t slot) {
    size_t i = h & mask_;
    while (index_[i].slot_plus_one) i = (i + 1) & mask_;
    index_[i] = IndexEntry{h, slot + 1};
}

void FlowTable::grow() {
    std::vector<IndexEntry> old;
    old.swap(index_);
    index_.assign(old.size() * 2, IndexEntry{0, 0});
    mask_ = index_.size() - 1;
    for (const auto& e : old)
        if (e.slot_plus_one) place(e.hash, e.slot_plus_one - 1);
}

Connection* FlowTable::insert(uint32_t h) {
    // Keep the load at or below 1/2: linear probing stays short.
    if ((count_ + 1) * 2 > index_.size()) grow();

    uint32_t slot;
    if (!free_slots_.empty()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
    } else {
        slot = slots_used_++;
        if ((slot >> kChunkShift) >= chunks_.size()) chunks_.emplace_back(new Connection[kChunkSize]);
    }
    Connection* c = slot_ptr(slot);
    const uint32_t generation = c->generation + 1;
    *c = Connection{};
    c->slot = slot;
    c->generation = generation;
    c->in_table = true;
    place(h, slot);
    ++count_;
    return c;
}

void FlowTable::erase(Connection* c) {
    const uint32_t slot = c->slot;
    size_t i = hash(c->side[0], c->side[1]) & mask_;
    while (index_[i].slot_plus_one != slot + 1) i = (i + 1) & mask_;
    // Backward-shift deletion keeps every probe chain unbroken without
    // tombstones.
    size_t hole = i;
    for (size_t j = (hole + 1) & mask_; index_[j].slot_plus_one; j = (j + 1) & mask_) {
        const size_t home = index_[j].hash & mask_;
        const bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            index_[hole] = index_[j];
            hole = j;
        }
    }
    index_[hole] = IndexEntry{0, 0};
    --count_;
    // Release per-connection heap state now rather than at reuse; the new
    // generation makes stale references (queued timers) miss.
    const uint32_t generation = c->generation + 1;
    *c = Connection{};
    c->slot = slot;
    c->generation = generation;
    free_slots_.push_back(slot);
}

Connection* FlowTable::at(uint32_t slot, uint32_t generation) const {
    if (slot >= slots_used_) return nullptr;
    Connection* c = slot_ptr(slot);
    return c->generation == generation && c->in_table ? c : nullptr;
}

size_t FlowTable::memory_bytes() const {
    return index_.capacity() * sizeof(IndexEntry) + chunks_.size() * kChunkSize * sizeof(Connection) +
           free_slots_.capacity() * sizeof(uint32_t);
}

}  // namespace tcpsensor
