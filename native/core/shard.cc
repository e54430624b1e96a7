#include "shard.h"

#include <cstring>

namespace tcpsensor {

namespace {

// The frame is copied whole; a reassembled datagram (at most 64 KiB plus
// its header) may need copying too, out of the reassembler's buffer.
constexpr size_t kDatagramRoom = 65535 + 60 + 8;

}  // namespace

ShardStep::ShardStep(size_t arena_bytes) : arena(new uint8_t[arena_bytes]), arena_size(arena_bytes) {}

void ShardStep::clear() {
    frames.clear();
    segments.clear();
    used = 0;
}

uint8_t* ShardStep::copy_in(const uint8_t* data, size_t len) {
    uint8_t* at = arena.get() + used;
    if (len) std::memcpy(at, data, len);
    // Keep every copy 8-byte aligned, as packet buffers are.
    used += (len + 7) & ~size_t{7};
    return at;
}

Dispatcher::Dispatcher(const Options& options, int linktype, BatchConsumer* decoder_consumer, uint64_t seed,
                       uint32_t workers)
    : decoder_(options, linktype, decoder_consumer, seed),
      shard_seed_(seed ^ 0x8a5cd789635d2dffull),
      workers_(workers ? workers : 1) {
    decoder_.route_segments_to(this);
}

bool Dispatcher::add(const PacketView& packet, ShardStep* step) {
    if (!step->fits(packet.caplen + 8 + 2 * kDatagramRoom)) return false;
    step_ = step;
    PacketView copy = packet;
    copy.data = step->copy_in(packet.data, packet.caplen);
    frame_begin_ = copy.data;
    frame_end_ = copy.data + packet.caplen;
    const uint32_t first = static_cast<uint32_t>(step->segments.size());
    decoder_.process(copy);
    step->frames.push_back(ShardStep::Frame{packet.ts, decoder_.packets(), first,
                                            static_cast<uint32_t>(step->segments.size()) - first});
    step_ = nullptr;
    return true;
}

void Dispatcher::route(const Segment& segment) {
    ShardStep::Routed r{segment, 0};
    IpPacket& ip = r.segment.ip;
    if (ip.header < frame_begin_ || ip.header >= frame_end_) {
        // A datagram the decoder reassembled: its bytes live in the
        // reassembler until its next fragment, so they move into the step.
        const size_t offset = static_cast<size_t>(ip.payload - ip.header);
        if (!step_->fits(ip.captured + 8)) {
            // Room is kept for two per frame; a frame that carries more
            // (an A-MSDU of fragments) loses the rest, counted.
            decoder_.count_anomaly(Anomaly::shard_step_full);
            return;
        }
        uint8_t* copy = step_->copy_in(ip.header, ip.captured);
        ip.header = copy;
        ip.payload = copy + offset;
    }
    if (workers_ > 1) {
        const uint16_t sport = static_cast<uint16_t>((ip.payload[0] << 8) | ip.payload[1]);
        const uint16_t dport = static_cast<uint16_t>((ip.payload[2] << 8) | ip.payload[3]);
        r.worker = hash_tuple(shard_seed_, Endpoint4{ip.src, sport}, Endpoint4{ip.dst, dport}) % workers_;
    }
    step_->segments.push_back(r);
}

void apply_step(Engine& worker, const ShardStep& step, uint32_t index) {
    for (const ShardStep::Frame& f : step.frames) {
        worker.begin_frame(f.ts, f.seq);
        for (uint32_t i = f.first_segment; i < f.first_segment + f.segments; ++i)
            if (step.segments[i].worker == index) worker.handle_segment(step.segments[i].segment);
        worker.end_frame();
    }
}

}  // namespace tcpsensor
