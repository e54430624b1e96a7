// A BatchConsumer that takes every finished batch apart and aborts on the
// first thing a reader could trip on: the fuzz targets' oracle for the
// event encoding (batch_format.h, with event_writer.cc as the reference
// and lib/batch.ts as the reader that must never read out of bounds).
//
// What it holds the writer to:
//  - the header: magic, version, and event and record counts that match
//    the records (and the Batch handed over);
//  - every record 8-byte aligned, at least its header long, a multiple of
//    8 long and inside the batch;
//  - tags: descriptors, snapshots, moved snapshots, and event kinds that
//    exist and were requested;
//  - offsets (event to snapshot, snapshot to descriptor, moved snapshot to
//    its replacement) that land on records of the right kind, and a moved
//    chain that ends at a snapshot;
//  - each event exactly as long as its arguments make it, with byte
//    counts, option lists and flags that the reader can walk;
//  - every byte that is no field (reserved bytes, padding, a snapshot's
//    room beyond its history) zero: JavaScript can see all of a batch
//    through any byte argument's ArrayBuffer, and batch buffers are
//    recycled, so anything else would show it bytes of earlier batches;
//  - network time (every event's ts) finite and never going back.
// It also counts events, so that the harness can compare the total with
// the engine's own count, and digests each event as a reader sees it (its
// bytes, its connection record, its identity), so that two runs that must
// raise the same events can be compared whatever their batches were.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../core/output/batch_format.h"
#include "../core/byte_order.h"
#include "../core/event_kinds.h"
#include "../core/output/event_writer.h"

// Fuzzing oracles must hold in every build: not assert(), which NDEBUG
// removes. abort() is what libFuzzer and the replay driver report.
#define FUZZ_CHECK(cond)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                    \
        }                                                                                    \
    } while (0)

namespace tcpsensor::fuzz {

class BatchChecker : public BatchConsumer {
public:
    explicit BatchChecker(const EventSet& requested) : requested_(requested) {}

    uint64_t events() const { return events_; }
    uint64_t batches() const { return batches_; }
    // One digest per event, in order, with the uid of its connection.
    struct EventDigest {
        uint64_t uid;
        uint64_t digest;
        bool operator==(const EventDigest& o) const { return uid == o.uid && digest == o.digest; }
    };
    const std::vector<EventDigest>& digests() const { return digests_; }
    // Notices (capture-wide warnings) seen, by kind.
    const std::vector<Notice::Kind>& notices() const { return notices_; }

    void on_notice(const Notice& n) override {
        FUZZ_CHECK(n.kind == Notice::Kind::ChecksumOffload);
        FUZZ_CHECK(std::isfinite(n.network_time));
        FUZZ_CHECK(n.bad_ip_checksums + n.bad_tcp_checksums + n.bad_udp_checksums <= 3 * n.packets);
        notices_.push_back(n.kind);
    }

    // uids of connections first seen in descriptors since the last call.
    std::vector<uint64_t> take_new_uids() {
        std::vector<uint64_t> out;
        out.swap(new_uids_);
        return out;
    }

    void on_batch(Batch b) override {
        check(b);
        ++batches_;
        inspect(b);
        release_batch_buffer(b.data, b.capacity);
    }

protected:
    // A checked batch, before it is released: where a target that renders
    // batches (events as text) takes them.
    virtual void inspect(const Batch&) {}

private:
    static uint32_t align8(uint32_t n) { return (n + 7u) & ~7u; }
    static uint32_t u32(const uint8_t* p) { return load_le32(p); }
    static uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
    static double f64(const uint8_t* p) {
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits |= static_cast<uint64_t>(p[i]) << (8 * i);
        double d;
        std::memcpy(&d, &bits, sizeof d);
        return d;
    }
    static bool flag(uint8_t v) { return v == 0 || v == 1; }
    static bool zeros(const uint8_t* p, uint32_t from, uint32_t to) {
        for (uint32_t i = from; i < to; ++i)
            if (p[i]) return false;
        return true;
    }

    static const EventKindInfo* kind_info(uint8_t tag) {
        for (const auto& k : kEventKinds)
            if (k.id == tag) return &k;
        return nullptr;
    }

