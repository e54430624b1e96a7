// fuzz-render: the text renderers (output/text_renderer.h) over the event
// batches of a fuzz-packets input, as they are and corrupted.
//
//   u8 flips (its low 4 bits: how many are used), then 15 flips of a u16
//   position and a u8 mask (little-endian), then a fuzz-packets input
//   (packet_input.h). The slots are always there, so that turning flips
//   on or off leaves the packets where they are.
//
// Every batch the engine writes (checked by BatchChecker first) goes to an
// NDJSON and a conn.log renderer, which must accept it and write a text
// batch that holds together: header, line ends, kinds, every line one JSON
// value in UTF-8 (NDJSON: an object per event, in the events' order;
// conn.log: an object per connection_state_remove). Then a copy with the
// flips applied (each at its position modulo the batch's size, XORed with
// its mask) goes to two other renderers of their own stream: they may
// refuse it (render() names what is wrong) but must neither read out of
// bounds nor write a text batch that does not hold together.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../core/output/text_batch_format.h"
#include "../core/output/text_renderer.h"
#include "packet_harness.h"

using namespace tcpsensor;

namespace {

// A JSON value (RFC 8259) at p, up to end; the position after it, or
// nullptr. Depth-bounded: a record holds a few levels of nesting.
const char* json_value(const char* p, const char* end, int depth);

const char* json_ws(const char* p, const char* end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) ++p;
    return p;
}

const char* json_string(const char* p, const char* end) {
    if (p >= end || *p != '"') return nullptr;
    for (++p; p < end; ++p) {
        const auto c = static_cast<unsigned char>(*p);
        if (c == '"') return p + 1;
        if (c < 0x20) return nullptr;
        if (c != '\\') continue;
        if (++p >= end) return nullptr;
        if (*p == 'u') {
            for (int i = 0; i < 4; ++i)
                if (++p >= end || !std::strchr("0123456789abcdefABCDEF", *p)) return nullptr;
        } else if (!std::strchr("\"\\/bfnrt", *p)) {
            return nullptr;
        }
    }
    return nullptr;
}

const char* json_number(const char* p, const char* end) {
    const auto digits = [&](const char* q) {
        const char* s = q;
        while (q < end && *q >= '0' && *q <= '9') ++q;
        return q > s ? q : nullptr;
    };
    if (p < end && *p == '-') ++p;
    if (p < end && *p == '0') {
        ++p;
    } else if (!(p = digits(p))) {
        return nullptr;
    }
    if (p < end && *p == '.' && !(p = digits(p + 1))) return nullptr;
    if (p < end && (*p == 'e' || *p == 'E')) {
        ++p;
        if (p < end && (*p == '+' || *p == '-')) ++p;
        if (!(p = digits(p))) return nullptr;
    }
    return p;
}

const char* json_value(const char* p, const char* end, int depth) {
    if (depth > 16) return nullptr;
    p = json_ws(p, end);
    if (p >= end) return nullptr;
    if (*p == '"') return json_string(p, end);
    if (*p == '{' || *p == '[') {
        const char close = *p == '{' ? '}' : ']';
        p = json_ws(p + 1, end);
        if (p < end && *p == close) return p + 1;
        for (;;) {
            if (close == '}') {
                if (!(p = json_string(json_ws(p, end), end))) return nullptr;
                p = json_ws(p, end);
                if (p >= end || *p != ':') return nullptr;
                ++p;
            }
            if (!(p = json_value(p, end, depth + 1))) return nullptr;
            p = json_ws(p, end);
            if (p >= end) return nullptr;
            if (*p == close) return p + 1;
            if (*p != ',') return nullptr;
            ++p;
        }
    }
    for (const char* word : {"true", "false", "null"}) {
        const size_t n = std::strlen(word);
        if (static_cast<size_t>(end - p) >= n && std::memcmp(p, word, n) == 0) return p + n;
    }
    return json_number(p, end);
}

bool utf8(const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n;) {
        const uint8_t c = p[i];
        size_t more;
        if (c < 0x80)
            more = 0;
        else if (c >= 0xc2 && c <= 0xdf)
            more = 1;
        else if ((c & 0xf0) == 0xe0)
            more = 2;
        else if (c >= 0xf0 && c <= 0xf4)
            more = 3;
        else
            return false;
        if (n - i <= more) return false;
        for (size_t k = 1; k <= more; ++k)
            if ((p[i + k] & 0xc0) != 0x80) return false;
        i += 1 + more;
    }
    return true;
}

uint32_t le32(const uint8_t* p) { return load_le32(p); }

