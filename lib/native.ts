/**
 * The addon's exact surface, and the only place that loads it. Everything
 * else in lib/ builds on these declarations.
 */
import path from 'node:path';
import { TcpsensorError, type ChecksumOffloadDetail } from './errors';
// node-gyp-build ships no types: its one export loads the addon of a
// package directory (build/Release first, then prebuilds/).
// eslint-disable-next-line @typescript-eslint/no-var-requires
const load: (dir: string) => unknown = require('node-gyp-build');

/** Configuration the addon reads (validated and completed in options.ts). */
export interface NativeConfig {
  file?: string;
  interface?: string;
  filter?: string;
  snaplen?: number;
  promiscuous?: boolean;
  bufferSize?: number;
  immediate?: boolean;
  highWaterMark?: number;
  statsInterval?: number;
  checksums?: 'zeek' | 'auto';
  workers?: number;
  batchEvents?: number;
  batchBytes?: number;
  maxReassemblyBytes?: number;
  maxFragmentBytes?: number;
  /** In total; the addon gives each worker an equal share. */
  maxConnections?: number;
  /** False keeps every connection as a full record: the tests' reference for compact ones. */
  compactRecords?: boolean;
  seed?: number;
  /** Text batches instead of event batches: NDJSON events, or conn.log rows. */
  output?: 'ndjson' | 'conn';
  /** Event kind ids to raise. */
  events: number[];
  /** Zeek's tunables, under Zeek's names. */
  [zeekName: string]: unknown;
}

/** A sensor's counters, totals over its workers; `stats()` reads them at any time, and once it is closed, as it left them. */
export interface SensorStats {
  /** Packets handed to the engine (tcpdump's "packets captured"). */
  packetsReceived: number;
  /** Live capture: packets the BPF filter passed, dropped ones included (libpcap's ps_recv). */
  packetsReceivedByFilter: number;
  /** Live capture: packets the kernel dropped for want of room in the ring (ps_drop). */
  packetsDroppedByKernel: number;
  /** Live capture: packets the interface or its driver dropped (ps_ifdrop). */
  packetsDroppedByInterface: number;
  /** Live capture: events dropped because the reader fell behind. */
  eventsDroppedByQueue: number;
  /** Live capture: the batches those events were in. */
  batchesDroppedByQueue: number;
  /** Bytes of batches waiting for the reader (or for rendering, with `output`) now. */
  queuedBytes: number;
  /** The most bytes of batches that waited for the reader at once. */
  queuedBytesPeak: number;
  /** Packets that carried no IP (ARP, ...). */
  packetsNonIp: number;
  /** IP packets that carried no TCP (UDP tunnels are looked into first). */
  packetsNonTcp: number;
  /** TCP packets, tunnelled ones included. */
  packetsTcp: number;
  /** Connections tracked now. */
  connectionsActive: number;
  /** Connections seen so far. */
  connectionsTotal: number;
  /** Of connectionsActive, those held in compact form (one SYN seen, nothing else). */
  connectionsCompact: number;
  /** Connections evicted to stay within maxConnections. */
  connectionsEvicted: number;
  /** Events raised so far (requested ones). */
  events: number;
  /** TCP segments analysed (with several workers, each analyses its share). */
  segments: number;
  /**
   * Zeek's capture-loss evidence (capture_loss.log): acks seen in
   * established connections, those that acked data never seen, and the
   * bytes of those holes.
   */
  ackEvents: number;
  /** Acks for data that was never seen (capture_loss.log's gaps). */
  gapEvents: number;
  /** Bytes of those holes. */
  gapBytes: number;
  /** Memory held by stream reassembly now: bytes as allocated and the blocks holding them (bounded by `maxReassemblyBytes`). */
  reassemblyBytes: number;
  /** Endpoints flushed to keep reassembly within its bounds (their holes reported as gaps, their data delivered, their memory released). */
  reassemblyFlushes: number;
  /** Stream bytes given up to keep reassembly within its bounds: holes declared gaps early, bytes that could not be kept. */
  reassemblyDroppedBytes: number;
  /** Bytes held by IP fragment reassembly now. */
  fragmentBytes: number;
  /** Tables, timers and buffers of the engine (approximate). */
  memoryBytes: number;
  /** Packets (or parts of them) not analysed, by reason (Zeek's weird names where it has one). */
  malformed: Record<string, number>;
  /**
   * With `workers` above 1: each worker's own figures (its engine's, and
   * live its capture handle's); the fields above are the totals.
   */
  workers?: Omit<SensorStats, 'workers'>[];
}

/** What a capture is (null once closed). */
export interface CaptureInfo {
  /** libpcap's link-type number (1 for Ethernet). */
  linktype: number;
  /** libpcap's name of it ("EN10MB"). */
  linktypeName: string;
  /** libpcap's description of it ("Ethernet"). */
  linktypeDescription: string;
  /** Bytes captured per packet at most. */
  snaplen: number;
}

