/** Terminal colours, off when not on a TTY, with NO_COLOR, or with --no-color. */
import { inspect } from 'node:util';

type Paint = (text: string) => string;

/** The colours the report uses, by meaning. */
export interface Palette {
  added: Paint;
  removed: Paint;
  changed: Paint;
  ok: Paint;
  failed: Paint;
  dim: Paint;
  bold: Paint;
  cyan: Paint;
}

const plain: Paint = (text) => text;

/** A palette that colours when `enabled`, else returns text as it is. */
export function palette(enabled: boolean): Palette {
  if (!enabled) return { added: plain, removed: plain, changed: plain, ok: plain, failed: plain, dim: plain, bold: plain, cyan: plain };
  // Plain ANSI codes: util.styleText drops colour when stdout is not a TTY, which would ignore --color.
  const paint = (format: keyof typeof inspect.colors): Paint => {
    const [open, close] = inspect.colors[format] ?? [0, 0];
    return (text) => `\u001b[${open}m${text}\u001b[${close}m`;
  };
  return {
    added: paint('green'),
    removed: paint('red'),
    changed: paint('yellow'),
    ok: paint('green'),
    failed: paint('red'),
    dim: paint('dim'),
    bold: paint('bold'),
    cyan: paint('cyan'),
  };
}

/** Whether colour should be used on this stream. */
export function colorWanted(stream: NodeJS.WriteStream, flag: boolean | undefined): boolean {
  if (flag === false) return false;
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (flag === true) return true;
  return stream.isTTY === true;
}
