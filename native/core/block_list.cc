#include "block_list.h"

#include <cstdlib>
#include <cstring>

namespace tcpsensor {

namespace {

int size_class(uint64_t charge) { return 63 - __builtin_clzll(charge); }

}  // namespace

// ---------------------------------------------------------------------------
// BlockMemory

void BlockMemory::set_charge(BlockList* list, uint64_t charge) {
    bytes_held = bytes_held - list->charge_ + charge;
    list->charge_ = charge;
    const int c = charge ? size_class(charge) : -1;
    if (c == list->class_) return;
    if (list->class_ >= 0) unlink(list);
    if (c >= 0) link(list, c);
}

void BlockMemory::link(BlockList* list, int size_class) {
    Queue& q = classes_[size_class];
    list->class_ = static_cast<int8_t>(size_class);
    list->entered_ = ++entries_;
    list->prev_ = q.tail;
    list->next_ = nullptr;
    if (q.tail)
        q.tail->next_ = list;
    else
        q.head = list;
    q.tail = list;
    nonempty_ |= uint64_t{1} << size_class;
    ++holders_;
}

void BlockMemory::unlink(BlockList* list) {
    Queue& q = classes_[list->class_];
    if (list->prev_)
        list->prev_->next_ = list->next_;
    else
        q.head = list->next_;
    if (list->next_)
        list->next_->prev_ = list->prev_;
    else
        q.tail = list->prev_;
    if (!q.head) nonempty_ &= ~(uint64_t{1} << list->class_);
    list->prev_ = list->next_ = nullptr;
    list->class_ = -1;
    --holders_;
}

void BlockMemory::requeue(BlockList* list) {
    if (list->class_ < 0) return;
    const int c = list->class_;
    unlink(list);
    link(list, c);
}

BlockList* BlockMemory::victim(uint64_t limit) const {
    if (!holders_) return nullptr;
    const uint64_t fair = limit / holders_;
    uint64_t candidates = nonempty_ & (fair ? ~uint64_t{0} << size_class(fair) : ~uint64_t{0});
    // Over the bound, the largest holder is above the fair share; below it
    // (room asked for ahead of time) there may be none.
    if (!candidates) candidates = nonempty_;
    BlockList* oldest = nullptr;
    while (candidates) {
        const int c = __builtin_ctzll(candidates);
        candidates &= candidates - 1;
        BlockList* head = classes_[c].head;
        if (!oldest || head->entered_ < oldest->entered_) oldest = head;
    }
    return oldest;
}

// ---------------------------------------------------------------------------
// BlockList

BlockList::~BlockList() {
    clear();
    memory_->set_charge(this, 0);
}

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
        if (transient_++ == 0 || s < transient_from_) transient_from_ = s;
        data_size_ += u - s;
        ++memory_->blocks_held;
        return StreamBlock{s, u, data ? const_cast<uint8_t*>(data + (s - origin)) : nullptr, true};
    };
    auto put_at = [&](size_t i, uint64_t s, uint64_t u) {
        blocks_.insert(blocks_.begin() + static_cast<std::ptrdiff_t>(head_ + i), piece(s, u));
    };
    // Record storage may grow: charged once the segment is in.
    struct Recharge {
        BlockList* list;
        ~Recharge() { list->recharge(); }
    } recharge_after{this};

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

uint64_t BlockList::transient_cost(uint64_t keep_from, bool above) const {
    uint64_t cost = 0;
    size_t left = transient_;
    // The segment's new blocks lie within its span: start at the first.
    for (size_t i = head_ + first_ending_after(transient_from_); left > 0 && i < blocks_.size(); ++i) {
        const StreamBlock& b = blocks_[i];
        if (!b.transient) continue;
        --left;
        if (b.bytes && (b.seq >= keep_from) == above) cost += alloc_cost(b.size());
    }
    return cost;
}

