// The N-API surface: one Sensor class over a CaptureWorker, plus the
// tables TypeScript checks itself against. The only file that includes
// napi.h; lib/native.ts is its only caller.
//
// Batches cross into JavaScript as external ArrayBuffers (no copy); the
// buffer is freed when JavaScript lets go of it. A read either returns a
// queued batch at once or a promise that the capture thread's next batch
// resolves through a thread-safe function, which is referenced only while
// someone waits, so an idle sensor never keeps the process alive.
#include <napi.h>

#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "../core/anomalies.h"
#include "../core/event_kinds.h"
#include "../core/output/batch_format.h"
#include "../core/output/event_fields.h"
#include "../core/output/json_text.h"
#include "../core/output/text_batch_format.h"
#include "../core/output/text_renderer.h"
#include "capture_worker.h"

namespace tcpsensor {

namespace {

Napi::Error coded_error(Napi::Env env, const std::string& code, const std::string& message) {
    Napi::Error e = Napi::Error::New(env, message);
    e.Set("code", Napi::String::New(env, code));
    return e;
}

// Config readers: TypeScript validated everything; absent keys keep the
// defaults.
double num(const Napi::Object& o, const char* key, double fallback) {
    Napi::Value v = o.Get(key);
    return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}

bool flag(const Napi::Object& o, const char* key, bool fallback) {
    Napi::Value v = o.Get(key);
    return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : fallback;
}

std::string str(const Napi::Object& o, const char* key) {
    Napi::Value v = o.Get(key);
    return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

template <size_t N>
void port_set(const Napi::Object& o, const char* key, std::bitset<N>* out) {
    Napi::Value v = o.Get(key);
    if (!v.IsArray()) return;
    out->reset();
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
        const double p = a.Get(i).As<Napi::Number>().DoubleValue();
        if (p >= 0 && p < static_cast<double>(N)) out->set(static_cast<size_t>(p));
    }
}

TextFormat text_format(const std::string& name) {
    if (name == "ndjson") return TextFormat::Ndjson;
    if (name == "conn") return TextFormat::ConnLog;
    return TextFormat::None;
}

WorkerConfig read_config(const Napi::Object& c) {
    WorkerConfig w;
    Options& o = w.options;
    w.file = str(c, "file");
    w.live = !str(c, "interface").empty();
    w.live_options.interface = str(c, "interface");
    w.live_options.snaplen = static_cast<int>(num(c, "snaplen", w.live_options.snaplen));
    w.live_options.promiscuous = flag(c, "promiscuous", w.live_options.promiscuous);
    w.live_options.buffer_size = static_cast<int>(num(c, "bufferSize", w.live_options.buffer_size));
    w.live_options.immediate = flag(c, "immediate", w.live_options.immediate);
    w.filter = str(c, "filter");
    w.high_water = static_cast<uint32_t>(num(c, "highWaterMark", w.high_water));
    w.live_high_water = static_cast<uint32_t>(num(c, "highWaterMark", w.live_high_water));
    w.stats_interval = num(c, "statsInterval", 0);
    w.seed = static_cast<uint64_t>(num(c, "seed", 0));
    w.workers = static_cast<uint32_t>(num(c, "workers", 1));
    w.text_format = text_format(str(c, "output"));

    o.tcp_SYN_timeout = num(c, "tcp_SYN_timeout", o.tcp_SYN_timeout);
    o.tcp_session_timer = num(c, "tcp_session_timer", o.tcp_session_timer);
    o.tcp_connection_linger = num(c, "tcp_connection_linger", o.tcp_connection_linger);
    o.tcp_attempt_delay = num(c, "tcp_attempt_delay", o.tcp_attempt_delay);
    o.tcp_close_delay = num(c, "tcp_close_delay", o.tcp_close_delay);
    o.tcp_reset_delay = num(c, "tcp_reset_delay", o.tcp_reset_delay);
    o.tcp_partial_close_delay = num(c, "tcp_partial_close_delay", o.tcp_partial_close_delay);
    o.tcp_inactivity_timeout = num(c, "tcp_inactivity_timeout", o.tcp_inactivity_timeout);
    o.udp_inactivity_timeout = num(c, "udp_inactivity_timeout", o.udp_inactivity_timeout);
    o.tcp_storm_thresh = static_cast<uint32_t>(num(c, "tcp_storm_thresh", o.tcp_storm_thresh));
    o.tcp_storm_interarrival_thresh = num(c, "tcp_storm_interarrival_thresh", o.tcp_storm_interarrival_thresh);
    o.tcp_max_initial_window = static_cast<uint64_t>(num(c, "tcp_max_initial_window", static_cast<double>(o.tcp_max_initial_window)));
    o.tcp_max_above_hole_without_any_acks = static_cast<uint64_t>(
        num(c, "tcp_max_above_hole_without_any_acks", static_cast<double>(o.tcp_max_above_hole_without_any_acks)));
    o.tcp_excessive_data_without_further_acks = static_cast<uint64_t>(num(
        c, "tcp_excessive_data_without_further_acks", static_cast<double>(o.tcp_excessive_data_without_further_acks)));
    o.tcp_max_old_segments = static_cast<uint32_t>(num(c, "tcp_max_old_segments", o.tcp_max_old_segments));
    o.tcp_content_deliver_all_orig = flag(c, "tcp_content_deliver_all_orig", false);
    o.tcp_content_deliver_all_resp = flag(c, "tcp_content_deliver_all_resp", false);
    o.ignore_checksums = flag(c, "ignore_checksums", false);
    o.auto_checksums = str(c, "checksums") == "auto";
    port_set(c, "tcp_content_delivery_ports_orig", &o.tcp_content_delivery_ports_orig);
    port_set(c, "tcp_content_delivery_ports_resp", &o.tcp_content_delivery_ports_resp);
    port_set(c, "likely_server_ports", &o.likely_server_ports);
    Napi::Value pit = c.Get("port_inactivity_timeouts");
    if (pit.IsArray()) {
        o.port_inactivity_timeouts.clear();
        Napi::Array a = pit.As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); ++i) {
            Napi::Array pair = a.Get(i).As<Napi::Array>();
            o.port_inactivity_timeouts.emplace_back(
                static_cast<uint16_t>(pair.Get(0u).As<Napi::Number>().Uint32Value()),
                pair.Get(1u).As<Napi::Number>().DoubleValue());
        }
    }
    o.weird_sampling_threshold = static_cast<uint64_t>(num(c, "weird_sampling_threshold", 25));
    o.weird_sampling_rate = static_cast<uint64_t>(num(c, "weird_sampling_rate", 1000));
    o.weird_sampling_duration = num(c, "weird_sampling_duration", 600);
    o.max_reassembly_bytes = static_cast<uint64_t>(num(c, "maxReassemblyBytes", static_cast<double>(o.max_reassembly_bytes)));
    o.max_fragment_bytes = static_cast<uint64_t>(num(c, "maxFragmentBytes", static_cast<double>(o.max_fragment_bytes)));
    // Not an option: the tests' reference without compact records.
    o.compact_records = flag(c, "compactRecords", true);
    // Each engine of a sharded capture holds its share.
    const uint32_t max_connections = static_cast<uint32_t>(num(c, "maxConnections", 0));
    const uint32_t shares = w.workers ? w.workers : 1;
    o.max_connections = max_connections ? (max_connections + shares - 1) / shares : 0;
    o.frag_timeout = num(c, "frag_timeout", o.frag_timeout);
    o.batch_max_events = static_cast<uint32_t>(num(c, "batchEvents", o.batch_max_events));
    o.batch_max_bytes = static_cast<uint32_t>(num(c, "batchBytes", o.batch_max_bytes));
    Napi::Value events = c.Get("events");
    if (events.IsArray()) {
        o.events.reset();
        Napi::Array a = events.As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); ++i) {
            const uint32_t id = a.Get(i).As<Napi::Number>().Uint32Value();
            if (id <= static_cast<uint32_t>(kMaxEventKind)) o.events.set(id);
        }
    }
    return w;
}

