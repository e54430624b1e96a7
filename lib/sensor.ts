/**
 * A running capture: an async iterable of Zeek's TCP events.
 *
 * The addon hands over whole batches; this class decodes each one and
 * hands its events out one at a time. Between batches it yields to the
 * event loop once (setImmediate), so timers and I/O keep running however
 * far ahead the capture thread is.
 */
import { EventEmitter } from 'node:events';
import { BatchReader, IdentityCaches } from './batch';
import { TcpsensorError, TcpsensorWarning, abortError, checksumOffloadWarning, fromNative } from './errors';
import type { TcpEvent } from './events';
import { parseUid } from './format';
import { pipe, PipeOptions, TextSink } from './sink';
import { binding, CaptureInfo, NativeConfig, NativeRecord, NativeSensor, SensorStats } from './native';
import { StatsRecord, statsRecord } from './stats';
import { TextBatch, TextFormat, textBatchOf } from './text';

/** Which side(s) of a connection a contents file records (Zeek's CONTENTS_NONE/ORIG/RESP/BOTH). */
export type ContentsDirection = 'none' | 'orig' | 'resp' | 'both';
const DIRECTIONS: Record<ContentsDirection, number> = { none: 0, orig: 1, resp: 2, both: 3 };

export type { SensorStats };

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// A consumer doing real work per event could hold the loop for a whole
// batch, so the iterator also yields within a batch once this long passed.
const YIELD_AFTER_MS = 10;
const CHECK_EVERY = 256;

/**
 * The sensor's events besides the stream itself: 'warning' (a
 * TcpsensorWarning; with no listener it goes to process.emitWarning) and
 * 'stats' (a StatsRecord every `statsInterval` seconds of network time, and
 * one at the end). Both are emitted in stream order: after the events that
 * came before them, before those that came after.
 */
export interface SensorEventMap {
  /** A condition of the capture as a whole (checksum offload). */
  warning: [warning: TcpsensorWarning];
  /** A periodic statistics record (with `statsInterval`). */
  stats: [record: StatsRecord];
}

/**
 * A running capture: an async iterable of Zeek's TCP events (made by
 * open()). One consumer: the event iterator, batches(), textBatches() or
 * pipeTo(). `break` out of the loop, close() or an aborted signal stop it at
 * once; stop() ends it as Zeek ends at termination.
 */
export class Sensor extends EventEmitter<SensorEventMap> implements AsyncIterable<TcpEvent> {
  #native: NativeSensor | null;
  #live: boolean;
  /** Set when the sensor renders text (the `output` option): then it has textBatches() and no events. */
  #output: TextFormat | undefined;
  #batchesRead = 0;
  #records: NativeRecord[] = [];
  #lastStatsRecord: { stats: SensorStats; ts: number } | undefined;
  #started = false;
  #iterating = false;
  #ended = false;
  #lastStats: SensorStats | null = null;
  #identities = new IdentityCaches();
  #tagWorker: boolean;
  #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;
  /** Set when the signal aborted the sensor (not by an abort after the end). */
  #abortedBy: { reason: unknown } | null = null;
  #lastYield = 0;

