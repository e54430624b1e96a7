// JSON text exactly as JavaScript writes it: numbers as
// Number.prototype.toString (which JSON.stringify uses), strings as
// JSON.stringify escapes them, bytes as Buffer's padded base64, addresses
// and uids as lib/format.ts writes them. The NDJSON a sensor renders in C++
// must be byte for byte what JSON.stringify makes of the event objects.
//
// Every writer takes a destination with room enough (the *_room bounds
// say how much) and returns the end of what it wrote.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace tcpsensor::json {

// The longest number: "-2.2250738585072014e-308".
constexpr size_t kNumberRoom = 25;
// The longest address: eight groups of four hex digits and seven colons.
constexpr size_t kAddressRoom = 39;
// "C" and at most 11 base-62 digits of a 64-bit id.
constexpr size_t kUidRoom = 12;

constexpr size_t latin1_room(size_t bytes) { return 2 + 6 * bytes; }
constexpr size_t base64_room(size_t bytes) { return 2 + 4 * ((bytes + 2) / 3); }

inline char* copy(char* out, std::string_view s) {
    std::memcpy(out, s.data(), s.size());
    return out + s.size();
}

// `"name":`
inline char* key(char* out, std::string_view name) {
    *out++ = '"';
    out = copy(out, name);
    *out++ = '"';
    *out++ = ':';
    return out;
}

// JSON.stringify(v): shortest round-trip digits, JavaScript's choice
// between plain and exponent form (exponent below 1e-6 and from 1e21 on),
// -0 as 0, and null for what is not finite.
char* number(char* out, double v);
// An integer field of the batch, as JavaScript writes Number(v): exact
// below 2^53, rounded to the nearest double above.
char* unsigned_number(char* out, uint64_t v);
char* signed_number(char* out, int64_t v);
inline char* boolean(char* out, bool v) { return copy(out, v ? "true" : "false"); }

// A quoted JSON string of bytes read as latin1 (each byte one code point,
// as Buffer's 'latin1' decoding does): bytes from 0x80 on become two UTF-8
// bytes, control characters and '"' and '\' are escaped as JSON.stringify
// escapes them.
char* latin1_string(char* out, const uint8_t* bytes, size_t n);
// A quoted string of bytes that need no escaping (names, letters).
inline char* plain_string(char* out, std::string_view s) {
    *out++ = '"';
    out = copy(out, s);
    *out++ = '"';
    return out;
}
// Quoted standard base64 with padding, as Buffer#toString('base64').
char* base64_string(char* out, const uint8_t* bytes, size_t n);

// An address of the batch (16 bytes, IPv4 mapped), unquoted: dotted IPv4,
// or IPv6 as inet_ntop writes it (RFC 5952, with its embedded-IPv4 forms).
char* address(char* out, const uint8_t* bytes16);
// A connection uid, unquoted: "C" and the base-62 digits of the id.
char* uid(char* out, uint64_t id);
// Zeek's TCP flag letters (S F R A P U, in that order), unquoted.
char* tcp_flags(char* out, uint8_t flags);

}  // namespace tcpsensor::json
