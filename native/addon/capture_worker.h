// The capture thread: reads packets (capture layer), runs the engine
// (core) and queues finished batches for JavaScript. Knows nothing of
// N-API; addon.cc drives it.
//
// Backpressure: reading a file, the thread waits while `high_water`
// batches are queued, so nothing is ever lost. Live, it never waits: a
// batch that finds the queue full is dropped and its events counted.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "../capture/packet_source.h"
#include "../core/engine.h"

namespace tcpsensor {

struct WorkerConfig {
    Options options;
    bool live = false;
    std::string file;
    LiveOptions live_options;
    std::string filter;
    uint32_t high_water = 4;          // queued batches
    double live_flush_interval = 0.1; // seconds a live batch may wait before it is sent
    uint64_t seed = 0;
};

struct WorkerStats {
    EngineStats engine;
    CaptureStats capture;
    uint64_t events_dropped = 0;   // live: events of batches dropped because JS was behind
    uint64_t batches_dropped = 0;
    uint64_t batches_queued = 0;
};

class CaptureWorker : private BatchConsumer {
public:
    // Opens the source now, so that open errors reach the caller at once.
    static std::unique_ptr<CaptureWorker> open(const WorkerConfig& config, CaptureError* error);
    ~CaptureWorker() override;

    // Starts the thread; `notify` runs on it whenever a batch is queued or
    // the stream ends.
    void start(std::function<void()> notify);

    // Takes the oldest queued batch; false if none.
    bool take(Batch* out);
    bool ended() const { return ended_.load(); }
    CaptureError error() const;

    // Graceful stop: stop reading, flush the open connections as at the
    // end of input, then end.
    void stop();
    // Immediate stop: nothing more is produced; joins the thread.
    void close();

    WorkerStats stats() const;

    // Runs `command` on the capture thread between packets (or while it
    // waits for the reader), with the engine; with nullptr instead once the
    // stream has ended. The engine is not thread-safe: this is the only way
    // to reach it from outside.
    void post(std::function<void(Engine*)> command);

private:
    explicit CaptureWorker(const WorkerConfig& config, std::unique_ptr<PacketSource> source);
    void run();
    void on_batch(Batch batch) override;
    void run_commands();  // with mu_ held
    void publish_stats();

    WorkerConfig config_;
    std::unique_ptr<PacketSource> source_;
    std::unique_ptr<Engine> engine_;
    std::function<void()> notify_;
    std::thread thread_;

    mutable std::mutex mu_;
    std::condition_variable space_;
    std::deque<Batch> queue_;
    std::deque<std::function<void(Engine*)>> commands_;
    CaptureError error_;
    WorkerStats stats_;
    std::atomic<bool> ended_{false};
    std::atomic<bool> stop_{false};
    std::atomic<bool> abort_{false};
    double last_flush_ = 0;
    uint64_t unpublished_ = 0;  // packets processed since stats were last published
};

}  // namespace tcpsensor