// State shared by the Sensor object and its thread-safe function; it
// outlives the Sensor until the function is finalized, so late calls find
// it intact.
struct State;
void call_js(Napi::Env env, Napi::Function, State* state, void*);
using Notifier = Napi::TypedThreadSafeFunction<State, void, call_js>;

struct State {
    std::unique_ptr<CaptureWorker> worker;
    Notifier notifier;
    std::optional<Napi::Promise::Deferred> pending_read;
    // A command's result, made on the capture thread, settled on this one.
    struct Completion {
        uint64_t id;
        bool ok;
        std::string text;
    };
    struct Waiting {
        uint64_t id;
        bool wants_text;  // getContentsFile: resolves to a path or null
        Napi::Promise::Deferred deferred;
    };
    std::mutex mu;
    std::deque<Completion> completions;  // guarded by mu
    std::deque<Waiting> waiting;
    uint64_t next_command = 1;
    bool closed = false;
    bool referenced = false;

    // The event loop stays alive exactly while someone awaits this sensor.
    void update_reference(Napi::Env env) {
        const bool want = pending_read.has_value() || !waiting.empty();
        if (!notifier || want == referenced) return;
        referenced = want;
        if (want)
            notifier.Ref(env);
        else
            notifier.Unref(env);
    }

    void settle(Napi::Env env, Waiting& w, bool ok, const std::string& text) {
        if (w.wants_text)
            w.deferred.Resolve(ok ? Napi::Value(Napi::String::New(env, text)) : env.Null());
        else if (ok || text.empty())
            w.deferred.Resolve(Napi::Boolean::New(env, ok));
        else
            w.deferred.Reject(coded_error(env, "ERR_CONTENTS_FILE", text).Value());
    }

