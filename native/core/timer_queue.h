// Timers in network time, fired in due order (FIFO among equal due times).
//
// Most timers are armed far ahead (inactivity timeouts of a minute or
// more) and die with their connection long before they are due. So only
// timers due within the current one-second window live in a binary heap;
// later ones wait in one-second buckets (a ring covering kRingSeconds, and
// a heap beyond it) and move into the heap when their second comes, the
// dead ones being dropped on the way without ever touching the heap.
//
// Entries name their connection by pool slot and generation, and carry the
// connection's cancellation epoch at arming time; an entry whose
// connection moved on (removed, or timers cancelled) is dead, so cancelling
// costs nothing. Dead entries would otherwise stay until their time comes,
// which with long timeouts (an hour for interactive services, or whatever
// a user sets) lets them pile up with the connection rate; so whenever the
// queue has doubled since it was last purged, the dead ones are dropped.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
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
        insert(TimerEntry{due, next_order_++, slot, generation, kind, epoch});
    }

    // The arming order the next add() would give, taken now for an entry
    // that is inserted later (or never: a timer a compact record implies).
    uint64_t reserve_order() { return next_order_++; }

    // An entry whose order was reserved; it fires as if added then.
    void insert(const TimerEntry& e) {
        const double due = e.due;
        const double second = std::floor(due);
        if (due < near_limit_) {
            push(heap_, e);
        } else if (second < near_limit_ + kRingSeconds) {
            ring_[ring_index(second)].push_back(e);
            ++waiting_;
        } else {
            push(far_, e);
        }
    }

    // Moves everything due before the end of now's second into the heap,
    // dropping dead entries (`live(entry)` says which are not).
    template <typename Live>
    void advance(double now, Live&& live) {
        if (size() > purge_at_) purge(live);
        const double second = std::floor(now);
        if (near_limit_ == kUnset) near_limit_ = second;
        while (near_limit_ <= second) {
            if (waiting_ == 0) {
                // An empty ring: jump to the next second that matters (time
                // in a capture can leap by years).
                double target = second + 1;
                if (!far_.empty()) target = std::min(target, std::max(near_limit_ + 1, std::floor(far_.front().due) - kRingSeconds + 2));
                near_limit_ = target;
            } else {
                auto& bucket = ring_[ring_index(near_limit_)];
                for (const TimerEntry& e : bucket)
                    if (live(e)) push(heap_, e);
                waiting_ -= bucket.size();
                bucket.clear();
                near_limit_ += 1;
            }
            // The far heap feeds the ring as the window moves on.
            while (!far_.empty() && far_.front().due < near_limit_ + kRingSeconds - 1) {
                const TimerEntry e = pop(far_);
                if (!live(e)) continue;
                if (e.due < near_limit_) {
                    push(heap_, e);
                } else {
                    ring_[ring_index(std::floor(e.due))].push_back(e);
                    ++waiting_;
                }
            }
        }
    }

    // End of input: every entry `live` accepts goes to `fire`, in due order
    // (FIFO among equal ones), one second of the ring at a time, each
    // bucket's memory released as it empties: the whole backlog is never
    // gathered in one heap. `fire` must not add timers.
    template <typename Live, typename Fire>
    void drain(Live&& live, Fire&& fire) {
        const auto fire_before = [&](double limit) {
            while (!heap_.empty() && heap_.front().due < limit) {
                const TimerEntry e = pop(heap_);
                if (live(e)) fire(e);
            }
        };
        fire_before(near_limit_);
        for (double second = near_limit_; waiting_ > 0 && second < near_limit_ + kRingSeconds; second += 1) {
            std::vector<TimerEntry> bucket;
            bucket.swap(ring_[ring_index(second)]);
            waiting_ -= bucket.size();
            for (const TimerEntry& e : bucket)
                if (live(e)) push(heap_, e);
            while (!far_.empty() && far_.front().due < second + 1) {
                const TimerEntry e = pop(far_);
                if (live(e)) push(heap_, e);
            }
            fire_before(second + 1);
        }
        // Beyond the ring only the far heap is left, already in due order.
        while (!far_.empty()) {
            const TimerEntry e = pop(far_);
            if (live(e)) fire(e);
        }
        near_limit_ = 1e300;
    }

    bool ready(double now) const { return !heap_.empty() && heap_.front().due <= now; }
    bool empty() const { return heap_.empty(); }
    // The next to pop (the queue must be ready).
    const TimerEntry& front() const { return heap_.front(); }
    TimerEntry pop() { return pop(heap_); }

    // Whether `a` fires before `b`.
    static bool before(const TimerEntry& a, const TimerEntry& b) { return Later{}(b, a); }

    // Drops every entry `live` rejects now rather than when it comes due, and
    // gives back the memory of containers left mostly empty. Nothing fires
    // differently: entries fire by due time and arming order, and the
    // dropped ones never would have. Each purge costs as much as the arming
    // since the last one, so advance() spreads its cost over those.
    template <typename Live>
    void purge(Live&& live) {
        const auto dead = [&](const TimerEntry& e) { return !live(e); };
        const auto shed = [&](std::vector<TimerEntry>& v) {
            v.erase(std::remove_if(v.begin(), v.end(), dead), v.end());
            if (v.capacity() > 2 * v.size() + 64) v.shrink_to_fit();
        };
        // Filtering keeps a bucket's arming order; heaps are rebuilt.
        shed(heap_);
        std::make_heap(heap_.begin(), heap_.end(), Later{});
        shed(far_);
        std::make_heap(far_.begin(), far_.end(), Later{});
        waiting_ = 0;
        for (auto& bucket : ring_) {
            shed(bucket);
            waiting_ += bucket.size();
        }
        purge_at_ = std::max(kMinPurge, 2 * size());
    }

    size_t size() const { return heap_.size() + far_.size() + waiting_; }
    size_t memory_bytes() const {
        size_t n = heap_.capacity() + far_.capacity();
        for (const auto& b : ring_) n += b.capacity();
        return n * sizeof(TimerEntry);
    }

private:
    static constexpr double kUnset = -1e300;
    static constexpr int kRingSeconds = 1024;
    // Below this many entries, dead ones are left for their time to come.
    static constexpr size_t kMinPurge = size_t{1} << 16;

    struct Later {
        bool operator()(const TimerEntry& a, const TimerEntry& b) const {
            return a.due != b.due ? a.due > b.due : a.order > b.order;
        }
    };

    static size_t ring_index(double second) {
        return static_cast<size_t>(static_cast<int64_t>(second) & (kRingSeconds - 1));
    }
    static void push(std::vector<TimerEntry>& h, const TimerEntry& e) {
        h.push_back(e);
        std::push_heap(h.begin(), h.end(), Later{});
    }
    static TimerEntry pop(std::vector<TimerEntry>& h) {
        std::pop_heap(h.begin(), h.end(), Later{});
        const TimerEntry e = h.back();
        h.pop_back();
        return e;
    }

    std::vector<TimerEntry> heap_;  // due before near_limit_
    std::array<std::vector<TimerEntry>, kRingSeconds> ring_;
    std::vector<TimerEntry> far_;   // due at or after near_limit_ + kRingSeconds
    double near_limit_ = kUnset;    // start of the first second not yet moved into the heap
    size_t waiting_ = 0;            // entries in the ring
    uint64_t next_order_ = 0;
    size_t purge_at_ = kMinPurge;   // size() that triggers the next purge
};

}  // namespace tcpsensor