  /** @internal use open() */
  constructor(config: NativeConfig, signal?: AbortSignal) {
    super();
    this.#live = config.interface !== undefined;
    this.#tagWorker = (config.workers ?? 1) > 1;
    this.#output = config.output;
    if (signal?.aborted) throw abortError(signal.reason);
    try {
      this.#native = new (binding().Sensor)(config);
    } catch (err) {
      throw fromNative(err);
    }
    if (signal) {
      this.#signal = signal;
      this.#onAbort = () => {
        this.#abortedBy = { reason: signal.reason };
        this.close();
      };
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** True for a live capture (an interface), false for a file. */
  get live(): boolean {
    return this.#live;
  }

  /** The text the sensor renders (the `output` option), or undefined for event objects. */
  get output(): TextFormat | undefined {
    return this.#output;
  }

  /** True once the stream has ended or the sensor was closed. */
  get closed(): boolean {
    return this.#native === null;
  }

  /**
   * Batches of events as the engine produced them; the cheapest way to
   * consume a capture. Single consumer, like the per-event iterator.
   */
  async *batches(): AsyncGenerator<TcpEvent[], void, undefined> {
    this.#claim('events');
    try {
      for (;;) {
        const reader = await this.#nextBatch();
        if (reader === null) return;
        yield reader.rest();
      }
    } finally {
      this.close();
    }
  }

  /**
   * Hands the whole stream to a sink as text (NDJSON events or conn.log
   * rows, with the 'stats' records where they fall) and resolves with what
   * the sink's end() gives, e.g. a NatsSink's stats. A sink that makes
   * writes wait holds a file read back; a live capture is never held (the
   * sink is told so, and drops instead). Iterates the sensor: it takes the
   * place of `for await`. Rejects with the sink's error (the capture is
   * then closed), or with the capture's error once what came before it
   * was delivered.
   */
  pipeTo<Result>(sink: TextSink<Result>, options?: PipeOptions): Promise<Result> {
    return pipe(this, sink, options);
  }

  /**
   * The rendered text of a sensor opened with `output: 'ndjson' | 'conn'`:
   * batches of NDJSON lines (events) or conn.log rows, rendered in C++ off
   * the JavaScript thread. Single consumer; such a sensor has no event
   * iterator (ERR_OUTPUT_MODE). Stats records and warnings are emitted in
   * stream order, between the batches, as with events.
   */
  async *textBatches(): AsyncGenerator<TextBatch, void, undefined> {
    this.#claim('text');
    try {
      for (;;) {
        const buffer = await this.#nextBuffer();
        if (buffer === null) return;
        const batch = textBatchOf(buffer);
        if (batch.ends.length > 0) yield batch;
      }
    } finally {
      this.close();
    }
  }

  /** The events, one at a time, in stream order. */
  [Symbol.asyncIterator](): AsyncIterator<TcpEvent> {
    this.#claim('events');
    let reader: BatchReader | null = null;
    let untilCheck = CHECK_EVERY;
    const done: IteratorReturnResult<undefined> = { done: true, value: undefined };
    // Events already decoded go out in resolved promises, without an async
    // function's machinery; a batch boundary takes the slow path.
    const slow = async (): Promise<IteratorResult<TcpEvent>> => {
      if (untilCheck === 0) {
        untilCheck = CHECK_EVERY;
        if (performance.now() - this.#lastYield > YIELD_AFTER_MS) await this.#yield();
      }
      // close() and aborts stop at once: the rest of a batch is not read.
      if (!this.#native) reader = null;
      for (;;) {
        const ev = reader?.next();
        if (ev !== undefined) return { done: false, value: ev };
        try {
          reader = await this.#nextBatch();
        } catch (err) {
          this.close();
          throw err;
        }
        if (reader === null) {
          this.close();
          return done;
        }
      }
    };
    const iterator: AsyncIterator<TcpEvent> = {
      next: (): Promise<IteratorResult<TcpEvent>> => {
        if (--untilCheck !== 0 && reader !== null && this.#native) {
          const ev = reader.next();
          if (ev !== undefined) return Promise.resolve({ done: false, value: ev });
        }
        return slow();
      },
      return: async (): Promise<IteratorResult<TcpEvent>> => {
        // `break` out of for-await: capture stops.
        this.close();
        reader = null;
        return done;
      },
    };
    return iterator;
  }

  /**
   * Stops capturing and ends the stream the way Zeek ends at termination:
   * open connections get connection_pending and connection_state_remove,
   * which the iterator still delivers before it finishes.
   */
  stop(): void {
    this.#native?.stop();
  }

  /** Stops at once; whatever was not yet read is discarded. */
  close(): void {
    const native = this.#native;
    if (!native) return;
    this.#native = null;
    if (this.#signal && this.#onAbort) this.#signal.removeEventListener('abort', this.#onAbort);
    native.close();
    // Read after the capture thread stopped: its final counters.
    this.#lastStats = this.#readStats(native);
  }

  /** The capture's link type and snapshot length (null once closed). */
  info(): CaptureInfo | null {
    return this.#native?.info() ?? null;
  }

  /** The counters now (and after close, as the capture left them). Throws ERR_CLOSED on a sensor closed before it ran. */
  stats(): SensorStats {
    if (!this.#native) {
      if (this.#lastStats) return this.#lastStats;
      throw new TcpsensorError('ERR_CLOSED', 'the sensor is closed');
    }
    return this.#readStats(this.#native);
  }

  /**
   * Zeek's set_contents_file: writes the reassembled stream of an active
   * connection (by uid) to `path`, from the point the capture thread takes
   * up the request. Resolves false if no such connection is active.
   */
  async setContentsFile(uid: string, direction: ContentsDirection, path: string): Promise<boolean> {
    const id = this.#uid(uid);
    const dir = this.#direction(direction);
    if (direction !== 'none' && (typeof path !== 'string' || path.length === 0)) {
      throw new TypeError('path must be a non-empty string');
    }
    if (!this.#native || id === undefined) return false;
    try {
      return await this.#native.setContentsFile(id, dir, direction === 'none' ? '' : path);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Zeek's get_contents_file: the path being written, or null. */
  async getContentsFile(uid: string, direction: ContentsDirection): Promise<string | null> {
    const id = this.#uid(uid);
    const dir = this.#direction(direction);
    if (!this.#native || id === undefined) return null;
    return this.#native.getContentsFile(id, dir);
  }

  #uid(uid: string): bigint | undefined {
    if (typeof uid !== 'string') throw new TypeError('uid must be a string');
    return parseUid(uid);
  }

  #direction(direction: ContentsDirection): number {
    const dir = DIRECTIONS[direction];
    if (dir === undefined) throw new RangeError("direction must be 'none', 'orig', 'resp' or 'both'");
    return dir;
  }

  #claim(wanted: 'events' | 'text'): void {
    if (wanted === 'text' && this.#output === undefined) {
      throw new TcpsensorError('ERR_OUTPUT_MODE', "textBatches() needs a sensor opened with output: 'ndjson' or 'conn'");
    }
    if (wanted === 'events' && this.#output !== undefined) {
      throw new TcpsensorError('ERR_OUTPUT_MODE', `this sensor renders text (output: '${this.#output}'): read it with textBatches()`);
    }
    if (this.#iterating) throw new TcpsensorError('ERR_ALREADY_ITERATING', 'a sensor has one consumer; it is already being iterated');
    this.#throwIfAborted();
    if (!this.#native && !this.#ended) throw new TcpsensorError('ERR_CLOSED', 'the sensor is closed');
    this.#iterating = true;
  }

  async #yield(): Promise<void> {
    await yieldToLoop();
    this.#lastYield = performance.now();
  }

  #throwIfAborted(): void {
    if (this.#abortedBy) throw abortError(this.#abortedBy.reason);
  }

  async #nextBatch(): Promise<BatchReader | null> {
    for (;;) {
      const buffer = await this.#nextBuffer();
      if (buffer === null) return null;
      const reader = new BatchReader(buffer, this.#identities, this.#tagWorker);
      if (reader.count > 0) return reader;
    }
  }

  // The next batch buffer of the addon (event or text batch), with the
  // side records before it emitted; null at the end.
  async #nextBuffer(): Promise<ArrayBuffer | null> {
    for (;;) {
      this.#throwIfAborted();
      const native = this.#native;
      if (!native) return null;
      if (!this.#started) {
        this.#started = true;
        native.start();
      } else {
        await this.#yield();
        if (!this.#native) {
          this.#throwIfAborted();
          return null;
        }
      }
      this.#emitRecords(native, false);
      let buffer: ArrayBuffer | false | null;
      try {
        const r = native.read();
        buffer = r instanceof Promise ? await r : r;
      } catch (err) {
        if (this.#native) this.#emitRecords(this.#native, true);
        throw fromNative(err);
      }
      if (buffer === false) continue; // records to take, and no batch yet
      if (buffer === null) {
        this.#throwIfAborted();
        if (this.#native) this.#emitRecords(this.#native, true);
        this.#ended = true;
        return null;
      }
      // Records the read itself released (a sharded capture places them
      // when the merge passes their step) go before this batch's events.
      if (this.#native) this.#emitRecords(this.#native, false);
      this.#batchesRead++;
      return buffer;
    }
  }

  // Emits the side records that belong before the next batch (all of them
  // at the end of the stream).
  #emitRecords(native: NativeSensor, all: boolean): void {
    for (const r of native.takeRecords()) this.#records.push(r);
    while (this.#records.length > 0 && (all || this.#records[0].afterBatch <= this.#batchesRead)) {
      const r = this.#records.shift() as NativeRecord;
      if (r.kind === 'stats') {
        const previous = this.#lastStatsRecord;
        const record = statsRecord(r.stats, r.networkTime, previous?.stats, previous?.ts ?? r.intervalStart);
        this.#lastStatsRecord = { stats: r.stats, ts: r.networkTime };
        this.emit('stats', record);
      } else {
        const { kind: _kind, afterBatch: _after, ...detail } = r;
        const warning = checksumOffloadWarning(detail, this.#live);
        if (this.listenerCount('warning') > 0) this.emit('warning', warning);
        else process.emitWarning(warning);
      }
    }
  }

  #readStats(native: NativeSensor): SensorStats {
    const s: SensorStats | null = native.stats();
    if (!s) throw new TcpsensorError('ERR_CLOSED', 'the sensor is closed');
    return s;
  }
}
