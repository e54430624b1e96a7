#include "block_list.h"

#include <cstdlib>
#include <cstring>
#include <iterator>

namespace tcpsensor {

namespace {

int size_class(uint64_t charge) { return 63 - __builtin_clzll(charge); }

}  // namespace

// ---------------------------------------------------------------------------
// BlockMemory

void BlockMemory::set_charge(BlockList* list, uint64_t charge) {
    bytes_held = bytes_held - list->charge_ + charge;
    list->charge_ = charge;
    const int c = charge >= kIndexedFrom ? size_class(charge) : -1;
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
// NodePool

NodePool::~NodePool() {
    while (free_) {
        Free* f = free_;
        free_ = f->next;
        ::operator delete(f);
    }
}

void* NodePool::allocate(size_t size) {
    if (size == size_ && free_) {
        Free* f = free_;
        free_ = f->next;
        --free_count_;
        return f;
    }
    if (!size_ && size >= sizeof(Free)) size_ = size;
    return ::operator new(size);
}

void NodePool::deallocate(void* p, size_t size) {
    if (size == size_ && free_count_ < kKeep) {
        auto* f = static_cast<Free*>(p);
        f->next = free_;
        free_ = f;
        ++free_count_;
        return;
    }
    ::operator delete(p);
}

// ---------------------------------------------------------------------------
// BlockList

BlockList::~BlockList() { clear(); }

BlockList::iterator BlockList::first_ending_after(uint64_t seq) const {
    // Blocks are disjoint: only the last one starting at or before `seq`
    // can reach beyond it.
    auto it = blocks_.upper_bound(seq);
    if (it != blocks_.begin()) {
        auto before = std::prev(it);
        if (before->upper > seq) return before;
    }
    return it;
}

BlockList::iterator BlockList::insert(uint64_t seq, uint64_t upper, const uint8_t* data, size_t* added) {
    *added = 0;
    const uint64_t origin = seq;
    auto put = [&](iterator hint, uint64_t s, uint64_t u) {
        ++*added;
        data_size_ += u - s;
        ++memory_->blocks_held;
        const iterator made =
            blocks_.emplace_hint(hint, StreamBlock{s, u, data ? const_cast<uint8_t*>(data + (s - origin)) : nullptr, true});
        if (transient_++ == 0 || s < transient_from_) {
            transient_from_ = s;
            first_transient_ = made;
            first_transient_known_ = true;
        }
        return made;
    };
    // Nodes are charged once the segment is in.
    struct Recharge {
        BlockList* list;
        ~Recharge() { list->recharge(); }
    } recharge_after{this};

    if (empty() || seq >= back().upper) return put(blocks_.end(), seq, upper);

    // Walk forward over the blocks the segment overlaps, adding the
    // uncovered stretches. The answer is the first stretch added; if none
    // is, the block holding the segment's end.
    iterator it = first_ending_after(seq);
    iterator first_new = blocks_.end();
    for (;;) {
        // `it` ends after seq.
        if (upper <= it->seq) {
            const iterator made = put(it, seq, upper);
            return first_new != blocks_.end() ? first_new : made;
        }
        if (seq < it->seq) {
            const iterator made = put(it, seq, it->seq);
            if (first_new == blocks_.end()) first_new = made;
            seq = it->seq;
        }
        if (it->upper >= upper) return first_new != blocks_.end() ? first_new : it;
        seq = it->upper;
        if (++it == blocks_.end()) {
            const iterator made = put(it, seq, upper);
            return first_new != blocks_.end() ? first_new : made;
        }
    }
}

uint64_t BlockList::transient_cost(uint64_t keep_from, bool above) const {
    uint64_t cost = 0;
    size_t left = transient_;
    // The segment's new blocks lie within its span: start at the first.
    for (auto it = transients(); left > 0 && it != blocks_.end(); ++it) {
        if (!it->transient) continue;
        --left;
        if (it->bytes && (it->seq >= keep_from) == above) cost += alloc_cost(it->size());
    }
    return cost;
}

void BlockList::settle(uint64_t keep_from, bool keep_above, bool keep_below) {
    if (transient_ == 0) return;
    const iterator transients_start = transients();
    first_transient_known_ = false;
    for (auto it = transients_start; transient_ > 0 && it != blocks_.end(); ++it) {
        if (!it->transient) continue;
        it->transient = false;
        --transient_;
        if (it->bytes && (it->seq >= keep_from ? keep_above : keep_below)) {
            auto* copy = static_cast<uint8_t*>(std::malloc(it->size()));
            if (copy) {
                std::memcpy(copy, it->bytes, it->size());
                owned_ += alloc_cost(it->size());
            }
            it->bytes = copy;
        } else {
            it->bytes = nullptr;
            // Adjacent intervals are one: a stretch sent in order above a
            // hole costs one block, not one per segment.
            it = merge_around(it);
        }
    }
    recharge();
}

BlockList::iterator BlockList::merge_around(iterator it) {
    const auto next = std::next(it);
    if (next != blocks_.end() && mergeable(*it, *next)) {
        it->upper = next->upper;
        blocks_.erase(next);
        --memory_->blocks_held;
    }
    if (it != blocks_.begin()) {
        const auto before = std::prev(it);
        if (mergeable(*before, *it)) {
            before->upper = it->upper;
            blocks_.erase(it);
            --memory_->blocks_held;
            return before;
        }
    }
    return it;
}

void BlockList::release(const StreamBlock& b) {
    if (b.transient) {
        drop_transient(b);
    } else if (b.bytes) {
        owned_ -= alloc_cost(b.size());
        std::free(b.bytes);
    }
    b.bytes = nullptr;
    data_size_ -= b.size();
    --memory_->blocks_held;
}

void BlockList::pop_front(uint8_t** bytes_out) {
    const auto it = blocks_.begin();
    if (bytes_out && !it->transient && it->bytes) {
        *bytes_out = it->bytes;
        owned_ -= alloc_cost(it->size());
        it->bytes = nullptr;
    } else if (bytes_out) {
        *bytes_out = nullptr;
    }
    // The holes of a collapsed block were never part of the data size.
    data_size_ += front_holes_;
    front_holes_ = 0;
    release(*it);
    blocks_.erase(it);
    recharge();
}

void BlockList::append_owned(uint64_t seq, uint64_t upper, uint8_t* bytes, size_t limit) {
    blocks_.emplace_hint(blocks_.end(), StreamBlock{seq, upper, bytes, false});
    data_size_ += upper - seq;
    ++memory_->blocks_held;
    if (bytes) owned_ += alloc_cost(upper - seq);
    while (count() > limit) pop_front();
    recharge();
}

void BlockList::collapse(uint64_t from, uint64_t limit) {
    auto stop = blocks_.begin();
    uint64_t data = 0, upper = 0;
    size_t n = 0;
    for (; stop != blocks_.end() && stop->upper <= limit; ++stop, ++n) {
        data += stop->size();
        upper = stop->upper;
        if (stop->transient) {
            drop_transient(*stop);
        } else if (stop->bytes) {
            owned_ -= alloc_cost(stop->size());
            std::free(stop->bytes);
        }
    }
    if (n > 0) {
        data -= front_holes_;
        if (from > front().seq) from = front().seq;
        blocks_.erase(blocks_.begin(), stop);
        blocks_.emplace_hint(blocks_.begin(), StreamBlock{from, upper, nullptr, false});
        memory_->blocks_held -= n - 1;
        front_holes_ = (upper - from) - data;
    }
    recharge();
}

void BlockList::forget_bytes() {
    for (auto it = blocks_.begin(); it != blocks_.end();) {
        if (!it->transient && it->bytes) {
            owned_ -= alloc_cost(it->size());
            std::free(it->bytes);
            it->bytes = nullptr;
        }
        if (it != blocks_.begin() && mergeable(*std::prev(it), *it)) {
            std::prev(it)->upper = it->upper;
            it = blocks_.erase(it);
            --memory_->blocks_held;
        } else {
            ++it;
        }
    }
    recharge();
}

void BlockList::clear() {
    for (const StreamBlock& b : blocks_) release(b);
    blocks_.clear();
    transient_ = 0;
    first_transient_known_ = false;
    data_size_ = 0;
    front_holes_ = 0;
    recharge();
}

}  // namespace tcpsensor
