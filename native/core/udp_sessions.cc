#include "udp_sessions.h"

#include "flow_table.h"

namespace tcpsensor {

bool UdpSessions::ended(UdpSession& s, double now, double timeout) {
    if (timeout <= 0 || s.due > now) return false;
    if (s.last_time + timeout <= now) return true;
    s.due = s.last_time + timeout;
    return false;
}

UdpSession* UdpSessions::find(const Endpoint4& a, const Endpoint4& b, double now, double timeout) {
    if (slots_.empty()) return nullptr;
    const uint32_t h = hash_tuple(seed_, a, b);
    for (size_t i = home(h);; i = (i + 1) & (slots_.size() - 1)) {
        UdpSession& s = slots_[i];
        if (!s.used) return nullptr;
        if (s.hash != h) continue;
        if (!((s.orig == a && s.resp == b) || (s.orig == b && s.resp == a))) continue;
        if (ended(s, now, timeout)) {
            erase_at(i);
            return nullptr;
        }
        return &s;
    }
}

UdpSession UdpSessions::transient(const Endpoint4& src, const Endpoint4& dst, bool flip, double t) const {
    UdpSession s;
    s.orig = flip ? dst : src;
    s.resp = flip ? src : dst;
    s.last_time = t;
    s.hash = hash_tuple(seed_, src, dst);
    // Outside the numbering of tracked sessions: the flow's packets keep
    // one identity, so the connections inside see no tunnel changes.
    s.id = (uint64_t{1} << 63) | s.hash;
    s.used = true;
    return s;
}

UdpSession* UdpSessions::insert(const Endpoint4& src, const Endpoint4& dst, bool flip, double t, double now,
                                double timeout) {
    if (count_ >= max_sessions_) {
        // Full: ended sessions go first, at most once a second of network
        // time (a sweep visits every slot).
        if (now >= last_sweep_ + 1) sweep(now, timeout);
        if (count_ >= max_sessions_) return nullptr;
    }
    if (slots_.empty() || (count_ + 1) * 2 > slots_.size()) grow();
    UdpSession fresh = transient(src, dst, flip, t);
    fresh.id = ++next_id_;
    fresh.due = t + timeout;
    size_t i = home(fresh.hash);
    while (slots_[i].used) i = (i + 1) & (slots_.size() - 1);
    slots_[i] = fresh;
    ++count_;
    return &slots_[i];
}

void UdpSessions::erase_at(size_t i) {
    const size_t mask = slots_.size() - 1;
    // Backward-shift deletion: no tombstones, probe chains stay unbroken.
    size_t hole = i;
    for (size_t j = (hole + 1) & mask; slots_[j].used; j = (j + 1) & mask) {
        const size_t h = home(slots_[j].hash);
        const bool movable = hole <= j ? (h <= hole || h > j) : (h <= hole && h > j);
        if (movable) {
            slots_[hole] = slots_[j];
            hole = j;
        }
    }
    slots_[hole] = UdpSession{};
    --count_;
}

void UdpSessions::grow() {
    std::vector<UdpSession> old;
    old.swap(slots_);
    slots_.assign(old.empty() ? 64 : old.size() * 2, UdpSession{});
    for (const UdpSession& s : old) {
        if (!s.used) continue;
        size_t i = home(s.hash);
        while (slots_[i].used) i = (i + 1) & (slots_.size() - 1);
        slots_[i] = s;
    }
}

void UdpSessions::sweep(double now, double timeout) {
    last_sweep_ = now;
    if (timeout <= 0) return;
    // Erasing shifts later entries back into the slot just visited, so a
    // slot is looked at again until it holds a live session or nothing.
    for (size_t i = 0; i < slots_.size();) {
        if (slots_[i].used && ended(slots_[i], now, timeout))
            erase_at(i);
        else
            ++i;
    }
}

}  // namespace tcpsensor
