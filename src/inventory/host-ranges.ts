/** Ansible host ranges: `web[01:03].example.com` names web01, web02 and web03. */

/** More hosts than this from one pattern is surely a typo (and would exhaust memory). */
export const MAX_RANGE_HOSTS = 10_000;

const RANGE = /\[(\d+|[a-zA-Z]):(\d+|[a-zA-Z])(?::(\d+))?\]/;

/** Expands the ranges in a host name; a name without ranges is returned alone. Throws an Error with a user-facing message. */
export function expandHostRanges(name: string): string[] {
  const match = RANGE.exec(name);
  if (!match) return [name];
  const [whole, begin = '', end = '', stepText] = match;
  const head = name.slice(0, match.index);
  const tail = name.slice(match.index + whole.length);
  const step = stepText === undefined ? 1 : Number(stepText);
  if (step < 1) throw new Error(`host range ${whole}: the step must be at least 1`);
  const items = rangeItems(whole, begin, end, step);
  const tails = expandHostRanges(tail);
  if (items.length * tails.length > MAX_RANGE_HOSTS) throw new Error(`host range ${name} names more than ${MAX_RANGE_HOSTS} hosts`);
  return items.flatMap((item) => tails.map((rest) => `${head}${item}${rest}`));
}

/** The values of one `[begin:end:step]`, zero-padded like Ansible when begin has a leading zero. */
function rangeItems(whole: string, begin: string, end: string, step: number): string[] {
  const numeric = /^\d+$/.test(begin);
  if (numeric !== /^\d+$/.test(end)) throw new Error(`host range ${whole}: begin and end must both be numbers or both letters`);
  if (!numeric) {
    const from = begin.charCodeAt(0);
    const to = end.charCodeAt(0);
    if (from > to) throw new Error(`host range ${whole}: begin is after end`);
    const out: string[] = [];
    for (let code = from; code <= to; code += step) out.push(String.fromCharCode(code));
    return out;
  }
  const padded = begin.length > 1 && begin.startsWith('0');
  if (padded && begin.length !== end.length) throw new Error(`host range ${whole}: zero-padded begin and end must have the same length`);
  const from = Number(begin);
  const to = Number(end);
  if (from > to) throw new Error(`host range ${whole}: begin is after end`);
  if ((to - from) / step >= MAX_RANGE_HOSTS) throw new Error(`host range ${whole} names more than ${MAX_RANGE_HOSTS} hosts`);
  const out: string[] = [];
  for (let n = from; n <= to; n += step) out.push(padded ? String(n).padStart(begin.length, '0') : String(n));
  return out;
}
