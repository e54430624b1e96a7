// The input format of fuzz-packets: a little capture of its own, with
// settings in front, so that one input can build connections, let timers
// fire, reassemble fragments and streams, and cross batch boundaries.
//
//   header, 8 bytes:
//     u16 link type in bits 0-8 (a value linktype_supported() refuses
//         picks one of the supported types by its remainder, so every
//         value decodes); bit 15 turns on automatic checksum validation
//         (validation stops if the first 16 packets carry too many bad
//         ones); bits 9-14 are unused
//     u8  settings (kSetting* below: engine options to vary)
//     u8  feeding: bits 0-4 are the packets per process_batch() call, minus
//         one; bit 5 adds Zeek's events outside the contract (content_gap,
//         rexmit_inconsistency: the latter makes every stream keep its
//         bytes); bit 6 makes batches small; bit 7 moves time with
//         advance_time() and flushes between calls, as live capture does
//     u32 base timestamp, seconds
//   records, until the input ends:
//     i32 time step from the previous packet, microseconds (may go back)
//     u16 captured length
//     u16 wire length (0: the captured length)
//     the captured bytes (as many as are left, if the input ends first)
// All integers little-endian. native/fuzz/packet_seeds.cc writes captures
// in this format (the seed corpus); the encoder below is what it uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../core/decode.h"

namespace tcpsensor::fuzz {

constexpr size_t kPacketInputHeader = 8;
constexpr size_t kPacketRecordHeader = 8;

// Settings bits.
constexpr uint8_t kSettingIgnoreChecksums = 0x01;
constexpr uint8_t kSettingOldSegments = 0x02;    // tcp_max_old_segments (overlap checks on trimmed data)
constexpr uint8_t kSettingServerPorts = 0x04;    // likely_server_ports (role flips)
constexpr uint8_t kSettingTightBounds = 0x08;    // tiny memory bounds and reassembly limits
constexpr uint8_t kSettingZeroDelays = 0x10;     // close/attempt/linger delays of 0
constexpr uint8_t kSettingContentsFiles = 0x20;  // contents files for connections as they appear
constexpr uint8_t kSettingWeirdSampling = 0x40;  // weird sampling that kicks in early
constexpr uint8_t kSettingShortTimeouts = 0x80;  // second-scale timeouts

// Feeding bits.
constexpr uint8_t kFeedBatchMask = 0x1f;
constexpr uint8_t kFeedExtraEvents = 0x20;
constexpr uint8_t kFeedSmallBatches = 0x40;
constexpr uint8_t kFeedLive = 0x80;

// The link types the engine decodes, in ascending order.
inline const std::vector<int>& supported_linktypes() {
    static const std::vector<int> list = [] {
        std::vector<int> l;
        for (int lt = 0; lt < 65536; ++lt)
            if (linktype_supported(lt)) l.push_back(lt);
        return l;
    }();
    return list;
}

struct PacketRecord {
    double ts;
    const uint8_t* data;  // into the input
    uint32_t caplen;
    uint32_t wirelen;
};

class PacketInput {
public:
    // False if the input is too short for its header.
    bool open(const uint8_t* data, size_t size) {
        if (size < kPacketInputHeader) return false;
        const auto field = static_cast<uint16_t>(data[0] | (data[1] << 8));
        const int lt = field & 0x1ff;
        const auto& list = supported_linktypes();
        linktype = linktype_supported(lt) ? lt : list[static_cast<size_t>(lt) % list.size()];
        auto_checksums = (field & 0x8000) != 0;
        settings = data[2];
        feeding = data[3];
        base_ = le32(data + 4);
        at_ = data + kPacketInputHeader;
        end_ = data + size;
        micros_ = 0;
        return true;
    }

    // The next packet; false at the end of the input.
    bool next(PacketRecord* r) {
        if (static_cast<size_t>(end_ - at_) < kPacketRecordHeader) return false;
        const auto step = static_cast<int32_t>(le32(at_));
        const uint32_t caplen = static_cast<uint32_t>(at_[4] | (at_[5] << 8));
        const uint32_t wire = static_cast<uint32_t>(at_[6] | (at_[7] << 8));
        at_ += kPacketRecordHeader;
        // Time as a capture file can express it: whole seconds since the
        // epoch and microseconds, never before the epoch.
        micros_ += step;
        if (static_cast<int64_t>(base_) * 1000000 + micros_ < 0) micros_ = -static_cast<int64_t>(base_) * 1000000;
        const int64_t total = static_cast<int64_t>(base_) * 1000000 + micros_;
        r->ts = static_cast<double>(total / 1000000) + static_cast<double>(total % 1000000) / 1e6;
        const auto left = static_cast<size_t>(end_ - at_);
        r->caplen = caplen < left ? caplen : static_cast<uint32_t>(left);
        r->wirelen = wire ? wire : r->caplen;
        r->data = at_;
        at_ += r->caplen;
        return true;
    }

    int linktype = 0;
    bool auto_checksums = false;
    uint8_t settings = 0;
    uint8_t feeding = 0;

private:
    static uint32_t le32(const uint8_t* p) {
        return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
               (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
    }

    const uint8_t* at_ = nullptr;
    const uint8_t* end_ = nullptr;
    uint32_t base_ = 0;
    int64_t micros_ = 0;
};

// Writes inputs in this format.
class PacketInputWriter {
public:
    PacketInputWriter(int linktype, uint8_t settings, uint8_t feeding, uint32_t base_seconds) {
        put16(static_cast<uint16_t>(linktype));
        out_.push_back(settings);
        out_.push_back(feeding);
        put32(base_seconds);
        last_ = static_cast<int64_t>(base_seconds) * 1000000;
    }

    // Timestamps as seconds and microseconds; steps beyond the 32-bit
    // range are clamped (time then runs slow, which a capture may do).
    void add(uint32_t sec, uint32_t usec, const uint8_t* data, uint32_t caplen, uint32_t wirelen) {
        const int64_t t = static_cast<int64_t>(sec) * 1000000 + usec;
        int64_t step = t - last_;
        if (step > INT32_MAX) step = INT32_MAX;
        if (step < INT32_MIN) step = INT32_MIN;
        last_ += step;
        if (caplen > 0xffff) caplen = 0xffff;
        put32(static_cast<uint32_t>(static_cast<int32_t>(step)));
        put16(static_cast<uint16_t>(caplen));
        put16(wirelen == caplen || wirelen > 0xffff ? 0 : static_cast<uint16_t>(wirelen));
        out_.insert(out_.end(), data, data + caplen);
        ++packets_;
    }

    const std::vector<uint8_t>& bytes() const { return out_; }
    size_t packets() const { return packets_; }

private:
    void put16(uint16_t v) {
        out_.push_back(static_cast<uint8_t>(v));
        out_.push_back(static_cast<uint8_t>(v >> 8));
    }
    void put32(uint32_t v) {
        put16(static_cast<uint16_t>(v));
        put16(static_cast<uint16_t>(v >> 16));
    }

    std::vector<uint8_t> out_;
    int64_t last_ = 0;
    size_t packets_ = 0;
};

}  // namespace tcpsensor::fuzz
