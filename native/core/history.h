// A connection's history string (Zeek's `c$history`): short in practice,
// kept inline; a rare long one moves to the heap, growing by doubling up to
// a hard cap (so that what a connection costs stays near what it holds).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <string_view>

namespace tcpsensor {

class History {
public:
    static constexpr size_t kInline = 14;
    static constexpr size_t kMax = 1024;
    static constexpr size_t kFirstHeap = 32;

    std::string_view view() const { return {heap_ ? heap_.get() : inline_, len_}; }
    size_t size() const { return len_; }
    bool empty() const { return len_ == 0; }

    // Returns false when the cap was reached and the letter was dropped.
    bool add(char c) {
        if (len_ >= kMax) return false;
        // The heap's capacity is implied by the length: kFirstHeap, then
        // the powers of two that the length reaches (never less, as
        // assign() only ever shortens).
        if (heap_ ? (len_ >= kFirstHeap && (len_ & (len_ - 1)) == 0) : len_ == kInline) {
            const size_t capacity = heap_ ? size_t{len_} * 2 : kFirstHeap;
            std::unique_ptr<char[]> bigger(new char[capacity]);
            std::memcpy(bigger.get(), heap_ ? heap_.get() : inline_, len_);
            heap_ = std::move(bigger);
        }
        (heap_ ? heap_.get() : inline_)[len_++] = c;
        return true;
    }

    void assign(std::string_view s) {
        len_ = 0;
        for (char c : s) add(c);
    }

private:
    std::unique_ptr<char[]> heap_;
    uint16_t len_ = 0;
    char inline_[kInline];
};

}  // namespace tcpsensor
