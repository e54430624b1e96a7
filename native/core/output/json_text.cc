#include "json_text.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace tcpsensor::json {

namespace {

char* exact_integer(char* out, int64_t v) { return std::to_chars(out, out + 21, v).ptr; }

char* zeros(char* out, int count) {
    for (int i = 0; i < count; ++i) *out++ = '0';
    return out;
}

char* digits(char* out, const char* from, int count) {
    for (int i = 0; i < count; ++i) *out++ = from[i];
    return out;
}

// JSON.stringify's escapes: 0 passes through, 1 is a short escape
// (the letter in kShortEscape), 2 is \u00XX, 3 is latin1 above 0x7f.
enum : uint8_t { kPass = 0, kShort = 1, kUnicode = 2, kTwoBytes = 3 };

struct EscapeTable {
    uint8_t kind[256];
    char letter[256];
    constexpr EscapeTable() : kind(), letter() {
        for (int b = 0; b < 256; ++b) {
            kind[b] = b < 0x20 ? kUnicode : b >= 0x80 ? kTwoBytes : kPass;
            letter[b] = 0;
        }
        const char shorts[][2] = {{'\b', 'b'}, {'\t', 't'}, {'\n', 'n'}, {'\f', 'f'}, {'\r', 'r'}, {'"', '"'}, {'\\', '\\'}};
        for (const auto& s : shorts) {
            kind[static_cast<uint8_t>(s[0])] = kShort;
            letter[static_cast<uint8_t>(s[0])] = s[1];
        }
    }
};

constexpr EscapeTable kEscapes;
constexpr char kHex[] = "0123456789abcdef";
constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kBase62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

char* dotted(char* out, const uint8_t* four) {
    for (int i = 0; i < 4; ++i) {
        if (i) *out++ = '.';
        out = std::to_chars(out, out + 3, four[i]).ptr;
    }
    return out;
}

// Microsecond timestamps (pcap's resolution) are most of the doubles
// written. When v is the double nearest a whole number N of microseconds,
// N's decimal digits read back as v; and when the spacing of doubles at v
// is finer than N's last digit, no shorter decimal reads back as v (one is
// off by at least that digit's worth), nor does another of as many digits.
// Those digits are then exactly what JavaScript writes.
char* microseconds(char* out, double v) {
    // From 1e-6 (the plain form's lower end) to 2^53 microseconds.
    if (!(v >= 1e-6 && v < 9007199254.740992)) return nullptr;
    const auto n = static_cast<uint64_t>(v * 1e6 + 0.5);
    if (static_cast<double>(n) / 1e6 != v) return nullptr;
    uint64_t fraction = n % 1000000;
    if (fraction == 0) return nullptr;
    int places = 6;
    while (fraction % 10 == 0) {
        fraction /= 10;
        --places;
    }
    // The spacing at v, 2^(e-52) for v in [2^e, 2^(e+1)), is finer than
    // 10^-places up to these e.
    static constexpr int kFinestExponent[] = {52, 48, 45, 42, 38, 35, 32};
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    const int exponent = static_cast<int>((bits >> 52) & 0x7FF) - 1023;
    if (exponent > kFinestExponent[places]) return nullptr;
    out = std::to_chars(out, out + 20, n / 1000000).ptr;
    *out++ = '.';
    char* end = out + places;
    for (char* p = end; p > out;) {
        *--p = static_cast<char>('0' + fraction % 10);
        fraction /= 10;
    }
    return end;
}

}  // namespace

char* number(char* out, double v) {
    if (!std::isfinite(v)) return copy(out, "null");
    if (v == 0) {
        *out++ = '0';  // -0 too
        return out;
    }
    // Integers below 2^53 are their own shortest digits.
    constexpr double kExactBelow = 9007199254740992.0;
    if (v > -kExactBelow && v < kExactBelow) {
        const auto i = static_cast<int64_t>(v);
        if (static_cast<double>(i) == v) return exact_integer(out, i);
    }
    if (char* end = microseconds(out, v)) return end;
    // The shortest digits that read back as v (as ECMAScript's
    // Number::toString asks: fewest digits, then the closest), in
    // scientific form "-d.ddde-XX"; then JavaScript's layout of them.
    char sci[32];
    const char* end = std::to_chars(sci, sci + sizeof sci, v, std::chars_format::scientific).ptr;
    const char* p = sci;
    if (*p == '-') {
        *out++ = '-';
        ++p;
    }
    char mantissa[20];
    int k = 0;
    mantissa[k++] = *p++;
    if (*p == '.')
        for (++p; *p != 'e'; ++p) mantissa[k++] = *p;
    ++p;  // 'e'
    const bool negative_exponent = *p == '-';
    int exponent = 0;
    for (++p; p < end; ++p) exponent = exponent * 10 + (*p - '0');
    if (negative_exponent) exponent = -exponent;
    const int n = exponent + 1;  // the decimal point's place after the first digit
    if (k <= n && n <= 21) {
        out = digits(out, mantissa, k);
        return zeros(out, n - k);
    }
    if (0 < n && n <= 21) {
        out = digits(out, mantissa, n);
        *out++ = '.';
        return digits(out, mantissa + n, k - n);
    }
    if (-6 < n && n <= 0) {
        *out++ = '0';
        *out++ = '.';
        out = zeros(out, -n);
        return digits(out, mantissa, k);
    }
    *out++ = mantissa[0];
    if (k > 1) {
        *out++ = '.';
        out = digits(out, mantissa + 1, k - 1);
    }
    *out++ = 'e';
    *out++ = n - 1 < 0 ? '-' : '+';
    return std::to_chars(out, out + 4, n - 1 < 0 ? 1 - n : n - 1).ptr;
}