    void settle_completions(Napi::Env env) {
        std::deque<Completion> done;
        {
            std::lock_guard<std::mutex> lock(mu);
            done.swap(completions);
        }
        for (const auto& c : done) {
            for (auto it = waiting.begin(); it != waiting.end(); ++it) {
                if (it->id != c.id) continue;
                settle(env, *it, c.ok, c.text);
                waiting.erase(it);
                break;
            }
        }
    }

    void settle_read(Napi::Env env) {
        if (!pending_read) return;
        Batch b;
        if (worker->take(&b)) {
            auto d = *pending_read;
            pending_read.reset();
            d.Resolve(to_array_buffer(env, b));
        } else if (worker->has_records()) {
            // No batch, but records to take (a warning, a stats record on
            // a quiet link): false sends the reader to takeRecords().
            auto d = *pending_read;
            pending_read.reset();
            d.Resolve(Napi::Boolean::New(env, false));
        } else if (worker->ended()) {
            auto d = *pending_read;
            pending_read.reset();
            const CaptureError error = worker->error();
            if (error.set())
                d.Reject(coded_error(env, error.code, error.message).Value());
            else
                d.Resolve(env.Null());
        }
    }

    // The buffer goes back to the pool when JavaScript lets go of it; its
    // capacity rides along as the finalizer's hint. V8 counts its bytes
    // until then: batches JavaScript is done with bring the collection that
    // frees them nearer (without that, a flood's events left tens of
    // megabytes of dead batches waiting).
    static Napi::Value to_array_buffer(Napi::Env env, const Batch& b) {
        Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(b.capacity));
        return Napi::ArrayBuffer::New(
            env, b.data, b.size,
            [](Napi::Env e, void* data, void* capacity) {
                const auto bytes = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(capacity));
                Napi::MemoryManagement::AdjustExternalMemory(e, -static_cast<int64_t>(bytes));
                release_batch_buffer(static_cast<uint8_t*>(data), bytes);
            },
            reinterpret_cast<void*>(static_cast<uintptr_t>(b.capacity)));
    }
};