// A text batch as text_batch_format.h describes it; `kinds` are the event
// kinds its lines must have, in order, when known.
void check_text(const Batch& t, TextFormat format, const std::vector<uint8_t>* kinds) {
    FUZZ_CHECK(t.data != nullptr && t.size >= text_batch::kHeaderSize && t.size <= t.capacity);
    const uint8_t* d = t.data;
    FUZZ_CHECK(le32(d) == text_batch::kMagic && le32(d + 4) == text_batch::kVersion);
    const uint32_t lines = le32(d + 8), ends_at = le32(d + 12), kinds_at = le32(d + 16);
    const uint32_t text_at = le32(d + 20), text_len = le32(d + 24);
    FUZZ_CHECK(ends_at % 4 == 0 && text_at % 8 == 0);
    FUZZ_CHECK(ends_at >= text_batch::kHeaderSize && uint64_t{ends_at} + 4ull * lines <= t.size);
    FUZZ_CHECK(kinds_at >= text_batch::kHeaderSize && uint64_t{kinds_at} + lines <= t.size);
    FUZZ_CHECK(text_at >= text_batch::kHeaderSize && uint64_t{text_at} + text_len <= t.size);
    if (kinds) FUZZ_CHECK(lines == kinds->size());
    const auto* text = reinterpret_cast<const char*>(d + text_at);
    FUZZ_CHECK(utf8(d + text_at, text_len));
    uint32_t start = 0;
    for (uint32_t i = 0; i < lines; ++i) {
        const uint32_t end = le32(d + ends_at + 4 * i);
        FUZZ_CHECK(end > start && end <= text_len && text[end - 1] == '\n');
        FUZZ_CHECK(std::memchr(text + start, '\n', end - 1 - start) == nullptr);
        // One JSON object a line, nothing after it.
        FUZZ_CHECK(text[start] == '{');
        FUZZ_CHECK(json_value(text + start, text + end - 1, 0) == text + end - 1);
        const uint8_t kind = d[kinds_at + i];
        if (format == TextFormat::ConnLog) {
            FUZZ_CHECK(kind == text_batch::kConnLogRow);
        } else {
            FUZZ_CHECK(kind >= 1 && kind <= kMaxEventKind);
        }
        if (kinds) FUZZ_CHECK(kind == (*kinds)[i]);
        start = end;
    }
    FUZZ_CHECK(start == text_len);
}

struct Flip {
    uint16_t position;
    uint8_t mask;
};

// Renders every checked batch, then a corrupted copy of it.
class RenderChecker : public fuzz::BatchChecker {
public:
    RenderChecker(const EventSet& events, std::vector<Flip> flips)
        : BatchChecker(events),
          flips_(std::move(flips)),
          ndjson_(TextFormat::Ndjson),
          conn_(TextFormat::ConnLog),
          bad_ndjson_(TextFormat::Ndjson),
          bad_conn_(TextFormat::ConnLog) {}

protected:
    void inspect(const Batch& b) override {
        // The events' kinds in order; conn.log rows come one per removal.
        std::vector<uint8_t> kinds, rows;
        for (uint32_t at = batch::kHeaderSize; at < b.size; at += le32(b.data + at + 4)) {
            const uint8_t tag = b.data[at];
            if (tag >= batch::kTagDescriptor) continue;
            kinds.push_back(tag);
            if (tag == static_cast<uint8_t>(EventKind::connection_state_remove)) rows.push_back(text_batch::kConnLogRow);
        }
        render(ndjson_, b.data, b.size, TextFormat::Ndjson, &kinds, true);
        render(conn_, b.data, b.size, TextFormat::ConnLog, &rows, true);
        if (flips_.empty()) return;
        std::vector<uint8_t> bad(b.data, b.data + b.size);
        for (const Flip& f : flips_) bad[f.position % bad.size()] ^= f.mask;
        render(bad_ndjson_, bad.data(), static_cast<uint32_t>(bad.size()), TextFormat::Ndjson, nullptr, false);
        render(bad_conn_, bad.data(), static_cast<uint32_t>(bad.size()), TextFormat::ConnLog, nullptr, false);
    }

private:
    static void render(TextRenderer& r, const uint8_t* data, uint32_t size, TextFormat format,
                       const std::vector<uint8_t>* kinds, bool must_accept) {
        Batch text;
        const char* error = r.render(data, size, &text);
        if (must_accept) {
            if (error) std::fprintf(stderr, "renderer refused an engine's batch: %s\n", error);
            FUZZ_CHECK(error == nullptr);
        }
        if (error) return;
        check_text(text, format, kinds);
        release_batch_buffer(text.data, text.capacity);
    }

    std::vector<Flip> flips_;
    TextRenderer ndjson_, conn_, bad_ndjson_, bad_conn_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    constexpr size_t kFlipSlots = 15;
    constexpr size_t kPrefix = 1 + 3 * kFlipSlots;
    if (size < kPrefix) return 0;
    const size_t count = data[0] & 0x0f;
    std::vector<Flip> flips;
    for (size_t i = 0; i < count; ++i) {
        const uint8_t* f = data + 1 + 3 * i;
        flips.push_back(Flip{static_cast<uint16_t>(f[0] | (f[1] << 8)), f[2]});
    }
    const uint8_t* input = data + kPrefix;
    const size_t input_size = size - kPrefix;
    fuzz::PacketInput in;
    if (!in.open(input, input_size)) return 0;
    RenderChecker checker(fuzz::packet_options(in).events, std::move(flips));
    // The engine's own cross-checks are fuzz-packets' work; here, rendering.
    fuzz::run_packet_input(input, input_size, &checker, false);
    return 0;
}