char* unsigned_number(char* out, uint64_t v) {
    if (v < (uint64_t{1} << 53)) return exact_integer(out, static_cast<int64_t>(v));
    return number(out, static_cast<double>(v));
}

char* signed_number(char* out, int64_t v) {
    constexpr int64_t kExact = int64_t{1} << 53;
    if (v > -kExact && v < kExact) return exact_integer(out, v);
    return number(out, static_cast<double>(v));
}

char* latin1_string(char* out, const uint8_t* bytes, size_t n) {
    *out++ = '"';
    for (size_t i = 0; i < n; ++i) {
        const uint8_t b = bytes[i];
        switch (kEscapes.kind[b]) {
            case kPass:
                *out++ = static_cast<char>(b);
                break;
            case kShort:
                *out++ = '\\';
                *out++ = kEscapes.letter[b];
                break;
            case kUnicode:
                out = copy(out, "\\u00");
                *out++ = kHex[b >> 4];
                *out++ = kHex[b & 15];
                break;
            default:  // U+0080..U+00FF in UTF-8
                *out++ = static_cast<char>(0xC0 | (b >> 6));
                *out++ = static_cast<char>(0x80 | (b & 0x3F));
        }
    }
    *out++ = '"';
    return out;
}

char* base64_string(char* out, const uint8_t* bytes, size_t n) {
    *out++ = '"';
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        const uint32_t w = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
        *out++ = kBase64[w >> 18];
        *out++ = kBase64[(w >> 12) & 63];
        *out++ = kBase64[(w >> 6) & 63];
        *out++ = kBase64[w & 63];
    }
    if (n - i == 1) {
        const uint32_t w = uint32_t{bytes[i]} << 16;
        *out++ = kBase64[w >> 18];
        *out++ = kBase64[(w >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (n - i == 2) {
        const uint32_t w = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8);
        *out++ = kBase64[w >> 18];
        *out++ = kBase64[(w >> 12) & 63];
        *out++ = kBase64[(w >> 6) & 63];
        *out++ = '=';
    }
    *out++ = '"';
    return out;
}

char* address(char* out, const uint8_t* b) {
    bool mapped = b[10] == 0xff && b[11] == 0xff;
    for (int i = 0; i < 10 && mapped; ++i) mapped = b[i] == 0;
    if (mapped) return dotted(out, b + 12);

    uint16_t words[8];
    for (int i = 0; i < 8; ++i) words[i] = static_cast<uint16_t>((b[2 * i] << 8) | b[2 * i + 1]);
    // The longest run of two or more zero words becomes "::" (the first
    // of equally long runs).
    int best_start = -1;
    int best_len = 0;
    for (int i = 0; i < 8;) {
        if (words[i] != 0) {
            ++i;
            continue;
        }
        int j = i;
        while (j < 8 && words[j] == 0) ++j;
        if (j - i > best_len) {
            best_start = i;
            best_len = j - i;
        }
        i = j;
    }
    if (best_len < 2) best_start = -1;
    // inet_ntop's embedded IPv4 forms: ::a.b.c.d and ::ffff:a.b.c.d.
    const bool embedded = best_start == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff));
    for (int i = 0; i < 8; ++i) {
        if (i == best_start) {
            out = copy(out, i == 0 ? "::" : ":");
            i += best_len - 1;
            continue;
        }
        if (embedded && i == 6) return dotted(out, b + 12);
        out = std::to_chars(out, out + 4, words[i], 16).ptr;
        if (i < 7) *out++ = ':';
    }
    return out;
}

char* uid(char* out, uint64_t id) {
    char reversed[kUidRoom];
    int n = 0;
    do {
        reversed[n++] = kBase62[id % 62];
        id /= 62;
    } while (id > 0);
    *out++ = 'C';
    while (n > 0) *out++ = reversed[--n];
    return out;
}

char* tcp_flags(char* out, uint8_t flags) {
    static constexpr struct {
        uint8_t bit;
        char letter;
    } kLetters[] = {{0x02, 'S'}, {0x01, 'F'}, {0x04, 'R'}, {0x10, 'A'}, {0x08, 'P'}, {0x20, 'U'}};
    for (const auto& f : kLetters)
        if (flags & f.bit) *out++ = f.letter;
    return out;
}

}  // namespace tcpsensor::json