    void check(const Batch& b) {
        FUZZ_CHECK(b.data != nullptr);
        FUZZ_CHECK(b.size >= batch::kHeaderSize && b.size <= b.capacity);
        FUZZ_CHECK(b.size % 8 == 0);
        const uint8_t* d = b.data;
        FUZZ_CHECK(u32(d) == batch::kMagic);
        FUZZ_CHECK(u32(d + 4) == batch::kVersion);
        const uint32_t header_events = u32(d + 8);
        const uint32_t header_records = u32(d + 12);
        // An engine writes worker 0 (a sharded capture numbers its workers'
        // batches itself) and the reserved word zero.
        FUZZ_CHECK(u32(d + batch::kHeaderWorker) == 0 && zeros(d, batch::kHeaderWorker + 4, batch::kHeaderSize));
        FUZZ_CHECK(header_events == b.events);
        FUZZ_CHECK(b.events > 0);  // batches without events are never handed out

        // First pass: record boundaries and tags, so that offsets can be
        // checked against them in the second.
        tags_.assign(b.size / 8, 0);
        starts_.assign(b.size / 8, false);
        uint32_t records = 0;
        for (uint32_t at = batch::kHeaderSize; at < b.size;) {
            FUZZ_CHECK(at % 8 == 0);
            FUZZ_CHECK(b.size - at >= batch::kRecordHeader);
            const uint32_t len = u32(d + at + 4);
            FUZZ_CHECK(len >= batch::kRecordHeader && len % 8 == 0 && len <= b.size - at);
            starts_[at / 8] = true;
            tags_[at / 8] = d[at];
            ++records;
            at += len;
        }
        FUZZ_CHECK(records == header_records);

        uint32_t events = 0;
        for (uint32_t at = batch::kHeaderSize; at < b.size; at += u32(d + at + 4)) {
            const uint8_t tag = d[at];
            const uint32_t len = u32(d + at + 4);
            if (tag == batch::kTagDescriptor) {
                check_descriptor(d + at, len);
            } else if (tag == batch::kTagSnapshot) {
                check_snapshot(b, d + at, len);
            } else if (tag == batch::kTagSnapshotMoved) {
                FUZZ_CHECK(len >= 16);
                const uint32_t to = u32(d + at + 8);
                // The replacement is reserved after the record it replaces.
                FUZZ_CHECK(to > at && is_record(b, to));
                FUZZ_CHECK(tags_[to / 8] == batch::kTagSnapshot || tags_[to / 8] == batch::kTagSnapshotMoved);
            } else {
                check_event(b, at, tag, len);
                ++events;
            }
        }
        FUZZ_CHECK(events == header_events);
        // Once every record is known to be sound (a moved snapshot's
        // replacement comes after the events that name the original).
        for (uint32_t at = batch::kHeaderSize; at < b.size; at += u32(d + at + 4))
            if (d[at] < batch::kTagDescriptor) digests_.push_back(digest(b, d + at, u32(d + at + 4)));
        events_ += events;
    }

    // The uid of the connection an event names.
    static uint64_t uid_of(const Batch& b, const uint8_t* r, const std::vector<uint8_t>& tags) {
        uint32_t snap = u32(r + 16);
        while (tags[snap / 8] == batch::kTagSnapshotMoved) snap = u32(b.data + snap + 8);
        const uint8_t* desc = b.data + u32(b.data + snap + 8);
        return u32(desc + 8) | (static_cast<uint64_t>(u32(desc + 12)) << 32);
    }

    bool is_record(const Batch& b, uint32_t offset) const {
        return offset >= batch::kHeaderSize && offset < b.size && offset % 8 == 0 && starts_[offset / 8];
    }

    void check_descriptor(const uint8_t* r, uint32_t len) {
        FUZZ_CHECK(len == batch::kDescriptorSize);
        FUZZ_CHECK(r[1] == 4 || r[1] == 6);
        FUZZ_CHECK(flag(r[2]));
        FUZZ_CHECK(r[3] == 0);
        const uint64_t uid = u32(r + 8) | (static_cast<uint64_t>(u32(r + 12)) << 32);
        bool known = false;
        for (uint64_t u : seen_uids_) known |= u == uid;
        if (!known) {
            // Bounded: only the harness's contents-file requests use them.
            if (seen_uids_.size() < 4096) seen_uids_.push_back(uid);
            new_uids_.push_back(uid);
        }
    }

