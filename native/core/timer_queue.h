// Timers in network time: a binary min-heap of small plain entries, ordered
// by due time and then by arming order (FIFO among equal due times).
//
// Entries name their connection by pool slot and generation, and carry the
// connection's cancellation epoch at arming time; an entry whose
// connection moved on (removed, or timers cancelled) is skipped when it
// surfaces, so cancelling costs nothing.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace tcpsensor {

enum class TimerKind : uint8_t {
    Expire,        // the TCP analyzer's general timeout check
    Attempt,       // connection_attempt
    PartialClose,  // connection_partial_close
    Reset,         // delayed connection_reset
    ConnDelete,    // removal after a complete close (raises connection_timeout)
    Delete,        // removal without an event (tcp_close_delay 0)
    Inactivity,    // the session's inactivity timeout
};

// Timers that still act when input ends (Zeek's do_expire timers).
inline bool acts_at_termination(TimerKind k) { return k == TimerKind::Attempt || k == TimerKind::Reset; }

struct TimerEntry {
    double due;
    uint64_t order;
    uint32_t slot;
    uint32_t generation;
    TimerKind kind;
    uint8_t epoch;
};

class TimerQueue {
public:
    void add(double due, uint32_t slot, uint32_t generation, TimerKind kind, uint8_t epoch) {
        heap_.push_back(TimerEntry{due, next_order_++, slot, generation, kind, epoch});
        std::push_heap(heap_.begin(), heap_.end(), later);
    }

    bool empty() const { return heap_.empty(); }
    size_t size() const { return heap_.size(); }
    double next_due() const { return heap_.front().due; }

    // Removes and returns the earliest entry.
    TimerEntry pop() {
        std::pop_heap(heap_.begin(), heap_.end(), later);
        TimerEntry e = heap_.back();
        heap_.pop_back();
        return e;
    }

    void clear() { heap_.clear(); }
    size_t memory_bytes() const { return heap_.capacity() * sizeof(TimerEntry); }

private:
    static bool later(const TimerEntry& a, const TimerEntry& b) {
        if (a.due != b.due) return a.due > b.due;
        return a.order > b.order;
    }

    std::vector<TimerEntry> heap_;
    uint64_t next_order_ = 0;
};

}  // namespace tcpsensor
