#include "sharded_capture.h"

namespace tcpsensor {

namespace {

constexpr size_t kRingSteps = 4;
constexpr size_t kStepFrames = 4096;
constexpr size_t kArenaBytes = 4u << 20;

}  // namespace

struct ShardedCapture::Slot {
    Slot() : step(kArenaBytes) {}
    ShardStep step;
    uint64_t number = 0;
    uint32_t remaining = 0;  // workers still to apply it
    bool stats_due = false;
    double network_time = 0;  // the decoder's, when the step ended
};

std::unique_ptr<CaptureWorker> ShardedCapture::open(const WorkerConfig& config, CaptureError* error) {
    std::unique_ptr<PacketSource> source = PacketSource::open_file(config.file, config.filter, error);
    if (!source) return nullptr;
    return std::unique_ptr<CaptureWorker>(new ShardedCapture(config, std::move(source)));
}

ShardedCapture::ShardedCapture(const WorkerConfig& config, std::unique_ptr<PacketSource> source)
    : CaptureWorker(config, config.workers, true), source_(std::move(source)), decoder_notices_(&pending_notices_) {
    dispatcher_ = std::make_unique<Dispatcher>(config_.options, source_->linktype(), &decoder_notices_, config_.seed,
                                               config_.workers);
    for (uint32_t w = 0; w < config_.workers; ++w) {
        // Every engine gets the same seed: uids come from the frames that
        // made the connections, the same whoever analyses them.
        engines_.push_back(std::make_unique<Engine>(config_.options, source_->linktype(), consumer(w), config_.seed));
        attach(w, engines_.back().get(), nullptr);
    }
    for (size_t i = 0; i < kRingSteps; ++i) slots_.push_back(std::make_unique<Slot>());
}

ShardedCapture::~ShardedCapture() { close(); }

void ShardedCapture::launch() {
    for (uint32_t w = 0; w < config_.workers; ++w) workers_.emplace_back([this, w] { work(w); });
    reader_ = std::thread([this] { read(); });
}

void ShardedCapture::interrupt() {
    source_->interrupt();
    std::lock_guard<std::mutex> lock(ring_mu_);
    ring_cv_.notify_all();
}

void ShardedCapture::commands_posted() {
    std::lock_guard<std::mutex> lock(ring_mu_);
    ring_cv_.notify_all();
}

void ShardedCapture::join() {
    if (reader_.joinable()) reader_.join();
    for (std::thread& t : workers_)
        if (t.joinable()) t.join();
}

ShardedCapture::Slot* ShardedCapture::acquire(uint64_t step) {
    std::unique_lock<std::mutex> lock(ring_mu_);
    ring_cv_.wait(lock, [&] { return abort_.load() || step - applied_ < kRingSteps; });
    if (abort_.load()) return nullptr;
    Slot* slot = slots_[step % kRingSteps].get();
    slot->step.clear();
    slot->number = step;
    slot->remaining = config_.workers;
    slot->stats_due = false;
    return slot;
}

void ShardedCapture::hand_over(Slot* slot) {
    slot->network_time = dispatcher_->decoder().network_time();
    publish_decoder(dispatcher_->decoder(), *source_);
    {
        std::lock_guard<std::mutex> lock(ring_mu_);
        published_ = slot->number + 1;
    }
    ring_cv_.notify_all();
}

void ShardedCapture::give_notices(uint64_t after_step) {
    for (const Notice& n : pending_notices_) notice(n, after_step);
    pending_notices_.clear();
}

void ShardedCapture::read() {
    constexpr size_t kReadBatch = 64;
    PacketView packets[kReadBatch];
    CaptureError error;
    Engine& decoder = dispatcher_->decoder();
    uint64_t number = 0;
    Slot* slot = acquire(number);
    // Hands the current step over and starts the next.
    auto next = [&] {
        hand_over(slot);
        slot = acquire(++number);
        return slot != nullptr;
    };
    bool reading = slot != nullptr;
    while (reading && !stop_.load() && !abort_.load()) {
        size_t n = 0;
        const PacketSource::Next r = source_->next_batch(packets, kReadBatch, &n, &error, -1);
        if (r != PacketSource::Next::Packet) {
            if (r == PacketSource::Next::Error) fail(error);
            break;
        }
        stats_clock_start(packets[0].ts);
        for (size_t i = 0; i < n && reading; ++i) {
            const PacketView& p = packets[i];
            // A look at the checksums comes before this frame: it starts a
            // step, so that its warning sits between the right events.
            if (decoder.checksum_check_due(p.ts)) {
                if (!slot->step.empty() && !(reading = next())) break;
                decoder.check_checksums_at(p.ts);
                give_notices(number - 1);
            }
            while (!dispatcher_->add(p, &slot->step))
                if (!(reading = next())) break;
            if (!reading) break;
            bool end_step = slot->step.frames.size() >= kStepFrames;
            if (!pending_notices_.empty()) {
                give_notices(number);
                end_step = true;
            }
            if (stats_due(decoder.network_time())) {
                slot->stats_due = true;
                end_step = true;
            }
            if (end_step) reading = next();
        }
    }
    // The rest, then the end: the workers finish their engines as the step
    // after the last.
    if (slot) hand_over(slot);
    {
        std::lock_guard<std::mutex> lock(ring_mu_);
        final_step_ = number + 1;
    }
    ring_cv_.notify_all();
    {
        std::unique_lock<std::mutex> lock(ring_mu_);
        ring_cv_.wait(lock, [&] { return abort_.load() || applied_ > final_step_; });
    }
    if (!abort_.load()) {
        decoder.finish();
        give_notices(final_step_);
        publish_decoder(decoder, *source_);
        if (config_.stats_interval > 0) stats_record(decoder.network_time(), final_step_);
    }
    publish_decoder(decoder, *source_);
    finished();
}

void ShardedCapture::work(uint32_t w) {
    Engine& engine = *engines_[w];
    for (uint64_t step = 0;; ++step) {
        Slot* slot = nullptr;
        for (;;) {
            run_commands(w, &engine);
            {
                std::unique_lock<std::mutex> lock(ring_mu_);
                if (abort_.load()) return;
                if (step < published_) {
                    slot = slots_[step % kRingSteps].get();
                    break;
                }
                if (step >= final_step_) break;
                if (!commands_waiting(w)) ring_cv_.wait(lock);
            }
        }
        if (!slot) {
            // The end of input: Zeek's termination, as the last step.
            engine.finish();
            publish(w, engine, nullptr);
            step_done(w, step);
            std::lock_guard<std::mutex> lock(ring_mu_);
            // The finish step counts as applied once every worker is done.
            if (++finishing_ == config_.workers) {
                applied_ = step + 1;
                ring_cv_.notify_all();
            }
            return;
        }
        apply_step(engine, slot->step, w);
        engine.flush();
        publish(w, engine, nullptr);
        step_done(w, step);
        step_applied(slot);
    }
}

void ShardedCapture::step_applied(Slot* slot) {
    bool last;
    {
        std::lock_guard<std::mutex> lock(ring_mu_);
        last = --slot->remaining == 0;
    }
    if (!last) return;
    // Every worker is past this step: its stats record can be made, and
    // its slot reused.
    if (slot->stats_due) stats_record(slot->network_time, slot->number);
    {
        std::lock_guard<std::mutex> lock(ring_mu_);
        applied_ = slot->number + 1;
    }
    ring_cv_.notify_all();
}

}  // namespace tcpsensor
