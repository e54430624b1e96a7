// The engine without JavaScript: reads a capture file and counts the
// events it raises, per kind. Used by the benchmark to measure the native
// core alone (and handy when profiling it). With --text, every batch is
// also rendered (on the same thread, after the engine) as the CLI's
// NDJSON or conn.log rows, and the text is counted, or written to
// standard output with --print.
//
//   tcpsensor-native FILE [--events all|default|name,name,...] [--contents-all] [-C] [--workers N]
//                    [--text ndjson|conn [--print]] [--max-connections N] [--no-compact]
//                    [--max-reassembly-bytes N]
//
// --workers N shards the capture as the addon does (a dispatcher decodes,
// N engines analyse), run one after another on this thread: the events
// must be those of one engine, and the time split shows what dispatching
// costs.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include <memory>
#include <vector>

#include "../capture/packet_source.h"
#include "../core/shard.h"
#include "batch_counter.h"

using namespace tcpsensor;

static bool select_events(const std::string& spec, EventSet* out) {
    if (spec == "all") {
        *out = all_event_set();
        return true;
    }
    if (spec == "default") {
        *out = default_event_set();
        return true;
    }
    out->reset();
    size_t start = 0;
    while (start <= spec.size()) {
        const size_t comma = spec.find(',', start);
        const std::string name = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        bool found = false;
        for (const auto& k : kEventKinds)
            if (k.name == name) {
                out->set(k.id);
                found = true;
            }
        if (!found) {
            std::fprintf(stderr, "unknown event '%s'\n", name.c_str());
            return false;
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return true;
}

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: tcpsensor-native FILE [--events SPEC] [-C]\n");
        return 2;
    }
    Options options;
    uint32_t workers = 0;
    TextFormat text = TextFormat::None;
    bool print = false;
    for (int i = 2; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--text") && i + 1 < argc) {
            ++i;
            text = !std::strcmp(argv[i], "ndjson") ? TextFormat::Ndjson : !std::strcmp(argv[i], "conn") ? TextFormat::ConnLog : TextFormat::None;
            if (text == TextFormat::None) {
                std::fprintf(stderr, "--text takes ndjson or conn\n");
                return 2;
            }
        } else if (!std::strcmp(argv[i], "--print")) {
            print = true;
        } else if (!std::strcmp(argv[i], "-C")) {
            options.ignore_checksums = true;
        } else if (!std::strcmp(argv[i], "--no-compact")) {
            options.compact_records = false;
        } else if (!std::strcmp(argv[i], "--contents-all")) {
            options.tcp_content_deliver_all_orig = options.tcp_content_deliver_all_resp = true;
        } else if (!std::strcmp(argv[i], "--workers") && i + 1 < argc) {
            workers = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10));
            if (workers < 1 || workers > 64) {
                std::fprintf(stderr, "--workers takes 1 to 64\n");
                return 2;
            }
        } else if (!std::strcmp(argv[i], "--max-connections") && i + 1 < argc) {
            const unsigned long n = std::strtoul(argv[++i], nullptr, 10);
            if (n < 1 || n > (1ul << 30)) {
                std::fprintf(stderr, "--max-connections takes 1 to 2^30\n");
                return 2;
            }
            options.max_connections = static_cast<uint32_t>(n);
        } else if (!std::strcmp(argv[i], "--max-reassembly-bytes") && i + 1 < argc) {
            options.max_reassembly_bytes = std::strtoull(argv[++i], nullptr, 10);
        } else if (!std::strcmp(argv[i], "--events") && i + 1 < argc) {
            if (!select_events(argv[++i], &options.events)) return 2;
        } else {
            std::fprintf(stderr, "unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    CaptureError error;
    auto source = PacketSource::open_file(argv[1], "", &error);
    if (!source) {
        std::fprintf(stderr, "%s: %s\n", error.code.c_str(), error.message.c_str());
        return 1;
    }
    BatchCounter counter;
    if (text != TextFormat::None) counter.render(text, print);
    const auto start = std::chrono::steady_clock::now();
    PacketView batch[64];
    uint64_t packets = 0;
    uint64_t connections = 0;
    EngineStats totals;
    double dispatch_seconds = 0;
    auto read_all = [&](auto&& take) {
        for (;;) {
            size_t n = 0;
            const auto r = source->next_batch(batch, 64, &n, &error);
            if (r == PacketSource::Next::Packet) {
                take(batch, n);
                packets += n;
                continue;
            }
            if (r == PacketSource::Next::Error) std::fprintf(stderr, "%s: %s\n", error.code.c_str(), error.message.c_str());
            break;
        }
    };
    if (!workers) {
        Engine engine(options, source->linktype(), &counter, 0x7c5e1);
        read_all([&](const PacketView* p, size_t n) { engine.process_batch(p, n); });
        engine.finish();
        totals = engine.stats();
    } else {
        // Each engine holds its share of the connections.
        if (options.max_connections) options.max_connections = (options.max_connections + workers - 1) / workers;
        Dispatcher dispatcher(options, source->linktype(), nullptr, 0x7c5e1, workers);
        std::vector<std::unique_ptr<Engine>> engines;
        for (uint32_t w = 0; w < workers; ++w)
            engines.push_back(std::make_unique<Engine>(options, source->linktype(), &counter, 0x7c5e1));
        ShardStep step(4u << 20);
        auto run_step = [&] {
            for (uint32_t w = 0; w < workers; ++w) {
                apply_step(*engines[w], step, w);
                engines[w]->flush();
            }
            step.clear();
        };
        read_all([&](const PacketView* p, size_t n) {
            for (size_t i = 0; i < n; ++i) {
                const auto t0 = std::chrono::steady_clock::now();
                const bool added = dispatcher.add(p[i], &step);
                dispatch_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                if (added && step.frames.size() < 4096) continue;
                run_step();
                if (!added) dispatcher.add(p[i], &step);
            }
        });
        run_step();
        for (auto& e : engines) {
            e->finish();
            totals += e->stats();
        }
        dispatcher.finish();
    }
    connections = totals.connections_total;
    const uint64_t evicted = totals.connections_evicted;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    uint64_t total = 0;
    for (const auto& k : kEventKinds) {
        if (counter.by_kind[k.id])
            std::fprintf(print ? stderr : stdout, "%.*s %llu\n", static_cast<int>(k.name.size()), k.name.data(),
                         static_cast<unsigned long long>(counter.by_kind[k.id]));
        total += counter.by_kind[k.id];
    }
    std::FILE* report = print ? stderr : stdout;
    std::fprintf(report, "# packets %llu events %llu seconds %.3f packets_per_second %.0f connections %llu",
                 static_cast<unsigned long long>(packets), static_cast<unsigned long long>(total), secs,
                 static_cast<double>(packets) / (secs > 0 ? secs : 1), static_cast<unsigned long long>(connections));
    std::fprintf(report, " evicted %llu", static_cast<unsigned long long>(evicted));
    if (workers) std::fprintf(report, " dispatch_seconds %.3f", dispatch_seconds);
    if (text != TextFormat::None) std::fprintf(report, " text_bytes %llu", static_cast<unsigned long long>(counter.text_bytes));
    std::fprintf(report, "\n# reassembly_flushes %llu reassembly_dropped_bytes %llu\n",
                 static_cast<unsigned long long>(totals.reassembly_flushes),
                 static_cast<unsigned long long>(totals.reassembly_dropped_bytes));
    return error.set() ? 1 : 0;
}