void call_js(Napi::Env env, Napi::Function, State* state, void*) {
    if (!env || !state || state->closed) return;
    Napi::HandleScope scope(env);
    state->settle_completions(env);
    state->settle_read(env);
    state->update_reference(env);
}

}  // namespace

class Sensor : public Napi::ObjectWrap<Sensor> {
public:
    static Napi::Function Define(Napi::Env env) {
        return DefineClass(env, "Sensor",
                           {InstanceMethod<&Sensor::start>("start"), InstanceMethod<&Sensor::read>("read"),
                            InstanceMethod<&Sensor::stop>("stop"), InstanceMethod<&Sensor::close>("close"),
                            InstanceMethod<&Sensor::stats>("stats"),
                            InstanceMethod<&Sensor::take_records>("takeRecords"),
                            InstanceMethod<&Sensor::info>("info"),
                            InstanceMethod<&Sensor::set_contents_file>("setContentsFile"),
                            InstanceMethod<&Sensor::get_contents_file>("getContentsFile")});
    }

    explicit Sensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Sensor>(info), state_(new State) {
        Napi::Env env = info.Env();
        if (info.Length() < 1 || !info[0].IsObject()) {
            Napi::TypeError::New(env, "Sensor(config): config object required").ThrowAsJavaScriptException();
            return;
        }
        CaptureError error;
        state_->worker = CaptureWorker::open(read_config(info[0].As<Napi::Object>()), &error);
        if (!state_->worker) {
            coded_error(env, error.code, error.message).ThrowAsJavaScriptException();
            return;
        }
        napi_add_env_cleanup_hook(env, on_env_cleanup, this);
        hooked_ = true;
    }

    ~Sensor() override {
        if (hooked_) napi_remove_env_cleanup_hook(Env(), on_env_cleanup, this);
        shutdown(nullptr);
    }

private:
    // The environment is going away (process exit, worker thread end):
    // stop the capture thread before anything it uses disappears.
    static void on_env_cleanup(void* self) {
        auto* sensor = static_cast<Sensor*>(self);
        sensor->hooked_ = false;
        sensor->shutdown(nullptr);
    }

    // Stops the worker and lets go of the state. With an env (an explicit
    // close), whatever still waits is settled: reads end, commands fail.
    void shutdown(Napi::Env* env) {
        if (!state_) return;
        State* state = state_;
        state_ = nullptr;
        if (state->worker) {
            state->worker->close();
            final_stats_ = state->worker->stats();
            final_lane_stats_ = state->worker->lane_stats();
        }
        if (env) {
            if (state->pending_read) {
                state->pending_read->Resolve(env->Null());
                state->pending_read.reset();
            }
            for (auto& w : state->waiting) state->settle(*env, w, false, "");
            state->waiting.clear();
            state->update_reference(*env);
        }
        state->closed = true;
        if (state->notifier)
            state->notifier.Release();  // its finalizer frees the state
        else
            delete state;
    }

    bool usable(Napi::Env env) {
        if (state_ && state_->worker) return true;
        coded_error(env, "ERR_CLOSED", "the sensor is closed").ThrowAsJavaScriptException();
        return false;
    }

    Napi::Value start(const Napi::CallbackInfo& info) {
        Napi::Env env = info.Env();
        if (!usable(env) || state_->notifier) return env.Undefined();
        state_->notifier = Notifier::New(env, "tcpsensor", 0, 1, state_, [](Napi::Env, void*, State* s) { delete s; });
        state_->notifier.Unref(env);
        Notifier notifier = state_->notifier;
        state_->worker->start([notifier]() mutable { notifier.NonBlockingCall(); });
        return env.Undefined();
    }

