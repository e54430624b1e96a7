// The ordered, non-overlapping blocks one stream endpoint holds, in the
// relative 64-bit sequence space, and the memory account they are charged
// to.
//
// Inserting a segment adds only the parts no block covers yet (the bytes
// seen first win, as in Zeek), each uncovered stretch as its own block.
// A block keeps its bytes only when someone needs them later (delivery of
// out-of-order data, a contents file, overlap comparison); otherwise it is
// an interval, which is all that gap and EOF accounting need, and adjacent
// intervals are one block. While a segment is being
// inserted, its new blocks point into the packet (`transient`); `settle`
// then copies or forgets those bytes.
//
// Every list is charged what it costs: its block records (by the vector's
// capacity) and the bytes it owns (as the allocator rounds them). The
// engine bounds the sum (Options::max_reassembly_bytes); BlockMemory keeps
// the lists in an index from which it names the one to give way when the
// bound is reached.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tcpsensor {

struct Connection;
class BlockList;

struct StreamBlock {
    uint64_t seq;
    uint64_t upper;
    uint8_t* bytes;  // owned (malloc) unless `transient`; may be null
    bool transient;
    uint64_t size() const { return upper - seq; }
};

// The reassembly memory of one engine: the sum of every list's charge, and
// the lists indexed for the fair-share bound.
//
// A list holding anything sits in the size class of its charge (the power
// of two below it); each class is a queue in the order lists entered it.
// victim() names, among the lists whose class is at least that of the fair
// share (the bound divided by the number of lists holding anything), the
// one that entered its class first: the oldest of those holding more than
// about their share. Growing into a larger class counts as entering it, so
// age is measured from an endpoint's last doubling. Moving a list costs
// O(1), choosing one O(classes).
class BlockMemory {
public:
    BlockMemory() = default;
    BlockMemory(const BlockMemory&) = delete;
    BlockMemory& operator=(const BlockMemory&) = delete;

    uint64_t bytes_held = 0;   // every list's charge
    uint64_t blocks_held = 0;  // block records in use

    size_t holders() const { return holders_; }
    BlockList* victim(uint64_t limit) const;
    // A victim that had nothing to give goes to the back of its class.
    void requeue(BlockList* list);

private:
    friend class BlockList;
    static constexpr int kClasses = 64;
    struct Queue {
        BlockList* head = nullptr;
        BlockList* tail = nullptr;
    };
    void set_charge(BlockList* list, uint64_t charge);
    void link(BlockList* list, int size_class);
    void unlink(BlockList* list);

    Queue classes_[kClasses];
    uint64_t nonempty_ = 0;  // bit c: classes_[c] has lists
    size_t holders_ = 0;
    uint64_t entries_ = 0;   // lists that ever entered a class: the age order
};

class BlockList {
public:
    explicit BlockList(BlockMemory* memory) : memory_(memory) {}
    ~BlockList();
    BlockList(const BlockList&) = delete;
    BlockList& operator=(const BlockList&) = delete;

    bool empty() const { return head_ == blocks_.size(); }
    size_t count() const { return blocks_.size() - head_; }
    const StreamBlock& operator[](size_t i) const { return blocks_[head_ + i]; }
    const StreamBlock& front() const { return blocks_[head_]; }
    const StreamBlock& back() const { return blocks_.back(); }
    // Bytes of stream the blocks cover (holes hidden in the front block by
    // collapse() excluded).
    uint64_t data_size() const { return data_size_; }
    size_t capacity() const { return blocks_.capacity(); }

    // The endpoint the list belongs to, for the engine to act on when the
    // list must give way. `old_segments`: the list of acknowledged blocks
    // kept for overlap checks (tcp_max_old_segments), not the stream's own.
    void set_owner(Connection* c, int side, bool old_segments) {
        owner_ = c;
        side_ = static_cast<uint8_t>(side);
        old_segments_ = old_segments;
        parked_ = false;
        recharge();
    }
    // An empty list kept for reuse: no owner, no charge (the engine bounds
    // how many it keeps, and how large).
    void park() {
        owner_ = nullptr;
        parked_ = true;
        memory_->set_charge(this, 0);
    }
    Connection* owner() const { return owner_; }
    int side() const { return side_; }
    bool old_segments() const { return old_segments_; }
    uint64_t charge() const { return charge_; }

    // What malloc takes for n bytes (glibc: an 8-byte header, 16-byte
    // granules, 32 at least), so that the bound holds for tiny segments.
    static uint64_t alloc_cost(uint64_t n) {
        const uint64_t chunk = (n + 8 + 15) & ~uint64_t{15};
        return chunk < 32 ? 32 : chunk;
    }

    // Inserts the parts of [seq, upper) that no block covers. `data` holds
    // the segment's bytes (may be null). Returns the index of the first new
    // block, or, if everything was covered, of the block holding the
    // segment's last byte. The count of new blocks is in *added.
    size_t insert(uint64_t seq, uint64_t upper, const uint8_t* data, size_t* added);

    // First index whose block ends after `seq` (count() if none).
    size_t first_ending_after(uint64_t seq) const;

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
            StreamBlock& last = blocks_.back();
            if (!last.bytes && !last.transient && last.upper == seq) {
                last.upper = upper;
                return;
            }
        }
        blocks_.push_back(StreamBlock{seq, upper, nullptr, false});
        ++memory_->blocks_held;
        recharge();
    }

    // Appends a block that the caller owns the bytes of (for old-segment
    // lists), trimming the oldest ones beyond `limit`.
    void append_owned(uint64_t seq, uint64_t upper, uint8_t* bytes, size_t limit);

    // For an endpoint whose stream below `limit` is all delivered or
    // declared missing: the blocks wholly below `limit` become one interval
    // from `from` (at most the first block's start), their bytes freed and
    // the holes between them remembered (front_holes), and the storage is
    // shrunk to fit.
    void collapse(uint64_t from, uint64_t limit);
    // Frees the bytes of every settled block (they become intervals, merged
    // where adjacent) and shrinks the storage.
    void forget_bytes();
    bool owns_bytes() const { return owned_ != 0; }

    void clear();
    // clear(), and the storage given back too.
    void release_storage();

private:
    static bool mergeable(const StreamBlock& a, const StreamBlock& b) {
        return !a.bytes && !a.transient && !b.bytes && !b.transient && a.upper == b.seq;
    }
    void release(StreamBlock& b);
    void compact();
    // The dead prefix dropped and the storage fitted to what is left.
    void shrink();
    // Brings this list's charge in BlockMemory up to date.
    void recharge() {
        if (parked_) return;
        const uint64_t charge = owned_ + blocks_.capacity() * sizeof(StreamBlock);
        if (charge != charge_) memory_->set_charge(this, charge);
    }

    // Trimming pops from the front, so the live blocks start at head_;
    // the vector is compacted when the dead prefix grows large.
    std::vector<StreamBlock> blocks_;
    size_t head_ = 0;
    size_t transient_ = 0;
    uint64_t transient_from_ = 0;  // where the first transient block starts
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
    bool parked_ = false;
    Connection* owner_ = nullptr;
};

}  // namespace tcpsensor
