/**
 * Events as NDJSON text, the CLI's conventions: `JSON.stringify(ev)` with
 * byte arguments as base64, or conn.log rows (ConnLog). Sinks take the text
 * as TextBatches; until the core renders them, they are rendered here.
 */
import { ConnLog } from './conn-log';
import { ArgShape, EVENT_KINDS, TcpEvent } from './events';

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

/** One event as a JSON object text (bytes as base64). */
export function eventJson(ev: TcpEvent): string {
  // The worker that raised an event is the API's to show; the text stays
  // the same however many workers there are.
  if (ev.worker !== undefined) {
    const { worker: _worker, ...rest } = ev;
    ev = rest as TcpEvent;
  }
  return SHAPES_WITH_BYTES.has(EVENT_KINDS[ev.event].shape) ? JSON.stringify(ev, base64Bytes) : JSON.stringify(ev);
}

/** What a sensor's output is made of: events, or the conn.log rows they complete. */
export type TextFormat = 'ndjson' | 'conn';

/**
 * Renders batches of events as TextBatches, one line per event (or per
 * finished connection, for 'conn'). Stateful for 'conn': a row needs the
 * content_gap events that came before its connection_state_remove.
 */
export class TextRenderer {
  readonly #connLog: ConnLog | undefined;

  constructor(format: TextFormat = 'ndjson') {
    this.#connLog = format === 'conn' ? new ConnLog() : undefined;
  }

  /** The lines of these events; null if there are none. */
  render(events: readonly TcpEvent[]): TextBatch | null {
    const lines: string[] = [];
    const names: string[] = [];
    for (const ev of events) {
      if (this.#connLog) {
        const row = this.#connLog.add(ev);
        if (row) {
          lines.push(JSON.stringify(row));
          names.push('conn');
        }
      } else {
        lines.push(eventJson(ev));
        names.push(ev.event);
      }
    }
    return lines.length > 0 ? textBatch(lines, names) : null;
  }
}

/** A side record (such as a sensor's 'stats' record) as a batch of one line named `name`. */
export function recordBatch(name: string, record: object): TextBatch {
  return textBatch([JSON.stringify(record)], [name]);
}

function textBatch(lines: readonly string[], names: readonly string[]): TextBatch {
  const joined = lines.join('\n') + '\n';
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
