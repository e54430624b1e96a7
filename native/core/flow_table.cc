#include "flow_table.h"

#include <algorithm>
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

FlowTable::Found FlowTable::find(const Endpoint4& a, const Endpoint4& b, uint32_t h) const {
    Found found;
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
        const IndexEntry& e = index_[i];
        if (!e.ref) return found;
        if (e.hash != h) continue;
        if (e.ref & kCompactBit) {
            const uint32_t slot = (e.ref & ~kCompactBit) - 1;
            const CompactConnection& k = *compact_ptr(slot);
            const Endpoint4 s0 = side_of(k, 0), s1 = side_of(k, 1);
            if ((s0 == a && s1 == b) || (s0 == b && s1 == a)) {
                found.compact = slot;
                return found;
            }
            continue;
        }
        Connection* c = slot_ptr(e.ref - 1);
        if ((c->side[0] == a && c->side[1] == b) || (c->side[0] == b && c->side[1] == a)) {
            found.full = c;
            return found;
        }
    }
}

void FlowTable::place(uint32_t h, uint32_t ref) {
    size_t i = h & mask_;
    while (index_[i].ref) i = (i + 1) & mask_;
    index_[i] = IndexEntry{h, ref};
}

size_t FlowTable::index_of(uint32_t h, uint32_t ref) const {
    size_t i = h & mask_;
    while (index_[i].ref != ref) i = (i + 1) & mask_;
    return i;
}

void FlowTable::grow() {
    std::vector<IndexEntry> old;
    old.swap(index_);
    index_.assign(old.size() * 2, IndexEntry{0, 0});
    mask_ = index_.size() - 1;
    for (const auto& e : old)
        if (e.ref) place(e.hash, e.ref);
}

Connection* FlowTable::take_slot() {
    uint32_t slot;
    if (!free_slots_.empty()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
    } else {
        slot = slots_used_++;
        if ((slot >> kChunkShift) >= chunks_.size()) chunks_.emplace_back(new Connection[kChunkSize]);
    }
    // Free slots are kept reset (free_slot, or as the chunk made them).
    Connection* c = slot_ptr(slot);
    c->slot = slot;
    return c;
}

void FlowTable::free_slot(Connection* c) {
    // Release per-connection heap state now rather than at reuse; the new
    // generation makes stale references (queued timers) miss.
    const uint32_t slot = c->slot;
    const uint32_t generation = c->generation + 1;
    *c = Connection{};
    c->slot = slot;
    c->generation = generation;
    free_slots_.push_back(slot);
}

Connection* FlowTable::insert(uint32_t h, uint32_t second) {
    // Keep the load at or below 1/2: linear probing stays short.
    if ((count_ + 1) * 2 > index_.size()) grow();
    Connection* c = take_slot();
    c->in_table = true;
    relink(*c, second, 0);
    place(h, c->slot + 1);
    ++count_;
    return c;
}

void FlowTable::erase(Connection* c) {
    size_t i = index_of(hash(c->side[0], c->side[1]), c->slot + 1);
    // Backward-shift deletion keeps every probe chain unbroken without
    // tombstones.
    size_t hole = i;
    for (size_t j = (hole + 1) & mask_; index_[j].ref; j = (j + 1) & mask_) {
        const size_t home = index_[j].hash & mask_;
        const bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            index_[hole] = index_[j];
            hole = j;
        }
    }
    index_[hole] = IndexEntry{0, 0};
    --count_;
    lru_unlink(*c);
    free_slot(c);
}

Endpoint4 FlowTable::side_of(const CompactConnection& k, int side) const {
    if (!(k.flags & kCompactV6)) return Endpoint4{IpAddress::from_v4(k.addr[side]), k.port[side]};
    uint32_t pair;
    std::memcpy(&pair, k.addr[0], 4);
    return Endpoint4{IpAddress::from_v6(v6_ptr(pair)->addr[side]), k.port[side]};
}

void FlowTable::keep_sides(CompactConnection* k, const Connection& c) {
    for (int s = 0; s < 2; ++s) k->port[s] = c.side[s].port;
    if (c.side[0].addr.is_v4() && c.side[1].addr.is_v4()) {
        for (int s = 0; s < 2; ++s) std::memcpy(k->addr[s], c.side[s].addr.bytes + 12, 4);
        k->flags = static_cast<uint8_t>(k->flags & ~kCompactV6);
        return;
    }
    uint32_t pair;
    if (v6_free_) {
        pair = v6_free_ - 1;
        std::memcpy(&v6_free_, v6_ptr(pair)->addr[0], 4);
    } else {
        pair = v6_used_++;
        if ((pair >> kChunkShift) >= v6_chunks_.size()) v6_chunks_.emplace_back(new V6Pair[kChunkSize]);
    }
    for (int s = 0; s < 2; ++s) std::memcpy(v6_ptr(pair)->addr[s], c.side[s].addr.bytes, 16);
    std::memcpy(k->addr[0], &pair, 4);
    k->flags |= kCompactV6;
}

