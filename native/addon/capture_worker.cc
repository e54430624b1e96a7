#include "capture_worker.h"

#include "../core/output/batch_format.h"
#include "../core/byte_order.h"
#include "file_capture.h"
#include "live_capture.h"
#include "sharded_capture.h"

namespace tcpsensor {

struct CommandResult {
    std::mutex mu;
    uint32_t remaining;
    bool ok = false;
    std::string text;
    CaptureWorker::Done done;
};

struct CaptureWorker::Lane {
    Engine* engine = nullptr;
    const PacketSource* source = nullptr;
    std::deque<Entry> queue;
    uint32_t batches = 0;  // batches (not step ends) queued and not yet taken by the reader (rendered or not)
    WorkerStats stats;     // as last published by the lane's thread
    std::deque<PendingCommand> commands;
    std::atomic<bool> commands_waiting{false};
    LaneConsumer consumer;
    Lane(CaptureWorker* owner, uint32_t index) : consumer(owner, index) {}
};

std::unique_ptr<CaptureWorker> CaptureWorker::open(const WorkerConfig& config, CaptureError* error) {
    if (config.live) return LiveCapture::open(config, error);
    if (config.workers > 1) return ShardedCapture::open(config, error);
    return FileCapture::open(config, error);
}

CaptureWorker::CaptureWorker(const WorkerConfig& config, uint32_t lanes, bool ordered)
    : config_(config), ordered_(ordered) {
    for (uint32_t i = 0; i < lanes; ++i) lanes_.push_back(std::make_unique<Lane>(this, i));
    if (config_.text_format != TextFormat::None) {
        RenderStage::Hooks hooks;
        hooks.next = [this](Batch* out, uint32_t* lane) { return next_for_render(out, lane); };
        hooks.rendered = [this](uint32_t events_size, uint32_t text_size) { rendered(events_size, text_size); };
        hooks.ready = [this] {
            if (notify_) notify_();
        };
        hooks.failed = [this](const char* why, uint32_t events_size, uint32_t lane) { render_failed(why, events_size, lane); };
        render_ = std::make_unique<RenderStage>(config_.text_format, config_.high_water, std::move(hooks));
    }
}

CaptureWorker::~CaptureWorker() {
    for (auto& lane : lanes_)
        for (Entry& e : lane->queue) release_batch_buffer(e.batch.data, e.batch.capacity);
}

BatchConsumer* CaptureWorker::consumer(uint32_t lane) { return &lanes_[lane]->consumer; }

void CaptureWorker::attach(uint32_t lane, Engine* engine, const PacketSource* source) {
    lanes_[lane]->engine = engine;
    lanes_[lane]->source = source;
}

void CaptureWorker::start(std::function<void()> notify) {
    notify_ = std::move(notify);
    if (render_) render_->start();
    launch();
}

// ---------------------------------------------------------------------------
// The output queue

void CaptureWorker::deliver(uint32_t lane_index, Batch batch, uint64_t step) {
    // The reader keeps one identity cache per engine (uids and pool slots
    // are per engine): the header says which wrote the batch.
    store_le<uint32_t>(batch.data + batch::kHeaderWorker, lane_index);
    Lane& lane = *lanes_[lane_index];
    // Batches end between packets, where the engine's counters are
    // consistent: a good moment for the reader's view of them.
    if (lane.engine) publish(lane_index, *lane.engine, lane.source);
    std::unique_lock<std::mutex> lock(mu_);
    if (abort_.load()) {
        release_batch_buffer(batch.data, batch.capacity);
        return;
    }
    if (config_.live) {
        if (queued_batches_ >= config_.live_high_water || queued_bytes_ + batch.size > config_.live_queue_bytes) {
            // Never hold up the capture: drop, and say so in the stats.
            ++batches_dropped_;
            events_dropped_ += batch.events;
            release_batch_buffer(batch.data, batch.capacity);
            return;
        }
    } else {
        // A file waits for its reader; requests made meanwhile still run
        // (the reader may be awaiting one).
        while (lane.batches >= config_.high_water && !abort_.load()) {
            lock.unlock();
            run_commands(lane_index, lane.engine);
            lock.lock();
            if (lane.batches < config_.high_water || abort_.load() || lane.commands_waiting.load()) continue;
            space_.wait(lock);
        }
        if (abort_.load()) {
            release_batch_buffer(batch.data, batch.capacity);
            return;
        }
    }
    lane.queue.push_back(Entry{batch, arrivals_++, step});
    ++lane.batches;
    ++queued_batches_;
    ++batches_queued_;
    queued_bytes_ += batch.size;
    if (queued_bytes_ > queued_bytes_peak_) queued_bytes_peak_ = queued_bytes_;
    lock.unlock();
    queued();
}

void CaptureWorker::step_done(uint32_t lane, uint64_t step) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        lanes_[lane]->queue.push_back(Entry{Batch{}, arrivals_++, step});
    }
    queued();
}

