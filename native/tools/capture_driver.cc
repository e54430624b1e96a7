// The capture threads without Node: opens a capture as the addon does
// (file, sharded file or live, with any number of workers), takes its
// batches and side records on this thread the way JavaScript does, and
// counts events by kind. What ThreadSanitizer runs over the addon's
// threads (capture, read-ahead, workers, the merge, stop and close), and
// a soak driver.
//
//   tcpsensor-capture (-r FILE | -i IFACE) [--workers N] [--events all] [-C]
//                     [--stop-after-batches K] [--close-after-batches K] [--stats-interval S]
//                     [--text ndjson|conn]
// With --text the batches come through the render thread as text batches,
// whose lines are counted by kind as the events are.
// SIGINT stops the capture gracefully.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "../addon/capture_worker.h"
#include "batch_counter.h"

using namespace tcpsensor;

namespace {
std::atomic<bool> interrupted{false};
extern "C" void on_signal(int) { interrupted.store(true); }
}  // namespace

int main(int argc, char** argv) {
    WorkerConfig config;
    long stop_after = -1;
    long close_after = -1;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "-r") {
            config.file = value();
        } else if (a == "-i") {
            config.live = true;
            config.live_options.interface = value();
        } else if (a == "--workers") {
            config.workers = static_cast<uint32_t>(std::strtoul(value(), nullptr, 10));
        } else if (a == "--events") {
            if (std::strcmp(value(), "all") == 0) config.options.events = all_event_set();
        } else if (a == "-C") {
            config.options.ignore_checksums = true;
        } else if (a == "--stop-after-batches") {
            stop_after = std::strtol(value(), nullptr, 10);
        } else if (a == "--close-after-batches") {
            close_after = std::strtol(value(), nullptr, 10);
        } else if (a == "--stats-interval") {
            config.stats_interval = std::strtod(value(), nullptr);
        } else if (a == "--text") {
            const std::string format = value();
            if (format != "ndjson" && format != "conn") {
                std::fprintf(stderr, "--text takes ndjson or conn\n");
                return 2;
            }
            config.text_format = format == "ndjson" ? TextFormat::Ndjson : TextFormat::ConnLog;
        } else {
            std::fprintf(stderr, "unknown argument '%s'\n", a.c_str());
            return 2;
        }
    }
    CaptureError error;
    std::unique_ptr<CaptureWorker> capture = CaptureWorker::open(config, &error);
    if (!capture) {
        std::fprintf(stderr, "%s: %s\n", error.code.c_str(), error.message.c_str());
        return 1;
    }
    std::mutex mu;
    std::condition_variable woken;
    bool signalled = false;
    capture->start([&] {
        std::lock_guard<std::mutex> lock(mu);
        signalled = true;
        woken.notify_one();
    });
    // SIGINT stops as the CLI does: take in what was captured, flush, end.
    std::signal(SIGINT, on_signal);
    BatchCounter counter;
    const auto consume = [&](Batch b) {
        if (config.text_format == TextFormat::None)
            counter.on_batch(b);
        else
            counter.on_text_batch(b);
    };
    uint64_t records = 0;
    long batches = 0;
    bool stopping = false;
    for (;;) {
        if (interrupted.load() && !stopping) {
            stopping = true;
            capture->stop();
        }
        Batch b;
        if (capture->take(&b)) {
            consume(b);
            ++batches;
            if (batches == stop_after) capture->stop();
            if (batches == close_after) {
                capture->close();
                break;
            }
            continue;
        }
        records += capture->take_records().size();
        if (capture->ended()) {
            if (capture->take(&b)) {
                consume(b);
                continue;
            }
            records += capture->take_records().size();
            break;
        }
        std::unique_lock<std::mutex> lock(mu);
        woken.wait_for(lock, std::chrono::milliseconds(100), [&] { return signalled; });
        signalled = false;
    }
    capture->close();
    const WorkerStats s = capture->stats();
    uint64_t total = 0;
    for (const auto& k : kEventKinds) {
        if (counter.by_kind[k.id]) std::printf("%.*s %llu\n", static_cast<int>(k.name.size()), k.name.data(),
                                               static_cast<unsigned long long>(counter.by_kind[k.id]));
        total += counter.by_kind[k.id];
    }
    std::printf("# packets %llu events %llu batches %ld records %llu conn_rows %llu text_bytes %llu\n",
                static_cast<unsigned long long>(s.engine.packets), static_cast<unsigned long long>(total), batches,
                static_cast<unsigned long long>(records), static_cast<unsigned long long>(counter.conn_rows),
                static_cast<unsigned long long>(counter.text_bytes));
    const CaptureError e = capture->error();
    if (e.set()) std::fprintf(stderr, "%s: %s\n", e.code.c_str(), e.message.c_str());
    return e.set() ? 1 : 0;
}
