/**
 * A tiny strict XML reader for the JUnit tests: enough of XML 1.0 to reject what a CI server's parser would
 * (unbalanced or crossed tags, an unquoted or duplicated attribute, a raw `<` or `&`, a character XML
 * forbids, more than one root) and to hand back a tree with entities decoded, so a test can compare what a
 * reader gets with what was meant. No DTDs, CDATA or namespaces: the renderer writes none.
 */

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** The element's own text, entities decoded (children's text not included). */
  text: string;
}

const NAME = '[A-Za-z_][A-Za-z0-9_.:-]*';
const TAG = new RegExp(`^<(/?)(${NAME})((?:\\s+${NAME}\\s*=\\s*"[^"]*")*)\\s*(/?)>`);
const ATTR = new RegExp(`(${NAME})\\s*=\\s*"([^"]*)"`, 'g');

// biome-ignore lint/suspicious/noControlCharactersInRegex: this finds the characters XML 1.0 forbids.
const FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

function decode(raw: string, where: string): string {
  if (raw.includes('<')) throw new Error(`raw '<' in ${where}`);
  return raw.replace(/&([^;\s&]*);?/g, (whole, body: string) => {
    if (!whole.endsWith(';')) throw new Error(`raw '&' in ${where}: ${JSON.stringify(whole)}`);
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
    if (body in named) return named[body] as string;
    const num = /^#(?:x([0-9a-fA-F]+)|([0-9]+))$/.exec(body);
    if (num === null) throw new Error(`unknown entity ${whole} in ${where}`);
    const code = num[1] !== undefined ? Number.parseInt(num[1], 16) : Number(num[2]);
    const ch = String.fromCodePoint(code);
    if (FORBIDDEN.test(ch) || code === 0) throw new Error(`entity ${whole} names a character XML forbids (${where})`);
    return ch;
  });
}

/** Parses `text` or throws with what is wrong. */
export function parseXml(text: string): XmlElement {
  const bad = FORBIDDEN.exec(text);
  if (bad !== null) throw new Error(`forbidden character U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0')}`);
  let rest = text.replace(/^<\?xml\s[^?]*\?>/, '');
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  while (rest.length > 0) {
    const lt = rest.indexOf('<');
    const chunk = lt < 0 ? rest : rest.slice(0, lt);
    if (chunk.length > 0) {
      const top = stack.at(-1);
      if (top === undefined) {
        if (chunk.trim() !== '') throw new Error(`text outside the root: ${JSON.stringify(chunk.slice(0, 40))}`);
      } else {
        top.text += decode(chunk, `text of <${top.name}>`);
      }
    }
    if (lt < 0) break;
    rest = rest.slice(lt);
    if (rest.startsWith('<!--')) {
      const end = rest.indexOf('-->');
      if (end < 0) throw new Error('unterminated comment');
      rest = rest.slice(end + 3);
      continue;
    }
    const m = TAG.exec(rest);
    if (m === null) throw new Error(`malformed tag at ${JSON.stringify(rest.slice(0, 60))}`);
    rest = rest.slice(m[0].length);
    const [, closing, name, attrText, selfClosing] = m as unknown as [string, string, string, string, string];
    if (closing === '/') {
      if (attrText.trim() !== '' || selfClosing === '/') throw new Error(`malformed closing tag </${name}>`);
      const open = stack.pop();
      if (open?.name !== name) throw new Error(`</${name}> closes <${open?.name ?? '(nothing)'}>`);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const [, key, value] of attrText.matchAll(ATTR) as IterableIterator<[string, string, string]>) {
      if (key in attrs) throw new Error(`duplicate attribute ${key} on <${name}>`);
      attrs[key] = decode(value, `${name}@${key}`);
    }
    const element: XmlElement = { name, attrs, children: [], text: '' };
    const parent = stack.at(-1);
    if (parent === undefined) {
      if (root !== undefined) throw new Error(`second root element <${name}>`);
      root = element;
    } else {
      parent.children.push(element);
    }
    if (selfClosing !== '/') stack.push(element);
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.map((e) => e.name).join('> <')}>`);
  if (root === undefined) throw new Error('no root element');
  return root;
}

/** Every descendant element named `name`, depth first. */
export function findAll(element: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  for (const child of element.children) {
    if (child.name === name) out.push(child);
    out.push(...findAll(child, name));
  }
  return out;
}
