/**
 * Text forms of what the batches carry in binary: addresses as Zeek prints
 * them (dotted IPv4, RFC 5952 IPv6 as inet_ntop writes it), uids, and TCP
 * flag strings.
 */

export function formatAddress(b: Uint8Array, offset: number): string {
  let mapped = b[offset + 10] === 0xff && b[offset + 11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (b[offset + i] !== 0) mapped = false;
  if (mapped) return `${b[offset + 12]}.${b[offset + 13]}.${b[offset + 14]}.${b[offset + 15]}`;

  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[offset + i] << 8) | b[offset + i + 1]);
  // The longest run of two or more zero words becomes "::" (the first one
  // if runs tie).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  // inet_ntop's embedded IPv4 forms: ::a.b.c.d and ::ffff:a.b.c.d.
  const embedded = bestStart === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff));
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += i === 0 ? '::' : ':';
      i += bestLen - 1;
      continue;
    }
    if (embedded && i === 6) {
      out += `${b[offset + 12]}.${b[offset + 13]}.${b[offset + 14]}.${b[offset + 15]}`;
      break;
    }
    out += words[i].toString(16);
    if (i < 7) out += ':';
  }
  return out;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** "C" followed by the base-62 digits of a 64-bit connection id. */
export function formatUid(hi: number, lo: number): string {
  // Long division of the two 32-bit halves by 62, in doubles (exact: every
  // intermediate stays below 2^38).
  let s = '';
  do {
    const hiRem = hi % 62;
    hi = (hi - hiRem) / 62;
    const t = hiRem * 4294967296 + lo;
    const digit = t % 62;
    lo = (t - digit) / 62;
    s = BASE62[digit] + s;
  } while (hi > 0 || lo > 0);
  return 'C' + s;
}

/** The 64-bit id behind a uid, or undefined if it is not one of ours. */
export function parseUid(uid: string): bigint | undefined {
  if (!/^C[0-9A-Za-z]{1,11}$/.test(uid)) return undefined;
  let v = 0n;
  for (const ch of uid.slice(1)) v = v * 62n + BigInt(BASE62.indexOf(ch));
  return v < 1n << 64n ? v : undefined;
}

const FLAG_LETTERS: readonly [number, string][] = [
  [0x02, 'S'],
  [0x01, 'F'],
  [0x04, 'R'],
  [0x10, 'A'],
  [0x08, 'P'],
  [0x20, 'U'],
];

const flagStrings: string[] = [];
for (let f = 0; f < 256; f++) {
  let s = '';
  for (const [bit, letter] of FLAG_LETTERS) if (f & bit) s += letter;
  flagStrings.push(s);
}

/** Zeek's flag string: S F R A P U, in that order. */
export function formatFlags(flags: number): string {
  return flagStrings[flags & 0xff];
}
