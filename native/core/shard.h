// Sharding one capture over several engines, with the answers of one.
//
// A Dispatcher decodes every frame once (link, IP, fragments, tunnels,
// checksums: an Engine that only decodes) and assigns each TCP segment to
// the worker that owns its connection, by a keyed hash of the unordered
// inner 4-tuple (so both directions, and a tunnelled connection's packets,
// land together). Frames are gathered into steps: runs of consecutive
// frames whose bytes are copied into the step's own arena, so that workers
// may read them on other threads while the reader moves on.
//
// Every worker walks every frame of a step, in order: its own segments are
// analysed; for the others' frames it only lets network time move and its
// timers fire, exactly as one engine would at those frames. So each
// connection sees the same packets at the same network times as in a lone
// engine, and raises the same events (uids included: they come from the
// frame that made the connection). Within a step, one worker's events
// follow another's: the merged stream is ordered by step, then worker.
//
// Nothing here knows threads: the capture layer runs the dispatcher and the
// workers on threads of its own and merges their batches.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine.h"

namespace tcpsensor {

struct ShardStep {
    struct Frame {
        double ts;
        uint64_t seq;             // in capture order, from 1
        uint32_t first_segment;   // its segments are [first_segment, first_segment + segments)
        uint32_t segments;
    };
    struct Routed {
        Segment segment;  // views the arena
        uint32_t worker;
    };

    explicit ShardStep(size_t arena_bytes);

    void clear();
    bool empty() const { return frames.empty(); }
    // Room for `bytes` more in the arena.
    bool fits(size_t bytes) const { return used + bytes <= arena_size; }
    uint8_t* copy_in(const uint8_t* data, size_t len);

    std::vector<Frame> frames;
    std::vector<Routed> segments;
    std::unique_ptr<uint8_t[]> arena;
    size_t arena_size;
    size_t used = 0;
};

class Dispatcher : private SegmentRouter {
public:
    // `decoder_consumer` gets the decoder's notices (checksum offload);
    // it raises no events.
    Dispatcher(const Options& options, int linktype, BatchConsumer* decoder_consumer, uint64_t seed, uint32_t workers);

    // Decodes `packet` into `step`; false (and nothing added) when the step
    // has no room for it: hand the step over and start the next.
    bool add(const PacketView& packet, ShardStep* step);

    // End of input, after the last step: what a lone engine's finish()
    // does for the capture as a whole (the last look for checksum
    // offloading, whose notice goes to the decoder's consumer).
    void finish() { decoder_.finish(); }

    Engine& decoder() { return decoder_; }
    uint32_t workers() const { return workers_; }

private:
    void route(const Segment& segment) override;

    Engine decoder_;
    uint64_t shard_seed_;
    uint32_t workers_;
    ShardStep* step_ = nullptr;
    const uint8_t* frame_begin_ = nullptr;
    const uint8_t* frame_end_ = nullptr;
};

// What one worker does with a step: every frame, its own segments.
void apply_step(Engine& worker, const ShardStep& step, uint32_t index);

}  // namespace tcpsensor
