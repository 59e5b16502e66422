import { TextDecoder } from 'node:util';

/**
 * The 0x80–0x9F row of windows-1252 (WHATWG encoding standard). Node 20's TextDecoder decodes the
 * `windows-1252` label as ISO-8859-1 there (0x80 → U+0080 instead of '€'), so the row is applied by hand.
 * The five bytes the code page leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) keep their C1 code points.
 */
const WINDOWS_1252_HIGH = '€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008dŽ\u008f\u0090‘’“”•–—˜™š›œ\u009džŸ';

/**
 * MT4 text is single-byte ANSI in fixed, NUL-terminated `char[]` fields (facts 1.2). The code page is the
 * server's (windows-1252 for Western European servers, windows-1251 for Cyrillic, ...). The codec holds a
 * 256-entry table built with TextDecoder for any single-byte code page it knows, and its reverse for encoding.
 * A character the code page lacks becomes '?', the usual default character of a wide-to-ANSI conversion.
 */
export class AnsiCodec {
  readonly codePage: string;
  readonly #table: string[] = [];
  readonly #encode = new Map<number, number>();

  constructor(codePage = 'windows-1252') {
    this.codePage = codePage;
    const decoder = new TextDecoder(codePage);
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

  /** A NUL-terminated string argument (`const char *`). */
  cString(text: string): Uint8Array {
    return this.encode(text, [...text].length + 1);
  }
}