    void check_snapshot(const Batch& b, const uint8_t* r, uint32_t len) {
        FUZZ_CHECK(len >= batch::kSnapshotFixed);
        const uint32_t desc = u32(r + 8);
        FUZZ_CHECK(is_record(b, desc) && tags_[desc / 8] == batch::kTagDescriptor);
        FUZZ_CHECK(r[12] <= 6 && r[13] <= 6);  // EpState
        const uint16_t history = u16(r + 14);
        FUZZ_CHECK(history <= len - batch::kSnapshotFixed);
        for (uint32_t i = 0; i < history; ++i) FUZZ_CHECK(r[80 + i] >= 0x20 && r[80 + i] < 0x7f);
        FUZZ_CHECK(zeros(r, 1, 4) && zeros(r, 80 + history, len));
        FUZZ_CHECK(std::isfinite(f64(r + 16)) && std::isfinite(f64(r + 24)));
    }

    // The snapshot an event names, through any moves.
    void check_event_snapshot(const Batch& b, uint32_t event_at, uint32_t snap) {
        // Written before the event that names it.
        FUZZ_CHECK(snap < event_at && is_record(b, snap));
        for (int hops = 0;; ++hops) {
            FUZZ_CHECK(hops < 1 << 16);
            const uint8_t tag = tags_[snap / 8];
            if (tag == batch::kTagSnapshot) return;
            FUZZ_CHECK(tag == batch::kTagSnapshotMoved);
            snap = u32(b.data + snap + 8);
        }
    }

    void check_event(const Batch& b, uint32_t at, uint8_t tag, uint32_t len) {
        const EventKindInfo* info = kind_info(tag);
        FUZZ_CHECK(info != nullptr);
        FUZZ_CHECK(requested_.test(tag));
        FUZZ_CHECK(len >= batch::kEventFixed);
        const uint8_t* r = b.data + at;
        FUZZ_CHECK(zeros(r, 1, 4) && zeros(r, 20, 24));
        const double ts = f64(r + 8);
        FUZZ_CHECK(std::isfinite(ts));
        FUZZ_CHECK(ts >= last_ts_);
        last_ts_ = ts;
        check_event_snapshot(b, at, u32(r + 16));

        const uint8_t* a = r + batch::kEventFixed;
        const uint32_t room = len - batch::kEventFixed;  // argument bytes, padding included
        // Each shape's length follows from its arguments; the reader walks
        // by the record length, so both must agree.
        // The padding after them must be zero.
        auto expect_args = [&](uint32_t bytes) {
            FUZZ_CHECK(len == align8(batch::kEventFixed + bytes));
            FUZZ_CHECK(zeros(a, bytes, room));
        };
        // Reserved bytes within them too.
        auto reserved = [&](uint32_t from, uint32_t to) { FUZZ_CHECK(zeros(a, from, to)); };
        // A byte count read from the record, checked against the room
        // before any sum with it can wrap.
        auto count_at = [&](uint32_t offset) {
            FUZZ_CHECK(room >= offset + 4);
            const uint32_t n = u32(a + offset);
            FUZZ_CHECK(n <= room);
            return n;
        };
        switch (info->shape) {
            case ArgShape::None:
                expect_args(0);
                break;
            case ArgShape::IsOrig:
                expect_args(1);
                FUZZ_CHECK(flag(a[0]));
                break;
            case ArgShape::Threshold:
                expect_args(8);
                reserved(1, 4);
                FUZZ_CHECK(flag(a[0]));
                break;
            case ArgShape::SynPacket:
                expect_args(24);
                reserved(15, 16);
                FUZZ_CHECK(flag(a[0]) && flag(a[1]) && flag(a[3]) && flag(a[14]));
                break;
            case ArgShape::WriteFailure: {
                const uint32_t n = count_at(4);
                expect_args(8 + n);
                reserved(1, 4);
                FUZZ_CHECK(flag(a[0]) && n > 0);
                break;
            }
            case ArgShape::Contents: {
                const uint32_t n = count_at(4);
                expect_args(16 + n);
                reserved(1, 4);
                FUZZ_CHECK(flag(a[0]));
                FUZZ_CHECK(n > 0);  // nothing to deliver is no delivery
                break;
            }
            case ArgShape::Option:
                expect_args(3);
                FUZZ_CHECK(flag(a[0]));
                break;
            case ArgShape::Options:
                check_options(a, room);
                break;
            case ArgShape::Packet: {
                const uint32_t n = count_at(24);
                expect_args(32 + n);
                reserved(2, 4);
                reserved(28, 32);
                FUZZ_CHECK(flag(a[0]));
                FUZZ_CHECK(n <= u32(a + 4));  // captured payload within the segment's length
                break;
            }
            case ArgShape::Rexmit:
                expect_args(24);
                reserved(1, 4);
                FUZZ_CHECK(flag(a[0]));
                break;
            case ArgShape::Weird: {
                const uint32_t n = count_at(0);
                expect_args(4 + n);
                FUZZ_CHECK(n > 0);
                for (uint32_t i = 0; i < n; ++i) FUZZ_CHECK(a[4 + i] > 0x20 && a[4 + i] < 0x7f);
                break;
            }
            case ArgShape::Gap:
                expect_args(24);
                reserved(1, 8);
                FUZZ_CHECK(flag(a[0]));
                break;
            case ArgShape::Inconsistency: {
                const uint32_t n = count_at(4);
                FUZZ_CHECK(n <= room / 2);
                expect_args(8 + 2 * n);
                reserved(1, 4);
                FUZZ_CHECK(n > 0);
                break;
            }
        }
    }

