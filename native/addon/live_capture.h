// A live interface read by N lanes: each a capture handle of its own with
// its own engine and thread. With several, the handles join one
// PACKET_FANOUT group whose hash is symmetric, so both directions of a
// connection reach the same lane (and engine); each lane keeps its own
// network time, as a cluster's workers do.
#pragma once

#include <atomic>
#include <vector>

#include "capture_worker.h"

namespace tcpsensor {

class LiveCapture : public CaptureWorker {
public:
    static std::unique_ptr<CaptureWorker> open(const WorkerConfig& config, CaptureError* error);
    ~LiveCapture() override;
    const PacketSource& source() const override { return *live_lanes_[0].source; }
    void stop() override;

private:
    struct LiveLane {
        std::unique_ptr<PacketSource> source;
        std::unique_ptr<Engine> engine;
        std::thread thread;
        uint32_t index = 0;
        LiveCapture* owner = nullptr;
        bool past_stop = false;  // a packet captured after stop() was seen
    };

    LiveCapture(const WorkerConfig& config, std::vector<std::unique_ptr<PacketSource>> sources);
    void launch() override;
    void interrupt() override;
    void join() override;
    void run(LiveLane& lane);
    // Takes in what the kernel still holds for this lane: up to a packet
    // captured after stop(), or a block timeout with nothing new.
    void drain(LiveLane& lane);
    static void on_packet(void* lane, const PacketView& packet);

    std::vector<LiveLane> live_lanes_;
    std::atomic<double> stop_time_{0};  // wall clock at stop(); later packets are not taken in
    std::atomic<uint32_t> running_{0};
};

}  // namespace tcpsensor
