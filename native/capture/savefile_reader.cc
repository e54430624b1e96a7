#include "savefile_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

namespace tcpsensor {

namespace {

constexpr uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr uint32_t kMagicNano = 0xa1b23c4d;
// libpcap's own ceiling on a record's captured length.
constexpr uint32_t kMaxCaplen = 262144;
// A chunk is read behind a headroom that takes the partial record left
// at the end of the previous chunk, so records never straddle buffers.
constexpr size_t kHeadroom = kMaxCaplen + 16;
// Fuzz builds make chunks small, so that small files cross their edges.
#ifndef TCPSENSOR_READER_CHUNK_BYTES
#define TCPSENSOR_READER_CHUNK_BYTES (2u << 20)
#endif
constexpr size_t kChunkPayload = TCPSENSOR_READER_CHUNK_BYTES;
// Chunks in flight: the one being handed out, one being read, the rest
// read and waiting.
constexpr size_t kChunks = 4;

uint32_t get32(const uint8_t* p, bool swapped) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return swapped ? __builtin_bswap32(v) : v;
}

}  // namespace

// The read-ahead thread: fills free chunks in file order until end of
// file or an error, which it reports as the last chunk.
class ReadAhead {
public:
    struct Chunk {
        std::unique_ptr<uint8_t[]> mem;  // payload at mem + kHeadroom
        size_t len = 0;
        int error = 0;  // errno of a failed read
        bool last = false;
    };

    explicit ReadAhead(int fd) : fd_(fd) {
        for (size_t i = 0; i < kChunks; ++i) free_.emplace_back(new uint8_t[kHeadroom + kChunkPayload]);
        thread_ = std::thread([this] { run(); });
    }
    ~ReadAhead() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
        }
        changed_.notify_all();
        thread_.join();
    }
    ReadAhead(const ReadAhead&) = delete;
    ReadAhead& operator=(const ReadAhead&) = delete;

    // The next chunk in file order; after the last one, empty last chunks.
    Chunk take() {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [this] { return !filled_.empty() || finished_; });
        if (filled_.empty()) {
            Chunk end;
            end.last = true;
            return end;
        }
        Chunk c = std::move(filled_.front());
        filled_.pop_front();
        lock.unlock();
        changed_.notify_all();
        return c;
    }

    void give_back(std::unique_ptr<uint8_t[]> mem) {
        if (!mem) return;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            free_.push_back(std::move(mem));
        }
        changed_.notify_all();
    }

private:
    void run() {
        for (;;) {
            Chunk c;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                changed_.wait(lock, [this] { return stop_ || !free_.empty(); });
                if (stop_) break;
                c.mem = std::move(free_.back());
                free_.pop_back();
            }
            uint8_t* const out = c.mem.get() + kHeadroom;
            while (c.len < kChunkPayload) {
                const ssize_t n = ::read(fd_, out + c.len, kChunkPayload - c.len);
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) c.error = errno;
                if (n <= 0) {
                    c.last = true;
                    break;
                }
                c.len += static_cast<size_t>(n);
            }
            const bool last = c.last;
            {
                std::lock_guard<std::mutex> lock(mutex_);
                filled_.push_back(std::move(c));
                if (last) finished_ = true;
            }
            changed_.notify_all();
            if (last) break;
        }
    }

    const int fd_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<Chunk> filled_;
    std::vector<std::unique_ptr<uint8_t[]>> free_;
    bool stop_ = false;
    bool finished_ = false;
    std::thread thread_;
};

std::unique_ptr<SavefileReader> SavefileReader::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nullptr;
    uint8_t h[24];
    size_t got = 0;
    while (got < sizeof h) {
        const ssize_t n = ::read(fd, h + got, sizeof h - got);
        if (n <= 0) break;
        got += static_cast<size_t>(n);
    }
    uint32_t magic;
    std::memcpy(&magic, h, 4);
    const bool swapped = magic == __builtin_bswap32(kMagicMicro) || magic == __builtin_bswap32(kMagicNano);
    if (swapped) magic = __builtin_bswap32(magic);
    const auto get16 = [&](const uint8_t* p) {
        const auto v = static_cast<uint16_t>(p[0] | p[1] << 8);
        return swapped ? __builtin_bswap16(v) : v;
    };
    const uint16_t major = get16(h + 4);
    const uint16_t minor = get16(h + 6);
    if (got != sizeof h || (magic != kMagicMicro && magic != kMagicNano) || major != 2) {
        ::close(fd);
        return nullptr;
    }
    // Version 2.3 swapped the two length fields, and some 2.3 writers did
    // not follow.
    const Lengths lengths = minor < 3 ? Lengths::Swapped : minor == 3 ? Lengths::MaybeSwapped : Lengths::InOrder;
    const uint32_t snaplen = get32(h + 16, swapped);
    // The low 16 bits are the link type; the rest carry FCS flags.
    const int linktype = static_cast<int>(get32(h + 20, swapped) & 0xffff);
    return std::unique_ptr<SavefileReader>(
        new SavefileReader(fd, swapped, magic == kMagicNano, lengths, linktype, snaplen));
}

