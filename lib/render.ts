/**
 * Events as NDJSON text, the CLI's conventions: `JSON.stringify(ev)` with
 * byte arguments as base64, or conn.log rows (ConnLog), in TextBatches.
 *
 * The same names and shapes as lib/text.ts of the branch that renders text
 * in the core (`renderEvents` is its JavaScript reference there): when that
 * lands, this file goes and its users import from './text'.
 */
import { ConnLog } from './conn-log';
import { ArgShape, EVENT_KINDS, TcpEvent } from './events';

/** 'ndjson': one event a line; 'conn': one conn.log row per finished connection. */
export type TextFormat = 'ndjson' | 'conn';

/**
 * Lines of NDJSON with where each ends and what it is: the form in which
 * text is handed to sinks.
 */
export interface TextBatch {
  /** UTF-8 NDJSON, one event (or conn.log row) per line, each ending in '\n'. */
  text: Buffer;
  /** Per line, the byte offset just past its '\n'. */
  ends: Uint32Array;
  /** Per line: the event name, or 'conn' for a conn.log row. */
  names: readonly string[];
}

// A replacer makes stringify several times slower, so only events whose
// shape carries bytes go through one.
const SHAPES_WITH_BYTES = new Set([ArgShape.Contents, ArgShape.Options, ArgShape.Packet, ArgShape.Inconsistency]);

function base64Bytes(this: Record<string, unknown>, key: string, v: unknown): unknown {
  const original = this[key];
  return Buffer.isBuffer(original) ? original.toString('base64') : v;
}

/** One event as an NDJSON line, without its '\n' (bytes as base64). */
export function eventJson(ev: TcpEvent): string {
  // The worker that raised an event is the API's to show; the text stays
  // the same however many workers there are.
  if (ev.worker !== undefined) {
    const { worker: _worker, ...rest } = ev;
    ev = rest as TcpEvent;
  }
  return SHAPES_WITH_BYTES.has(EVENT_KINDS[ev.event].shape) ? JSON.stringify(ev, base64Bytes) : JSON.stringify(ev);
}

/**
 * Renders events as a TextBatch: NDJSON lines, or the conn.log rows they
 * complete. For conn.log, pass the same `connLog` for every batch of a
 * stream (it carries content gaps over to the rows).
 */
export function renderEvents(events: Iterable<TcpEvent>, format: TextFormat, connLog: ConnLog = new ConnLog()): TextBatch {
  if (format !== 'ndjson' && format !== 'conn') throw new RangeError("format must be 'ndjson' or 'conn'");
  const lines: string[] = [];
  const names: string[] = [];
  for (const ev of events) {
    if (format === 'ndjson') {
      lines.push(eventJson(ev));
      names.push(ev.event);
      continue;
    }
    const row = connLog.add(ev);
    if (row) {
      lines.push(JSON.stringify(row));
      names.push('conn');
    }
  }
  return textBatch(lines, names);
}

/** Lines (without their '\n') and their names as a TextBatch. */
export function textBatch(lines: readonly string[], names: readonly string[]): TextBatch {
  const joined = lines.length > 0 ? lines.join('\n') + '\n' : '';
  const text = Buffer.from(joined, 'utf8');
  const ends = new Uint32Array(lines.length);
  // Addresses, uids and base64 are ASCII: then characters are bytes and
  // the offsets need no second pass over the text.
  const ascii = text.length === joined.length;
  let end = 0;
  for (let i = 0; i < lines.length; i++) {
    end += (ascii ? lines[i].length : Buffer.byteLength(lines[i])) + 1;
    ends[i] = end;
  }
  return { text, ends, names };
}
