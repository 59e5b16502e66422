/**
 * Escaping for XML (JUnit) and HTML: every string a report shows may come from a user (an incident name,
 * a comment, an integration's error text), so nothing is ever written raw.
 */

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * Whether a code point may stay: not the C0 controls other than tab, LF and CR, nor a lone surrogate, nor
 * U+FFFE/U+FFFF (XML 1.0 does not allow them at all, and `&#1;` is just as illegal as the raw character),
 * nor DEL and the C1 controls (allowed, but no reader can display them and some JUnit consumers reject them).
 */
function allowed(c: number): boolean {
  if (c < 0x20) return c === 0x09 || c === 0x0a || c === 0x0d;
  if (c >= 0x7f && c <= 0x9f) return false;
  if (c >= 0xd800 && c <= 0xdfff) return false;
  return c !== 0xfffe && c !== 0xffff;
}

/** Strips what a document may not contain (see `allowed`). */
function stripControl(text: string): string {
  let out = '';
  // for…of walks code points: a proper surrogate pair comes as one, a lone surrogate alone.
  for (const ch of text) if (allowed(ch.codePointAt(0) as number)) out += ch;
  return out;
}

/** Text content (of an element): the five markup characters encoded, forbidden characters removed. */
export function escapeText(value: unknown): string {
  return stripControl(String(value)).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/**
 * An attribute value (always written between double quotes). Tab, LF and CR are encoded as well: an XML
 * parser normalises them to spaces in an attribute, and a JUnit failure message should keep its lines.
 */
export function escapeAttr(value: unknown): string {
  return escapeText(value).replace(/[\t\n\r]/g, (c) => `&#${c.charCodeAt(0)};`);
}