    // A queued batch (ArrayBuffer), false when side records wait to be
    // taken, null at the end, or a promise of any of them.
    Napi::Value read(const Napi::CallbackInfo& info) {
        Napi::Env env = info.Env();
        if (!state_) return env.Null();
        if (state_->pending_read) {
            coded_error(env, "ERR_CONCURRENT_READ", "a read is already pending").ThrowAsJavaScriptException();
            return env.Undefined();
        }
        Batch b;
        if (state_->worker->take(&b)) return State::to_array_buffer(env, b);
        if (state_->worker->has_records()) return Napi::Boolean::New(env, false);
        if (state_->worker->ended()) {
            // The worker may have queued a last batch just before ending.
            if (state_->worker->take(&b)) return State::to_array_buffer(env, b);
            const CaptureError error = state_->worker->error();
            if (error.set()) {
                coded_error(env, error.code, error.message).ThrowAsJavaScriptException();
                return env.Undefined();
            }
            return env.Null();
        }
        state_->pending_read = Napi::Promise::Deferred::New(env);
        Napi::Promise promise = state_->pending_read->Promise();
        state_->update_reference(env);
        return promise;
    }

    Napi::Value stop(const Napi::CallbackInfo& info) {
        if (state_) state_->worker->stop();
        return info.Env().Undefined();
    }

    Napi::Value close(const Napi::CallbackInfo& info) {
        Napi::Env env = info.Env();
        shutdown(&env);
        return env.Undefined();
    }

    // After close, the counters as the capture thread left them.
    Napi::Value stats(const Napi::CallbackInfo& info) {
        Napi::Env env = info.Env();
        if (!state_ && !final_stats_) return env.Null();
        Napi::Object o = stats_object(env, state_ ? state_->worker->stats() : *final_stats_);
        const std::vector<WorkerStats> lanes = state_ ? state_->worker->lane_stats() : final_lane_stats_;
        if (lanes.size() > 1) {
            Napi::Array per = Napi::Array::New(env, lanes.size());
            for (uint32_t i = 0; i < lanes.size(); ++i) per.Set(i, stats_object(env, lanes[i]));
            o.Set("workers", per);
        }
        return o;
    }

    // What the capture is: link type and snapshot length.
    Napi::Value info(const Napi::CallbackInfo& info) {
        Napi::Env env = info.Env();
        if (!state_) return env.Null();
        const PacketSource& src = state_->worker->source();
        Napi::Object o = Napi::Object::New(env);
        o.Set("linktype", Napi::Number::New(env, src.linktype()));
        o.Set("linktypeName", Napi::String::New(env, src.linktype_name()));
        o.Set("linktypeDescription", Napi::String::New(env, src.linktype_description()));
        o.Set("snaplen", Napi::Number::New(env, src.snaplen()));
        return o;
    }

    // Stats and notices in stream order, each after the batches it follows
    // (see SideRecord).
    Napi::Value take_records(const Napi::CallbackInfo& info) {
        Napi::Env env = info.Env();
        Napi::Array out = Napi::Array::New(env);
        if (!state_) return out;
        uint32_t i = 0;
        for (const SideRecord& r : state_->worker->take_records()) {
            Napi::Object o = Napi::Object::New(env);
            o.Set("afterBatch", Napi::Number::New(env, static_cast<double>(r.after_batch)));
            o.Set("networkTime", Napi::Number::New(env, r.network_time));
            if (r.kind == SideRecord::Kind::Stats) {
                o.Set("kind", Napi::String::New(env, "stats"));
                o.Set("intervalStart", Napi::Number::New(env, r.interval_start));
                o.Set("stats", stats_object(env, r.stats));
            } else {
                const Notice& n = r.notice;
                o.Set("kind", Napi::String::New(env, "checksum_offload"));
                o.Set("packets", Napi::Number::New(env, static_cast<double>(n.packets)));
                o.Set("badIpChecksums", Napi::Number::New(env, static_cast<double>(n.bad_ip_checksums)));
                o.Set("badTcpChecksums", Napi::Number::New(env, static_cast<double>(n.bad_tcp_checksums)));
                o.Set("badUdpChecksums", Napi::Number::New(env, static_cast<double>(n.bad_udp_checksums)));
                o.Set("validationDisabled", Napi::Boolean::New(env, n.validation_disabled));
            }
            out.Set(i++, o);
        }
        return out;
    }

