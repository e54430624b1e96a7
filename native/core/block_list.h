// The ordered, non-overlapping blocks one stream endpoint holds, in the
// relative 64-bit sequence space.
//
// Inserting a segment adds only the parts no block covers yet (the bytes
// seen first win, as in Zeek), each uncovered stretch as its own block.
// A block keeps its bytes only when someone needs them later (delivery of
// out-of-order data, a contents file, overlap comparison); otherwise it is
// an interval, which is all that gap and EOF accounting need. While a
// segment is being inserted, its new blocks point into the packet
// (`transient`); `settle` then copies or forgets those bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tcpsensor {

struct StreamBlock {
    uint64_t seq;
    uint64_t upper;
    uint8_t* bytes;  // owned (malloc) unless `transient`; may be null
    bool transient;
    uint64_t size() const { return upper - seq; }
};

// Global accounting shared by every block list of an engine.
struct BlockMemory {
    uint64_t bytes_held = 0;  // owned payload bytes
    uint64_t blocks_held = 0;
};

class BlockList {
public:
    explicit BlockList(BlockMemory* memory) : memory_(memory) {}
    ~BlockList() { clear(); }
    BlockList(const BlockList&) = delete;
    BlockList& operator=(const BlockList&) = delete;

    bool empty() const { return head_ == blocks_.size(); }
    size_t count() const { return blocks_.size() - head_; }
    const StreamBlock& operator[](size_t i) const { return blocks_[head_ + i]; }
    const StreamBlock& front() const { return blocks_[head_]; }
    const StreamBlock& back() const { return blocks_.back(); }
    uint64_t data_size() const { return data_size_; }
    size_t capacity() const { return blocks_.capacity(); }

    // Inserts the parts of [seq, upper) that no block covers. `data` holds
    // the segment's bytes (may be null). Returns the index of the first new
    // block, or, if everything was covered, of the block holding the
    // segment's last byte. The count of new blocks is in *added.
    size_t insert(uint64_t seq, uint64_t upper, const uint8_t* data, size_t* added);

    // First index whose block ends after `seq` (count() if none).
    size_t first_ending_after(uint64_t seq) const;

    // Transient blocks below `keep_from` lose their bytes unless
    // `keep_all`; the others are copied into owned memory when `keep`.
    void settle(uint64_t keep_from, bool keep, bool keep_all);

    // Removes the first block; hands its bytes to *bytes_out (caller frees
    // with std::free) when given, else frees them.
    void pop_front(uint8_t** bytes_out = nullptr);

    // Appends an interval without bytes after the last block (in-order data
    // delivered straight from its packet).
    void append_interval(uint64_t seq, uint64_t upper) {
        blocks_.push_back(StreamBlock{seq, upper, nullptr, false});
        data_size_ += upper - seq;
        ++memory_->blocks_held;
    }

    // Appends a block that the caller owns the bytes of (for old-segment
    // lists), trimming the oldest ones beyond `limit`.
    void append_owned(uint64_t seq, uint64_t upper, uint8_t* bytes, size_t limit);

    void clear();

private:
    void release(StreamBlock& b);
    void compact();

    // Trimming pops from the front, so the live blocks start at head_;
    // the vector is compacted when the dead prefix grows large.
    std::vector<StreamBlock> blocks_;
    size_t head_ = 0;
    size_t transient_ = 0;
    uint64_t data_size_ = 0;
    BlockMemory* memory_;
};

}  // namespace tcpsensor
