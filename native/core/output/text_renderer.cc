#include "text_renderer.h"

#include <array>
#include <cstring>
#include <limits>
#include <new>

#include "../byte_order.h"
#include "batch_format.h"
#include "event_fields.h"
#include "json_text.h"
#include "text_batch_format.h"

namespace tcpsensor {

namespace {

using fields::Field;
using fields::Type;

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint64_t le64(const uint8_t* p) { return load_le32(p) | (uint64_t{load_le32(p + 4)} << 32); }
double le_f64(const uint8_t* p) {
    const uint64_t bits = le64(p);
    double v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
}

constexpr uint32_t align8(uint32_t n) { return (n + 7u) & ~7u; }

const EventKindInfo* kind_info(uint8_t id) {
    static const auto table = [] {
        std::array<const EventKindInfo*, kMaxEventKind + 1> t{};
        for (const auto& k : kEventKinds) t[k.id] = &k;
        return t;
    }();
    return id <= kMaxEventKind ? table[id] : nullptr;
}

// Identities are cached by pool slot, as lib/batch.ts caches them: a
// connection's identity is formatted once, not once per batch.
constexpr uint32_t kIdentitySlots = 8192;

// Room for an event line but its history and arguments: the longest
// numbers, addresses and uid with their keys, and the fixed arguments of
// every shape, fit with room to spare.
constexpr size_t kLineRoom = 1024;

// Room for the arguments of a record of `length` bytes: a byte of text
// escapes to at most six, bytes take 4/3 in base64, and a tcp_options
// entry of four bytes writes fewer than 32.
size_t argument_room(ArgShape shape, uint32_t length) {
    switch (shape) {
        case ArgShape::WriteFailure:
        case ArgShape::Weird: return 6 * size_t{length};
        case ArgShape::Options: return 8 * size_t{length};
        default: return 2 * size_t{length};
    }
}

// Zeek's EndpointState values (lib/events.ts EndpointState).
enum : uint8_t { kInactive = 0, kSynSent = 1, kSynAckSent = 2, kPartial = 3, kEstablished = 4, kClosed = 5, kReset = 6 };

// lib/conn-log.ts: /^\^?S[^HAFGIQ]*R.*$/ on the history (with JavaScript's
// `.`, which matches anything but a line terminator).
bool reset_after_syn_only(const uint8_t* h, size_t n) {
    size_t i = 0;
    if (i < n && h[i] == '^') ++i;
    if (i >= n || h[i] != 'S') return false;
    ++i;
    // The last R before any of HAFGIQ leaves the shortest tail for `.*`.
    size_t last_r = n;
    for (; i < n && !std::strchr("HAFGIQ", h[i]); ++i)
        if (h[i] == 'R') last_r = i;
    if (last_r == n) return false;
    for (size_t j = last_r + 1; j < n; ++j)
        if (h[j] == '\n' || h[j] == '\r') return false;
    return true;
}

// lib/conn-log.ts connState: Zeek's conn_state from the endpoint states.
const char* conn_state(uint8_t os, uint8_t rs, uint64_t orig_size, uint64_t resp_size, const uint8_t* history,
                       size_t history_length) {
    const auto inactive = [](uint8_t s) { return s == kInactive || s == kPartial; };
    if (rs == kReset) {
        if (os == kSynSent || os == kSynAckSent || (os == kReset && orig_size == 0 && resp_size == 0)) return "REJ";
        return inactive(os) ? "RSTRH" : "RSTR";
    }
    if (os == kReset) {
        if (inactive(rs)) return reset_after_syn_only(history, history_length) ? "RSTOS0" : "OTH";
        return "RSTO";
    }
    if (rs == kClosed && os == kClosed) return "SF";
    if (os == kClosed) return inactive(rs) ? "SH" : "S2";
    if (rs == kClosed) return inactive(os) ? "SHR" : "S3";
    if (os == kSynSent && rs == kInactive) return "S0";
    if (os == kEstablished && rs == kEstablished) return "S1";
    return "OTH";
}

char* quoted_address(char* out, const uint8_t* bytes16) {
    *out++ = '"';
    out = json::address(out, bytes16);
    *out++ = '"';
    return out;
}

char* quoted_uid(char* out, uint64_t id) {
    *out++ = '"';
    out = json::uid(out, id);
    *out++ = '"';
    return out;
}

// {"size":N,"state":N,"num_pkts":N,"num_bytes_ip":N} of one side of a
// snapshot: size, packets and IP bytes at `counters`, the state at `state`.
char* endpoint(char* out, const uint8_t* counters, uint8_t state) {
    *out++ = '{';
    out = json::key(out, fields::kEndpoint[0]);
    out = json::unsigned_number(out, le64(counters));
    *out++ = ',';
    out = json::key(out, fields::kEndpoint[1]);
    out = json::unsigned_number(out, state);
    *out++ = ',';
    out = json::key(out, fields::kEndpoint[2]);
    out = json::unsigned_number(out, le64(counters + 8));
    *out++ = ',';
    out = json::key(out, fields::kEndpoint[3]);
    out = json::unsigned_number(out, le64(counters + 16));
    *out++ = '}';
    return out;
}

}  // namespace

// A snapshot record where it finally is (moved snapshots followed), with
// the descriptor it names.
struct TextRenderer::Snapshot {
    uint32_t at;
    const uint8_t* record;
    const uint8_t* descriptor;
    uint16_t history_length;
    const uint8_t* history() const { return record + batch::kSnapshotFixed; }
    double start_time() const { return le_f64(record + 16); }
    double duration() const { return le_f64(record + 24); }
    uint8_t orig_state() const { return record[12]; }
    uint8_t resp_state() const { return record[13]; }
    const uint8_t* orig_counters() const { return record + 32; }
    const uint8_t* resp_counters() const { return record + 56; }
    uint64_t uid() const { return le64(descriptor + 8); }
};

TextRenderer::TextRenderer(TextFormat format) : format_(format) {
    if (format_ == TextFormat::Ndjson) identities_.reset(new CachedIdentity[kIdentitySlots]());
}

// ---------------------------------------------------------------------------
// Gap totals

size_t TextRenderer::GapTotals::home(uint64_t uid) const {
    // uids are keyed hashes already; the multiply spreads low-entropy ones
    // (crafted batches) too.
    return static_cast<size_t>((uid * 0x9E3779B97F4A7C15ull) >> 32) & (entries_.size() - 1);
}

void TextRenderer::GapTotals::grow() {
    std::vector<Entry> old;
    old.swap(entries_);
    entries_.assign(old.empty() ? 64 : old.size() * 2, Entry{});
    used_ = 0;
    for (const Entry& e : old)
        if (e.used) add(e.uid, e.bytes);
}

void TextRenderer::GapTotals::add(uint64_t uid, double bytes) {
    if ((used_ + 1) * 2 > entries_.size()) grow();
    const size_t mask = entries_.size() - 1;
    for (size_t i = home(uid);; i = (i + 1) & mask) {
        Entry& e = entries_[i];
        if (e.used && e.uid == uid) {
            e.bytes += bytes;
            return;
        }
        if (!e.used) {
            e = Entry{uid, 0.0 + bytes, true};
            ++used_;
            return;
        }
    }
}

double TextRenderer::GapTotals::take(uint64_t uid) {
    if (entries_.empty()) return 0;
    const size_t mask = entries_.size() - 1;
    size_t i = home(uid);
    while (entries_[i].used && entries_[i].uid != uid) i = (i + 1) & mask;
    if (!entries_[i].used) return 0;
    const double bytes = entries_[i].bytes;
    // Backward-shift deletion: later entries of the probe run move up so
    // that no lookup stops early at the hole.
    for (size_t j = (i + 1) & mask; entries_[j].used; j = (j + 1) & mask) {
        const size_t h = home(entries_[j].uid);
        const bool between = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (between) continue;
        entries_[i] = entries_[j];
        i = j;
    }
    entries_[i].used = false;
    --used_;
    return bytes;
}

// ---------------------------------------------------------------------------
// Batches

const char* TextRenderer::render(const uint8_t* data, uint32_t size, Batch* text) {
    if (size < batch::kHeaderSize || load_le32(data) != batch::kMagic || load_le32(data + 4) != batch::kVersion)
        return "batch has an unknown format";
    const uint32_t max_lines = load_le32(data + 8);
    if (max_lines > size / batch::kEventFixed) return "batch counts more events than it can hold";
    in_ = data;
    in_size_ = size;
    worker_ = load_le32(data + batch::kHeaderWorker);
    error_ = nullptr;
    lines_ = 0;
    last_snapshot_ = 0;
    ends_at_ = text_batch::kHeaderSize;
    kinds_at_ = ends_at_ + 4 * max_lines;
    text_at_ = align8(kinds_at_ + max_lines);
    // Batches of a stream are alike: room for what the last one grew to.
    out_ = acquire_batch_buffer(text_at_ + static_cast<uint32_t>(expansion_ * size) + 4096, &capacity_);
    used_ = text_at_;

    for (uint32_t at = batch::kHeaderSize; at < size && !error_;) {
        if (size - at < batch::kRecordHeader) {
            fail("batch ends inside a record");
            break;
        }
        const uint8_t tag = data[at];
        const uint32_t length = load_le32(data + at + 4);
        if (length < batch::kRecordHeader || length > size - at) {
            fail("corrupt batch record");
            break;
        }
        if (tag < batch::kTagDescriptor) {
            if (!kind_info(tag)) {
                fail("unknown event kind in batch");
                break;
            }
            if (lines_ == max_lines) {
                fail("batch holds more events than it counts");
                break;
            }
            if (length < batch::kEventFixed + fields::fixed_argument_bytes(kind_info(tag)->shape)) {
                fail("event record too short for its arguments");
                break;
            }
            if (format_ == TextFormat::ConnLog)
                conn_log_row(tag, data + at);
            else
                event_line(tag, data + at, length);
        }
        at += length;
    }
    if (error_) {
        release_batch_buffer(out_, capacity_);
        out_ = nullptr;
        return error_;
    }
    // The unused index slots and the padding go out too: zeroed.
    std::memset(out_ + ends_at_ + 4 * lines_, 0, kinds_at_ - (ends_at_ + 4 * lines_));
    std::memset(out_ + kinds_at_ + lines_, 0, text_at_ - (kinds_at_ + lines_));
    store_le<uint32_t>(out_, text_batch::kMagic);
    store_le<uint32_t>(out_ + 4, text_batch::kVersion);
    store_le<uint32_t>(out_ + 8, lines_);
    store_le<uint32_t>(out_ + 12, ends_at_);
    store_le<uint32_t>(out_ + 16, kinds_at_);
    store_le<uint32_t>(out_ + 20, text_at_);
    store_le<uint32_t>(out_ + 24, used_ - text_at_);
    store_le<uint32_t>(out_ + 28, 0);
    expansion_ = 1.125 * (used_ - text_at_) / size;
    *text = Batch{out_, used_, capacity_, lines_};
    out_ = nullptr;
    return nullptr;
}

bool TextRenderer::resolve(uint32_t at, Snapshot* out) {
    // Moved snapshots point forward, so the walk ends.
    for (uint32_t hops = 0;; ++hops) {
        if (at < batch::kHeaderSize || at > in_size_ - batch::kRecordHeader) break;
        const uint8_t* r = in_ + at;
        const uint32_t length = load_le32(r + 4);
        if (length > in_size_ - at) break;
        if (r[0] == batch::kTagSnapshotMoved && length >= 12) {
            const uint32_t next = load_le32(r + 8);
            if (next <= at) break;
            at = next;
            continue;
        }
        if (r[0] != batch::kTagSnapshot || length < batch::kSnapshotFixed) break;
        const uint16_t history_length = le16(r + 14);
        if (batch::kSnapshotFixed + history_length > length) break;
        const uint32_t d = load_le32(r + 8);
        if (d < batch::kHeaderSize || d > in_size_ - batch::kDescriptorSize || in_[d] != batch::kTagDescriptor ||
            load_le32(in_ + d + 4) < batch::kDescriptorSize)
            break;
        *out = Snapshot{at, r, in_ + d, history_length};
        return true;
    }
    fail("event names no connection record");
    return false;
}

char* TextRenderer::room(size_t bytes) {
    const uint64_t needed = uint64_t{used_} + bytes;
    if (needed > capacity_) {
        uint64_t grown = uint64_t{capacity_} * 2;
        if (grown < needed) grown = needed;
        if (grown > std::numeric_limits<uint32_t>::max()) throw std::bad_alloc();
        auto* p = static_cast<uint8_t*>(std::realloc(out_, grown));
        if (!p) throw std::bad_alloc();
        out_ = p;
        capacity_ = static_cast<uint32_t>(grown);
    }
    return reinterpret_cast<char*>(out_ + used_);
}

void TextRenderer::end_line(char* end, uint8_t kind) {
    *end++ = '\n';
    used_ = static_cast<uint32_t>(reinterpret_cast<uint8_t*>(end) - out_);
    store_le<uint32_t>(out_ + ends_at_ + 4 * lines_, used_ - text_at_);
    out_[kinds_at_ + lines_] = kind;
    ++lines_;
}

// ---------------------------------------------------------------------------
// NDJSON

void TextRenderer::event_line(uint8_t kind, const uint8_t* record, uint32_t length) {
    const EventKindInfo& info = *kind_info(kind);
    Snapshot s;
    if (!resolve(load_le32(record + 16), &s)) return;
    char* p = room(kLineRoom + 6 * size_t{s.history_length} + argument_room(info.shape, length));
    *p++ = '{';
    p = json::key(p, fields::kEvent[0]);
    // The events of one packet share its time.
    const uint64_t ts = le64(record + 8);
    if (!ts_valid_ || ts != ts_bits_) {
        double v;
        std::memcpy(&v, &ts, sizeof v);
        ts_length_ = static_cast<uint8_t>(json::number(ts_text_, v) - ts_text_);
        ts_bits_ = ts;
        ts_valid_ = true;
    }
    std::memcpy(p, ts_text_, ts_length_);
    p += ts_length_;
    *p++ = ',';
    p = json::key(p, fields::kEvent[1]);
    p = json::plain_string(p, info.name);
    *p++ = ',';
    if (s.at == last_snapshot_) {
        std::memcpy(p, out_ + shared_at_, shared_length_);
        p += shared_length_;
    } else {
        char* shared = p;
        p = identity(p, s.descriptor);
        *p++ = ',';
        p = json::key(p, fields::kEvent[4]);
        p = connection(p, s);
        last_snapshot_ = s.at;
        shared_at_ = static_cast<uint32_t>(reinterpret_cast<uint8_t*>(shared) - out_);
        shared_length_ = static_cast<uint32_t>(p - shared);
    }
    p = arguments(p, info.shape, record + batch::kEventFixed, length - batch::kEventFixed);
    *p++ = '}';
    end_line(p, kind);
}

// "uid":"C...","id":{"orig_h":...,"orig_p":N,"resp_h":...,"resp_p":N}
char* TextRenderer::identity(char* out, const uint8_t* d) {
    const uint64_t id = le64(d + 8);
    const uint8_t orientation = d[2];
    CachedIdentity& c = identities_[(load_le32(d + 20) + worker_ * 0x9E3779B1u) & (kIdentitySlots - 1)];
    if (!c.valid || c.uid != id || c.worker != worker_ || c.orientation != orientation) {
        char* p = c.text;
        p = json::key(p, fields::kEvent[2]);
        p = quoted_uid(p, id);
        *p++ = ',';
        p = json::key(p, fields::kEvent[3]);
        *p++ = '{';
        p = json::key(p, fields::kId[0]);
        p = quoted_address(p, d + 24);
        *p++ = ',';
        p = json::key(p, fields::kId[1]);
        p = json::unsigned_number(p, le16(d + 16));
        *p++ = ',';
        p = json::key(p, fields::kId[2]);
        p = quoted_address(p, d + 40);
        *p++ = ',';
        p = json::key(p, fields::kId[3]);
        p = json::unsigned_number(p, le16(d + 18));
        *p++ = '}';
        c.uid = id;
        c.worker = worker_;
        c.orientation = orientation;
        c.valid = true;
        c.length = static_cast<uint8_t>(p - c.text);
    }
    std::memcpy(out, c.text, c.length);
    return out + c.length;
}

// {"history":...,"orig":{...},"resp":{...},"start_time":T,"duration":D}
char* TextRenderer::connection(char* out, const Snapshot& s) {
    *out++ = '{';
    out = json::key(out, fields::kConn[0]);
    out = json::latin1_string(out, s.history(), s.history_length);
    *out++ = ',';
    out = json::key(out, fields::kConn[1]);
    out = endpoint(out, s.orig_counters(), s.orig_state());
    *out++ = ',';
    out = json::key(out, fields::kConn[2]);
    out = endpoint(out, s.resp_counters(), s.resp_state());
    *out++ = ',';
    out = json::key(out, fields::kConn[3]);
    out = json::number(out, s.start_time());
    *out++ = ',';
    out = json::key(out, fields::kConn[4]);
    out = json::number(out, s.duration());
    *out++ = '}';
    return out;
}

namespace {

// A value of fixed size at its offset (checked by the caller).
char* scalar(char* out, Type type, const uint8_t* at) {
    switch (type) {
        case Type::Bool: return json::boolean(out, *at != 0);
        case Type::U8: return json::unsigned_number(out, *at);
        case Type::U16: return json::unsigned_number(out, le16(at));
        case Type::I16: return json::signed_number(out, static_cast<int16_t>(le16(at)));
        case Type::U32: return json::unsigned_number(out, load_le32(at));
        case Type::U64: return json::unsigned_number(out, le64(at));
        case Type::U16BE: return json::unsigned_number(out, load_be16(at));
        case Type::U32BE: return json::unsigned_number(out, load_be32(at));
        case Type::Flags:
            *out++ = '"';
            out = json::tcp_flags(out, *at);
            *out++ = '"';
            return out;
        default: return out;  // not a scalar: the callers handle the others
    }
}

}  // namespace

char* TextRenderer::arguments(char* out, ArgShape shape, const uint8_t* a, uint32_t length) {
    for (const Field& f : fields::arguments(shape)) {
        *out++ = ',';
        out = json::key(out, f.name);
        switch (f.type) {
            case Type::Text:
            case Type::Bytes:
            case Type::BytesAfter: {
                const uint32_t n = load_le32(a + f.length_at);
                const uint64_t skip = f.type == Type::BytesAfter ? n : 0;
                if (uint64_t{f.at} + skip + n > length) {
                    fail("byte argument runs past its record");
                    return out;
                }
                out = f.type == Type::Text ? json::latin1_string(out, a + f.at, n)
                                           : json::base64_string(out, a + f.at + skip, n);
                break;
            }
            case Type::SynPacket: {
                *out++ = '{';
                bool first = true;
                for (const Field& g : fields::kSynPacket) {
                    if (g.present_if != fields::kAlways && a[g.present_if] == 0) continue;
                    if (!first) *out++ = ',';
                    first = false;
                    out = json::key(out, g.name);
                    out = scalar(out, g.type, a + g.at);
                }
                *out++ = '}';
                break;
            }
            case Type::Options:
                out = options(out, a, length, f.length_at, f.at);
                break;
            default:
                out = scalar(out, f.type, a + f.at);
        }
    }
    return out;
}

// tcp_options' entries: [{"kind":K,"length":L,...}, ...]
char* TextRenderer::options(char* out, const uint8_t* a, uint32_t length, uint8_t count_at, uint8_t first_at) {
    enum : uint8_t { kBare = 0, kData = 1, kDecoded = 2 };  // TcpOptionEntry::Shape
    const uint32_t count = a[count_at];
    uint32_t q = first_at;
    *out++ = '[';
    for (uint32_t i = 0; i < count; ++i) {
        if (length < 4 || q > length - 4 || a[q + 3] > length - 4 - q) {
            fail("tcp_options entry runs past its record");
            break;
        }
        const uint8_t kind = a[q];
        const uint8_t shape = a[q + 2];
        const uint8_t data_length = a[q + 3];
        const uint8_t* data = a + q + 4;
        if (i) *out++ = ',';
        *out++ = '{';
        out = json::key(out, fields::kOptionEntry[0]);
        out = json::unsigned_number(out, kind);
        *out++ = ',';
        out = json::key(out, fields::kOptionEntry[1]);
        out = json::unsigned_number(out, a[q + 1]);
        if (shape == kData) {
            *out++ = ',';
            out = json::key(out, fields::kOptionEntry[2]);
            out = json::base64_string(out, data, data_length);
        } else if (shape == kDecoded) {
            for (const auto& decoded : fields::kDecodedOptions) {
                if (decoded.kind != kind) continue;
                for (const Field& g : decoded.fields) {
                    *out++ = ',';
                    out = json::key(out, g.name);
                    if (g.type == Type::U32BEList) {
                        *out++ = '[';
                        for (uint32_t j = g.at; j + 4 <= data_length; j += 4) {
                            if (j != g.at) *out++ = ',';
                            out = json::unsigned_number(out, load_be32(data + j));
                        }
                        *out++ = ']';
                    } else if (g.at + fields::stored_size(g.type) <= data_length) {
                        out = scalar(out, g.type, data + g.at);
                    } else {
                        fail("decoded tcp option shorter than its fields");
                    }
                }
            }
        }
        *out++ = '}';
        q += (4u + data_length + 3u) & ~3u;
    }
    *out++ = ']';
    return out;
}

// ---------------------------------------------------------------------------
// conn.log

void TextRenderer::conn_log_row(uint8_t kind, const uint8_t* record) {
    const auto k = static_cast<EventKind>(kind);
    if (k != EventKind::content_gap && k != EventKind::connection_state_remove) return;
    Snapshot s;
    if (!resolve(load_le32(record + 16), &s)) return;
    const uint8_t* a = record + batch::kEventFixed;
    if (k == EventKind::content_gap) {
        gaps_.add(s.uid(), static_cast<double>(le64(a + 16)));
        return;
    }
    const double duration = s.duration();
    const uint8_t* d = s.descriptor;
    char* p = room(kLineRoom + 6 * size_t{s.history_length});
    *p++ = '{';
    bool first = true;
    for (const fields::Column& c : fields::kConnLog) {
        if (c.when == fields::When::Lasted && !(duration > 0)) continue;
        if (c.when == fields::When::HasHistory && s.history_length == 0) continue;
        if (!first) *p++ = ',';
        first = false;
        p = json::key(p, c.name);
        switch (c.value) {
            case fields::ConnValue::StartTime: p = json::number(p, s.start_time()); break;
            case fields::ConnValue::Uid: p = quoted_uid(p, s.uid()); break;
            case fields::ConnValue::OrigH: p = quoted_address(p, d + 24); break;
            case fields::ConnValue::OrigP: p = json::unsigned_number(p, le16(d + 16)); break;
            case fields::ConnValue::RespH: p = quoted_address(p, d + 40); break;
            case fields::ConnValue::RespP: p = json::unsigned_number(p, le16(d + 18)); break;
            case fields::ConnValue::Proto: p = json::plain_string(p, "tcp"); break;
            case fields::ConnValue::ConnState:
                p = json::plain_string(p, conn_state(s.orig_state(), s.resp_state(), le64(s.orig_counters()),
                                                     le64(s.resp_counters()), s.history(), s.history_length));
                break;
            case fields::ConnValue::MissedBytes: p = json::number(p, gaps_.take(s.uid())); break;
            case fields::ConnValue::OrigPkts: p = json::unsigned_number(p, le64(s.orig_counters() + 8)); break;
            case fields::ConnValue::OrigIpBytes: p = json::unsigned_number(p, le64(s.orig_counters() + 16)); break;
            case fields::ConnValue::RespPkts: p = json::unsigned_number(p, le64(s.resp_counters() + 8)); break;
            case fields::ConnValue::RespIpBytes: p = json::unsigned_number(p, le64(s.resp_counters() + 16)); break;
            case fields::ConnValue::Duration: p = json::number(p, duration); break;
            case fields::ConnValue::OrigBytes: p = json::unsigned_number(p, le64(s.orig_counters())); break;
            case fields::ConnValue::RespBytes: p = json::unsigned_number(p, le64(s.resp_counters())); break;
            case fields::ConnValue::History: p = json::latin1_string(p, s.history(), s.history_length); break;
        }
    }
    *p++ = '}';
    end_line(p, text_batch::kConnLogRow);
}

}  // namespace tcpsensor