    static Napi::Object stats_object(Napi::Env env, const WorkerStats& s) {
        Napi::Object o = Napi::Object::New(env);
        auto set = [&](const char* k, uint64_t v) { o.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
        set("packetsReceived", s.engine.packets);
        set("packetsReceivedByFilter", s.capture.received_by_filter);
        set("packetsDroppedByKernel", s.capture.dropped_by_kernel);
        set("packetsDroppedByInterface", s.capture.dropped_by_interface);
        set("eventsDroppedByQueue", s.events_dropped);
        set("batchesDroppedByQueue", s.batches_dropped);
        set("queuedBytes", s.queued_bytes);
        set("queuedBytesPeak", s.queued_bytes_peak);
        set("packetsNonIp", s.engine.packets_non_ip);
        set("packetsNonTcp", s.engine.packets_non_tcp);
        set("packetsTcp", s.engine.packets_tcp);
        set("connectionsActive", s.engine.connections_active);
        set("connectionsTotal", s.engine.connections_total);
        set("connectionsCompact", s.engine.connections_compact);
        set("connectionsEvicted", s.engine.connections_evicted);
        set("events", s.engine.events);
        set("segments", s.engine.segments);
        set("ackEvents", s.engine.ack_events);
        set("gapEvents", s.engine.gap_events);
        set("gapBytes", s.engine.gap_bytes);
        set("reassemblyBytes", s.engine.reassembly_bytes);
        set("reassemblyFlushes", s.engine.reassembly_flushes);
        set("reassemblyDroppedBytes", s.engine.reassembly_dropped_bytes);
        set("fragmentBytes", s.engine.fragment_bytes);
        set("memoryBytes", s.engine.memory_bytes);
        Napi::Object malformed = Napi::Object::New(env);
        for (size_t i = 0; i < kAnomalyCount; ++i)
            malformed.Set(std::string(kAnomalyNames[i]), Napi::Number::New(env, static_cast<double>(s.engine.anomalies[i])));
        o.Set("malformed", malformed);
        return o;
    }

    // setContentsFile(uid: bigint, direction: 0..3, path) -> Promise<boolean>
    Napi::Value set_contents_file(const Napi::CallbackInfo& info) {
        bool lossless;
        const uint64_t uid = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
        const auto dir = static_cast<ContentsDirection>(info[1].As<Napi::Number>().Uint32Value());
        std::string path = info[2].As<Napi::String>().Utf8Value();
        return post(info.Env(), false, [uid, dir, path](Engine* e, std::string* text) {
            return e && e->set_contents_file(uid, dir, path, text);
        });
    }

    // getContentsFile(uid: bigint, direction) -> Promise<string | null>
    Napi::Value get_contents_file(const Napi::CallbackInfo& info) {
        bool lossless;
        const uint64_t uid = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
        const auto dir = static_cast<ContentsDirection>(info[1].As<Napi::Number>().Uint32Value());
        return post(info.Env(), true, [uid, dir](Engine* e, std::string* text) {
            return e && e->get_contents_file(uid, dir, text);
        });
    }

    // Runs `fn` with each engine on its capture thread; the promise settles
    // here when all are done (one engine has the connection).
    template <typename Fn>
    Napi::Value post(Napi::Env env, bool wants_text, Fn fn) {
        auto deferred = Napi::Promise::Deferred::New(env);
        Napi::Promise promise = deferred.Promise();
        if (!state_ || !state_->notifier) {
            deferred.Resolve(wants_text ? env.Null() : Napi::Value(Napi::Boolean::New(env, false)));
            return promise;
        }
        const uint64_t id = state_->next_command++;
        state_->waiting.push_back({id, wants_text, deferred});
        state_->update_reference(env);
        State* state = state_;
        Notifier notifier = state_->notifier;
        state_->worker->post(fn, [state, notifier, id](bool ok, const std::string& text) mutable {
            {
                std::lock_guard<std::mutex> lock(state->mu);
                state->completions.push_back({id, ok, text});
            }
            notifier.NonBlockingCall();
        });
        return promise;
    }

    State* state_;
    std::optional<WorkerStats> final_stats_;
    std::vector<WorkerStats> final_lane_stats_;
    bool hooked_ = false;
};

// The text renderer on its own, over event batches given to it: how the
// tests hold the native text against the JavaScript rendering of the same
// batch, crafted batches included. One object renders one stream.
class TextRendererObject : public Napi::ObjectWrap<TextRendererObject> {
public:
    static Napi::Function Define(Napi::Env env) {
        return DefineClass(env, "TextRenderer", {InstanceMethod<&TextRendererObject::render>("render")});
    }

