#include "render_stage.h"

#include <utility>

namespace tcpsensor {

RenderStage::RenderStage(TextFormat format, uint32_t high_water, Hooks hooks)
    : renderer_(format), high_water_(high_water ? high_water : 1), hooks_(std::move(hooks)) {}

RenderStage::~RenderStage() { abort(); }

void RenderStage::start() { thread_ = std::thread([this] { run(); }); }

bool RenderStage::take(Batch* text, uint32_t* tag) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (queue_.empty()) return false;
        *text = queue_.front().text;
        *tag = queue_.front().tag;
        queue_.pop_front();
    }
    space_.notify_one();
    return true;
}

void RenderStage::drain() {
    std::unique_lock<std::mutex> lock(mu_);
    finished_.wait(lock, [this] { return done_ || aborted_; });
}

void RenderStage::abort() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        aborted_ = true;
    }
    space_.notify_all();
    finished_.notify_all();
    if (thread_.joinable()) thread_.join();
    for (Rendered& r : queue_) release_batch_buffer(r.text.data, r.text.capacity);
    queue_.clear();
}

void RenderStage::run() {
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mu_);
            space_.wait(lock, [this] { return aborted_ || queue_.size() < high_water_; });
            if (aborted_) break;
        }
        Batch events;
        uint32_t tag = 0;
        if (!hooks_.next(&events, &tag)) break;
        Batch text;
        const char* error = renderer_.render(events.data, events.size, &text);
        release_batch_buffer(events.data, events.capacity);
        if (error) {
            hooks_.failed(error, events.size, tag);
            break;
        }
        hooks_.rendered(events.size, text.size);
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (aborted_) {
                release_batch_buffer(text.data, text.capacity);
                break;
            }
            queue_.push_back(Rendered{text, tag});
        }
        hooks_.ready();
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        done_ = true;
    }
    finished_.notify_all();
}

}  // namespace tcpsensor