void CaptureWorker::queued() {
    if (render_)
        ready_.notify_one();
    else if (notify_)
        notify_();
}

bool CaptureWorker::pop_next(Batch* out, uint32_t* lane_index) {
    if (!ordered_) {
        Lane* first = nullptr;
        for (uint32_t i = 0; i < lanes_.size(); ++i) {
            Lane* lane = lanes_[i].get();
            if (!lane->queue.empty() && (!first || lane->queue.front().arrival < first->queue.front().arrival)) {
                first = lane;
                *lane_index = i;
            }
        }
        if (!first) return false;
        *out = first->queue.front().batch;
        first->queue.pop_front();
        return true;
    }
    // Step by step, lane by lane: each lane ends each step with a marker.
    for (;;) {
        Lane& lane = *lanes_[cursor_lane_];
        if (lane.queue.empty()) return false;
        const Entry e = lane.queue.front();
        lane.queue.pop_front();
        if (e.batch.data) {
            *out = e.batch;
            *lane_index = cursor_lane_;
            return true;
        }
        if (++cursor_lane_ == lanes_.size()) {
            cursor_lane_ = 0;
            release_step_records(cursor_step_);
            ++cursor_step_;
        }
    }
}

bool CaptureWorker::take(Batch* out) {
    uint32_t lane = 0;
    // With a render stage, the batch left the queue already (for
    // rendering); the reader takes its text.
    if (render_ && !render_->take(out, &lane)) return false;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!render_) {
            if (!pop_next(out, &lane)) return false;
            ++batches_taken_;
        }
        --lanes_[lane]->batches;
        --queued_batches_;
        queued_bytes_ -= out->size;
    }
    space_.notify_all();
    return true;
}

// On the render stage's thread: it takes the batches in stream order, as
// the reader would; they stay counted as queued (in their lane too) until
// their text is taken.
bool CaptureWorker::next_for_render(Batch* out, uint32_t* lane) {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
        if (abort_.load()) return false;
        if (pop_next(out, lane)) {
            ++batches_taken_;
            const bool records = records_pending_.load();
            lock.unlock();
            // Records the merge released on the way (placed before this
            // batch): the reader may be waiting for them.
            if (records && notify_) notify_();
            return true;
        }
        if (lanes_done_) return false;
        ready_.wait(lock);
    }
}

void CaptureWorker::rendered(uint32_t events_size, uint32_t text_size) {
    std::lock_guard<std::mutex> lock(mu_);
    queued_bytes_ = queued_bytes_ - events_size + text_size;
    if (queued_bytes_ > queued_bytes_peak_) queued_bytes_peak_ = queued_bytes_;
}

// The engine wrote a batch the renderer cannot read: the stream ends with
// the error, after what was rendered before it.
void CaptureWorker::render_failed(const char* why, uint32_t events_size, uint32_t lane) {
    fail(CaptureError{"ERR_BATCH_FORMAT", why});
    {
        std::lock_guard<std::mutex> lock(mu_);
        --lanes_[lane]->batches;
        --queued_batches_;
        queued_bytes_ -= events_size;
        abort_.store(true);
    }
    space_.notify_all();
    ready_.notify_all();
    interrupt();
}

// ---------------------------------------------------------------------------
// Side records

void CaptureWorker::add_record(SideRecord record) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        fill_totals(&record.stats);
        record.interval_start = stats_start_ != 0 ? stats_start_ : record.network_time;
        if (ordered_) {
            step_records_.emplace_back(record.after_batch, record);
            // Its step may be past already (the end of the stream).
            if (record.after_batch < cursor_step_) release_step_records(cursor_step_ - 1);
        } else {
            // Every batch queued so far comes before it.
            record.after_batch = batches_queued_;
            records_.push_back(record);
            records_pending_.store(true);
        }
    }
    // A reader waiting for a batch comes to take it.
    if (notify_) notify_();
}

void CaptureWorker::release_step_records(uint64_t step) {
    for (auto it = step_records_.begin(); it != step_records_.end();) {
        if (it->first > step) {
            ++it;
            continue;
        }
        it->second.after_batch = batches_taken_;
        records_.push_back(it->second);
        records_pending_.store(true);
        it = step_records_.erase(it);
    }
}

void CaptureWorker::stats_record(double network_time, uint64_t step) {
    SideRecord r{};
    r.kind = SideRecord::Kind::Stats;
    r.after_batch = step;
    r.network_time = network_time;
    add_record(r);
}

void CaptureWorker::notice(const Notice& notice, uint64_t step) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (notice.kind == Notice::Kind::ChecksumOffload) {
            if (checksum_notice_given_) return;
            checksum_notice_given_ = true;
        }
    }
    SideRecord r{};
    r.kind = SideRecord::Kind::Notice;
    r.after_batch = step;
    r.network_time = notice.network_time;
    r.notice = notice;
    add_record(r);
}

std::vector<SideRecord> CaptureWorker::take_records() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<SideRecord> out;
    out.swap(records_);
    records_pending_.store(false);
    return out;
}

