// The text batch: rendered lines (NDJSON events or conn.log rows) in one
// buffer, as they cross into JavaScript. lib/text.ts reads it; the two are
// versioned together (kVersion).
//
// All integers little-endian. Header (32 bytes):
//   0 u32 magic | 4 u32 version | 8 u32 lines | 12 u32 ends offset |
//   16 u32 kinds offset | 20 u32 text offset | 24 u32 text length | 28 u32 reserved
// ends (u32 per line, 4-aligned): the offset in the text just past the
//   line's '\n';
// kinds (u8 per line): the event kind id (event_kinds.h) of an NDJSON
//   line, kConnLogRow for a conn.log row;
// text (8-aligned): UTF-8, every line ending in '\n'.
#pragma once

#include <cstdint>

namespace tcpsensor::text_batch {

constexpr uint32_t kMagic = 0x31425854;  // "TXB1"
constexpr uint32_t kVersion = 1;
constexpr uint32_t kHeaderSize = 32;

constexpr uint8_t kConnLogRow = 0;

}  // namespace tcpsensor::text_batch
