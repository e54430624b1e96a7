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
#include <vector>

#include "../capture/packet_source.h"
#include "../core/engine.h"

namespace tcpsensor {

struct WorkerConfig {
    Options options;
    bool live = false;
    std::string file;
    LiveOptions live_options;
    std::string filter;
    // Batches queued ahead of the reader. A file waits for its reader at
    // this mark; a live capture drops above it, so it gets a deeper queue
    // (its batches are small: one goes out every live_flush_interval).
    uint32_t high_water = 4;
    uint32_t live_high_water = 256;
    // Live: bytes of queued batches above which a batch is dropped.
    uint64_t live_queue_bytes = 256ull << 20;
    double live_flush_interval = 0.05; // seconds a live batch may wait before it is sent
    // Network-time seconds between stats records (0: none).
    double stats_interval = 0;
    uint64_t seed = 0;
};

struct WorkerStats {
    EngineStats engine;
    CaptureStats capture;
    uint64_t events_dropped = 0;   // live: events of batches dropped because JS was behind
    uint64_t batches_dropped = 0;
    uint64_t batches_queued = 0;
    uint64_t queued_bytes = 0;     // live: bytes of batches waiting for the reader now
    uint64_t queued_bytes_peak = 0;
};

// What the reader gets beside the batches, in stream order: each record
// belongs after the first `after_batch` queued batches.
struct SideRecord {
    enum class Kind : uint8_t { Stats, Notice } kind;
    uint64_t after_batch;
    double network_time;
    double interval_start;  // Stats: network time the first interval started at
    WorkerStats stats;  // Stats
    Notice notice;      // Notice
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
    const PacketSource& source() const { return *source_; }
    CaptureError error() const;

    // Graceful stop: take in what the kernel already captured (live),
    // stop reading, flush the open connections as at the end of input, then
    // end.
    void stop();
    // Immediate stop: nothing more is produced; joins the thread.
    void close();

    WorkerStats stats() const;
    // Side records made so far and not yet taken.
    std::vector<SideRecord> take_records();
    bool has_records() const { return records_pending_.load(); }

    // Runs `command` on the capture thread between packets (or while it
    // waits for the reader), with the engine; with nullptr instead once the
    // stream has ended. The engine is not thread-safe: this is the only way
    // to reach it from outside.
    void post(std::function<void(Engine*)> command);

private:
    explicit CaptureWorker(const WorkerConfig& config, std::unique_ptr<PacketSource> source);
    void run();
    void run_file();
    void run_live();
    void drain_live();
    static void on_live_packet(void* self, const PacketView& packet);
    void after_packets(double ts);
    void on_batch(Batch batch) override;
    void on_notice(const Notice& notice) override;
    void run_commands();  // with mu_ held
    void publish_stats();
    void stats_record();
    void add_record(SideRecord record);

    WorkerConfig config_;
    std::unique_ptr<PacketSource> source_;
    std::unique_ptr<Engine> engine_;
    std::function<void()> notify_;
    std::thread thread_;

    mutable std::mutex mu_;
    std::condition_variable space_;
    std::deque<Batch> queue_;
    std::deque<std::function<void(Engine*)>> commands_;
    std::vector<SideRecord> records_;
    std::atomic<bool> records_pending_{false};
    CaptureError error_;
    WorkerStats stats_;
    std::atomic<bool> ended_{false};
    std::atomic<bool> stop_{false};
    std::atomic<bool> abort_{false};
    double last_flush_ = 0;
    double next_stats_at_ = 0;  // network time of the next stats record (0: at the first packet + interval)
    double stats_start_ = 0;    // network time the stats intervals are counted from
    std::atomic<double> stop_time_{0};  // live: wall-clock time of stop(); later packets are not taken in
    bool past_stop_ = false;    // live: a packet captured after stop() was seen
    uint64_t unpublished_ = 0;  // packets processed since stats were last published
};

}  // namespace tcpsensor
