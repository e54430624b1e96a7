// Renders finished event batches (batch_format.h) as text batches
// (text_batch_format.h): NDJSON, one event a line, byte for byte what
// JSON.stringify writes of the objects lib/batch.ts builds (byte arguments
// in base64), or Zeek's conn.log rows as lib/conn-log.ts builds them. What
// is written, and in which order, comes from event_fields.h.
//
// One renderer serves one stream, batch after batch, in order (whichever
// of a sharded capture's engines wrote them): it keeps what the stream's
// later batches need (connection identities already formatted, per
// engine; for conn.log, the gap bytes of connections not yet removed, so
// that state is bounded by the open connections).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "event_writer.h"
#include "json_text.h"

namespace tcpsensor {

enum class TextFormat : uint8_t {
    None = 0,    // event batches go out as they are
    Ndjson = 1,  // one event a line
    ConnLog = 2, // one conn.log row per connection_state_remove
};

class TextRenderer {
public:
    explicit TextRenderer(TextFormat format);
    TextRenderer(const TextRenderer&) = delete;
    TextRenderer& operator=(const TextRenderer&) = delete;

    // Renders the event batch `data` into a text batch in a buffer of the
    // batch pool (the caller releases both). Returns nullptr, or, for a
    // batch that does not hold together, what is wrong with it (no batch
    // is made then).
    const char* render(const uint8_t* data, uint32_t size, Batch* text);

    TextFormat format() const { return format_; }

private:
    struct Snapshot;
    struct CachedIdentity {
        uint64_t uid;
        uint32_t worker;
        uint8_t orientation;
        bool valid;
        uint8_t length;
        char text[176];
    };
    // Gap bytes per uid, summed in doubles in event order as JavaScript
    // sums them; an entry lives from a connection's first content_gap to
    // its row. Open addressing, linear probing, backward-shift deletion.
    class GapTotals {
    public:
        void add(uint64_t uid, double bytes);
        double take(uint64_t uid);

    private:
        struct Entry {
            uint64_t uid;
            double bytes;
            bool used;
        };
        size_t home(uint64_t uid) const;
        void grow();
        std::vector<Entry> entries_;
        size_t used_ = 0;
    };

    bool resolve(uint32_t snapshot_at, Snapshot* out);
    char* room(size_t bytes);
    void end_line(char* end, uint8_t kind);
    void event_line(uint8_t kind, const uint8_t* record, uint32_t length);
    void conn_log_row(uint8_t kind, const uint8_t* record);
    char* identity(char* out, const uint8_t* descriptor);
    char* connection(char* out, const Snapshot& s);
    char* arguments(char* out, ArgShape shape, const uint8_t* args, uint32_t length);
    char* options(char* out, const uint8_t* args, uint32_t length, uint8_t count_at, uint8_t first_at);
    void fail(const char* why) {
        if (!error_) error_ = why;
    }

    TextFormat format_;
    // Bytes of text per byte of events in the last batch (with a margin):
    // how large the next text buffer is taken.
    double expansion_ = 2.0;
    std::unique_ptr<CachedIdentity[]> identities_;
    GapTotals gaps_;

    // The batch being rendered, and the engine (worker) that wrote it:
    // uids and pool slots are per engine.
    const uint8_t* in_ = nullptr;
    uint32_t worker_ = 0;
    uint32_t in_size_ = 0;
    uint8_t* out_ = nullptr;
    uint32_t capacity_ = 0;
    uint32_t used_ = 0;  // bytes of out_ written, header and index included
    uint32_t text_at_ = 0;
    uint32_t ends_at_ = 0;
    uint32_t kinds_at_ = 0;
    uint32_t lines_ = 0;
    const char* error_ = nullptr;
    // The identity and record part of the last event line (`"uid":...,
    // "conn":{...}`), by its place in the text: the next event of the same
    // snapshot copies it.
    uint32_t last_snapshot_ = 0;
    uint32_t shared_at_ = 0;
    uint32_t shared_length_ = 0;
    // The last event time written, as written.
    uint64_t ts_bits_ = 0;
    bool ts_valid_ = false;
    uint8_t ts_length_ = 0;
    char ts_text_[32];
};

}  // namespace tcpsensor
