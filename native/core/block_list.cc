#include "block_list.h"

#include <cstdlib>
#include <cstring>

namespace tcpsensor {

size_t BlockList::first_ending_after(uint64_t seq) const {
    // Blocks are sorted and disjoint, so their upper edges are sorted too.
    size_t lo = 0, hi = count();
    while (lo < hi) {
        const size_t mid = (lo + hi) / 2;
        if ((*this)[mid].upper > seq)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

size_t BlockList::insert(uint64_t seq, uint64_t upper, const uint8_t* data, size_t* added) {
    *added = 0;
    const uint64_t origin = seq;
    auto piece = [&](uint64_t s, uint64_t u) {
        ++*added;
        ++transient_;
        data_size_ += u - s;
        ++memory_->blocks_held;
        return StreamBlock{s, u, data ? const_cast<uint8_t*>(data + (s - origin)) : nullptr, true};
    };
    auto put_at = [&](size_t i, uint64_t s, uint64_t u) {
        blocks_.insert(blocks_.begin() + static_cast<std::ptrdiff_t>(head_ + i), piece(s, u));
    };

    if (empty() || seq == back().upper) {
        blocks_.push_back(piece(seq, upper));
        return count() - 1;
    }

    size_t i = first_ending_after(seq);
    if (i == count()) i = count() - 1;

    // Walk forward over the existing blocks the segment overlaps, adding
    // the uncovered stretches. The answer is the first stretch added; if
    // none is, the block holding the segment's end.
    constexpr size_t kNone = static_cast<size_t>(-1);
    size_t first_new = kNone;
    for (;;) {
        const StreamBlock b = (*this)[i];
        if (b.upper <= seq) {
            blocks_.push_back(piece(seq, upper));
            return first_new != kNone ? first_new : count() - 1;
        }
        if (upper <= b.seq) {
            put_at(i, seq, upper);
            return first_new != kNone ? first_new : i;
        }
        if (seq < b.seq) {
            put_at(i, seq, b.seq);
            if (first_new == kNone) first_new = i;
            ++i;
            seq = b.seq;
        }
        const uint64_t overlap_end = b.upper < upper ? b.upper : upper;
        if (overlap_end >= upper) return first_new != kNone ? first_new : i;
        seq = overlap_end;
        while (i + 1 < count() && (*this)[i].upper <= seq) ++i;
    }
}

void BlockList::settle(uint64_t keep_from, bool keep, bool keep_all) {
    for (size_t i = head_; transient_ > 0 && i < blocks_.size(); ++i) {
        StreamBlock& b = blocks_[i];
        if (!b.transient) continue;
        b.transient = false;
        --transient_;
        if (b.bytes && (keep_all || (keep && b.seq >= keep_from))) {
            auto* copy = static_cast<uint8_t*>(std::malloc(b.size()));
            if (copy) {
                std::memcpy(copy, b.bytes, b.size());
                memory_->bytes_held += b.size();
            }
            b.bytes = copy;
        } else {
            b.bytes = nullptr;
        }
    }
}

void BlockList::release(StreamBlock& b) {
    if (b.transient) {
        --transient_;
    } else if (b.bytes) {
        memory_->bytes_held -= b.size();
        std::free(b.bytes);
    }
    b.bytes = nullptr;
    data_size_ -= b.size();
    --memory_->blocks_held;
}

void BlockList::pop_front(uint8_t** bytes_out) {
    StreamBlock& b = blocks_[head_];
    if (bytes_out && !b.transient && b.bytes) {
        *bytes_out = b.bytes;
        memory_->bytes_held -= b.size();
        b.bytes = nullptr;
    } else if (bytes_out) {
        *bytes_out = nullptr;
    }
    release(b);
    ++head_;
    compact();
}

void BlockList::compact() {
    if (head_ == blocks_.size()) {
        blocks_.clear();
        head_ = 0;
    } else if (head_ >= 64 && head_ * 2 >= blocks_.size()) {
        blocks_.erase(blocks_.begin(), blocks_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
    }
}

void BlockList::append_owned(uint64_t seq, uint64_t upper, uint8_t* bytes, size_t limit) {
    blocks_.push_back(StreamBlock{seq, upper, bytes, false});
    data_size_ += upper - seq;
    ++memory_->blocks_held;
    if (bytes) memory_->bytes_held += upper - seq;
    while (count() > limit) pop_front();
}

void BlockList::clear() {
    for (size_t i = head_; i < blocks_.size(); ++i) release(blocks_[i]);
    blocks_.clear();
    head_ = 0;
    transient_ = 0;
    data_size_ = 0;
}

}  // namespace tcpsensor
