// A reader for classic pcap files that hands out packets straight from
// large read() chunks: one kernel copy, no stdio, no per-packet copy.
// libpcap reads the same files through two fread() calls per packet into
// its own buffer; pcapng and anything unusual still go through libpcap.
//
// The chunks are read ahead by a thread of the reader's own (ReadAhead),
// so the kernel's copy of the next chunk overlaps the engine's work on
// this one instead of stalling the capture thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tcpsensor {

class ReadAhead;

class SavefileReader {
public:
    // Opens `path` if it is a classic pcap file (either byte order,
    // microsecond or nanosecond stamps); nullptr otherwise (the caller
    // falls back to libpcap, which also reports what is wrong). Records
    // are read with libpcap's rules, so that a file gives the same packets
    // whichever of the two reads it.
    static std::unique_ptr<SavefileReader> open(const std::string& path);
    ~SavefileReader();
    SavefileReader(const SavefileReader&) = delete;
    SavefileReader& operator=(const SavefileReader&) = delete;

    enum class Result { Packet, End, Truncated, Invalid, IoError };
    struct Record {
        // As libpcap reads them (and Zeek through it): in a file of our
        // byte order, signed 32-bit numbers (seconds past 2038 are before
        // 1970); byte-swapped, unsigned ones.
        int64_t sec;
        int64_t usec;
        uint32_t caplen;
        uint32_t wirelen;
        const uint8_t* data;
    };
    // The next record, viewed in the reader's buffer until the next call.
    Result next(Record* out);
    // Up to `max` records at once (at least one unless the result is not
    // Packet), all valid until the next call: what lets the engine look
    // ahead at packets to come.
    Result next_batch(Record* out, size_t max, size_t* count);

    int linktype() const { return linktype_; }
    uint32_t snaplen() const { return snaplen_; }
    const std::string& error() const { return error_; }

private:
    // How the captured and wire lengths of a record are ordered: files of
    // versions before 2.3 have them the other way round, and 2.3 files
    // either way (libpcap's rules).
    enum class Lengths : uint8_t { InOrder, Swapped, MaybeSwapped };

    SavefileReader(int fd, bool swapped, bool nanoseconds, Lengths lengths, int linktype, uint32_t snaplen);
    bool fill(size_t need);  // makes `need` bytes available at pos_
    bool read_header(const uint8_t* h, Record* r, uint32_t* stored) const;

    int fd_;
    bool swapped_;
    bool nanoseconds_;
    Lengths lengths_;
    int linktype_;
    uint32_t snaplen_;
    uint32_t snapshot_;  // what libpcap cuts captured lengths to
    std::unique_ptr<ReadAhead> ahead_;
    std::unique_ptr<uint8_t[]> chunk_;  // the chunk being handed out
    const uint8_t* data_ = nullptr;
    size_t pos_ = 0;
    size_t end_ = 0;
    bool eof_ = false;
    std::string error_;
};

}  // namespace tcpsensor