SavefileReader::SavefileReader(int fd, bool swapped, bool nanoseconds, Lengths lengths, int linktype,
                               uint32_t snaplen)
    : fd_(fd),
      swapped_(swapped),
      nanoseconds_(nanoseconds),
      lengths_(lengths),
      linktype_(linktype),
      snaplen_(snaplen),
      snapshot_(snaplen == 0 ? kMaxCaplen : snaplen) {
#ifdef POSIX_FADV_SEQUENTIAL
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    ahead_ = std::make_unique<ReadAhead>(fd_);
}

SavefileReader::~SavefileReader() {
    ahead_.reset();  // joins the thread before its descriptor closes
    ::close(fd_);
}

bool SavefileReader::fill(size_t need) {
    while (end_ - pos_ < need) {
        if (eof_) return false;
        ReadAhead::Chunk c = ahead_->take();
        if (c.error) error_ = std::strerror(c.error);
        if (c.last) eof_ = true;
        if (c.len == 0) {
            ahead_->give_back(std::move(c.mem));
            continue;
        }
        // The partial record moves in front of the new chunk's bytes
        // (records are at most kMaxCaplen, so it fits the headroom).
        const size_t partial = end_ - pos_;
        uint8_t* const base = c.mem.get();
        if (partial) std::memcpy(base + kHeadroom - partial, data_ + pos_, partial);
        ahead_->give_back(std::move(chunk_));
        chunk_ = std::move(c.mem);
        data_ = base;
        pos_ = kHeadroom - partial;
        end_ = kHeadroom + c.len;
    }
    return true;
}

// The record header at h, with libpcap's rules for its captured length:
// beyond kMaxCaplen the file is corrupt (false); beyond the file's
// snapshot length the packet is cut to it. *stored is what the record
// occupies after its header.
bool SavefileReader::read_header(const uint8_t* h, Record* r, uint32_t* stored) const {
    uint32_t caplen = get32(h + 8, swapped_);
    uint32_t wirelen = get32(h + 12, swapped_);
    if (lengths_ == Lengths::Swapped || (lengths_ == Lengths::MaybeSwapped && caplen > wirelen)) {
        const uint32_t t = caplen;
        caplen = wirelen;
        wirelen = t;
    }
    *stored = caplen;
    if (*stored > kMaxCaplen) return false;
    // libpcap copies the fields of a file in its own byte order into its
    // signed 32-bit header fields, and swaps the others with an unsigned
    // result.
    const auto stamp = [this](const uint8_t* p) -> int64_t {
        const uint32_t v = get32(p, swapped_);
        return swapped_ ? int64_t{v} : int64_t{static_cast<int32_t>(v)};
    };
    r->sec = stamp(h);
    const int64_t frac = stamp(h + 4);
    r->usec = nanoseconds_ ? frac / 1000 : frac;
    r->caplen = *stored > snapshot_ ? snapshot_ : *stored;
    r->wirelen = wirelen;
    r->data = h + 16;
    return true;
}

SavefileReader::Result SavefileReader::next_batch(Record* out, size_t max, size_t* count) {
    *count = 0;
    const Result first = next(out);
    if (first != Result::Packet) return first;
    size_t n = 1;
    // Further records only as far as the buffer already holds them: a
    // refill would move the ones handed out.
    while (n < max && end_ - pos_ >= 16) {
        uint32_t stored;
        if (!read_header(data_ + pos_, &out[n], &stored)) break;  // next() reports it
        if (end_ - pos_ < 16 + static_cast<size_t>(stored)) break;
        pos_ += 16 + stored;
        ++n;
    }
    *count = n;
    return Result::Packet;
}

SavefileReader::Result SavefileReader::next(Record* out) {
    if (!fill(16)) {
        if (!error_.empty()) return Result::IoError;
        if (end_ == pos_) return Result::End;
        error_ = "truncated dump file; a packet header is cut short";
        return Result::Truncated;
    }
    uint32_t stored;
    if (!read_header(data_ + pos_, out, &stored)) {
        error_ = "invalid packet capture length " + std::to_string(stored) + ", bigger than maximum of " +
                 std::to_string(kMaxCaplen);
        return Result::Invalid;
    }
    if (!fill(16 + static_cast<size_t>(stored))) {
        if (!error_.empty()) return Result::IoError;
        error_ = "truncated dump file; tried to read " + std::to_string(stored) + " captured bytes, only got " +
                 std::to_string(end_ - pos_ - 16);
        return Result::Truncated;
    }
    out->data = data_ + pos_ + 16;  // fill() may have moved the record
    pos_ += 16 + stored;
    return Result::Packet;
}

}  // namespace tcpsensor
