#include "capture_worker.h"

#include <chrono>

namespace tcpsensor {

namespace {

double wall_clock() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

std::unique_ptr<CaptureWorker> CaptureWorker::open(const WorkerConfig& config, CaptureError* error) {
    std::unique_ptr<PacketSource> source = config.live ? PacketSource::open_live(config.live_options, config.filter, error)
                                                       : PacketSource::open_file(config.file, config.filter, error);
    if (!source) return nullptr;
    return std::unique_ptr<CaptureWorker>(new CaptureWorker(config, std::move(source)));
}

CaptureWorker::CaptureWorker(const WorkerConfig& config, std::unique_ptr<PacketSource> source)
    : config_(config), source_(std::move(source)) {
    engine_ = std::make_unique<Engine>(config_.options, source_->linktype(), static_cast<BatchConsumer*>(this), config_.seed);
}

CaptureWorker::~CaptureWorker() {
    close();
    for (Batch& b : queue_) release_batch_buffer(b.data, b.capacity);
}

void CaptureWorker::start(std::function<void()> notify) {
    notify_ = std::move(notify);
    thread_ = std::thread([this] { run(); });
}

void CaptureWorker::run() {
    if (config_.live)
        run_live();
    else
        run_file();
    // End of input (or a graceful stop): Zeek's termination flush. An
    // abort skips it; nobody is listening any more.
    if (!abort_.load()) {
        engine_->finish();
        if (config_.stats_interval > 0) stats_record();
    }
    publish_stats();
    {
        std::lock_guard<std::mutex> lock(mu_);
        ended_.store(true);
        run_commands();  // too late for them now
    }
    if (notify_) notify_();
}

void CaptureWorker::run_file() {
    constexpr size_t kReadBatch = 64;
    constexpr uint64_t kPublishEvery = 16384;  // packets between stats updates
    constexpr int kIdleWaitMs = 100;  // a quiet pipe: commands and stats still get their turn
    PacketView packets[kReadBatch];
    CaptureError error;
    bool caught_up = false;
    while (!stop_.load() && !abort_.load()) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            run_commands();
        }
        size_t n = 0;
        const PacketSource::Next r = source_->next_batch(packets, kReadBatch, &n, &error, caught_up ? kIdleWaitMs : 0);
        if (r == PacketSource::Next::Timeout) {
            // A pipe with nothing more for now: what is batched goes out
            // rather than waiting for the writer.
            if (!caught_up) {
                engine_->flush();
                publish_stats();
                caught_up = true;
            }
            continue;
        }
        caught_up = false;
        if (r == PacketSource::Next::Packet) {
            if (stats_start_ == 0) stats_start_ = packets[0].ts;
            engine_->process_batch(packets, n);
            unpublished_ += n;
            after_packets(packets[n - 1].ts);
            if (unpublished_ >= kPublishEvery) publish_stats();
            continue;
        }
        if (r == PacketSource::Next::Error) {
            std::lock_guard<std::mutex> lock(mu_);
            error_ = error;
        }
        break;
    }
}

// Live: libpcap hands packets over in place, one ring block at a time; each
// goes straight through the engine, so nothing is copied and the ring slot
// is released as soon as the engine is done with it.
void CaptureWorker::on_live_packet(void* self, const PacketView& packet) {
    auto* w = static_cast<CaptureWorker*>(self);
    const double stop_time = w->stop_time_.load(std::memory_order_relaxed);
    if (stop_time > 0 && packet.ts > stop_time) {
        // Captured after stop(): not ours to take in.
        w->past_stop_ = true;
        return;
    }
    if (w->stats_start_ == 0) w->stats_start_ = packet.ts;
    w->engine_->process(packet);
}

void CaptureWorker::run_live() {
    constexpr int kDispatchMax = 4096;
    const int tick_ms = config_.live_options.timeout_ms > 0 ? config_.live_options.timeout_ms : 50;
    CaptureError error;
    last_flush_ = wall_clock();
    while (!abort_.load()) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            run_commands();
        }
        if (stop_.load()) {
            drain_live();
            return;
        }
        size_t n = 0;
        const PacketSource::Next r = source_->dispatch(&CaptureWorker::on_live_packet, this, kDispatchMax, tick_ms, &n, &error);
        if (r == PacketSource::Next::Packet) {
            unpublished_ += n;
            after_packets(engine_->network_time());
            continue;
        }
        if (r == PacketSource::Next::Timeout) {
            // A quiet link: time still passes for the timers, and what is
            // batched goes out.
            if (engine_->network_time() > 0) engine_->advance_time(wall_clock());
            after_packets(wall_clock());
            continue;
        }
        if (r == PacketSource::Next::End) continue;  // interrupted: the flags say why
        std::lock_guard<std::mutex> lock(mu_);
        error_ = error;
        return;
    }
}

