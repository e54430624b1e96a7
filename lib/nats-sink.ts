/**
 * A TextSink that ships every line to a NATS JetStream stream, one message
 * per event, with the official clients (@nats-io/transport-node for the
 * connection, @nats-io/jetstream for the stream).
 *
 * Subjects: `<prefix>.<sensor>.<event>` ('conn' for conn.log rows, 'stats'
 * for stats records). Every message carries `Nats-Msg-Id:
 * <sensor>:<run>:<seq>` (seq counts the lines handed to the sink, from 1),
 * so a resend after a lost acknowledgement is removed by the stream's
 * duplicate window, and `Nats-Expected-Stream`, so a message is only ever
 * stored in our stream.
 *
 * At most `window` messages are unacknowledged at once. Reading a file
 * ('wait'), a full window or a broker that is away holds the writer (and so
 * the capture) back, and every unacknowledged message is sent again, with
 * its id, after a reconnect or when its acknowledgement is late: nothing is
 * lost, nothing is stored twice (as long as the broker is back within the
 * duplicate window). Live ('drop'), the writer never waits: a line that
 * finds the window full or the broker away is dropped and counted.
 *
 * Publishing uses the core connection (`publish` with a reply subject per
 * message, one subscription for all the acknowledgements) rather than
 * `jetstream().publish()`, which costs a request object, a timer and two
 * Error objects per message: 29 µs of main-thread CPU per message against
 * 6.4 µs this way, a quarter of the rate (bench/RESULTS.md).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { StreamConfig, StreamInfo } from '@nats-io/jetstream';
// Types and helpers come from nats-core, which transport-node re-exports
// under a path TypeScript's classic resolution cannot follow.
import type { Msg, NatsConnection, Status } from '@nats-io/nats-core';
import { TcpsensorError } from './errors';
import type { TextBatch } from './text';
import type { SinkContext, TextSink } from './sink';

/** Options of natsSink(). Durations are in seconds, as the sensor's own. */
export interface NatsSinkOptions {
  /** Broker URLs (`nats://HOST:PORT`), an array or comma-separated. */
  servers: string | readonly string[];
  /** The JetStream stream; created when missing. Default 'TCPSENSOR'. */
  stream?: string;
  /** First token(s) of every subject. Default 'tcpsensor'. */
  subjectPrefix?: string;
  /** This sensor's subject token. Default: the host name, with what subjects cannot hold replaced by '_'. */
  sensorName?: string;
  /** Middle part of the message ids: two runs must differ. Default: 12 random hex digits. */
  runId?: string;
  /** Most messages unacknowledged at once. Default 4096. */
  window?: number;
  /**
   * When a message cannot be sent now (window full, broker away): 'wait'
   * holds the writer back, 'drop' drops and counts it. Default: 'drop' for
   * a live source, 'wait' otherwise (see SinkContext).
   */
  whenBlocked?: 'wait' | 'drop';
  /** A message unacknowledged this long is sent again (same id). Default 5. */
  ackTimeout?: number;
  /** 'drop' only: how long end() waits for the window to empty; the rest counts as dropped. Default 5. */
  drainTimeout?: number;
  /** How long the first connection may take. Default 5. */
  connectTimeout?: number;
  /** A stream created here keeps messages this long (seconds; 0: no limit). Default 0. */
  maxAge?: number;
  /** A stream created here keeps this many bytes, the oldest messages going first (-1: no limit). Default -1. */
  maxBytes?: number;
  /**
   * How long a stream created here remembers message ids (seconds). A
   * broker away longer than this may store a resent message twice; the
   * broker keeps every id of the window in memory (rate × window of them).
   * Default 120 (the broker's).
   */
  duplicateWindow?: number;
}

/** Counters of a NatsSink. */
export interface NatsSinkStats {
  /** Lines handed to the sink: one message each, sent or dropped. */
  messages: number;
  /** Messages the stream confirmed holding. */
  acknowledged: number;
  /** Copies the stream removed as duplicates (by id): resends of messages it already had. */
  duplicates: number;
  /** Sends repeated: after a reconnect, a late acknowledgement, or a stream that was not ready. */
  resent: number;
  /** Sent and not (yet) acknowledged. */
  pending: number;
  /** Messages given up: the four counts below. Only 'drop' gives up. */
  dropped: number;
  /** Dropped because `window` messages were unacknowledged. */
  droppedWindowFull: number;
  /** Dropped because the broker was away. */
  droppedDisconnected: number;
  /** Still unacknowledged when end() gave up waiting. */
  droppedUnacknowledged: number;
  /** Refused by the stream (e.g. too large). */
  droppedRejected: number;
  /** Times the connection was lost. */
  disconnects: number;
}

