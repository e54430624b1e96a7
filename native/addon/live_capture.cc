#include "live_capture.h"

#include <chrono>

namespace tcpsensor {

namespace {

double wall_clock() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

std::unique_ptr<CaptureWorker> LiveCapture::open(const WorkerConfig& config, CaptureError* error) {
    std::vector<std::unique_ptr<PacketSource>> sources;
    int fanout_group = 0;
    const uint32_t lanes = config.workers ? config.workers : 1;
    for (uint32_t i = 0; i < lanes; ++i) {
        std::unique_ptr<PacketSource> source = PacketSource::open_live(config.live_options, config.filter, error);
        if (!source) return nullptr;
        // The first handle gets a fresh group from the kernel; the others
        // join it.
        if (lanes > 1 && !source->join_fanout(&fanout_group, error)) return nullptr;
        sources.push_back(std::move(source));
    }
    return std::unique_ptr<CaptureWorker>(new LiveCapture(config, std::move(sources)));
}

LiveCapture::LiveCapture(const WorkerConfig& config, std::vector<std::unique_ptr<PacketSource>> sources)
    : CaptureWorker(config, static_cast<uint32_t>(sources.size()), false), live_lanes_(sources.size()) {
    for (uint32_t i = 0; i < live_lanes_.size(); ++i) {
        LiveLane& lane = live_lanes_[i];
        lane.source = std::move(sources[i]);
        lane.index = i;
        lane.owner = this;
        // Lanes count frames each from 1: their uids differ by the seed.
        lane.engine = std::make_unique<Engine>(config_.options, lane.source->linktype(), consumer(i),
                                               config_.seed ^ (0x9e3779b97f4a7c15ull * i));
        attach(i, lane.engine.get(), lane.source.get());
    }
}

LiveCapture::~LiveCapture() { close(); }

void LiveCapture::launch() {
    running_.store(static_cast<uint32_t>(live_lanes_.size()));
    for (LiveLane& lane : live_lanes_) lane.thread = std::thread([this, &lane] { run(lane); });
}

void LiveCapture::interrupt() {
    for (LiveLane& lane : live_lanes_) lane.source->interrupt();
}

void LiveCapture::join() {
    for (LiveLane& lane : live_lanes_)
        if (lane.thread.joinable()) lane.thread.join();
}

void LiveCapture::stop() {
    if (stop_time_.load() == 0) stop_time_.store(wall_clock());
    CaptureWorker::stop();
}

// libpcap hands packets over in place, one ring block at a time; each goes
// straight through the engine, so nothing is copied and the ring slot is
// released as soon as the engine is done with it.
void LiveCapture::on_packet(void* context, const PacketView& packet) {
    auto* lane = static_cast<LiveLane*>(context);
    const double stop_time = lane->owner->stop_time_.load(std::memory_order_relaxed);
    if (stop_time > 0 && packet.ts > stop_time) {
        // Captured after stop(): not ours to take in.
        lane->past_stop = true;
        return;
    }
    lane->engine->process(packet);
}

void LiveCapture::run(LiveLane& lane) {
    constexpr int kDispatchMax = 4096;
    const int tick_ms = config_.live_options.timeout_ms > 0 ? config_.live_options.timeout_ms : 50;
    Engine& engine = *lane.engine;
    CaptureError error;
    double last_flush = wall_clock();
    // Lane 0 keeps the stats clock, on the wall clock (live network time
    // follows it), so records come on a quiet link too.
    if (lane.index == 0) stats_clock_start(last_flush);
    bool failed = false;
    while (!abort_.load()) {
        run_commands(lane.index, &engine);
        if (stop_.load()) {
            drain(lane);
            break;
        }
        size_t n = 0;
        const PacketSource::Next r = lane.source->dispatch(&LiveCapture::on_packet, &lane, kDispatchMax, tick_ms, &n, &error);
        if (r == PacketSource::Next::End) continue;  // interrupted: the flags say why
        if (r == PacketSource::Next::Error) {
            // Packets captured before the interface went away may still sit
            // in a ring block the kernel has not handed over yet: they are
            // taken in before the error ends the stream.
            drain(lane);
            fail(error);
            failed = true;
            break;
        }
        const double now = wall_clock();
        // A quiet link: time still passes for the timers.
        if (r == PacketSource::Next::Timeout && engine.network_time() > 0) engine.advance_time(now);
        if (now - last_flush >= config_.live_flush_interval) {
            engine.flush();
            last_flush = now;
            publish(lane.index, engine, lane.source.get());
        }
        if (lane.index == 0 && stats_due(now)) {
            engine.flush();
            publish(0, engine, lane.source.get());
            stats_record(now);
        }
    }
    // One lane's failure (the interface went away) ends them all.
    if (failed) {
        stop_.store(true);
        interrupt();
    }
    if (!abort_.load()) {
        engine.finish();
        if (lane.index == 0 && config_.stats_interval > 0) {
            publish(0, engine, lane.source.get());
            stats_record(wall_clock());
        }
    }
    publish(lane.index, engine, lane.source.get());
    if (running_.fetch_sub(1) == 1) finished();
}

// After stop(): the packets the kernel captured before the stop may still
// sit in its ring, in a block it hands over when the block fills or its
// timeout passes. Take them in, up to the first packet captured after the
// stop or a wait of one block timeout with nothing new.
void LiveCapture::drain(LiveLane& lane) {
    constexpr int kDispatchMax = 4096;
    const int wait_ms = (config_.live_options.timeout_ms > 0 ? config_.live_options.timeout_ms : 50) + 50;
    CaptureError error;
    while (!abort_.load() && !lane.past_stop) {
        size_t n = 0;
        const PacketSource::Next r =
            lane.source->dispatch(&LiveCapture::on_packet, &lane, kDispatchMax, wait_ms, &n, &error, true);
        if (r == PacketSource::Next::Packet || r == PacketSource::Next::End) continue;
        // An error while draining (the interface already gone) ends it; what
        // ended the capture has been reported already, if anything.
        return;
    }
}

}  // namespace tcpsensor
