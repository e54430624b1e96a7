// The capture threads: read packets (capture layer), run engines (core) and
// queue finished batches for JavaScript. Knows nothing of N-API; addon.cc
// drives it.
//
// Three layouts, one face (CaptureWorker):
//   - a file read by one engine on one thread (file_capture.cc);
//   - a file sharded over N engines: a reader thread decodes and dispatches
//     steps of frames, N worker threads analyse them (sharded_capture.cc);
//   - a live interface read by N lanes, each a capture handle with its own
//     engine and thread, joined in one PACKET_FANOUT group (live_capture.cc).
// Each engine (a "lane") hands its batches to the shared output queue
// below, which merges them: in step order then lane (sharded files, so the
// merged order is deterministic), or as they come (live, one file).
//
// Backpressure: reading a file, a lane waits while `high_water` of its
// batches are queued, so nothing is ever lost. Live, it never waits: a
// batch that finds the queue full is dropped and its events counted.
//
// With a text format, the render stage (render_stage.h) is the one that
// takes the batches from the queue, in stream order, and the reader takes
// the text batches rendered from them. A batch counts as queued until the
// reader takes its text, so the live bound and drops, and the place of
// side records in the stream, are exactly as without the stage.
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
#include "render_stage.h"

namespace tcpsensor {

struct WorkerConfig {
    Options options;
    bool live = false;
    std::string file;
    LiveOptions live_options;
    std::string filter;
    // Engines, each on a thread of its own.
    uint32_t workers = 1;
    // Batches queued ahead of the reader. A file waits for its reader at
    // this mark (per engine); a live capture drops above it, so it gets a
    // deeper queue (its batches are small: one goes out every
    // live_flush_interval).
    uint32_t high_water = 4;
    uint32_t live_high_water = 256;
    // Live: bytes of queued batches above which a batch is dropped.
    uint64_t live_queue_bytes = 256ull << 20;
    double live_flush_interval = 0.05; // seconds a live batch may wait before it is sent
    // Network-time seconds between stats records (0: none).
    double stats_interval = 0;
    uint64_t seed = 0;
    // What the reader gets: event batches, or text batches rendered from them.
    TextFormat text_format = TextFormat::None;
};

struct WorkerStats {
    EngineStats engine;
    CaptureStats capture;
    uint64_t events_dropped = 0;   // live: events of batches dropped because JS was behind
    uint64_t batches_dropped = 0;
    uint64_t batches_queued = 0;
    uint64_t queued_bytes = 0;     // bytes of batches waiting for the reader now
    uint64_t queued_bytes_peak = 0;
};

// What the reader gets beside the batches, in stream order: each record
// belongs after the first `after_batch` batches taken.
struct SideRecord {
    enum class Kind : uint8_t { Stats, Notice } kind;
    uint64_t after_batch;
    double network_time;
    double interval_start;  // Stats: network time the first interval started at
    WorkerStats stats;      // Stats: the totals
    Notice notice;          // Notice
};

class CaptureWorker {
public:
    // Opens the sources now, so that open errors reach the caller at once.
    static std::unique_ptr<CaptureWorker> open(const WorkerConfig& config, CaptureError* error);
    virtual ~CaptureWorker();
    CaptureWorker(const CaptureWorker&) = delete;
    CaptureWorker& operator=(const CaptureWorker&) = delete;

    // Starts the threads; `notify` runs on them whenever a batch is queued,
    // a record made, or the stream ends.
    void start(std::function<void()> notify);

    // Takes the next batch in stream order; false if none is ready.
    bool take(Batch* out);
    bool ended() const { return ended_.load(); }
    CaptureError error() const;

    // Graceful stop: take in what the kernel already captured (live), stop
    // reading, flush the open connections as at the end of input, then end.
    virtual void stop();
    // Immediate stop: nothing more is produced; joins the threads.
    void close();

    // Totals over the engines, and each engine's own.
    WorkerStats stats() const;
    std::vector<WorkerStats> lane_stats() const;
    uint32_t lanes() const { return static_cast<uint32_t>(lanes_.size()); }

    std::vector<SideRecord> take_records();
    bool has_records() const { return records_pending_.load(); }

    // Runs `attempt` with each engine, on the engine's own thread between
    // packets (or while it waits for the reader); with nullptr once the
    // stream has ended. `done` gets whether any attempt succeeded, and the
    // text of the successful one (or of a failure, if none succeeded). The
    // engines are not thread-safe: this is the only way to reach them.
    using Attempt = std::function<bool(Engine*, std::string*)>;
    using Done = std::function<void(bool ok, const std::string& text)>;
    void post(Attempt attempt, Done done);