void FlowTable::release_sides(const CompactConnection& k) {
    if (!(k.flags & kCompactV6)) return;
    uint32_t pair;
    std::memcpy(&pair, k.addr[0], 4);
    std::memcpy(v6_ptr(pair)->addr[0], &v6_free_, 4);
    v6_free_ = pair + 1;
}

void FlowTable::compact(Connection* c, const CompactConnection& k) {
    uint32_t slot;
    if (compact_free_) {
        slot = compact_free_ - 1;
        compact_free_ = compact_ptr(slot)->next;
    } else {
        slot = compact_used_++;
        if ((slot >> kChunkShift) >= compact_chunks_.size()) compact_chunks_.emplace_back(new CompactConnection[kChunkSize]);
    }
    CompactConnection* p = compact_ptr(slot);
    *p = k;
    keep_sides(p, *c);
    p->prev = compact_tail_;
    p->next = 0;
    if (compact_tail_)
        compact_ptr(compact_tail_ - 1)->next = slot + 1;
    else
        compact_head_ = slot + 1;
    compact_tail_ = slot + 1;
    ++compact_count_;

    index_[index_of(hash(c->side[0], c->side[1]), c->slot + 1)].ref = (slot + 1) | kCompactBit;
    lru_unlink(*c);
    free_slot(c);
}

Connection* FlowTable::expand(uint32_t slot, uint32_t second, CompactConnection* k) {
    CompactConnection* p = compact_ptr(slot);
    *k = *p;
    Connection* c = take_slot();
    c->in_table = true;
    c->side[0] = side_of(*p, 0);
    c->side[1] = side_of(*p, 1);
    relink(*c, second, 0);
    index_[index_of(hash(c->side[0], c->side[1]), (slot + 1) | kCompactBit)].ref = c->slot + 1;
    release_sides(*p);

    if (p->prev)
        compact_ptr(p->prev - 1)->next = p->next;
    else
        compact_head_ = p->next;
    if (p->next)
        compact_ptr(p->next - 1)->prev = p->prev;
    else
        compact_tail_ = p->prev;
    p->next = compact_free_;
    compact_free_ = slot + 1;
    --compact_count_;
    return c;
}

void FlowTable::clear_compact() {
    if (!compact_count_) return;
    // Only compact records are left in the index.
    std::fill(index_.begin(), index_.end(), IndexEntry{0, 0});
    count_ = 0;
    compact_chunks_.clear();
    compact_used_ = compact_free_ = compact_head_ = compact_tail_ = 0;
    v6_chunks_.clear();
    v6_used_ = v6_free_ = 0;
    compact_count_ = 0;
}

Connection* FlowTable::scratch() { return take_slot(); }

void FlowTable::release(Connection* c) { free_slot(c); }

void FlowTable::relink(Connection& c, uint32_t second, uint8_t list) {
    lru_unlink(c);
    c.lru_list = list;
    c.lru_second = second;
    c.lru_prev = lru_tail_[list];
    c.lru_next = 0;
    if (lru_tail_[list])
        slot_ptr(lru_tail_[list] - 1)->lru_next = c.slot + 1;
    else
        lru_head_[list] = c.slot + 1;
    lru_tail_[list] = c.slot + 1;
}

void FlowTable::lru_unlink(Connection& c) {
    const uint32_t me = c.slot + 1;
    const uint8_t list = c.lru_list;
    if (c.lru_prev)
        slot_ptr(c.lru_prev - 1)->lru_next = c.lru_next;
    else if (lru_head_[list] == me)
        lru_head_[list] = c.lru_next;
    else
        return;  // in no list
    if (c.lru_next)
        slot_ptr(c.lru_next - 1)->lru_prev = c.lru_prev;
    else
        lru_tail_[list] = c.lru_prev;
    c.lru_prev = c.lru_next = 0;
}

FlowTable::Found FlowTable::victim() const {
    Found found;
    if (compact_head_)
        found.compact = compact_head_ - 1;
    else if (lru_head_[0])
        found.full = slot_ptr(lru_head_[0] - 1);
    else if (lru_head_[1])
        found.full = slot_ptr(lru_head_[1] - 1);
    return found;
}

Connection* FlowTable::at(uint32_t slot, uint32_t generation) const {
    if (slot >= slots_used_) return nullptr;
    Connection* c = slot_ptr(slot);
    return c->generation == generation && c->in_table ? c : nullptr;
}

size_t FlowTable::memory_bytes() const {
    return index_.capacity() * sizeof(IndexEntry) + chunks_.size() * kChunkSize * sizeof(Connection) +
           free_slots_.capacity() * sizeof(uint32_t) +
           compact_chunks_.size() * kChunkSize * sizeof(CompactConnection) + v6_chunks_.size() * kChunkSize * sizeof(V6Pair);
}

}  // namespace tcpsensor
