#include "event_writer.h"

#include <cstring>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "../byte_order.h"
#include "../connection.h"

namespace tcpsensor {

namespace {

constexpr uint32_t align8(uint32_t n) { return (n + 7u) & ~7u; }

// Room kept for the history in a snapshot beyond its current length, so
// that the usual few letters a packet adds do not force a move.
constexpr uint32_t kHistorySlack = 8;

// The longest fixed part of an event's arguments (tcp_packet's).
constexpr uint32_t kFixedArgs = 32;

}  // namespace

namespace {

struct BufferPool {
    std::mutex mu;
    std::vector<std::pair<uint8_t*, uint32_t>> free;
};

BufferPool& pool() {
    // Leaked on purpose: buffers may come back from finalizers running
    // during process teardown.
    static BufferPool* p = new BufferPool;
    return *p;
}

constexpr size_t kPooledBuffers = 16;
constexpr uint32_t kLargestPooled = 16u << 20;

}  // namespace

uint8_t* acquire_batch_buffer(uint32_t min_capacity, uint32_t* capacity) {
    {
        BufferPool& p = pool();
        std::lock_guard<std::mutex> lock(p.mu);
        for (size_t i = 0; i < p.free.size(); ++i) {
            if (p.free[i].second < min_capacity) continue;
            uint8_t* data = p.free[i].first;
            *capacity = p.free[i].second;
            p.free[i] = p.free.back();
            p.free.pop_back();
            return data;
        }
    }
    auto* data = static_cast<uint8_t*>(std::malloc(min_capacity));
    if (!data) throw std::bad_alloc();
    *capacity = min_capacity;
    return data;
}

void release_batch_buffer(uint8_t* data, uint32_t capacity) {
    if (!data) return;
    if (capacity <= kLargestPooled) {
        BufferPool& p = pool();
        std::lock_guard<std::mutex> lock(p.mu);
        if (p.free.size() < kPooledBuffers) {
            p.free.emplace_back(data, capacity);
            return;
        }
    }
    std::free(data);
}

EventWriter::EventWriter(const EventSet& events, uint32_t max_events, uint32_t max_bytes, BatchConsumer* consumer)
    : events_(events), max_events_(max_events ? max_events : 1), max_bytes_(max_bytes), consumer_(consumer) {}

EventWriter::~EventWriter() { release_batch_buffer(buf_, capacity_); }

void EventWriter::start_batch() {
    buf_ = acquire_batch_buffer(max_bytes_ < 4096 ? 4096 : max_bytes_ + max_bytes_ / 4, &capacity_);
    size_ = batch::kHeaderSize;
    batch_events_ = 0;
    batch_records_ = 0;
    ++batch_id_;
}

uint8_t* EventWriter::reserve(uint32_t bytes) {
    if (!buf_) start_batch();
    if (size_ + bytes > capacity_) {
        uint32_t grown = capacity_ * 2;
        while (grown < size_ + bytes) grown *= 2;
        auto* p = static_cast<uint8_t*>(std::realloc(buf_, grown));
        if (!p) throw std::bad_alloc();
        buf_ = p;
        capacity_ = grown;
    }
    uint8_t* at = buf_ + size_;
    // The header and the alignment padding at the end are zeroed here;
    // writers zero the other bytes they do not fill. Buffers are recycled,
    // and JavaScript sees a whole batch through any byte argument's
    // ArrayBuffer: no byte of an earlier batch may show through.
    std::memset(at, 0, 8);
    std::memset(at + bytes - 8, 0, 8);
    size_ += bytes;
    ++batch_records_;
    return at;
}

void EventWriter::begin_group(double network_time) {
    now_ = network_time;
    ++group_id_;
}

void EventWriter::end_group() {
    if (buf_ && (batch_events_ >= max_events_ || size_ >= max_bytes_)) flush();
}

void EventWriter::flush() {
    if (!buf_) return;
    if (batch_events_ == 0) {
        // Descriptors and snapshots without events: nothing to deliver.
        size_ = batch::kHeaderSize;
        batch_records_ = 0;
        ++batch_id_;
        ++group_id_;
        return;
    }
    store_le<uint32_t>(buf_, batch::kMagic);
    store_le<uint32_t>(buf_ + 4, batch::kVersion);
    store_le<uint32_t>(buf_ + 8, batch_events_);
    store_le<uint32_t>(buf_ + 12, batch_records_);
    store_le<uint32_t>(buf_ + batch::kHeaderWorker, 0);
    store_le<uint32_t>(buf_ + 20, 0);
    Batch b{buf_, size_, capacity_, batch_events_};
    buf_ = nullptr;
    size_ = capacity_ = 0;
    // Offsets into the finished batch must not be reused by a group that
    // spans the flush.
    ++group_id_;
    consumer_->on_batch(b);
}

void EventWriter::identity_changed(Connection& c) {
    // Zeek flips the shared record's id in place, so the group's earlier
    // events see the new identity too.
    c.desc_batch = 0;
    touch(c);
}

void EventWriter::ensure_descriptor(Connection& c) {
    if (c.desc_batch == batch_id_ && buf_) return;
    uint8_t* r = reserve(batch::kDescriptorSize);
    const Endpoint4& o = c.orig_id();
    const Endpoint4& p = c.resp_id();
    r[0] = batch::kTagDescriptor;
    r[1] = o.addr.is_v4() && p.addr.is_v4() ? 4 : 6;
    r[2] = c.orig_side;
    r[3] = 0;
    store_le<uint32_t>(r + 4, batch::kDescriptorSize);
    store_le<uint64_t>(r + 8, c.uid);
    store_le<uint16_t>(r + 16, o.port);
    store_le<uint16_t>(r + 18, p.port);
    store_le<uint32_t>(r + 20, c.slot);
    std::memcpy(r + 24, o.addr.bytes, 16);
    std::memcpy(r + 40, p.addr.bytes, 16);
    c.desc_batch = batch_id_;
    c.desc_offset = static_cast<uint32_t>(r - buf_);
}

void EventWriter::write_snapshot(Connection& c) {
    const auto hist = c.history.view();
    const auto hist_len = static_cast<uint32_t>(hist.size());
    uint8_t* r = nullptr;
    if (c.snap_group == group_id_) {
        r = buf_ + c.snap_offset;
        const uint32_t room = load_le32(r + 4) - batch::kSnapshotFixed;
        if (hist_len > room) {
            const uint32_t old_offset = c.snap_offset;
            const uint32_t len = align8(batch::kSnapshotFixed + hist_len + kHistorySlack);
            uint8_t* fresh = reserve(len);
            uint8_t* old = buf_ + old_offset;  // reserve may have moved the buffer
            old[0] = batch::kTagSnapshotMoved;
            store_le<uint32_t>(old + 8, static_cast<uint32_t>(fresh - buf_));
            r = fresh;
            store_le<uint32_t>(r + 4, len);
            c.snap_offset = static_cast<uint32_t>(r - buf_);
        }
    } else {
        const uint32_t len = align8(batch::kSnapshotFixed + hist_len + kHistorySlack);
        r = reserve(len);
        store_le<uint32_t>(r + 4, len);
        c.snap_group = group_id_;
        c.snap_offset = static_cast<uint32_t>(r - buf_);
    }
    const TcpEndpoint& o = c.orig();
    const TcpEndpoint& p = c.resp();
    r[0] = batch::kTagSnapshot;
    store_le<uint32_t>(r + 8, c.desc_offset);
    // The room kept for the history to grow: zero, beyond what it holds.
    std::memset(r + batch::kSnapshotFixed + hist_len, 0, load_le32(r + 4) - batch::kSnapshotFixed - hist_len);
    r[12] = static_cast<uint8_t>(o.state);
    r[13] = static_cast<uint8_t>(p.state);
    store_le<uint16_t>(r + 14, static_cast<uint16_t>(hist_len));
    store_le_f64(r + 16, c.start_time);
    store_le_f64(r + 24, c.last_time - c.start_time);
    store_le<uint64_t>(r + 32, o.size(p));
    store_le<uint64_t>(r + 40, o.num_pkts);
    store_le<uint64_t>(r + 48, o.num_bytes_ip);
    store_le<uint64_t>(r + 56, p.size(o));
    store_le<uint64_t>(r + 64, p.num_pkts);
    store_le<uint64_t>(r + 72, p.num_bytes_ip);
    std::memcpy(r + 80, hist.data(), hist_len);
}

void EventWriter::touch(Connection& c) {
    if (!buf_ || c.snap_group != group_id_) return;
    ensure_descriptor(c);
    write_snapshot(c);
}

uint8_t* EventWriter::begin_event(EventKind k, Connection& c, uint32_t arg_bytes) {
    ensure_descriptor(c);
    write_snapshot(c);
    const uint32_t len = align8(batch::kEventFixed + arg_bytes);
    uint8_t* r = reserve(len);
    r[0] = static_cast<uint8_t>(k);
    store_le<uint32_t>(r + 4, len);
    store_le_f64(r + 8, now_);
    store_le<uint32_t>(r + 16, c.snap_offset);
    store_le<uint32_t>(r + 20, 0);
    // The fixed arguments (at most 32 bytes, before any byte string) have
    // reserved bytes between their fields; zeroed all at once.
    std::memset(r + batch::kEventFixed, 0, arg_bytes < kFixedArgs ? arg_bytes : kFixedArgs);
    ++batch_events_;
    ++events_written_;
    return r + batch::kEventFixed;
}

void EventWriter::conn_event(EventKind k, Connection& c) { begin_event(k, c, 0); }

void EventWriter::is_orig_event(EventKind k, Connection& c, bool is_orig) {
    uint8_t* a = begin_event(k, c, 1);
    a[0] = is_orig;
}

void EventWriter::threshold_event(EventKind k, Connection& c, bool is_orig, uint32_t threshold) {
    uint8_t* a = begin_event(k, c, 8);
    a[0] = is_orig;
    store_le<uint32_t>(a + 4, threshold);
}

void EventWriter::syn_packet(Connection& c, const SynPacketInfo& pkt) {
    uint8_t* a = begin_event(EventKind::connection_SYN_packet, c, 24);
    a[0] = pkt.is_orig;
    a[1] = pkt.df;
    a[2] = pkt.ttl;
    a[3] = pkt.sack_ok;
    store_le<uint32_t>(a + 4, pkt.size);
    store_le<uint16_t>(a + 8, pkt.win_size);
    store_le<int16_t>(a + 10, pkt.win_scale);
    store_le<uint16_t>(a + 12, pkt.mss);
    a[14] = pkt.has_ts;
    store_le<uint32_t>(a + 16, pkt.ts_val);
    store_le<uint32_t>(a + 20, pkt.ts_ecr);
}

void EventWriter::tcp_packet(Connection& c, bool is_orig, uint8_t flags, uint64_t seq, uint64_t ack, uint32_t len,
                             const uint8_t* payload, uint32_t payload_captured) {
    uint8_t* a = begin_event(EventKind::tcp_packet, c, 32 + payload_captured);
    a[0] = is_orig;
    a[1] = flags;
    store_le<uint32_t>(a + 4, len);
    store_le<uint64_t>(a + 8, seq);
    store_le<uint64_t>(a + 16, ack);
    store_le<uint32_t>(a + 24, payload_captured);
    if (payload_captured) std::memcpy(a + 32, payload, payload_captured);
}

void EventWriter::tcp_option(Connection& c, bool is_orig, uint8_t opt, uint8_t optlen) {
    uint8_t* a = begin_event(EventKind::tcp_option, c, 3);
    a[0] = is_orig;
    a[1] = opt;
    a[2] = optlen;
}

void EventWriter::tcp_options(Connection& c, bool is_orig, const TcpOptionEntry* opts, size_t count) {
    uint32_t bytes = 4;
    for (size_t i = 0; i < count; ++i) bytes += (4 + opts[i].data_len + 3u) & ~3u;
    uint8_t* a = begin_event(EventKind::tcp_options, c, bytes);
    a[0] = is_orig;
    a[1] = static_cast<uint8_t>(count);
    uint8_t* p = a + 4;
    for (size_t i = 0; i < count; ++i) {
        const uint32_t padded = (4 + opts[i].data_len + 3u) & ~3u;
        p[0] = opts[i].kind;
        p[1] = opts[i].length;
        p[2] = opts[i].shape;
        p[3] = opts[i].data_len;
        std::memset(p + 4, 0, padded - 4);
        if (opts[i].data_len) std::memcpy(p + 4, opts[i].data, opts[i].data_len);
        p += padded;
    }
}

void EventWriter::tcp_contents(Connection& c, bool is_orig, uint64_t seq, const uint8_t* data, uint32_t len) {
    uint8_t* a = begin_event(EventKind::tcp_contents, c, 16 + len);
    a[0] = is_orig;
    store_le<uint32_t>(a + 4, len);
    store_le<uint64_t>(a + 8, seq);
    if (len) std::memcpy(a + 16, data, len);
}

void EventWriter::tcp_rexmit(Connection& c, bool is_orig, uint64_t seq, uint32_t len, uint32_t data_in_flight,
                             uint32_t window) {
    uint8_t* a = begin_event(EventKind::tcp_rexmit, c, 24);
    a[0] = is_orig;
    store_le<uint32_t>(a + 4, len);
    store_le<uint64_t>(a + 8, seq);
    store_le<uint32_t>(a + 16, data_in_flight);
    store_le<uint32_t>(a + 20, window);
}

void EventWriter::conn_weird(Connection& c, std::string_view name) {
    const auto n = static_cast<uint32_t>(name.size());
    uint8_t* a = begin_event(EventKind::conn_weird, c, 4 + n);
    store_le<uint32_t>(a, n);
    std::memcpy(a + 4, name.data(), n);
}

void EventWriter::content_gap(Connection& c, bool is_orig, uint64_t seq, uint64_t length) {
    uint8_t* a = begin_event(EventKind::content_gap, c, 24);
    a[0] = is_orig;
    store_le<uint64_t>(a + 8, seq);
    store_le<uint64_t>(a + 16, length);
}

void EventWriter::write_failure(Connection& c, bool is_orig, std::string_view msg) {
    const auto n = static_cast<uint32_t>(msg.size());
    uint8_t* a = begin_event(EventKind::contents_file_write_failure, c, 8 + n);
    a[0] = is_orig;
    store_le<uint32_t>(a + 4, n);
    std::memcpy(a + 8, msg.data(), n);
}

void EventWriter::rexmit_inconsistency(Connection& c, const uint8_t* old_bytes, const uint8_t* new_bytes, uint32_t n,
                                       uint8_t flags) {
    uint8_t* a = begin_event(EventKind::rexmit_inconsistency, c, 8 + 2 * n);
    a[0] = flags;
    store_le<uint32_t>(a + 4, n);
    std::memcpy(a + 8, old_bytes, n);
    std::memcpy(a + 8 + n, new_bytes, n);
}

}  // namespace tcpsensor
