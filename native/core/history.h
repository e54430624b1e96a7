// A connection's history string (Zeek's `c$history`): short in practice,
// kept inline; a rare long one moves to the heap, up to a hard cap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

namespace tcpsensor {

class History {
public:
    static constexpr size_t kInline = 14;
    static constexpr size_t kMax = 1024;

    std::string_view view() const { return {heap_ ? heap_.get() : inline_, len_}; }
    size_t size() const { return len_; }
    bool empty() const { return len_ == 0; }

    // Returns false when the cap was reached and the letter was dropped.
    bool add(char c) {
        if (len_ >= kMax) return false;
        if (!heap_ && len_ == kInline) {
            heap_.reset(new char[kMax]);
            std::memcpy(heap_.get(), inline_, len_);
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
