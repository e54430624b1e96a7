// Counts the events of finished batches by kind: what the native benchmark
// driver and the native tests consume batches with. It can render each
// batch as text too, and count or print the text.
#pragma once

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "../core/output/batch_format.h"
#include "../core/byte_order.h"
#include "../core/event_kinds.h"
#include "../core/output/event_writer.h"
#include "../core/output/text_batch_format.h"
#include "../core/output/text_renderer.h"

namespace tcpsensor {

class BatchCounter : public BatchConsumer {
public:
    std::array<uint64_t, kMaxEventKind + 1> by_kind{};
    uint64_t batches = 0;
    uint64_t bytes = 0;

    uint64_t text_bytes = 0;
    uint64_t conn_rows = 0;

    void render(TextFormat format, bool print) {
        renderer_ = std::make_unique<TextRenderer>(format);
        print_ = print;
    }

    void on_batch(Batch b) override {
        ++batches;
        bytes += b.size;
        for (uint32_t at = batch::kHeaderSize; at < b.size;) {
            const uint8_t tag = b.data[at];
            if (tag >= 1 && tag <= kMaxEventKind) ++by_kind[tag];
            at += load_le32(b.data + at + 4);
        }
        if (renderer_) {
            Batch text;
            if (const char* error = renderer_->render(b.data, b.size, &text)) {
                std::fprintf(stderr, "render: %s\n", error);
                std::abort();
            }
            const uint32_t length = load_le32(text.data + 24);
            text_bytes += length;
            if (print_) std::fwrite(text.data + load_le32(text.data + 20), 1, length, stdout);
            release_batch_buffer(text.data, text.capacity);
        }
        release_batch_buffer(b.data, b.capacity);
    }

    // A text batch (text_batch_format.h), as the render thread hands it
    // out: its lines counted by kind (conn.log rows apart), its text bytes.
    void on_text_batch(Batch b) {
        ++batches;
        bytes += b.size;
        if (b.size < text_batch::kHeaderSize || load_le32(b.data) != text_batch::kMagic) {
            std::fprintf(stderr, "text batch: bad header\n");
            std::abort();
        }
        const uint32_t lines = load_le32(b.data + 8);
        const uint8_t* kinds = b.data + load_le32(b.data + 16);
        for (uint32_t i = 0; i < lines; ++i) {
            if (kinds[i] == text_batch::kConnLogRow)
                ++conn_rows;
            else if (kinds[i] <= kMaxEventKind)
                ++by_kind[kinds[i]];
        }
        text_bytes += load_le32(b.data + 24);
        release_batch_buffer(b.data, b.capacity);
    }

private:
    std::unique_ptr<TextRenderer> renderer_;
    bool print_ = false;
};

}  // namespace tcpsensor
