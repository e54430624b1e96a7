// The ordered, non-overlapping blocks one stream endpoint holds, in the
// relative 64-bit sequence space, and the memory account they are charged
// to.
//
// Inserting a segment adds only the parts no block covers yet (the bytes
// seen first win, as in Zeek), each uncovered stretch as its own block.
// A block keeps its bytes only when someone needs them later (delivery of
// out-of-order data, a contents file, overlap comparison); otherwise it is
// an interval, which is all that gap and EOF accounting need, and adjacent
// intervals are one block. While a segment is being inserted, its new
// blocks point into the packet (`transient`); `settle` then copies or
// forgets those bytes.
//
// The blocks are an ordered set (a red-black tree whose nodes are recycled
// through the engine's NodePool), so that a segment costs O(log n) wherever
// it lands: segments sent in reverse, or each into the middle of what is
// held, cost what in-order ones do.
//
// Every list is charged what it costs: its nodes and the bytes it owns (as
// the allocator rounds them). The engine bounds the sum
// (Options::max_reassembly_bytes); BlockMemory keeps the lists in an index
// from which it names the one to give way when the bound is reached.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>

namespace tcpsensor {

struct Connection;
class BlockList;

struct StreamBlock {
    uint64_t seq;  // the set's key: never changed in place
    mutable uint64_t upper;
    mutable uint8_t* bytes;  // owned (malloc) unless `transient`; may be null
    mutable bool transient;
    uint64_t size() const { return upper - seq; }
};

// Nodes of one size (the block sets' nodes) recycled through a free list:
// blocks come and go at packet rate. Up to kKeep free nodes are kept.
class NodePool {
public:
    NodePool() = default;
    ~NodePool();
    NodePool(const NodePool&) = delete;
    NodePool& operator=(const NodePool&) = delete;
    void* allocate(size_t size);
    void deallocate(void* p, size_t size);

private:
    static constexpr size_t kKeep = 1u << 16;
    struct Free {
        Free* next;
    };
    size_t size_ = 0;  // the node size, set by the first request
    Free* free_ = nullptr;
    size_t free_count_ = 0;
};

template <typename T>
struct PoolAllocator {
    using value_type = T;
    NodePool* pool;
    explicit PoolAllocator(NodePool* p) noexcept : pool(p) {}
    template <typename U>
    PoolAllocator(const PoolAllocator<U>& other) noexcept : pool(other.pool) {}
    T* allocate(size_t n) { return static_cast<T*>(pool->allocate(n * sizeof(T))); }
    void deallocate(T* p, size_t n) noexcept { pool->deallocate(p, n * sizeof(T)); }
    template <typename U>
    bool operator==(const PoolAllocator<U>& other) const { return pool == other.pool; }
    template <typename U>
    bool operator!=(const PoolAllocator<U>& other) const { return pool != other.pool; }
};

// What malloc takes for n bytes (glibc: an 8-byte header, 16-byte
// granules, 32 at least), so that the bound holds for tiny segments.
constexpr uint64_t alloc_cost(uint64_t n) {
    return ((n + 8 + 15) & ~uint64_t{15}) < 32 ? 32 : ((n + 8 + 15) & ~uint64_t{15});
}

struct BySeq {
    using is_transparent = void;
    bool operator()(const StreamBlock& a, const StreamBlock& b) const { return a.seq < b.seq; }
    bool operator()(const StreamBlock& a, uint64_t seq) const { return a.seq < seq; }
    bool operator()(uint64_t seq, const StreamBlock& b) const { return seq < b.seq; }
};

// The reassembly memory of one engine: the sum of every list's charge, the
// lists indexed for the fair-share bound, and the pool of their nodes.
//
// A list holding more than a few blocks sits in the size class of its
// charge (the power of two below it); each class is a queue in the order
// lists entered it. victim() names, among the lists whose class is at least
// that of the fair share (the bound divided by the number of lists in the
// index), the one that entered its class first: the oldest of those holding
// more than about their share. Growing into a larger class counts as
// entering it, so age is measured from an endpoint's last doubling. Moving
// a list costs O(1), choosing one O(classes).
class BlockMemory {
public:
    BlockMemory() = default;
    BlockMemory(const BlockMemory&) = delete;
    BlockMemory& operator=(const BlockMemory&) = delete;

    uint64_t bytes_held = 0;   // every list's charge
    uint64_t blocks_held = 0;  // blocks in use

    size_t holders() const { return holders_; }
    BlockList* victim(uint64_t limit) const;
    // A victim that had nothing to give goes to the back of its class.
    void requeue(BlockList* list);

private:
    friend class BlockList;
    static constexpr int kClasses = 64;
    // Smaller lists (an endpoint's stream delivered in order, awaiting its
    // ack: one block) have nothing to give and stay out of the index, which
    // in-order traffic then never touches.
    static constexpr uint64_t kIndexedFrom = 256;
    struct Queue {
        BlockList* head = nullptr;
        BlockList* tail = nullptr;
    };
    void set_charge(BlockList* list, uint64_t charge);
    void link(BlockList* list, int size_class);
    void unlink(BlockList* list);

    NodePool nodes_;
    Queue classes_[kClasses];
    uint64_t nonempty_ = 0;  // bit c: classes_[c] has lists
    size_t holders_ = 0;
    uint64_t entries_ = 0;   // lists that ever entered a class: the age order
};

class BlockList {
    using Blocks = std::set<StreamBlock, BySeq, PoolAllocator<StreamBlock>>;

public:
    using iterator = Blocks::const_iterator;

    explicit BlockList(BlockMemory* memory)
        : blocks_(BySeq{}, PoolAllocator<StreamBlock>(&memory->nodes_)), memory_(memory) {}
    ~BlockList();
    BlockList(const BlockList&) = delete;
    BlockList& operator=(const BlockList&) = delete;