    explicit TextRendererObject(const Napi::CallbackInfo& info)
        : Napi::ObjectWrap<TextRendererObject>(info),
          renderer_(text_format(info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "")) {
        if (renderer_.format() == TextFormat::None)
            Napi::TypeError::New(info.Env(), "TextRenderer(format): 'ndjson' or 'conn'").ThrowAsJavaScriptException();
    }

private:
    // render(batch: ArrayBuffer) -> ArrayBuffer (a text batch)
    Napi::Value render(const Napi::CallbackInfo& info) {
        Napi::Env env = info.Env();
        if (info.Length() < 1 || !info[0].IsArrayBuffer()) {
            Napi::TypeError::New(env, "render(batch): an ArrayBuffer").ThrowAsJavaScriptException();
            return env.Undefined();
        }
        Napi::ArrayBuffer in = info[0].As<Napi::ArrayBuffer>();
        if (in.ByteLength() > UINT32_MAX) {
            coded_error(env, "ERR_BATCH_FORMAT", "batch too large").ThrowAsJavaScriptException();
            return env.Undefined();
        }
        Batch text;
        const char* error =
            renderer_.render(static_cast<const uint8_t*>(in.Data()), static_cast<uint32_t>(in.ByteLength()), &text);
        if (error) {
            coded_error(env, "ERR_BATCH_FORMAT", error).ThrowAsJavaScriptException();
            return env.Undefined();
        }
        return State::to_array_buffer(env, text);
    }

    TextRenderer renderer_;
};

}  // namespace tcpsensor

namespace {

using namespace tcpsensor;

Napi::Array names(Napi::Env env, const std::string_view* first, size_t count) {
    Napi::Array a = Napi::Array::New(env, count);
    for (uint32_t i = 0; i < count; ++i) a.Set(i, Napi::String::New(env, std::string(first[i])));
    return a;
}

Napi::Array field_list(Napi::Env env, fields::FieldList list) {
    Napi::Array a = Napi::Array::New(env, list.count);
    uint32_t i = 0;
    for (const fields::Field& f : list) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("name", Napi::String::New(env, std::string(f.name)));
        o.Set("optional", Napi::Boolean::New(env, f.present_if != fields::kAlways));
        a.Set(i++, o);
    }
    return a;
}

