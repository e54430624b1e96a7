// A capture file sharded over N engines (core/shard.h says how the answers
// stay those of one engine): a reader thread decodes and dispatches steps
// of frames into a ring; N worker threads each apply every step to their
// own engine; the output queue merges their batches step by step, lane by
// lane. The ring holds a few steps, so the reader decodes ahead while the
// workers analyse, and a slow worker or reader holds the others up only
// once the ring is full.
#pragma once

#include <condition_variable>
#include <vector>

#include "../core/shard.h"
#include "capture_worker.h"

namespace tcpsensor {

class ShardedCapture : public CaptureWorker {
public:
    static std::unique_ptr<CaptureWorker> open(const WorkerConfig& config, CaptureError* error);
    ~ShardedCapture() override;
    const PacketSource& source() const override { return *source_; }

private:
    struct Slot;
    class DecoderNotices : public BatchConsumer {
    public:
        explicit DecoderNotices(std::vector<Notice>* pending) : pending_(pending) {}
        void on_batch(Batch batch) override { release_batch_buffer(batch.data, batch.capacity); }
        void on_notice(const Notice& notice) override { pending_->push_back(notice); }

    private:
        std::vector<Notice>* pending_;
    };

    ShardedCapture(const WorkerConfig& config, std::unique_ptr<PacketSource> source);
    void launch() override;
    void interrupt() override;
    void join() override;
    void commands_posted() override;
    void read();
    void work(uint32_t worker);
    Slot* acquire(uint64_t step);       // waits for a free slot; null on abort
    void hand_over(Slot* slot);         // hands the step to the workers
    void step_applied(Slot* slot);
    void give_notices(uint64_t after_step);

    std::unique_ptr<PacketSource> source_;
    std::vector<Notice> pending_notices_;  // the reader's, raised by the decoder
    DecoderNotices decoder_notices_;
    std::unique_ptr<Dispatcher> dispatcher_;
    std::vector<std::unique_ptr<Engine>> engines_;
    std::thread reader_;
    std::vector<std::thread> workers_;

    std::mutex ring_mu_;
    std::condition_variable ring_cv_;
    std::vector<std::unique_ptr<Slot>> slots_;
    uint64_t published_ = 0;    // steps 0 .. published_-1 are the workers'
    uint64_t applied_ = 0;      // steps every worker is done with
    uint64_t final_step_ = ~uint64_t{0};  // the step number of the end (finish) once known
    uint32_t finishing_ = 0;              // workers done with the finish
};

}  // namespace tcpsensor
