#include "savefile_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tcpsensor {

namespace {

constexpr uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr uint32_t kMagicNano = 0xa1b23c4d;
constexpr size_t kChunk = 4u << 20;
// libpcap's own ceiling on a record's captured length.
constexpr uint32_t kMaxCaplen = 262144;

uint32_t get32(const uint8_t* p, bool swapped) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return swapped ? __builtin_bswap32(v) : v;
}

}  // namespace

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
    const uint16_t major = static_cast<uint16_t>(swapped ? __builtin_bswap16(static_cast<uint16_t>(h[4] | h[5] << 8))
                                                         : (h[4] | h[5] << 8));
    if (got != sizeof h || (magic != kMagicMicro && magic != kMagicNano) || major != 2) {
        ::close(fd);
        return nullptr;
    }
    const uint32_t snaplen = get32(h + 16, swapped);
    // The low 16 bits are the link type; the rest carry FCS flags.
    const int linktype = static_cast<int>(get32(h + 20, swapped) & 0xffff);
    return std::unique_ptr<SavefileReader>(new SavefileReader(fd, swapped, magic == kMagicNano, linktype, snaplen));
}

SavefileReader::SavefileReader(int fd, bool swapped, bool nanoseconds, int linktype, uint32_t snaplen)
    : fd_(fd), swapped_(swapped), nanoseconds_(nanoseconds), linktype_(linktype), snaplen_(snaplen) {
    buf_.resize(kChunk);
#ifdef POSIX_FADV_SEQUENTIAL
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
}

SavefileReader::~SavefileReader() { ::close(fd_); }

bool SavefileReader::fill(size_t need) {
    if (end_ - pos_ >= need) return true;
    // Keep the partial record, move it to the front, read behind it.
    if (pos_ > 0) {
        std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
        end_ -= pos_;
        pos_ = 0;
    }
    if (need > buf_.size()) buf_.resize(need);
    while (end_ < need && !eof_) {
        const ssize_t n = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
        if (n < 0) {
            if (errno == EINTR) continue;
            error_ = std::strerror(errno);
            return false;
        }
        if (n == 0) eof_ = true;
        end_ += static_cast<size_t>(n);
    }
    return end_ - pos_ >= need;
}

SavefileReader::Result SavefileReader::next_batch(Record* out, size_t max, size_t* count) {
    *count = 0;
    const Result first = next(out);
    if (first != Result::Packet) return first;
    size_t n = 1;
    // Further records only as far as the buffer already holds them: a
    // refill would move the ones handed out.
    while (n < max && end_ - pos_ >= 16) {
        const uint8_t* h = buf_.data() + pos_;
        const uint32_t caplen = get32(h + 8, swapped_);
        if (caplen > kMaxCaplen && caplen > snaplen_) break;  // next() reports it
        if (end_ - pos_ < 16 + static_cast<size_t>(caplen)) break;
        Record& r = out[n++];
        r.sec = get32(h, swapped_);
        const uint32_t frac = get32(h + 4, swapped_);
        r.usec = nanoseconds_ ? frac / 1000 : frac;
        r.caplen = caplen;
        r.wirelen = get32(h + 12, swapped_);
        r.data = h + 16;
        pos_ += 16 + caplen;
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
    const uint8_t* h = buf_.data() + pos_;
    out->sec = get32(h, swapped_);
    const uint32_t frac = get32(h + 4, swapped_);
    out->usec = nanoseconds_ ? frac / 1000 : frac;
    out->caplen = get32(h + 8, swapped_);
    out->wirelen = get32(h + 12, swapped_);
    if (out->caplen > kMaxCaplen && out->caplen > snaplen_) {
        error_ = "invalid packet capture length " + std::to_string(out->caplen);
        return Result::Invalid;
    }
    if (!fill(16 + static_cast<size_t>(out->caplen))) {
        if (!error_.empty()) return Result::IoError;
        error_ = "truncated dump file; tried to read " + std::to_string(out->caplen) + " captured bytes, only got " +
                 std::to_string(end_ - pos_ - 16);
        return Result::Truncated;
    }
    out->data = buf_.data() + pos_ + 16;
    pos_ += 16 + out->caplen;
    return Result::Packet;
}

}  // namespace tcpsensor
