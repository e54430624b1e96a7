// Runs one fuzz-packets input (packet_input.h) through an Engine: the
// options its settings pick, every event (`--events all`, and Zeek's two
// others if the input asks) and all contents, packets fed
// in calls of the size it says, each packet in a heap block of exactly
// its captured length (so that AddressSanitizer sees any read past it),
// then finish(). Batches go to a BatchChecker, or a subclass of it that
// also looks at them (fuzz-render: override inspect()). A second run with
// other batch sizes must give the same events, and so must a sharded run
// (a Dispatcher and three workers) for each connection (`cross_check`).
#pragma once

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../core/engine.h"
#include "../core/shard.h"
#include "batch_checker.h"
#include "packet_input.h"

namespace tcpsensor::fuzz {

inline Options packet_options(const PacketInput& in) {
    const uint8_t settings = in.settings;
    const uint8_t feeding = in.feeding;
    Options o;
    if (in.auto_checksums) {
        o.auto_checksums = true;
        o.checksum_sample = 16;
        o.checksum_check_interval = 1;
    }
    // `--events all`; the two events outside it change what streams keep.
    o.events = all_event_set();
    if (feeding & kFeedExtraEvents) {
        o.events.set(static_cast<size_t>(EventKind::content_gap));
        o.events.set(static_cast<size_t>(EventKind::rexmit_inconsistency));
    }
    o.tcp_content_deliver_all_orig = o.tcp_content_deliver_all_resp = true;
    o.ignore_checksums = (settings & kSettingIgnoreChecksums) != 0;
    if (settings & kSettingOldSegments) o.tcp_max_old_segments = 3;
    if (settings & kSettingServerPorts) {
        for (size_t port : {0, 21, 22, 23, 25, 53, 80, 443, 2152, 3544, 4789, 5072, 6081, 8080, 65535})
            o.likely_server_ports.set(port);
    }
    if (settings & kSettingTightBounds) {
        o.max_reassembly_bytes = 4096;
        o.max_blocks_per_endpoint = 4;
        o.max_fragment_bytes = 1024;
        o.max_udp_sessions = 2;
        o.tcp_max_initial_window = 256;
        o.tcp_max_above_hole_without_any_acks = 512;
        o.tcp_excessive_data_without_further_acks = 2048;
    }
    const bool zero = (settings & kSettingZeroDelays) != 0;
    const bool short_timeouts = (settings & kSettingShortTimeouts) != 0;
    if (zero && short_timeouts) {
        // Both: the largest intervals the API accepts, timers far ahead.
        for (double* d : {&o.tcp_SYN_timeout, &o.tcp_session_timer, &o.tcp_connection_linger, &o.tcp_attempt_delay,
                          &o.tcp_close_delay, &o.tcp_reset_delay, &o.tcp_partial_close_delay,
                          &o.tcp_inactivity_timeout, &o.udp_inactivity_timeout, &o.frag_timeout})
            *d = 1e9;
    } else if (zero) {
        o.tcp_close_delay = o.tcp_attempt_delay = o.tcp_connection_linger = 0;
        o.tcp_partial_close_delay = o.tcp_reset_delay = o.tcp_inactivity_timeout = 0;
        o.udp_inactivity_timeout = o.frag_timeout = 0;
        o.tcp_storm_interarrival_thresh = 0;
    } else if (short_timeouts) {
        o.tcp_SYN_timeout = o.tcp_session_timer = o.tcp_connection_linger = 1;
        o.tcp_inactivity_timeout = 2;
        o.udp_inactivity_timeout = o.frag_timeout = 1;
        o.tcp_storm_thresh = 2;
        o.port_inactivity_timeouts = {{80, 0.5}, {443, 3}};
    }
    if (settings & kSettingWeirdSampling) {
        o.weird_sampling_threshold = 2;
        o.weird_sampling_rate = 3;
        o.weird_sampling_duration = 1;
    }
    if (feeding & kFeedSmallBatches) {
        o.batch_max_events = 1;
        o.batch_max_bytes = 4096;
    }
    return o;
}

// One pass of an input through an engine. `flushes`: flush between calls
// as the input's feeding asks (live capture, and to learn of connections
// for contents files). Contents files go to the connections in `uids`
// (per call, in order); with `learn_uids` they are first filled from the
// batches.
inline void drive_engine(const PacketInput& input, const Options& options, BatchChecker& checker, bool flushes,
                         std::vector<std::vector<uint64_t>>* uids, bool learn_uids) {
    PacketInput in = input;
    Engine engine(options, in.linktype, &checker, 0x5eed);
    const size_t per_call = (in.feeding & kFeedBatchMask) + 1u;
    const bool live = (in.feeding & kFeedLive) != 0;
    const bool contents_files = (in.settings & kSettingContentsFiles) != 0;
    std::vector<std::unique_ptr<uint8_t[]>> owned;
    std::vector<PacketView> views;
    unsigned files_set = 0;
    size_t call = 0;
    bool more = true;
    while (more) {
        owned.clear();
        views.clear();
        PacketRecord r;
        while (views.size() < per_call && (more = in.next(&r))) {
            // Exactly caplen bytes, nothing after them.
            owned.emplace_back(new uint8_t[r.caplen]);
            if (r.caplen) std::memcpy(owned.back().get(), r.data, r.caplen);
            views.push_back(PacketView{r.ts, owned.back().get(), r.caplen, r.wirelen});
        }
        if (views.empty()) break;
        engine.process_batch(views.data(), views.size());
        const EngineStats& st = engine.stats();
        // Our memory bounds are promises: no input may break them.
        FUZZ_CHECK(st.reassembly_bytes <= options.max_reassembly_bytes);
        FUZZ_CHECK(st.fragment_bytes <= options.max_fragment_bytes);
        if (live) {
            // A quiet link: time passes without packets, partial batches go out.
            engine.advance_time(engine.network_time() + 1.0);
            if (flushes) engine.flush();
        }
        if (contents_files) {
            if (learn_uids) {
                // Connections surface in batches; flushing makes them surface now.
                engine.flush();
                uids->push_back(checker.take_new_uids());
            }
            const std::vector<uint64_t> none;
            for (uint64_t uid : call < uids->size() ? (*uids)[call] : none) {
                // Both, Resp, Orig, None in turn, on /dev/full (every write
                // fails: contents_file_write_failure) and /dev/null.
                const auto dir = static_cast<ContentsDirection>(3 - files_set % 4);
                const std::string path = files_set % 2 ? "/dev/null" : "/dev/full";
                ++files_set;
                std::string error;
                if (!engine.set_contents_file(uid, dir, path, &error)) continue;
                std::string got;
                const bool has = engine.get_contents_file(uid, dir, &got);
                FUZZ_CHECK(has == (dir != ContentsDirection::None));
                if (has) FUZZ_CHECK(got == path);
            }
        }
        ++call;
    }
    engine.finish();
    const EngineStats& st = engine.stats();
    // Every event written reached a batch; nothing is left behind.
    FUZZ_CHECK(checker.events() == st.events);
    FUZZ_CHECK(st.connections_active == 0);
    FUZZ_CHECK(st.reassembly_bytes == 0);
}

// The input through a sharded capture, as tcpsensor-native --workers
// runs one: a Dispatcher decodes each frame (in its exact-size block) into
// steps of as many frames as the input feeds per call; three workers each
// walk every step; then each finishes. Each worker has its own checker
// (network time runs per worker).
inline void shard_input(const PacketInput& input, const Options& options, BatchChecker& decoder,
                        std::vector<std::unique_ptr<BatchChecker>>& workers) {
    constexpr uint32_t kWorkers = 3;
    // Room for the largest frame of this format and the two reassembled
    // datagrams a step keeps room for.
    constexpr size_t kArena = 256 * 1024;
    PacketInput in = input;
    Dispatcher dispatcher(options, in.linktype, &decoder, 0x5eed, kWorkers);
    std::vector<std::unique_ptr<Engine>> engines;
    for (uint32_t w = 0; w < kWorkers; ++w) {
        workers.push_back(std::make_unique<BatchChecker>(options.events));
        engines.push_back(std::make_unique<Engine>(options, in.linktype, workers.back().get(), 0x5eed));
    }
    ShardStep step(kArena);
    const size_t per_step = (in.feeding & kFeedBatchMask) + 1u;
    const auto run_step = [&] {
        for (uint32_t w = 0; w < kWorkers; ++w) apply_step(*engines[w], step, w);
        step.clear();
    };
    PacketRecord r;
    while (in.next(&r)) {
        std::unique_ptr<uint8_t[]> frame(new uint8_t[r.caplen]);
        if (r.caplen) std::memcpy(frame.get(), r.data, r.caplen);
        const PacketView v{r.ts, frame.get(), r.caplen, r.wirelen};
        if (!dispatcher.add(v, &step)) {
            run_step();
            FUZZ_CHECK(dispatcher.add(v, &step));  // an empty step takes any frame
        }
        if (step.frames.size() >= per_step) run_step();
    }
    run_step();
    for (auto& e : engines) {
        e->finish();
        FUZZ_CHECK(e->stats().connections_active == 0);
    }
    dispatcher.finish();
}

// Events by connection, each connection's in order.
inline std::map<uint64_t, std::vector<uint64_t>> by_connection(const std::vector<BatchChecker::EventDigest>& events) {
    std::map<uint64_t, std::vector<uint64_t>> out;
    for (const auto& e : events) out[e.uid].push_back(e.digest);
    return out;
}

// The input as it asks to be run, then again with other batches (one
// event each, or the default size) and without the flushes between calls:
// where batches end must not change a single event a reader sees.
inline void run_packet_input(const uint8_t* data, size_t size, BatchChecker* checker_or_null = nullptr,
                             bool cross_check = true) {
    PacketInput in;
    if (!in.open(data, size)) return;
    const Options options = packet_options(in);
    BatchChecker own(options.events);
    BatchChecker& first = checker_or_null ? *checker_or_null : own;
    std::vector<std::vector<uint64_t>> uids;
    drive_engine(in, options, first, true, &uids, true);
    if (!cross_check) return;

    Options rebatched = options;
    const Options defaults;
    const bool small = options.batch_max_events != defaults.batch_max_events;
    rebatched.batch_max_events = small ? defaults.batch_max_events : 1;
    rebatched.batch_max_bytes = small ? defaults.batch_max_bytes : 4096;
    BatchChecker second(options.events);
    drive_engine(in, rebatched, second, false, &uids, false);
    FUZZ_CHECK(first.digests().size() == second.digests().size());
    for (size_t i = 0; i < first.digests().size(); ++i) FUZZ_CHECK(first.digests()[i] == second.digests()[i]);

    // Sharded, every connection must see what it saw in one engine. Not
    // comparable: time moved without packets (live feeding), contents
    // files (asked of one engine by uid), and the one bound that is global
    // to an engine's connections (reassembly memory).
    if ((in.feeding & kFeedLive) || (in.settings & kSettingContentsFiles)) return;
    BatchChecker lone(options.events);
    Engine engine(options, in.linktype, &lone, 0x5eed);
    {
        PacketInput again = in;
        PacketRecord r;
        while (again.next(&r)) {
            std::unique_ptr<uint8_t[]> frame(new uint8_t[r.caplen]);
            if (r.caplen) std::memcpy(frame.get(), r.data, r.caplen);
            engine.process(PacketView{r.ts, frame.get(), r.caplen, r.wirelen});
        }
        engine.finish();
    }
    if (engine.stats().anomalies[static_cast<size_t>(Anomaly::reassembly_memory_exceeded)]) return;
    BatchChecker decoder(options.events);
    std::vector<std::unique_ptr<BatchChecker>> workers;
    shard_input(in, options, decoder, workers);
    FUZZ_CHECK(decoder.events() == 0);
    // The capture-wide notices come from the decoder, as from one engine.
    FUZZ_CHECK(decoder.notices() == lone.notices());
    std::vector<BatchChecker::EventDigest> merged;
    for (const auto& w : workers) {
        FUZZ_CHECK(w->notices().empty());
        merged.insert(merged.end(), w->digests().begin(), w->digests().end());
    }
    const auto expected = by_connection(lone.digests());
    const auto got = by_connection(merged);
    // (A connection split over two workers would show as a longer list.)
    FUZZ_CHECK(got.size() == expected.size());
    for (const auto& [uid, events] : expected) {
        const auto it = got.find(uid);
        FUZZ_CHECK(it != got.end());
        FUZZ_CHECK(it->second == events);
    }
}

}  // namespace tcpsensor::fuzz
