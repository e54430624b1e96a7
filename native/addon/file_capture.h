// A capture file read by one engine on one thread: the reader hands
// packets over in place, in batches, and the engine analyses them there.
#pragma once

#include "capture_worker.h"

namespace tcpsensor {

class FileCapture : public CaptureWorker {
public:
    static std::unique_ptr<CaptureWorker> open(const WorkerConfig& config, CaptureError* error);
    ~FileCapture() override;
    const PacketSource& source() const override { return *source_; }

private:
    FileCapture(const WorkerConfig& config, std::unique_ptr<PacketSource> source);
    void launch() override;
    void interrupt() override { source_->interrupt(); }
    void join() override;
    void run();

    std::unique_ptr<PacketSource> source_;
    std::unique_ptr<Engine> engine_;
    std::thread thread_;
};

}  // namespace tcpsensor
