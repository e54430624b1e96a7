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
    constexpr size_t kReadBatch = 64;
    constexpr uint64_t kPublishEvery = 16384;  // packets between stats updates
    PacketView packets[kReadBatch];
    CaptureError error;
    while (!stop_.load() && !abort_.load()) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            run_commands();
        }
        size_t n = 0;
        const PacketSource::Next r = source_->next_batch(packets, kReadBatch, &n, &error);
        if (r == PacketSource::Next::Packet) {
            engine_->process_batch(packets, n);
            const double ts = packets[n - 1].ts;
            unpublished_ += n;
            if (config_.live && ts - last_flush_ >= config_.live_flush_interval) {
                engine_->flush();
                last_flush_ = ts;
                publish_stats();
            } else if (unpublished_ >= kPublishEvery) {
                publish_stats();
            }
            continue;
        }
        if (r == PacketSource::Next::Timeout) {
            // A quiet link: time still passes for the timers, and what is
            // batched goes out.
            if (engine_->network_time() > 0) engine_->advance_time(wall_clock());
            engine_->flush();
            last_flush_ = wall_clock();
            publish_stats();
            continue;
        }
        if (r == PacketSource::Next::Error) {
            std::lock_guard<std::mutex> lock(mu_);
            error_ = error;
        }
        break;
    }
    // End of input (or a graceful stop): Zeek's termination flush. An
    // abort skips it; nobody is listening any more.
    if (!abort_.load()) engine_->finish();
    publish_stats();
    {
        std::lock_guard<std::mutex> lock(mu_);
        ended_.store(true);
        run_commands();  // too late for them now
    }
    if (notify_) notify_();
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
    if (queue_.size() >= config_.high_water) {
        if (config_.live) {
            // Never hold up the capture: drop, and say so in the stats.
            ++stats_.batches_dropped;
            stats_.events_dropped += batch.events;
            release_batch_buffer(batch.data, batch.capacity);
            return;
        }
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
    lock.unlock();
    if (notify_) notify_();
}

bool CaptureWorker::take(Batch* out) {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.empty()) return false;
    *out = queue_.front();
    queue_.pop_front();
    space_.notify_all();
    return true;
}

CaptureError CaptureWorker::error() const {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
}

void CaptureWorker::stop() {
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
