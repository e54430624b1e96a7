/**
 * Events as text: NDJSON (one event object a line, byte arguments in
 * base64) or Zeek's conn.log rows (JSON), in batches of lines.
 *
 * A sensor opened with `output: 'ndjson' | 'conn'` renders its batches in
 * C++ (native/core/output/text_renderer.cc) and hands them out through
 * `sensor.textBatches()`, without building an event object. renderEvents()
 * makes the same bytes from event objects in JavaScript: it is the
 * reference the native text is tested against, and serves sinks that have
 * objects.
 */
import { ConnLog } from './conn-log';
import { TcpsensorError } from './errors';
import { ArgShape, EVENT_KINDS, EVENT_NAME_BY_ID, TcpEvent } from './events';

/** 'ndjson': one event a line; 'conn': one conn.log row per finished connection. */
export type TextFormat = 'ndjson' | 'conn';

/** Every TextFormat, for checking one given at run time. */
export const TEXT_FORMATS: readonly TextFormat[] = ['ndjson', 'conn'];

/** One batch of rendered lines. */
export interface TextBatch {
  /** UTF-8 NDJSON: one event (or conn.log row) per line, each ending in '\n'. Valid as long as it is referenced. */
  text: Buffer;
  /** Per line, the byte offset just past its '\n' (so line i is text[ends[i-1] ?? 0, ends[i])). */
  ends: Uint32Array;
  /** Per line, what it is: an event name ('new_connection', ...), or 'conn' for a conn.log row. */
  names: readonly string[];
}

// Byte arguments as base64; everything else as JSON.stringify writes it.
// A replacer makes stringify several times slower, so only events whose
// shape carries bytes go through one.
const SHAPES_WITH_BYTES = new Set([ArgShape.Contents, ArgShape.Options, ArgShape.Packet, ArgShape.Inconsistency]);

function base64Bytes(this: Record<string, unknown>, key: string, v: unknown): unknown {
  const original = this[key];
  return Buffer.isBuffer(original) ? original.toString('base64') : v;
}

/** One event as an NDJSON line (without its '\n'). */
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
 * Renders events as a TextBatch in JavaScript: NDJSON lines, or the
 * conn.log rows they complete. For conn.log, pass the same `connLog` for
 * every batch of a stream (it carries content gaps over to the rows).
 */
export function renderEvents(events: Iterable<TcpEvent>, format: TextFormat, connLog: ConnLog = new ConnLog()): TextBatch {
  if (!TEXT_FORMATS.includes(format)) throw new RangeError("format must be 'ndjson' or 'conn'");
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

// native/core/output/text_batch_format.h
const MAGIC = 0x31425854;
export const TEXT_BATCH_VERSION = 1;
const HEADER = 32;
const CONN_LOG_ROW = 0;

/** A text batch of the addon: views of its buffer, line names looked up when first asked for. */
class NativeTextBatch implements TextBatch {
  readonly text: Buffer;
  readonly ends: Uint32Array;
  #kinds: Uint8Array;
  #names: readonly string[] | undefined;

  constructor(buffer: ArrayBuffer) {
    const view = new DataView(buffer);
    if (buffer.byteLength < HEADER || view.getUint32(0, true) !== MAGIC || view.getUint32(4, true) !== TEXT_BATCH_VERSION) {
      throw new TcpsensorError('ERR_BATCH_FORMAT', 'text batch from the addon has an unknown format (rebuild the addon?)');
    }
    const lines = view.getUint32(8, true);
    this.ends = new Uint32Array(buffer, view.getUint32(12, true), lines);
    this.#kinds = new Uint8Array(buffer, view.getUint32(16, true), lines);
    this.text = Buffer.from(buffer, view.getUint32(20, true), view.getUint32(24, true));
  }

  get names(): readonly string[] {
    this.#names ??= Array.from(this.#kinds, (kind) => (kind === CONN_LOG_ROW ? 'conn' : (EVENT_NAME_BY_ID[kind] ?? 'unknown')));
    return this.#names;
  }
}

/** @internal the TextBatch over a text batch buffer of the addon. */
export function textBatchOf(buffer: ArrayBuffer): TextBatch {
  return new NativeTextBatch(buffer);
}