void CaptureWorker::stats_clock_start(double ts) {
    if (stats_start_ != 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    stats_start_ = ts;
}

bool CaptureWorker::stats_due(double network_time) {
    if (config_.stats_interval <= 0 || stats_start_ == 0) return false;
    if (next_stats_at_ == 0) next_stats_at_ = stats_start_ + config_.stats_interval;
    if (network_time < next_stats_at_) return false;
    // One record per interval, however long the gap between packets.
    while (next_stats_at_ <= network_time) next_stats_at_ += config_.stats_interval;
    return true;
}

// ---------------------------------------------------------------------------
// Counters

void CaptureWorker::publish(uint32_t lane, Engine& engine, const PacketSource* source) {
    const EngineStats& e = engine.stats();
    const CaptureStats c = source ? source->stats() : CaptureStats{};
    std::lock_guard<std::mutex> lock(mu_);
    lanes_[lane]->stats.engine = e;
    lanes_[lane]->stats.capture = c;
}

void CaptureWorker::publish_decoder(Engine& decoder, const PacketSource& source) {
    const EngineStats& e = decoder.stats();
    const CaptureStats c = source.stats();
    std::lock_guard<std::mutex> lock(mu_);
    has_decoder_ = true;
    decoder_stats_ = e;
    decoder_capture_ = c;
}

void CaptureWorker::fill_totals(WorkerStats* out) const {
    WorkerStats t;
    if (has_decoder_) {
        t.engine = decoder_stats_;
        t.capture = decoder_capture_;
    }
    for (const auto& lane : lanes_) {
        t.engine += lane->stats.engine;
        t.capture += lane->stats.capture;
    }
    t.events_dropped = events_dropped_;
    t.batches_dropped = batches_dropped_;
    t.batches_queued = batches_queued_;
    t.queued_bytes = queued_bytes_;
    t.queued_bytes_peak = queued_bytes_peak_;
    *out = t;
}

WorkerStats CaptureWorker::stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    WorkerStats t;
    fill_totals(&t);
    return t;
}

std::vector<WorkerStats> CaptureWorker::lane_stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<WorkerStats> out;
    for (const auto& lane : lanes_) out.push_back(lane->stats);
    return out;
}

// ---------------------------------------------------------------------------
// Commands, the end, errors

void CaptureWorker::post(Attempt attempt, Done done) {
    auto result = std::make_shared<CommandResult>();
    result->remaining = static_cast<uint32_t>(lanes_.size());
    result->done = std::move(done);
    bool queued = false;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!ended_.load() && !abort_.load()) {
            for (auto& lane : lanes_) {
                lane->commands.push_back(PendingCommand{attempt, result});
                lane->commands_waiting.store(true);
            }
            queued = true;
            space_.notify_all();
        }
    }
    if (queued) {
        commands_posted();
        return;
    }
    std::string text;
    attempt(nullptr, &text);
    result->done(false, text);
}

bool CaptureWorker::commands_waiting(uint32_t lane) const { return lanes_[lane]->commands_waiting.load(); }

void CaptureWorker::run_commands(uint32_t lane_index, Engine* engine) {
    Lane& lane = *lanes_[lane_index];
    if (!lane.commands_waiting.load()) return;
    std::deque<PendingCommand> todo;
    {
        std::lock_guard<std::mutex> lock(mu_);
        todo.swap(lane.commands);
        lane.commands_waiting.store(false);
    }
    const bool usable = engine && !abort_.load() && !ended_.load();
    for (PendingCommand& c : todo) {
        std::string text;
        const bool ok = c.attempt(usable ? engine : nullptr, &text);
        bool last;
        {
            std::lock_guard<std::mutex> lock(c.result->mu);
            if (ok && !c.result->ok) {
                c.result->ok = true;
                c.result->text = text;
            } else if (!c.result->ok && c.result->text.empty()) {
                c.result->text = text;
            }
            last = --c.result->remaining == 0;
        }
        if (last) c.result->done(c.result->ok, c.result->text);
    }
}

void CaptureWorker::fail(const CaptureError& error) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_.set()) error_ = error;
}

CaptureError CaptureWorker::error() const {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
}

void CaptureWorker::finished() {
    if (render_) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            lanes_done_ = true;
        }
        ready_.notify_all();
        // The stream ends once its last batch is rendered.
        render_->drain();
    }
    ended_.store(true);
    // Requests that came too late are answered as not done.
    for (uint32_t i = 0; i < lanes_.size(); ++i) run_commands(i, nullptr);
    if (notify_) notify_();
}

void CaptureWorker::stop() {
    stop_.store(true);
    interrupt();
}

void CaptureWorker::close() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        abort_.store(true);
        space_.notify_all();
        ready_.notify_all();
    }
    if (render_) render_->abort();
    interrupt();
    join();
    // Answers what is still waiting, as not done.
    for (uint32_t i = 0; i < lanes_.size(); ++i) run_commands(i, nullptr);
}

}  // namespace tcpsensor