void BlockList::settle(uint64_t keep_from, bool keep_above, bool keep_below) {
    if (transient_ == 0) return;
    for (size_t i = head_ + first_ending_after(transient_from_); transient_ > 0 && i < blocks_.size(); ++i) {
        StreamBlock& b = blocks_[i];
        if (!b.transient) continue;
        b.transient = false;
        --transient_;
        if (b.bytes && (b.seq >= keep_from ? keep_above : keep_below)) {
            auto* copy = static_cast<uint8_t*>(std::malloc(b.size()));
            if (copy) {
                std::memcpy(copy, b.bytes, b.size());
                owned_ += alloc_cost(b.size());
            }
            b.bytes = copy;
            continue;
        }
        b.bytes = nullptr;
        // Adjacent intervals are one: a stretch sent in order above a hole
        // costs one record, not one per segment.
        if (i + 1 < blocks_.size() && mergeable(b, blocks_[i + 1])) {
            b.upper = blocks_[i + 1].upper;
            blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(i + 1));
            --memory_->blocks_held;
        }
        if (i > head_ && mergeable(blocks_[i - 1], b)) {
            blocks_[i - 1].upper = b.upper;
            blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(i));
            --memory_->blocks_held;
            --i;
        }
    }
    recharge();
}

void BlockList::release(StreamBlock& b) {
    if (b.transient) {
        --transient_;
    } else if (b.bytes) {
        owned_ -= alloc_cost(b.size());
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
        owned_ -= alloc_cost(b.size());
        b.bytes = nullptr;
    } else if (bytes_out) {
        *bytes_out = nullptr;
    }
    // The holes of a collapsed block were never part of the data size.
    data_size_ += front_holes_;
    front_holes_ = 0;
    release(b);
    ++head_;
    compact();
    recharge();
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
    if (bytes) owned_ += alloc_cost(upper - seq);
    while (count() > limit) pop_front();
    recharge();
}

void BlockList::collapse(uint64_t from, uint64_t limit) {
    size_t n = 0;
    while (n < count() && (*this)[n].upper <= limit) ++n;
    if (n > 0) {
        const uint64_t upper = (*this)[n - 1].upper;
        uint64_t data = 0;
        for (size_t i = 0; i < n; ++i) {
            StreamBlock& b = blocks_[head_ + i];
            data += b.size();
            if (b.transient) {
                --transient_;
            } else if (b.bytes) {
                owned_ -= alloc_cost(b.size());
                std::free(b.bytes);
            }
        }
        data -= front_holes_;
        if (from > (*this)[0].seq) from = (*this)[0].seq;
        blocks_[head_] = StreamBlock{from, upper, nullptr, false};
        blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(head_ + 1),
                      blocks_.begin() + static_cast<std::ptrdiff_t>(head_ + n));
        memory_->blocks_held -= n - 1;
        front_holes_ = (upper - from) - data;
    }
    shrink();
}

void BlockList::forget_bytes() {
    size_t out = head_;
    for (size_t i = head_; i < blocks_.size(); ++i) {
        StreamBlock b = blocks_[i];
        if (!b.transient && b.bytes) {
            owned_ -= alloc_cost(b.size());
            std::free(b.bytes);
            b.bytes = nullptr;
        }
        if (out > head_ && mergeable(blocks_[out - 1], b)) {
            blocks_[out - 1].upper = b.upper;
            --memory_->blocks_held;
        } else {
            blocks_[out++] = b;
        }
    }
    blocks_.resize(out);
    shrink();
}

void BlockList::shrink() {
    blocks_.erase(blocks_.begin(), blocks_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
    blocks_.shrink_to_fit();
    recharge();
}

void BlockList::clear() {
    for (size_t i = head_; i < blocks_.size(); ++i) release(blocks_[i]);
    blocks_.clear();
    head_ = 0;
    transient_ = 0;
    data_size_ = 0;
    front_holes_ = 0;
    recharge();
}

void BlockList::release_storage() {
    clear();
    blocks_ = std::vector<StreamBlock>();
    recharge();
}

}  // namespace tcpsensor