/** What the capture thread reports beside the batches, each after the first `afterBatch` of them. */
export type NativeRecord =
  | { kind: 'stats'; afterBatch: number; networkTime: number; intervalStart: number; stats: SensorStats }
  | ({ kind: 'checksum_offload'; afterBatch: number } & ChecksumOffloadDetail);

export interface NativeSensor {
  start(): void;
  /**
   * A batch (a text batch with `output`), false when records wait in
   * takeRecords(), null at the end, or a promise of any of them; throws
   * coded errors.
   */
  read(): ArrayBuffer | false | null | Promise<ArrayBuffer | false | null>;
  takeRecords(): NativeRecord[];
  info(): CaptureInfo | null;
  stop(): void;
  close(): void;
  stats(): SensorStats | null;
  setContentsFile(uid: bigint, direction: number, path: string): Promise<boolean>;
  getContentsFile(uid: bigint, direction: number): Promise<string | null>;
}

export interface NativeEventKind {
  id: number;
  name: string;
  shape: number;
  inAll: boolean;
  inDefault: boolean;
}

/** Renders event batches of one stream into text batches (native/core/output/text_renderer.h). */
export interface NativeTextRenderer {
  /** A text batch for the event batch; throws ERR_BATCH_FORMAT for one that does not hold together. */
  render(batch: ArrayBuffer): ArrayBuffer;
}

export interface NativeField {
  name: string;
  /** Only there when the batch says so (TSval, TSecr; conn.log's duration, history...). */
  optional: boolean;
}

/** native/core/output/event_fields.h: every event's fields and each shape's arguments, in order. */
export interface NativeEventFields {
  /** ts, event, uid, id, conn */
  event: string[];
  id: string[];
  conn: string[];
  endpoint: string[];
  /** The arguments of each ArgShape (index = shape). */
  arguments: NativeField[][];
  synPacket: NativeField[];
  /** kind, length, then data when the option is not decoded. */
  optionEntry: string[];
  decodedOptions: { kind: number; fields: NativeField[] }[];
  connLog: NativeField[];
}

interface Binding {
  Sensor: new (config: NativeConfig) => NativeSensor;
  TextRenderer: new (format: 'ndjson' | 'conn') => NativeTextRenderer;
  eventKinds: NativeEventKind[];
  eventFields: NativeEventFields;
  /** The numbers as the text renderer writes them, one a line (for the tests). */
  jsonNumbers(values: Float64Array): string;
  anomalies: string[];
  batchVersion: number;
  textBatchVersion: number;
  libpcapVersion: string;
}

let loaded: Binding | undefined;

/** The addon, loaded on first use (so importing the package is cheap). */
export function binding(): Binding {
  if (!loaded) {
    try {
      loaded = load(path.join(__dirname, '..')) as Binding;
    } catch (err) {
      throw libpcapMissing(err) ?? err;
    }
  }
  return loaded;
}

// The loader's own words when the addon's libpcap is not there: glibc's
// "libpcap.so.0.8: cannot open shared object file" or macOS's "Library not
// loaded: /usr/lib/libpcap.A.dylib". Other load failures (a glibc too old,
// a binary of another architecture) pass through as they are.
const MISSING_LIBPCAP = /(libpcap[\w.+-]*\.so[\w.]*): cannot open shared object file|Library not loaded: \S*(libpcap[\w.+-]*\.dylib)/;

/** A coded error naming the package to install, if `err` is a missing libpcap. */
export function libpcapMissing(err: unknown): TcpsensorError | null {
  const match = err instanceof Error ? MISSING_LIBPCAP.exec(err.message) : null;
  if (!match) return null;
  const library = match[1] ?? match[2];
  const lines = [
    `libpcap, which tcpsensor needs, is not installed (${library} could not be loaded). Install it:`,
    '  Debian, Ubuntu:  apt-get install libpcap0.8',
    '  RHEL, Fedora:    dnf install libpcap',
    '  Alpine:          apk add libpcap',
    '  macOS:           libpcap ships with the OS (or: brew install libpcap)',
  ];
  if (library === 'libpcap.so.0.8') {
    // Debian's soname. Other distributions call it libpcap.so.1, which a
    // binary linked on Debian (the prebuilt ones are) does not look for.
    lines.push(
      'libpcap.so.0.8 is the name Debian and Ubuntu give libpcap. Where it is libpcap.so.1 (RHEL, Fedora,',
      'Alpine), build tcpsensor from source instead: install libpcap-devel (RHEL, Fedora) or libpcap-dev',
      '(Alpine), a C++ compiler and make, then run: npm rebuild tcpsensor --build-from-source',
    );
  }
  return new TcpsensorError('ERR_LIBPCAP_MISSING', lines.join('\n'), { cause: err });
}
