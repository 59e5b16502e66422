/**
 * Group masks as MetaTrader managers use them (facts 2.7: comma-separated, `*` wildcard, `!` excludes,
 * e.g. `demo*,!demoforex`); matching ignores case. An exclusion wins over any inclusion.
 */
export function groupMatches(masks: readonly string[], group: string): boolean {
  if (masks.length === 1 && masks[0] === '*') return true;
  let admitted = false;
  for (const raw of masks.flatMap((m) => m.split(','))) {
    const mask = raw.trim();
    if (mask === '') continue;
    const exclude = mask.startsWith('!');
    if (wildcard(exclude ? mask.slice(1) : mask, group)) {
      if (exclude) return false;
      admitted = true;
    }
  }
  return admitted;
}

const compiled = new Map<string, RegExp>();

function wildcard(pattern: string, text: string): boolean {
  if (pattern === '*') return true;
  let re = compiled.get(pattern);
  if (re === undefined) {
    re = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i');
    compiled.set(pattern, re);
  }
  return re.test(text);
}
