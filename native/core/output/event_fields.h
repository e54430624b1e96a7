// The one definition of what an event carries, field by field and in
// order: the fields every event has (ts, event, uid, id, conn), the
// arguments of each ArgShape with where a batch record keeps them, the
// fields of connection_SYN_packet's record and of a tcp_options entry, and
// the columns of a conn.log row.
//
// The text renderer (text_renderer.cc) writes events and rows from these
// tables. The addon exports them (eventFields), and the tests check the
// objects lib/batch.ts builds against them key by key, in order, and the
// bytes of both renderings against each other: JavaScript objects, NDJSON
// lines and conn.log rows cannot drift apart.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../event_kinds.h"

namespace tcpsensor::fields {

enum class Type : uint8_t {
    Bool,       // u8, true when non-zero
    U8,
    U16,        // little-endian
    I16,
    U32,
    U64,
    U16BE,      // big-endian, as in a TCP option
    U32BE,
    U32BEList,  // big-endian u32s filling the option's data (SACK blocks)
    Flags,      // u8 of TCP flags, as Zeek's letters
    Text,       // latin1 bytes, u32 length at `length_at`
    Bytes,      // base64, u32 length at `length_at`
    BytesAfter, // the second of two byte runs of the length at `length_at`, right after the first
    SynPacket,  // the record kSynPacket describes
    Options,    // tcp_options entries (kOptionEntry, kDecodedOptions): u8 count at `length_at`
};

constexpr uint8_t kAlways = 0xFF;

struct Field {
    std::string_view name;
    Type type;
    uint8_t at;                  // offset in the arguments (or record, or option data)
    uint8_t length_at = 0;       // Text, Bytes, BytesAfter, Options
    uint8_t present_if = kAlways;  // offset of a u8 that must be non-zero for the field to be there
};

struct FieldList {
    const Field* first;
    size_t count;
    constexpr const Field* begin() const { return first; }
    constexpr const Field* end() const { return first + count; }
};

template <size_t N>
constexpr FieldList list(const Field (&fields)[N]) {
    return {fields, N};
}

// Every event, in this order: ts, event, uid, id {...}, conn {...}, then
// its arguments.
inline constexpr std::string_view kEvent[] = {"ts", "event", "uid", "id", "conn"};
inline constexpr std::string_view kId[] = {"orig_h", "orig_p", "resp_h", "resp_p"};
inline constexpr std::string_view kConn[] = {"history", "orig", "resp", "start_time", "duration"};
inline constexpr std::string_view kEndpoint[] = {"size", "state", "num_pkts", "num_bytes_ip"};

// Arguments per shape, at their offsets in the event record's arguments
// (event_writer.cc writes them there).
inline constexpr Field kIsOrigArgs[] = {{"is_orig", Type::Bool, 0}};
inline constexpr Field kSynPacketArgs[] = {{"pkt", Type::SynPacket, 0}};
inline constexpr Field kWriteFailureArgs[] = {{"is_orig", Type::Bool, 0}, {"msg", Type::Text, 8, 4}};
inline constexpr Field kContentsArgs[] = {
    {"is_orig", Type::Bool, 0}, {"seq", Type::U64, 8}, {"contents", Type::Bytes, 16, 4}};
inline constexpr Field kThresholdArgs[] = {{"is_orig", Type::Bool, 0}, {"threshold", Type::U32, 4}};
inline constexpr Field kOptionArgs[] = {{"is_orig", Type::Bool, 0}, {"opt", Type::U8, 1}, {"optlen", Type::U8, 2}};
inline constexpr Field kOptionsArgs[] = {{"is_orig", Type::Bool, 0}, {"options", Type::Options, 4, 1}};
inline constexpr Field kPacketArgs[] = {{"is_orig", Type::Bool, 0}, {"flags", Type::Flags, 1}, {"seq", Type::U64, 8},
                                        {"ack", Type::U64, 16},     {"len", Type::U32, 4},     {"payload", Type::Bytes, 32, 24}};
inline constexpr Field kRexmitArgs[] = {{"is_orig", Type::Bool, 0}, {"seq", Type::U64, 8}, {"len", Type::U32, 4},
                                        {"data_in_flight", Type::U32, 16}, {"window", Type::U32, 20}};
inline constexpr Field kWeirdArgs[] = {{"name", Type::Text, 4, 0}};
inline constexpr Field kGapArgs[] = {{"is_orig", Type::Bool, 0}, {"seq", Type::U64, 8}, {"length", Type::U64, 16}};
inline constexpr Field kInconsistencyArgs[] = {
    {"t1", Type::Bytes, 8, 4}, {"t2", Type::BytesAfter, 8, 4}, {"tcp_flags", Type::Flags, 0}};

constexpr FieldList arguments(ArgShape shape) {
    switch (shape) {
        case ArgShape::None: return {nullptr, 0};
        case ArgShape::IsOrig: return list(kIsOrigArgs);
        case ArgShape::SynPacket: return list(kSynPacketArgs);
        case ArgShape::WriteFailure: return list(kWriteFailureArgs);
        case ArgShape::Contents: return list(kContentsArgs);
        case ArgShape::Threshold: return list(kThresholdArgs);
        case ArgShape::Option: return list(kOptionArgs);
        case ArgShape::Options: return list(kOptionsArgs);
        case ArgShape::Packet: return list(kPacketArgs);
        case ArgShape::Rexmit: return list(kRexmitArgs);
        case ArgShape::Weird: return list(kWeirdArgs);
        case ArgShape::Gap: return list(kGapArgs);
        case ArgShape::Inconsistency: return list(kInconsistencyArgs);
    }
    return {nullptr, 0};
}

constexpr ArgShape kLastShape = ArgShape::Inconsistency;

// connection_SYN_packet's `pkt` (Zeek's SYN_packet), at its offsets in the
// arguments; TSval and TSecr only when the SYN carried timestamps.
inline constexpr Field kSynPacket[] = {
    {"is_orig", Type::Bool, 0}, {"DF", Type::Bool, 1},         {"ttl", Type::U8, 2},
    {"size", Type::U32, 4},     {"win_size", Type::U16, 8},    {"win_scale", Type::I16, 10},
    {"MSS", Type::U16, 12},     {"SACK_OK", Type::Bool, 3},    {"TSval", Type::U32, 16, 0, 14},
    {"TSecr", Type::U32, 20, 0, 14}};

// Bytes a field takes in its record, besides any run of bytes it names.
constexpr uint32_t stored_size(Type type) {
    switch (type) {
        case Type::Bool:
        case Type::U8:
        case Type::Flags: return 1;
        case Type::U16:
        case Type::I16:
        case Type::U16BE: return 2;
        case Type::U32:
        case Type::U32BE: return 4;
        case Type::U64: return 8;
        case Type::SynPacket: {
            uint32_t bytes = 0;
            for (const Field& f : kSynPacket)
                if (f.at + stored_size(f.type) > bytes) bytes = f.at + stored_size(f.type);
            return bytes;
        }
        case Type::U32BEList:
        case Type::Text:
        case Type::Bytes:
        case Type::BytesAfter:
        case Type::Options: return 0;
    }
    return 0;
}

// A tcp_options entry (Zeek's TCP::Option): kind and length, then `data`
// (the raw bytes, when Zeek does not decode them) or the decoded fields of
// its kind, read from the option's data.
inline constexpr std::string_view kOptionEntry[] = {"kind", "length", "data"};

struct DecodedOption {
    uint8_t kind;
    FieldList fields;
};

inline constexpr Field kMssOption[] = {{"mss", Type::U16BE, 0}};
inline constexpr Field kWindowScaleOption[] = {{"window_scale", Type::U8, 0}};
inline constexpr Field kSackOption[] = {{"sack", Type::U32BEList, 0}};
inline constexpr Field kTimestampsOption[] = {{"send_timestamp", Type::U32BE, 0}, {"echo_timestamp", Type::U32BE, 4}};
inline constexpr Field kQuickStartOption[] = {{"rate", Type::U8, 0}, {"ttl_diff", Type::U8, 1}, {"qs_nonce", Type::U32BE, 2}};

inline constexpr DecodedOption kDecodedOptions[] = {
    {2, list(kMssOption)},        {3, list(kWindowScaleOption)},  {5, list(kSackOption)},
    {8, list(kTimestampsOption)}, {27, list(kQuickStartOption)},
};

// Bytes of arguments every record of the shape has (its fixed part).
constexpr uint32_t fixed_argument_bytes(ArgShape shape) {
    uint32_t bytes = 0;
    for (const Field& f : arguments(shape)) {
        const uint32_t end = f.at + stored_size(f.type);
        if (end > bytes) bytes = end;
        const bool counted = f.type == Type::Text || f.type == Type::Bytes || f.type == Type::BytesAfter;
        const uint32_t length_end = f.length_at + (counted ? 4u : f.type == Type::Options ? 1u : 0u);
        if (length_end > bytes) bytes = length_end;
    }
    return bytes;
}

// A conn.log row, in the order of its keys. The columns of a connection
// that lasted (duration > 0) and the history (when not empty) may be
// missing.
enum class When : uint8_t { Always, Lasted, HasHistory };

enum class ConnValue : uint8_t {
    StartTime, Uid, OrigH, OrigP, RespH, RespP, Proto, ConnState, MissedBytes,
    OrigPkts, OrigIpBytes, RespPkts, RespIpBytes, Duration, OrigBytes, RespBytes, History,
};

struct Column {
    std::string_view name;
    ConnValue value;
    When when;
};

inline constexpr Column kConnLog[] = {
    {"ts", ConnValue::StartTime, When::Always},
    {"uid", ConnValue::Uid, When::Always},
    {"id.orig_h", ConnValue::OrigH, When::Always},
    {"id.orig_p", ConnValue::OrigP, When::Always},
    {"id.resp_h", ConnValue::RespH, When::Always},
    {"id.resp_p", ConnValue::RespP, When::Always},
    {"proto", ConnValue::Proto, When::Always},
    {"conn_state", ConnValue::ConnState, When::Always},
    {"missed_bytes", ConnValue::MissedBytes, When::Always},
    {"orig_pkts", ConnValue::OrigPkts, When::Always},
    {"orig_ip_bytes", ConnValue::OrigIpBytes, When::Always},
    {"resp_pkts", ConnValue::RespPkts, When::Always},
    {"resp_ip_bytes", ConnValue::RespIpBytes, When::Always},
    {"duration", ConnValue::Duration, When::Lasted},
    {"orig_bytes", ConnValue::OrigBytes, When::Lasted},
    {"resp_bytes", ConnValue::RespBytes, When::Lasted},
    {"history", ConnValue::History, When::HasHistory},
};

}  // namespace tcpsensor::fields