/** A NatsSink's events besides its stream of messages. */
export interface NatsSinkEventMap {
  /** The connection to this server was lost: 'wait' holds the writer, 'drop' drops. */
  disconnect: [server: string];
  /** Connected again (to this server); what was unacknowledged has been resent. */
  reconnect: [server: string];
}

interface InFlight {
  subject: string;
  payload: Uint8Array;
  sentAt: number;
  /** Connection generation it was sent on; a reconnect resends older ones. */
  epoch: number;
  /** Set after a "not ready" answer: when to send again. */
  retryAt: number;
  retries: number;
}

interface Waiting {
  batch: TextBatch;
  next: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const DEFAULTS = { stream: 'TCPSENSOR', subjectPrefix: 'tcpsensor', window: 4096, ackTimeout: 5, drainTimeout: 5, connectTimeout: 5, maxAge: 0, maxBytes: -1, duplicateWindow: 120 };

// A subject token: no separators, wildcards or white space.
const TOKEN = /^[^\s.*>]+$/;

/** The host name as a subject token. */
export function defaultSensorName(): string {
  return hostname().replace(/[^A-Za-z0-9_-]/g, '_') || 'sensor';
}

/** Whether every subject `<prefix>.<sensor>.<token>` matches the stream subject `filter`. */
function coversSensor(filter: string, prefix: string, sensor: string): boolean {
  const want = [...prefix.split('.'), sensor, '*'];
  const have = filter.split('.');
  for (let i = 0; i < have.length; i++) {
    if (have[i] === '>') return i < want.length;
    if (i >= want.length) return false;
    if (have[i] !== '*' && have[i] !== want[i]) return false;
  }
  return have.length === want.length;
}

/**
 * A sink that publishes to a JetStream stream; see natsSink(). It is a
 * TextSink (for sensor.pipeTo) and can be written to directly.
 */
export class NatsSink extends EventEmitter<NatsSinkEventMap> implements TextSink<NatsSinkStats> {
  /** The stream's name. */
  readonly streamName: string;
  /** Its subjects, as found or created. */
  readonly streamSubjects: readonly string[];
  /** True if this sink created the stream. */
  readonly streamCreated: boolean;
  /** The sensor's subject token. */
  readonly sensorName: string;
  /** The message ids' run part. */
  readonly runId: string;

  readonly #nc: NatsConnection;
  readonly #headers: typeof import('@nats-io/nats-core').headers;
  readonly #window: number;
  readonly #ackTimeoutMs: number;
  readonly #drainTimeoutMs: number;
  readonly #subjectBase: string;
  readonly #subjects = new Map<string, string>();
  readonly #idBase: string;
  readonly #inbox: string;
  readonly #sweep: NodeJS.Timeout;
  #mode: 'wait' | 'drop';
  readonly #modeFixed: boolean;
  readonly #inflight = new Map<number, InFlight>();
  readonly #waiting: Waiting[] = [];
  #idle: (() => void)[] = [];
  #seq = 0;
  #epoch = 0;
  #connected = true;
  #failure: Error | null = null;
  #closed = false;
  #ending: Promise<NatsSinkStats> | null = null;
  readonly #stats: Omit<NatsSinkStats, 'pending' | 'dropped'> = {
    messages: 0, acknowledged: 0, duplicates: 0, resent: 0,
    droppedWindowFull: 0, droppedDisconnected: 0, droppedUnacknowledged: 0, droppedRejected: 0, disconnects: 0,
  };

