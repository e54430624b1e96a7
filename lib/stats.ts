/**
 * Periodic statistics records: what Zeek writes to stats.log and
 * capture_loss.log, under their field names, for one interval of network
 * time. Counts are for the interval; `active_*`, `reassem_*` and `mem` are
 * the state at its end.
 */
import type { SensorStats } from './native';

/** One interval's statistics: what Zeek's stats.log and capture_loss.log carry (the sensor's 'stats' event, the CLI's --stats-interval records). */
export interface StatsRecord {
  /** Network time at the end of the interval. */
  ts: number;
  /** Always 'stats': tells these records from events in one stream. */
  event: 'stats';
  /** Length of the interval (seconds of network time). */
  ts_delta: number;
  /** Packets analysed. */
  pkts_proc: number;
  /** Live: packets the capture filter passed, dropped ones included (libpcap's ps_recv). */
  pkts_link: number;
  /** Live: packets the kernel dropped for want of room. */
  pkts_dropped: number;
  /** Live: packets the interface or its driver dropped. */
  pkts_ifdropped: number;
  /** Live: pkts_dropped as a percentage of pkts_link. */
  percent_dropped: number;
  /** Events raised. */
  events_proc: number;
  /** Live: events dropped because the reader fell behind. */
  events_dropped: number;
  /** New TCP connections. */
  tcp_conns: number;
  /** TCP connections open now. */
  active_tcp_conns: number;
  /** Memory held by stream reassembly now (as Zeek counts it: bytes as allocated, and the blocks holding them). */
  reassem_tcp_size: number;
  /** Bytes held by IP fragment reassembly now. */
  reassem_frag_size: number;
  /** Bytes of the engine's tables, timers and buffers now (approximate). */
  mem: number;
  /** capture_loss.log: acks in established connections. */
  acks: number;
  /** capture_loss.log: acks for data that was never seen. */
  gaps: number;
  /** capture_loss.log: gaps as a percentage of acks. */
  percent_lost: number;
}

const ZERO: Pick<
  SensorStats,
  'packetsReceived' | 'packetsReceivedByFilter' | 'packetsDroppedByKernel' | 'packetsDroppedByInterface' | 'events' | 'eventsDroppedByQueue' | 'connectionsTotal' | 'ackEvents' | 'gapEvents'
> = {
  packetsReceived: 0,
  packetsReceivedByFilter: 0,
  packetsDroppedByKernel: 0,
  packetsDroppedByInterface: 0,
  events: 0,
  eventsDroppedByQueue: 0,
  connectionsTotal: 0,
  ackEvents: 0,
  gapEvents: 0,
};

const percent = (part: number, whole: number): number => (whole > 0 ? (100 * part) / whole : 0);

/**
 * The record for the interval between two readings of the counters
 * (`previous` undefined for the first, which starts at `start`).
 */
export function statsRecord(now: SensorStats, ts: number, previous: SensorStats | undefined, previousTs: number): StatsRecord {
  const p = previous ?? ZERO;
  const pktsLink = now.packetsReceivedByFilter - p.packetsReceivedByFilter;
  const pktsDropped = now.packetsDroppedByKernel - p.packetsDroppedByKernel;
  const acks = now.ackEvents - p.ackEvents;
  const gaps = now.gapEvents - p.gapEvents;
  return {
    ts,
    event: 'stats',
    ts_delta: ts - previousTs,
    pkts_proc: now.packetsReceived - p.packetsReceived,
    pkts_link: pktsLink,
    pkts_dropped: pktsDropped,
    pkts_ifdropped: now.packetsDroppedByInterface - p.packetsDroppedByInterface,
    percent_dropped: percent(pktsDropped, pktsLink),
    events_proc: now.events - p.events,
    events_dropped: now.eventsDroppedByQueue - p.eventsDroppedByQueue,
    tcp_conns: now.connectionsTotal - p.connectionsTotal,
    active_tcp_conns: now.connectionsActive,
    reassem_tcp_size: now.reassemblyBytes,
    reassem_frag_size: now.fragmentBytes,
    mem: now.memoryBytes,
    acks,
    gaps,
    percent_lost: percent(gaps, acks),
  };
}