    // FNV-1a over what a reader makes of an event: the record without its
    // snapshot offset, the snapshot it resolves to without its descriptor
    // offset, and that descriptor without its pool slot. Offsets are where
    // batches differ, slots where engines do.
    static uint64_t fnv(uint64_t h, const uint8_t* p, uint32_t from, uint32_t to) {
        for (uint32_t i = from; i < to; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
        return h;
    }
    EventDigest digest(const Batch& b, const uint8_t* r, uint32_t len) const {
        uint64_t h = 0xcbf29ce484222325ull;
        h = fnv(h, r, 0, 16);
        h = fnv(h, r, 20, len);
        uint32_t snap = u32(r + 16);
        while (tags_[snap / 8] == batch::kTagSnapshotMoved) snap = u32(b.data + snap + 8);
        const uint8_t* s = b.data + snap;
        h = fnv(h, s, 12, batch::kSnapshotFixed + u16(s + 14));
        const uint8_t* desc = b.data + u32(s + 8);
        h = fnv(h, desc, 1, 20);
        h = fnv(h, desc, 24, batch::kDescriptorSize);
        return EventDigest{uid_of(b, r, tags_), h};
    }

    // tcp_options: u8 is_orig, u8 count, then per option kind, length,
    // shape, data length and the data padded to 4; lib/batch.ts decodes
    // the fields of a "decoded" option at fixed offsets, so their data
    // must be long enough for them.
    void check_options(const uint8_t* a, uint32_t room) {
        FUZZ_CHECK(room >= 4);
        FUZZ_CHECK(flag(a[0]));
        FUZZ_CHECK(zeros(a, 2, 4));
        const uint32_t count = a[1];
        uint32_t p = 4;
        for (uint32_t i = 0; i < count; ++i) {
            FUZZ_CHECK(room >= p + 4);
            const uint8_t kind = a[p], length = a[p + 1], shape = a[p + 2], data_len = a[p + 3];
            FUZZ_CHECK(shape <= 2);
            // EOL and NOP are one byte; other lengths are the option's own
            // (a nonsensical 1 included), data being what follows them.
            if (kind < 2)
                FUZZ_CHECK(length == 1 && data_len == 0);
            else
                FUZZ_CHECK(data_len == (length > 2 ? length - 2 : 0));
            if (shape == 2) {
                switch (kind) {
                    case 2: FUZZ_CHECK(data_len == 2); break;
                    case 3: FUZZ_CHECK(data_len == 1); break;
                    case 5: FUZZ_CHECK(data_len % 8 == 0 && data_len > 0); break;
                    case 8: FUZZ_CHECK(data_len == 8); break;
                    case 27: FUZZ_CHECK(data_len == 6); break;
                    default: FUZZ_CHECK(false && "decoded option of a kind without fields");
                }
            }
            if (shape == 1) FUZZ_CHECK(data_len > 0);
            const uint32_t next = p + ((4u + data_len + 3u) & ~3u);
            FUZZ_CHECK(room >= next);
            FUZZ_CHECK(zeros(a, p + 4 + data_len, next));
            p = next;
        }
        FUZZ_CHECK(room == align8(batch::kEventFixed + p) - batch::kEventFixed);
        FUZZ_CHECK(zeros(a, p, room));
    }

    EventSet requested_;
    uint64_t events_ = 0;
    uint64_t batches_ = 0;
    double last_ts_ = -INFINITY;
    std::vector<uint8_t> tags_;   // tag of the record at each 8-byte offset
    std::vector<bool> starts_;    // whether a record starts there
    std::vector<uint64_t> seen_uids_;
    std::vector<uint64_t> new_uids_;
    std::vector<EventDigest> digests_;
    std::vector<Notice::Kind> notices_;
};

}  // namespace tcpsensor::fuzz