  /** @internal use natsSink() */
  constructor(
    nc: NatsConnection,
    nats: typeof import('@nats-io/nats-core'),
    stream: { name: string; subjects: readonly string[]; created: boolean },
    o: Required<Pick<NatsSinkOptions, 'subjectPrefix' | 'sensorName' | 'runId' | 'window' | 'ackTimeout' | 'drainTimeout'>> & Pick<NatsSinkOptions, 'whenBlocked'>,
  ) {
    super();
    this.#nc = nc;
    this.#headers = nats.headers;
    this.streamName = stream.name;
    this.streamSubjects = stream.subjects;
    this.streamCreated = stream.created;
    this.sensorName = o.sensorName;
    this.runId = o.runId;
    this.#window = o.window;
    this.#ackTimeoutMs = o.ackTimeout * 1000;
    this.#drainTimeoutMs = o.drainTimeout * 1000;
    this.#mode = o.whenBlocked ?? 'wait';
    this.#modeFixed = o.whenBlocked !== undefined;
    this.#subjectBase = `${o.subjectPrefix}.${o.sensorName}.`;
    this.#idBase = `${o.sensorName}:${o.runId}:`;
    this.#inbox = `${nats.createInbox()}.`;
    nc.subscribe(`${this.#inbox}*`, { callback: (err, msg) => this.#onAck(err, msg) });
    this.#sweep = setInterval(() => this.#resendDue(), Math.min(1000, this.#ackTimeoutMs / 4));
    this.#sweep.unref();
    void this.#watch();
    // The client gives up on its own only for good (e.g. credentials
    // refused on reconnect): nothing written after that could arrive.
    void nc.closed().then((err) => {
      if (!this.#closed) this.#fail(new TcpsensorError('ERR_SINK_CONNECT', `the connection to NATS closed${err ? `: ${err.message}` : ''}`, { cause: err }));
    });
  }

  /** True while the connection to the broker is up. */
  get connected(): boolean {
    return this.#connected;
  }

  /** A copy of the counters. */
  stats(): NatsSinkStats {
    const s = this.#stats;
    const dropped = s.droppedWindowFull + s.droppedDisconnected + s.droppedUnacknowledged + s.droppedRejected;
    return { ...s, pending: this.#inflight.size, dropped };
  }

  /** TextSink: a live source makes the sink drop rather than wait (unless `whenBlocked` says otherwise). */
  start(context: SinkContext): void {
    if (!this.#modeFixed) this.#mode = context.live ? 'drop' : 'wait';
  }

  /**
   * Publishes every line of the batch, one message each. With 'wait',
   * resolves once every line is sent (not yet acknowledged: end() waits for
   * that), and rejects with ERR_SINK_PUBLISH if the stream refused one.
   * With 'drop', returns at once.
   */
  write(batch: TextBatch): void | Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#ending) return Promise.reject(new TcpsensorError('ERR_CLOSED', 'the sink has ended'));
    const n = batch.ends.length;
    if (this.#mode === 'drop') {
      for (let i = 0; i < n; i++) {
        if (!this.#connected) {
          this.#seq++;
          this.#stats.droppedDisconnected++;
        } else if (this.#inflight.size >= this.#window) {
          this.#seq++;
          this.#stats.droppedWindowFull++;
        } else {
          this.#send(batch, i);
        }
      }
      this.#stats.messages += n;
      return;
    }
    this.#stats.messages += n;
    const next = this.#waiting.length === 0 ? this.#sendFrom(batch, 0) : 0;
    if (next === n) return;
    return new Promise((resolve, reject) => this.#waiting.push({ batch, next, resolve, reject }));
  }

  /**
   * No more writes: resolves with the final counters once every message
   * is acknowledged ('wait'), or after at most `drainTimeout` ('drop'; what
   * is still unacknowledged then counts as dropped), and closes the
   * connection. Rejects with the error that failed the sink, if any.
   */
  end(): Promise<NatsSinkStats> {
    this.#ending ??= this.#end();
    return this.#ending;
  }

  /** Closes at once; unacknowledged messages stay counted as pending. */
  abort(reason?: unknown): void {
    this.#fail(reason instanceof Error ? reason : new TcpsensorError('ABORT_ERR', 'the sink was aborted', { cause: reason }));
    void this.#close();
  }

  async #end(): Promise<NatsSinkStats> {
    if (!this.#failure && !this.#isIdle()) {
      const idle = new Promise<void>((resolve) => this.#idle.push(resolve));
      if (this.#mode === 'drop') {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([idle, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#drainTimeoutMs)))]);
        clearTimeout(timer);
      } else {
        await idle;
      }
    }
    if (this.#mode === 'drop' && !this.#failure) {
      this.#stats.droppedUnacknowledged += this.#inflight.size;
      this.#inflight.clear();
    }
    await this.#close();
    if (this.#failure) throw this.#failure;
    return this.stats();
  }

  async #close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    await this.#nc.close().catch(() => {});
  }

  #isIdle(): boolean {
    return this.#inflight.size === 0 && this.#waiting.length === 0;
  }

  #fail(err: Error): void {
    if (this.#failure) return;
    this.#failure = err;
    for (const w of this.#waiting.splice(0)) w.reject(err);
    this.#wakeIdle();
  }

  #wakeIdle(): void {
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  // Sends lines from `i` while the window has room; returns the first unsent.
  #sendFrom(batch: TextBatch, i: number): number {
    const n = batch.ends.length;
    while (i < n && this.#connected && this.#inflight.size < this.#window && !this.#failure) {
      this.#send(batch, i);
      i++;
    }
    return i;
  }

  #send(batch: TextBatch, i: number): void {
    const seq = ++this.#seq;
    const start = i === 0 ? 0 : batch.ends[i - 1];
    const entry: InFlight = {
      subject: this.#subject(batch.names[i]),
      payload: batch.text.subarray(start, batch.ends[i] - 1),
      sentAt: 0,
      epoch: 0,
      retryAt: 0,
      retries: 0,
    };
    this.#inflight.set(seq, entry);
    this.#publish(seq, entry);
  }

  #subject(name: string): string {
    let subject = this.#subjects.get(name);
    if (subject === undefined) {
      if (!TOKEN.test(name)) throw new TypeError(`line name '${name}' cannot be a subject token`);
      subject = this.#subjectBase + name;
      this.#subjects.set(name, subject);
    }
    return subject;
  }

  #publish(seq: number, entry: InFlight): void {
    entry.sentAt = performance.now();
    entry.epoch = this.#epoch;
    entry.retryAt = 0;
    const h = this.#headers();
    h.set('Nats-Msg-Id', this.#idBase + seq);
    h.set('Nats-Expected-Stream', this.streamName);
    try {
      this.#nc.publish(entry.subject, entry.payload, { reply: this.#inbox + seq, headers: h });
    } catch (err) {
      // Refused before it left (too large for the server, a closed connection).
      this.#rejected(seq, (err as Error).message);
    }
  }

  #onAck(err: Error | null, msg: Msg): void {
    if (err) return; // only a closed subscription; end() and abort() know
    const seq = Number(msg.subject.slice(this.#inbox.length));
    // Undefined for the answer to another copy of a message already settled.
    const entry = this.#inflight.get(seq);
    // No responders: the stream is not there yet (a broker starting up).
    if (msg.headers?.code === 503 || msg.data.length === 0) {
      if (entry) this.#retryLater(entry);
      return;
    }
    let ack: { error?: { code: number; description: string }; duplicate?: boolean };
    try {
      ack = msg.json<typeof ack>();
    } catch {
      if (entry) this.#rejected(seq, `unreadable acknowledgement '${msg.string()}'`);
      return;
    }
    if (ack.duplicate) this.#stats.duplicates++;
    if (!entry) return;
    if (ack.error) {
      if (ack.error.code === 503) this.#retryLater(entry);
      else this.#rejected(seq, ack.error.description);
      return;
    }
    this.#inflight.delete(seq);
    this.#stats.acknowledged++;
    this.#afterAck();
  }

  #afterAck(): void {
    while (this.#waiting.length > 0) {
      const w = this.#waiting[0];
      w.next = this.#sendFrom(w.batch, w.next);
      if (w.next < w.batch.ends.length) break;
      this.#waiting.shift();
      w.resolve();
    }
    if (this.#isIdle()) this.#wakeIdle();
  }

  #retryLater(entry: InFlight): void {
    entry.retries++;
    entry.retryAt = performance.now() + Math.min(2000, 50 * 2 ** Math.min(entry.retries, 6));
  }

  #rejected(seq: number, why: string): void {
    this.#inflight.delete(seq);
    if (this.#mode === 'drop') {
      this.#stats.droppedRejected++;
      this.#afterAck();
      return;
    }
    this.#fail(new TcpsensorError('ERR_SINK_PUBLISH', `stream ${this.streamName} refused message ${this.#idBase}${seq}: ${why}`));
  }

  // Late acknowledgements and retries after "not ready". While the broker is
  // away nothing is sent: the reconnect resends everything at once.
  #resendDue(): void {
    if (!this.#connected || this.#inflight.size === 0) return;
    const now = performance.now();
    for (const [seq, entry] of this.#inflight) {
      const due = entry.retryAt > 0 ? entry.retryAt <= now : now - entry.sentAt >= this.#ackTimeoutMs;
      if (due) {
        this.#stats.resent++;
        this.#publish(seq, entry);
      }
    }
  }

  async #watch(): Promise<void> {
    for await (const s of this.#nc.status() as AsyncIterable<Status>) {
      if (s.type === 'disconnect') {
        this.#connected = false;
        this.#stats.disconnects++;
        this.emit('disconnect', s.server);
      } else if (s.type === 'reconnect') {
        // Whatever was sent before is lost or its acknowledgement is: send
        // it all again, in order (the stream removes what it already has).
        this.#epoch++;
        this.#connected = true;
        for (const [seq, entry] of this.#inflight) {
          if (entry.epoch < this.#epoch) {
            this.#stats.resent++;
            this.#publish(seq, entry);
          }
        }
        this.emit('reconnect', s.server);
        this.#afterAck();
      }
    }
  }
}