// event_fields.h, for the tests that hold lib/batch.ts's objects to it.
Napi::Object event_fields(Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("event", names(env, std::begin(fields::kEvent), std::size(fields::kEvent)));
    o.Set("id", names(env, std::begin(fields::kId), std::size(fields::kId)));
    o.Set("conn", names(env, std::begin(fields::kConn), std::size(fields::kConn)));
    o.Set("endpoint", names(env, std::begin(fields::kEndpoint), std::size(fields::kEndpoint)));
    Napi::Array shapes = Napi::Array::New(env);
    for (int s = 0; s <= static_cast<int>(fields::kLastShape); ++s)
        shapes.Set(static_cast<uint32_t>(s), field_list(env, fields::arguments(static_cast<ArgShape>(s))));
    o.Set("arguments", shapes);
    o.Set("synPacket", field_list(env, fields::list(fields::kSynPacket)));
    o.Set("optionEntry", names(env, std::begin(fields::kOptionEntry), std::size(fields::kOptionEntry)));
    Napi::Array decoded = Napi::Array::New(env);
    uint32_t i = 0;
    for (const auto& d : fields::kDecodedOptions) {
        Napi::Object e = Napi::Object::New(env);
        e.Set("kind", Napi::Number::New(env, d.kind));
        e.Set("fields", field_list(env, d.fields));
        decoded.Set(i++, e);
    }
    o.Set("decodedOptions", decoded);
    Napi::Array conn_log = Napi::Array::New(env);
    i = 0;
    for (const auto& c : fields::kConnLog) {
        Napi::Object e = Napi::Object::New(env);
        e.Set("name", Napi::String::New(env, std::string(c.name)));
        e.Set("optional", Napi::Boolean::New(env, c.when != fields::When::Always));
        conn_log.Set(i++, e);
    }
    o.Set("connLog", conn_log);
    return o;
}

// jsonNumbers(values: Float64Array) -> string: the numbers as the text
// renderer writes them, one a line, for the tests to hold against
// JavaScript's own.
Napi::Value json_numbers(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
        Napi::TypeError::New(env, "jsonNumbers(values): a Float64Array").ThrowAsJavaScriptException();
        return env.Undefined();
    }
    Napi::Float64Array values = info[0].As<Napi::Float64Array>();
    std::string out(values.ElementLength() * (json::kNumberRoom + 1), '\0');
    char* p = out.data();
    for (size_t i = 0; i < values.ElementLength(); ++i) {
        p = json::number(p, values[i]);
        *p++ = '\n';
    }
    out.resize(static_cast<size_t>(p - out.data()));
    return Napi::String::New(env, out);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
    exports.Set("Sensor", Sensor::Define(env));
    exports.Set("TextRenderer", TextRendererObject::Define(env));
    exports.Set("eventFields", event_fields(env));
    exports.Set("jsonNumbers", Napi::Function::New(env, json_numbers, "jsonNumbers"));
    Napi::Array kinds = Napi::Array::New(env);
    uint32_t i = 0;
    for (const auto& k : kEventKinds) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("id", Napi::Number::New(env, k.id));
        o.Set("name", Napi::String::New(env, std::string(k.name)));
        o.Set("shape", Napi::Number::New(env, static_cast<int>(k.shape)));
        o.Set("inAll", Napi::Boolean::New(env, k.in_all));
        o.Set("inDefault", Napi::Boolean::New(env, k.in_default));
        kinds.Set(i++, o);
    }
    exports.Set("eventKinds", kinds);
    Napi::Array anomalies = Napi::Array::New(env);
    for (uint32_t a = 0; a < kAnomalyCount; ++a) anomalies.Set(a, Napi::String::New(env, std::string(kAnomalyNames[a])));
    exports.Set("anomalies", anomalies);
    exports.Set("batchVersion", Napi::Number::New(env, batch::kVersion));
    exports.Set("textBatchVersion", Napi::Number::New(env, text_batch::kVersion));
    exports.Set("libpcapVersion", Napi::String::New(env, libpcap_version()));
    return exports;
}

}  // namespace

NODE_API_MODULE(tcpsensor, Init)