// After stop(): the packets the kernel captured before the stop may still
// sit in its ring, in a block it hands over when the block fills or its
// timeout passes. Take them in, up to the first packet captured after the
// stop or a wait of one block timeout with nothing new.
void CaptureWorker::drain_live() {
    constexpr int kDispatchMax = 4096;
    const int wait_ms = (config_.live_options.timeout_ms > 0 ? config_.live_options.timeout_ms : 50) + 50;
    CaptureError error;
    while (!abort_.load() && !past_stop_) {
        size_t n = 0;
        const PacketSource::Next r = source_->dispatch(&CaptureWorker::on_live_packet, this, kDispatchMax, wait_ms, &n, &error);
        if (r == PacketSource::Next::Packet) {
            unpublished_ += n;
            continue;
        }
        if (r == PacketSource::Next::End) continue;
        if (r == PacketSource::Next::Error) {
            std::lock_guard<std::mutex> lock(mu_);
            error_ = error;
        }
        return;
    }
}

// Between packets: live batches go out at least every flush interval, and
// stats records come due on network time.
void CaptureWorker::after_packets(double ts) {
    if (config_.live && ts - last_flush_ >= config_.live_flush_interval) {
        engine_->flush();
        last_flush_ = ts;
        publish_stats();
    }
    if (config_.stats_interval > 0 && engine_->network_time() > 0) {
        if (next_stats_at_ == 0) next_stats_at_ = stats_start_ + config_.stats_interval;
        if (engine_->network_time() >= next_stats_at_) {
            stats_record();
            // One record per interval, however long the gap between packets.
            while (next_stats_at_ <= engine_->network_time()) next_stats_at_ += config_.stats_interval;
        }
    }
}

void CaptureWorker::stats_record() {
    // The events up to here go out first, so the record sits where it was
    // taken.
    engine_->flush();
    publish_stats();
    SideRecord r{};
    r.kind = SideRecord::Kind::Stats;
    r.network_time = engine_->network_time();
    r.interval_start = stats_start_ ? stats_start_ : r.network_time;
    add_record(r);
}

void CaptureWorker::on_notice(const Notice& notice) {
    SideRecord r{};
    r.kind = SideRecord::Kind::Notice;
    r.network_time = notice.network_time;
    r.notice = notice;
    add_record(r);
}

void CaptureWorker::add_record(SideRecord record) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        record.after_batch = stats_.batches_queued;
        record.stats = stats_;
        records_.push_back(record);
        records_pending_.store(true);
    }
    // A reader waiting for a batch comes to take it.
    if (notify_) notify_();
}

std::vector<SideRecord> CaptureWorker::take_records() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<SideRecord> out;
    out.swap(records_);
    records_pending_.store(false);
    return out;
}

void CaptureWorker::on_batch(Batch batch) {
    // Batches end between packets, where the engine's counters are
    // consistent: a good moment for the reader's view of them.
    publish_stats();
    std::unique_lock<std::mutex> lock(mu_);
    if (abort_.load()) {
        release_batch_buffer(batch.data, batch.capacity);
        return;
    }
    if (config_.live) {
        if (queue_.size() >= config_.live_high_water || stats_.queued_bytes + batch.size > config_.live_queue_bytes) {
            // Never hold up the capture: drop, and say so in the stats.
            ++stats_.batches_dropped;
            stats_.events_dropped += batch.events;
            release_batch_buffer(batch.data, batch.capacity);
            return;
        }
    } else {
        // A file waits for its reader; requests made meanwhile still run
        // (the reader may be awaiting one).
        while (queue_.size() >= config_.high_water && !abort_.load()) {
            run_commands();
            space_.wait(lock);
        }
        if (abort_.load()) {
            release_batch_buffer(batch.data, batch.capacity);
            return;
        }
    }
    queue_.push_back(batch);
    ++stats_.batches_queued;
    stats_.queued_bytes += batch.size;
    if (stats_.queued_bytes > stats_.queued_bytes_peak) stats_.queued_bytes_peak = stats_.queued_bytes;
    lock.unlock();
    if (notify_) notify_();
}

bool CaptureWorker::take(Batch* out) {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.empty()) return false;
    *out = queue_.front();
    queue_.pop_front();
    stats_.queued_bytes -= out->size;
    space_.notify_all();
    return true;
}

CaptureError CaptureWorker::error() const {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
}

void CaptureWorker::stop() {
    if (config_.live && stop_time_.load() == 0) stop_time_.store(wall_clock());
    stop_.store(true);
    source_->interrupt();
}

void CaptureWorker::close() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        abort_.store(true);
        space_.notify_all();
    }
    if (source_) source_->interrupt();
    if (thread_.joinable()) thread_.join();
    // The thread is gone; the counters as it left them stay readable.
    if (engine_) publish_stats();
    std::lock_guard<std::mutex> lock(mu_);
    run_commands();  // answers what is still waiting, as not done
}

void CaptureWorker::run_commands() {
    while (!commands_.empty()) {
        auto command = std::move(commands_.front());
        commands_.pop_front();
        command(abort_.load() || ended_.load() ? nullptr : engine_.get());
    }
}

void CaptureWorker::publish_stats() {
    unpublished_ = 0;
    const EngineStats& e = engine_->stats();
    const CaptureStats c = source_->stats();
    std::lock_guard<std::mutex> lock(mu_);
    stats_.engine = e;
    stats_.capture = c;
}

WorkerStats CaptureWorker::stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
}

void CaptureWorker::post(std::function<void(Engine*)> command) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!ended_.load() && !abort_.load()) {
            commands_.push_back(std::move(command));
            space_.notify_all();
            return;
        }
    }
    command(nullptr);
}

}  // namespace tcpsensor
