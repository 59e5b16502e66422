import { TextDecoder } from 'node:util';
import { MtproofError } from '../../kit/errors.ts';

/**
 * The 0x80–0x9F row of windows-1252 (WHATWG encoding standard). Node 20's TextDecoder decodes the
 * `windows-1252` label as ISO-8859-1 there (0x80 → U+0080 instead of '€'), so the row is applied by hand.
 * The five bytes the code page leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) keep their C1 code points.
 */
const WINDOWS_1252_HIGH = '€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008dŽ\u008f\u0090‘’“”•–—˜™š›œ\u009džŸ';

/**
 * The WHATWG single-byte encodings (by TextDecoder's canonical name): one byte is one character, so a
 * 256-entry table decodes and encodes them exactly. Double-byte pages (gbk, shift_jis, big5, euc-kr) are not
 * in it: a byte-by-byte table would garble them.
 */
const SINGLE_BYTE_ENCODINGS = new Set([
  'ibm866',
  'iso-8859-2',
  'iso-8859-3',
  'iso-8859-4',
  'iso-8859-5',
  'iso-8859-6',
  'iso-8859-7',
  'iso-8859-8',
  'iso-8859-8-i',
  'iso-8859-10',
  'iso-8859-13',
  'iso-8859-14',
  'iso-8859-15',
  'iso-8859-16',
  'koi8-r',
  'koi8-u',
  'macintosh',
  'windows-874',
  'windows-1250',
  'windows-1251',
  'windows-1252',
  'windows-1253',
  'windows-1254',
  'windows-1255',
  'windows-1256',
  'windows-1257',
  'windows-1258',
  'x-mac-cyrillic',
]);

function singleByteDecoder(codePage: string): TextDecoder {
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(codePage);
  } catch {
    throw new MtproofError('MTP_DLL_CODEPAGE', `unknown code page "${codePage}"`);
  }
  if (!SINGLE_BYTE_ENCODINGS.has(decoder.encoding)) {
    throw new MtproofError(
      'MTP_DLL_CODEPAGE',
      `code page "${codePage}" (${decoder.encoding}) is not single-byte: MT4 text would be garbled; only single-byte ANSI pages are supported`,
    );
  }
  return decoder;
}

/**
 * MT4 text is single-byte ANSI in fixed, NUL-terminated `char[]` fields (facts 1.2). The code page is the
 * server's (windows-1252 for Western European servers, windows-1251 for Cyrillic, ...). The codec holds a
 * 256-entry table built with TextDecoder for any single-byte code page it knows, and its reverse for encoding.
 * A character the code page lacks becomes '?', the usual default character of a wide-to-ANSI conversion.
 * A double-byte code page is refused at construction (MTP_DLL_CODEPAGE).
 */
export class AnsiCodec {
  readonly codePage: string;
  readonly #table: string[] = [];
  readonly #encode = new Map<number, number>();

  constructor(codePage = 'windows-1252') {
    this.codePage = codePage;
    const decoder = singleByteDecoder(codePage);
    for (let byte = 0; byte < 256; byte++) {
      let ch = decoder.decode(new Uint8Array([byte]));
      if (decoder.encoding === 'windows-1252' && byte >= 0x80 && byte <= 0x9f)
        ch = WINDOWS_1252_HIGH[byte - 0x80] ?? ch;
      this.#table.push(ch);
      const cp = ch.codePointAt(0);
      // A byte the code page leaves undefined decodes to U+FFFD: no character encodes to it.
      if (cp !== undefined && cp !== 0xfffd && !this.#encode.has(cp)) this.#encode.set(cp, byte);
    }
  }

  /** The text of a `char[]` field: up to its first NUL. */
  decode(field: Uint8Array): string {
    let out = '';
    for (const byte of field) {
      if (byte === 0) break;
      out += this.#table[byte];
    }
    return out;
  }

  /** A `char[sizeBytes]` field holding `text`, cut to sizeBytes - 1 bytes so that the NUL always fits. */
  encode(text: string, sizeBytes: number): Uint8Array {
    const out = new Uint8Array(sizeBytes);
    let at = 0;
    for (const ch of text) {
      if (at >= sizeBytes - 1) break;
      out[at++] = this.#encode.get(ch.codePointAt(0) ?? 0x3f) ?? 0x3f;
    }
    return out;
  }

  /**
   * A `char[sizeBytes]` field holding exactly `text`, or why it cannot: too long for the field with its NUL,
   * or holding a character the code page lacks (or a NUL, which would cut the text). For fields where a
   * silently changed value is wrong (passwords, group names, names, emails).
   */
  encodeExact(text: string, sizeBytes: number): Uint8Array | string {
    const chars = [...text];
    if (chars.length > sizeBytes - 1) return `${chars.length} characters do not fit char[${sizeBytes}]`;
    for (const ch of chars) {
      const byte = this.#encode.get(ch.codePointAt(0) ?? 0);
      if (byte === undefined || byte === 0) {
        return `"${ch}" (U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}) is not in code page ${this.codePage}`;
      }
    }
    return this.encode(text, sizeBytes);
  }

  /** A NUL-terminated string argument (`const char *`). */
  cString(text: string): Uint8Array {
    return this.encode(text, [...text].length + 1);
  }
}
