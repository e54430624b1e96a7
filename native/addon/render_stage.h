// The render stage: a thread of its own right after the capture's output
// queue. It takes the event batches in stream order (merged, whichever
// engine wrote them), renders each into a text batch (NDJSON lines or
// conn.log rows, core/output/text_renderer.h) and queues it for the
// reader. With two cores the engine and the rendering run side by side
// instead of one after the other. Knows nothing of N-API;
// capture_worker.cc drives it.
//
// One text batch comes out for each event batch, in the same order (an
// empty one when nothing of it makes a line), so that a count of batches
// means the same on both sides: side records keep their place. The stage
// never drops: it waits while `high_water` text batches wait for the
// reader; the capture worker's bound (waiting, or live dropping) counts a
// batch until its text is taken.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "../core/output/text_renderer.h"

namespace tcpsensor {

class RenderStage {
public:
    struct Hooks {
        // Blocks until the next event batch of the stream and gives it
        // (its buffer passes to the stage) with a tag of the caller's (the
        // lane it came from) that its text batch carries; false at the end
        // or on abort.
        std::function<bool(Batch* events, uint32_t* tag)> next;
        // A text batch of `text_size` bytes takes the place of an event
        // batch of `events_size` (before the reader can take it).
        std::function<void(uint32_t events_size, uint32_t text_size)> rendered;
        // A text batch is ready for the reader.
        std::function<void()> ready;
        // The event batch does not hold together (a bug: the engine wrote
        // it); the stage stops.
        std::function<void(const char* why, uint32_t events_size, uint32_t tag)> failed;
    };

    RenderStage(TextFormat format, uint32_t high_water, Hooks hooks);
    ~RenderStage();
    RenderStage(const RenderStage&) = delete;
    RenderStage& operator=(const RenderStage&) = delete;

    void start();
    // The reader's side: the next text batch and its event batch's tag;
    // false if none is ready.
    bool take(Batch* text, uint32_t* tag);
    // Returns once the stage has rendered the stream's last batch (or was
    // aborted).
    void drain();
    // Stops the thread; text batches not taken are released.
    void abort();

private:
    void run();

    TextRenderer renderer_;
    uint32_t high_water_;
    Hooks hooks_;
    std::thread thread_;
    std::mutex mu_;
    std::condition_variable space_;    // the queue has room, or abort
    std::condition_variable finished_; // the thread is done, or abort
    struct Rendered {
        Batch text;
        uint32_t tag;
    };
    std::deque<Rendered> queue_;
    bool done_ = false;
    bool aborted_ = false;
};

}  // namespace tcpsensor