    // The capture's link type and snapshot length.
    virtual const PacketSource& source() const = 0;

protected:
    CaptureWorker(const WorkerConfig& config, uint32_t lanes, bool ordered);

    // One engine's output and counters.
    struct Lane;
    class LaneConsumer : public BatchConsumer {
    public:
        LaneConsumer(CaptureWorker* owner, uint32_t lane) : owner_(owner), lane_(lane) {}
        void on_batch(Batch batch) override { owner_->deliver(lane_, batch); }
        void on_notice(const Notice& notice) override { owner_->notice(notice); }

    private:
        CaptureWorker* owner_;
        uint32_t lane_;
    };
    BatchConsumer* consumer(uint32_t lane);

    virtual void launch() = 0;     // starts the threads
    virtual void interrupt() = 0;  // wakes every thread blocked in a source
    virtual void join() = 0;
    // A command was posted: wake lanes that wait for something else.
    virtual void commands_posted() {}

    // For the lanes' threads. `engine` is the lane's (run_commands and
    // backpressure need it).
    void attach(uint32_t lane, Engine* engine, const PacketSource* source);
    void deliver(uint32_t lane, Batch batch, uint64_t step = 0);
    // Ordered layout: the lane has delivered all its batches of `step`.
    void step_done(uint32_t lane, uint64_t step);
    // A notice (ordered layout: placed after `step`); the checksum warning
    // is given once, whichever engine raises it.
    void notice(const Notice& notice, uint64_t step = 0);
    // The decoder of a sharded capture is no lane but counts in the totals.
    void publish_decoder(Engine& decoder, const PacketSource& source);
    // A stats record of the totals now (ordered layout: after `step`).
    void stats_record(double network_time, uint64_t step = 0);
    void publish(uint32_t lane, Engine& engine, const PacketSource* source);
    void run_commands(uint32_t lane, Engine* engine);
    bool commands_waiting(uint32_t lane) const;
    void fail(const CaptureError& error);
    // The end of the stream: every lane is done.
    void finished();
    // Stats intervals: the first starts at the first packet.
    void stats_clock_start(double ts);
    bool stats_due(double network_time);

    WorkerConfig config_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> abort_{false};
    double stats_start_ = 0;

private:
    struct Entry {
        Batch batch;        // data null: the end of a step
        uint64_t arrival;   // order of delivery, over all lanes
        uint64_t step;
    };
    struct PendingCommand {
        Attempt attempt;
        std::shared_ptr<struct CommandResult> result;
    };
    // The next batch in stream order and the lane it came from (with mu_
    // held); the lane's count of batches is the caller's to lower.
    bool pop_next(Batch* out, uint32_t* lane);
    // A batch (or the end of a step) is in a lane's queue.
    void queued();
    // The render stage's side of the queue.
    bool next_for_render(Batch* out, uint32_t* lane);
    void rendered(uint32_t events_size, uint32_t text_size);
    void render_failed(const char* why, uint32_t events_size, uint32_t lane);
    void release_step_records(uint64_t step);  // with mu_ held
    void add_record(SideRecord record);
    void fill_totals(WorkerStats* out) const;  // with mu_ held

    std::function<void()> notify_;
    bool ordered_;
    std::unique_ptr<RenderStage> render_;
    mutable std::mutex mu_;
    std::condition_variable space_;
    std::condition_variable ready_;  // the render stage waits here for batches
    bool lanes_done_ = false;         // every lane has delivered its last batch
    std::vector<std::unique_ptr<Lane>> lanes_;
    uint64_t arrivals_ = 0;
    uint64_t batches_taken_ = 0;
    uint64_t queued_batches_ = 0;
    uint64_t queued_bytes_ = 0;
    uint64_t queued_bytes_peak_ = 0;
    uint64_t events_dropped_ = 0;
    uint64_t batches_dropped_ = 0;
    uint64_t batches_queued_ = 0;
    // Ordered layout: the step and lane whose batches come next.
    uint64_t cursor_step_ = 0;
    uint32_t cursor_lane_ = 0;
    // Records waiting for their step to be taken (ordered), then for the
    // reader.
    std::vector<std::pair<uint64_t, SideRecord>> step_records_;
    std::vector<SideRecord> records_;
    std::atomic<bool> records_pending_{false};
    bool checksum_notice_given_ = false;
    bool has_decoder_ = false;
    EngineStats decoder_stats_;
    CaptureStats decoder_capture_;
    CaptureError error_;
    std::atomic<bool> ended_{false};
    double next_stats_at_ = 0;
};

}  // namespace tcpsensor
