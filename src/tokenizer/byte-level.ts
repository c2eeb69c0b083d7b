// GPT-2's byte-to-unicode mapping: every byte 0..255 gets one printable code point, so byte-level BPE works on text.
//
// Facts (openai/gpt-2 src/encoder.py `bytes_to_unicode`; llama.cpp src/unicode.cpp `unicode_byte_to_utf8_map`):
// bytes '!'..'~' (33..126), '¡'..'¬' (161..172) and '®'..'ÿ' (174..255) map to themselves; the other 68 bytes
// (0..32, 127..160, 173) map, in increasing byte order, to U+0100, U+0101, ... So ' ' (32) is 'Ġ' (U+0120) and
// '\n' (10) is 'Ċ' (U+010A).

function isSelfMapped(byte: number): boolean {
  return (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || (byte >= 174 && byte <= 255);
}

function buildByteToCodePoint(): Uint16Array {
  const table = new Uint16Array(256);
  let nextShifted = 256;
  for (let byte = 0; byte < 256; byte++) {
    table[byte] = isSelfMapped(byte) ? byte : nextShifted++;
  }
  return table;
}

/** Code point standing for each byte (index = byte). */
export const BYTE_TO_CODE_POINT: Uint16Array = buildByteToCodePoint();

/** The one-character string standing for each byte (index = byte). */
export const BYTE_TO_CHAR: readonly string[] = Array.from(BYTE_TO_CODE_POINT, (cp) => String.fromCharCode(cp));

/** Byte for each mapped code point (all mapped code points are < 0x144), -1 where none. */
const CODE_POINT_TO_BYTE: Int16Array = (() => {
  const table = new Int16Array(0x200).fill(-1);
  for (let byte = 0; byte < 256; byte++) table[BYTE_TO_CODE_POINT[byte] ?? 0] = byte;
  return table;
})();

/** The byte a mapped code point stands for, or -1 when `codePoint` is not one of the 256 mapped code points. */
export function codePointToByte(codePoint: number): number {
  return codePoint < CODE_POINT_TO_BYTE.length ? (CODE_POINT_TO_BYTE[codePoint] ?? -1) : -1;
}

/** Maps UTF-8 bytes to their byte-level string ('Ġthe' for ' the'). */
export function bytesToByteLevel(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += BYTE_TO_CHAR[b];
  return s;
}

const utf8Encoder = new TextEncoder();

/**
 * The bytes a byte-level piece stands for. Characters outside the mapping (which a well-formed byte-level vocabulary
 * never holds) are kept as their own UTF-8 bytes rather than dropped.
 */
export function byteLevelToBytes(piece: string): Uint8Array {
  const out: number[] = [];
  for (const ch of piece) {
    const cp = ch.codePointAt(0) ?? 0;
    const byte = codePointToByte(cp);
    if (byte >= 0) out.push(byte);
    else for (const b of utf8Encoder.encode(ch)) out.push(b);
  }
  return Uint8Array.from(out);
}