    bool empty() const { return blocks_.empty(); }
    size_t count() const { return blocks_.size(); }
    iterator begin() const { return blocks_.begin(); }
    iterator end() const { return blocks_.end(); }
    const StreamBlock& front() const { return *blocks_.begin(); }
    const StreamBlock& back() const { return *blocks_.rbegin(); }
    // Bytes of stream the blocks cover (holes hidden in the front block by
    // collapse() excluded).
    uint64_t data_size() const { return data_size_; }

    // The endpoint the list belongs to, for the engine to act on when the
    // list must give way. `old_segments`: the list of acknowledged blocks
    // kept for overlap checks (tcp_max_old_segments), not the stream's own.
    void set_owner(Connection* c, int side, bool old_segments) {
        owner_ = c;
        side_ = static_cast<uint8_t>(side);
        old_segments_ = old_segments;
    }
    Connection* owner() const { return owner_; }
    int side() const { return side_; }
    bool old_segments() const { return old_segments_; }
    uint64_t charge() const { return charge_; }

    // What one block costs beyond its bytes: a red-black node (four words)
    // around the element, as allocated.
    static constexpr uint64_t kNodeCost = alloc_cost(sizeof(StreamBlock) + 4 * sizeof(void*));

    // Inserts the parts of [seq, upper) that no block covers. `data` holds
    // the segment's bytes (may be null). Returns the first new block, or,
    // if everything was covered, the block holding the segment's last byte.
    // The count of new blocks is in *added.
    iterator insert(uint64_t seq, uint64_t upper, const uint8_t* data, size_t* added);

    // The first block ending after `seq` (end() if none).
    iterator first_ending_after(uint64_t seq) const;

    // What settle() would charge for keeping the transient blocks that
    // start at or after `keep_from` (above) or before it.
    uint64_t transient_cost(uint64_t keep_from, bool above) const;

    // Transient blocks keep a copy of their bytes if they start at or after
    // `keep_from` and `keep_above`, or before it and `keep_below`; the
    // others become intervals.
    void settle(uint64_t keep_from, bool keep_above, bool keep_below);

    // Removes the first block; hands its bytes to *bytes_out (caller frees
    // with std::free) when given, else frees them.
    void pop_front(uint8_t** bytes_out = nullptr);
    // Holes inside the first block, made by collapse(): stream never seen,
    // already reported as gaps.
    uint64_t front_holes() const { return front_holes_; }

    // Appends an interval without bytes after the last block (in-order data
    // delivered straight from its packet); it extends the last block when
    // that is an interval ending where this one starts.
    void append_interval(uint64_t seq, uint64_t upper) {
        data_size_ += upper - seq;
        if (!empty()) {
            const StreamBlock& last = back();
            if (!last.bytes && !last.transient && last.upper == seq) {
                last.upper = upper;
                return;
            }
        }
        blocks_.emplace_hint(blocks_.end(), StreamBlock{seq, upper, nullptr, false});
        ++memory_->blocks_held;
        recharge();
    }

    // Appends a block that the caller owns the bytes of (for old-segment
    // lists), trimming the oldest ones beyond `limit`.
    void append_owned(uint64_t seq, uint64_t upper, uint8_t* bytes, size_t limit);

    // For an endpoint whose stream below `limit` is all delivered or
    // declared missing: the blocks wholly below `limit` become one interval
    // from `from` (at most the first block's start), their bytes freed and
    // the holes between them remembered (front_holes).
    void collapse(uint64_t from, uint64_t limit);
    // Frees the bytes of every settled block: they become intervals, merged
    // where adjacent.
    void forget_bytes();
    bool owns_bytes() const { return owned_ != 0; }

    void clear();

private:
    static bool mergeable(const StreamBlock& a, const StreamBlock& b) {
        return !a.bytes && !a.transient && !b.bytes && !b.transient && a.upper == b.seq;
    }
    // Frees what a block holds and takes it out of the counts (not the set).
    void release(const StreamBlock& b);
    // Where the transient blocks start.
    iterator transients() const {
        return first_transient_known_ ? first_transient_ : first_ending_after(transient_from_);
    }
    // A transient block goes away (not by settle()).
    void drop_transient(const StreamBlock& b) {
        --transient_;
        if (first_transient_known_ && &*first_transient_ == &b) first_transient_known_ = false;
    }
    // Merges the interval at `it` with adjacent intervals; returns where it
    // ended up.
    iterator merge_around(iterator it);
    // Brings this list's charge in BlockMemory up to date.
    void recharge() {
        const uint64_t charge = owned_ + blocks_.size() * kNodeCost;
        if (charge != charge_) memory_->set_charge(this, charge);
    }

    Blocks blocks_;
    size_t transient_ = 0;
    // The first transient block (by start), known unless it went away
    // before settle().
    uint64_t transient_from_ = 0;
    iterator first_transient_;
    bool first_transient_known_ = false;
    uint64_t data_size_ = 0;
    uint64_t front_holes_ = 0;
    uint64_t owned_ = 0;           // alloc_cost of the bytes held
    BlockMemory* memory_;

    // The account: this list's charge and its place in the index.
    friend class BlockMemory;
    uint64_t charge_ = 0;
    uint64_t entered_ = 0;  // when it entered its class (BlockMemory::entries_)
    BlockList* prev_ = nullptr;
    BlockList* next_ = nullptr;
    int8_t class_ = -1;     // -1: not in the index (holds nothing)
    uint8_t side_ = 0;
    bool old_segments_ = false;
    Connection* owner_ = nullptr;
};

}  // namespace tcpsensor
