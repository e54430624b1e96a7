// Counts the events of finished batches by kind: what the native benchmark
// driver and the native tests consume batches with.
#pragma once

#include <array>
#include <cstdlib>

#include "../core/output/batch_format.h"
#include "../core/byte_order.h"
#include "../core/event_kinds.h"
#include "../core/output/event_writer.h"

namespace tcpsensor {

class BatchCounter : public BatchConsumer {
public:
    std::array<uint64_t, kMaxEventKind + 1> by_kind{};
    uint64_t batches = 0;
    uint64_t bytes = 0;

    void on_batch(Batch b) override {
        ++batches;
        bytes += b.size;
        for (uint32_t at = batch::kHeaderSize; at < b.size;) {
            const uint8_t tag = b.data[at];
            if (tag >= 1 && tag <= kMaxEventKind) ++by_kind[tag];
            at += load_le32(b.data + at + 4);
        }
        release_batch_buffer(b.data, b.capacity);
    }
};

}  // namespace tcpsensor
