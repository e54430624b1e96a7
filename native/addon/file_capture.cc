#include "file_capture.h"

namespace tcpsensor {

std::unique_ptr<CaptureWorker> FileCapture::open(const WorkerConfig& config, CaptureError* error) {
    std::unique_ptr<PacketSource> source = PacketSource::open_file(config.file, config.filter, error);
    if (!source) return nullptr;
    return std::unique_ptr<CaptureWorker>(new FileCapture(config, std::move(source)));
}

FileCapture::FileCapture(const WorkerConfig& config, std::unique_ptr<PacketSource> source)
    : CaptureWorker(config, 1, false), source_(std::move(source)) {
    engine_ = std::make_unique<Engine>(config_.options, source_->linktype(), consumer(0), config_.seed);
    attach(0, engine_.get(), source_.get());
}

FileCapture::~FileCapture() { close(); }

void FileCapture::launch() { thread_ = std::thread([this] { run(); }); }

void FileCapture::join() {
    if (thread_.joinable()) thread_.join();
}

void FileCapture::run() {
    constexpr size_t kReadBatch = 64;
    constexpr uint64_t kPublishEvery = 16384;  // packets between stats updates
    constexpr int kIdleWaitMs = 100;           // a quiet pipe: commands and stats still get their turn
    PacketView packets[kReadBatch];
    CaptureError error;
    bool caught_up = false;
    uint64_t unpublished = 0;
    while (!stop_.load() && !abort_.load()) {
        run_commands(0, engine_.get());
        size_t n = 0;
        const PacketSource::Next r = source_->next_batch(packets, kReadBatch, &n, &error, caught_up ? kIdleWaitMs : 0);
        if (r == PacketSource::Next::Timeout) {
            // A pipe with nothing more for now: what is batched goes out
            // rather than waiting for the writer.
            if (!caught_up) {
                engine_->flush();
                publish(0, *engine_, source_.get());
                caught_up = true;
            }
            continue;
        }
        caught_up = false;
        if (r == PacketSource::Next::Packet) {
            stats_clock_start(packets[0].ts);
            engine_->process_batch(packets, n);
            unpublished += n;
            if (stats_due(engine_->network_time())) {
                // The events up to here go out first, so the record sits
                // where it was taken.
                engine_->flush();
                publish(0, *engine_, source_.get());
                stats_record(engine_->network_time());
                unpublished = 0;
            } else if (unpublished >= kPublishEvery) {
                publish(0, *engine_, source_.get());
                unpublished = 0;
            }
            continue;
        }
        if (r == PacketSource::Next::Error) fail(error);
        break;
    }
    // End of input (or a graceful stop): Zeek's termination flush. An
    // abort skips it; nobody is listening any more.
    if (!abort_.load()) {
        engine_->finish();
        publish(0, *engine_, source_.get());
        if (config_.stats_interval > 0) stats_record(engine_->network_time());
    }
    publish(0, *engine_, source_.get());
    finished();
}

}  // namespace tcpsensor
