// The packed batch format that carries events from the native thread to
// JavaScript in one buffer. lib/batch.ts reads it; the two are versioned
// together (kBatchVersion).
//
// All integers little-endian; every record starts 8-byte aligned with
//   u8 tag, u8 aux, u16 reserved, u32 length (bytes, header included).
// Batch header (24 bytes): u32 magic, u32 version, u32 events, u32 records,
//   u32 worker (which engine of a sharded capture wrote it; 0 for the only
//   one: uids and pool slots are per engine), u32 reserved.
//
// Records:
//   descriptor (tag kTagDescriptor, aux = IP version): who a connection is.
//     2 u8 orientation (which physical side originates; changes on a flip)
//     8 u64 uid | 16 u16 orig_p | 18 u16 resp_p | 20 u32 pool slot (dense,
//     reused: lets the reader keep identities in an array) |
//     24 orig_h[16] | 40 resp_h[16]
//   snapshot (tag kTagSnapshot): the connection record as events see it.
//     8 u32 descriptor offset | 12 u8 orig.state | 13 u8 resp.state | 14 u16 history length
//     16 f64 start_time | 24 f64 duration | 32 u64 orig.size | 40 u64 orig.num_pkts
//     48 u64 orig.num_bytes_ip | 56 u64 resp.size | 64 u64 resp.num_pkts
//     72 u64 resp.num_bytes_ip | 80 history bytes
//   moved snapshot (tag kTagSnapshotMoved): 8 u32 offset of its replacement.
//   event (tag = EventKind id): 8 f64 ts | 16 u32 snapshot offset |
//     20 u32 reserved | 24 arguments, laid out per ArgShape (see
//     event_writer.cc, which is the reference).
//
// Zeek shares one connection record among all events raised while one
// packet (and the timers due before it) is processed; each event sees the
// record, identity included, as it was at the last event of that
// connection. Events therefore point at one snapshot per connection and
// packet, rewritten in place (or moved, when the history outgrows it) as
// later events are raised; the snapshot names the current descriptor.
#pragma once

#include <cstdint>

namespace tcpsensor::batch {

constexpr uint32_t kMagic = 0x31425354;  // "TSB1"
constexpr uint32_t kVersion = 3;
constexpr uint32_t kHeaderSize = 24;
constexpr uint32_t kHeaderWorker = 16;

constexpr uint8_t kTagDescriptor = 0xF0;
constexpr uint8_t kTagSnapshot = 0xF1;
constexpr uint8_t kTagSnapshotMoved = 0xF2;

constexpr uint32_t kRecordHeader = 8;
constexpr uint32_t kDescriptorSize = 56;
constexpr uint32_t kSnapshotFixed = 80;
constexpr uint32_t kEventFixed = 24;

// tcp_options entries: per option u8 kind, u8 length, u8 decoded (1 when
// Zeek decodes its fields), u8 data length, then data bytes (the option's
// bytes after kind and length), padded to 4.
}  // namespace tcpsensor::batch