function seconds(name: string, v: number | undefined, fallback: number, { zero = false, max = 365 * 86400 } = {}): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${name} must be a number of seconds`);
  if (v < 0 || (!zero && v === 0) || v > max) throw new RangeError(`${name} must be ${zero ? 'at least 0' : 'above 0'} and at most ${max} seconds, got ${v}`);
  return v;
}

function token(name: string, v: string | undefined, fallback: string, dotted = false): string {
  if (v === undefined) return fallback;
  if (typeof v !== 'string') throw new TypeError(`${name} must be a string`);
  const ok = dotted ? v.split('.').every((t) => TOKEN.test(t)) : TOKEN.test(v);
  if (!ok) throw new RangeError(`${name} '${v}' is not a valid subject ${dotted ? 'prefix (tokens separated by dots)' : 'token'}: no white space, '.', '*' or '>'`);
  return v;
}

/**
 * Connects to the broker, finds or creates the stream and resolves with a
 * NatsSink ready for `sensor.pipeTo(sink)`:
 *
 *   const sink = await natsSink({ servers: 'nats://127.0.0.1:4222' });
 *   const stats = await open({ file: 'trace.pcap' }).pipeTo(sink);
 *
 * A created stream takes `<prefix>.>` (every sensor of the prefix, file
 * storage, the limits given); an existing one must take
 * `<prefix>.<sensor>.*`. Rejects with ERR_SINK_CONNECT if no broker answers,
 * ERR_SINK_STREAM if the stream cannot be created or used; TypeError /
 * RangeError for bad options.
 */
export async function natsSink(options: NatsSinkOptions): Promise<NatsSink> {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const list = typeof options.servers === 'string' ? options.servers.split(',') : options.servers;
  if (!Array.isArray(list) || list.length === 0 || list.some((s) => typeof s !== 'string' || s.trim() === '')) {
    throw new TypeError('servers must be a URL (nats://HOST:PORT) or a list of them');
  }
  const servers = list.map((s: string) => s.trim());
  const streamName = options.stream ?? DEFAULTS.stream;
  if (typeof streamName !== 'string' || !/^[^\s.*>/\\]+$/.test(streamName)) {
    throw new RangeError(`stream '${streamName}' is not a valid stream name: no white space, '.', '*', '>', '/' or '\\'`);
  }
  const subjectPrefix = token('subjectPrefix', options.subjectPrefix, DEFAULTS.subjectPrefix, true);
  const sensorName = token('sensorName', options.sensorName, defaultSensorName());
  const runId = options.runId ?? randomBytes(6).toString('hex');
  if (typeof runId !== 'string' || runId === '') throw new TypeError('runId must be a non-empty string');
  const window = options.window ?? DEFAULTS.window;
  if (!Number.isInteger(window) || window < 1 || window > 1 << 20) throw new RangeError(`window must be a whole number from 1 to ${1 << 20}, got ${window}`);
  if (options.whenBlocked !== undefined && options.whenBlocked !== 'wait' && options.whenBlocked !== 'drop') {
    throw new RangeError("whenBlocked must be 'wait' or 'drop'");
  }
  const ackTimeout = seconds('ackTimeout', options.ackTimeout, DEFAULTS.ackTimeout);
  const drainTimeout = seconds('drainTimeout', options.drainTimeout, DEFAULTS.drainTimeout, { zero: true });
  const connectTimeout = seconds('connectTimeout', options.connectTimeout, DEFAULTS.connectTimeout);
  const maxAge = seconds('maxAge', options.maxAge, DEFAULTS.maxAge, { zero: true, max: 100 * 365 * 86400 });
  const duplicateWindow = seconds('duplicateWindow', options.duplicateWindow, DEFAULTS.duplicateWindow);
  const maxBytes = options.maxBytes ?? DEFAULTS.maxBytes;
  if (!Number.isSafeInteger(maxBytes) || (maxBytes < 1 && maxBytes !== -1)) throw new RangeError(`maxBytes must be a whole number above 0, or -1 for no limit, got ${maxBytes}`);

  // Loaded here, not at import: most uses of tcpsensor never ship to NATS.
  const { connect } = await import('@nats-io/transport-node');
  const nats = await import('@nats-io/nats-core');
  const { jetstreamManager, StorageType, RetentionPolicy, DiscardPolicy } = await import('@nats-io/jetstream');

  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      name: `tcpsensor ${sensorName}`,
      timeout: connectTimeout * 1000,
      // Once up, never give up: a file run waits for the broker to return.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      // A broker gone without a word is noticed within about 30 s.
      pingInterval: 10_000,
      maxPingOut: 3,
      noAsyncTraces: true,
    });
  } catch (err) {
    throw new TcpsensorError('ERR_SINK_CONNECT', `cannot connect to NATS at ${servers.join(',')}: ${(err as Error).message}`, { cause: err });
  }

  const subject = `${subjectPrefix}.>`;
  const streamError = (what: string, err?: unknown) =>
    new TcpsensorError('ERR_SINK_STREAM', `JetStream stream ${streamName}: ${what}${err ? `: ${(err as Error).message}` : ''}`, { cause: err });
  let stream: { name: string; subjects: readonly string[]; created: boolean };
  try {
    const jsm = await jetstreamManager(nc, { timeout: connectTimeout * 1000 }).catch((err) => {
      throw streamError('JetStream is not available on the server (nats-server -js)', err);
    });
    const find = () => jsm.streams.info(streamName).catch((err: { code?: unknown; name?: string }) => {
      if (err.name === 'StreamNotFoundError') return null;
      throw streamError('cannot read its configuration', err);
    });
    const config: Partial<StreamConfig> & { name: string } = {
      name: streamName,
      subjects: [subject],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: Math.round(maxAge * 1e9),
      max_bytes: maxBytes,
      duplicate_window: Math.round(duplicateWindow * 1e9),
    };
    let found: StreamInfo | null = await find();
    let created = false;
    if (!found) {
      try {
        found = await jsm.streams.add(config);
        created = true;
      } catch (err) {
        // Another sensor may have created it since (with other limits).
        found = await find();
        if (!found) throw streamError('cannot create it', err);
      }
    }
    const subjects = found.config.subjects ?? [];
    if (!subjects.some((s) => coversSensor(s, subjectPrefix, sensorName))) {
      throw streamError(`its subjects (${subjects.join(', ') || 'none'}) do not take ${subjectPrefix}.${sensorName}.*; add ${subject} to them or choose another stream`);
    }
    stream = { name: streamName, subjects, created };
  } catch (err) {
    await nc.close().catch(() => {});
    throw err instanceof TcpsensorError ? err : streamError('unexpected answer', err);
  }
  return new NatsSink(nc, nats, stream, { subjectPrefix, sensorName, runId, window, ackTimeout, drainTimeout, whenBlocked: options.whenBlocked });
}
