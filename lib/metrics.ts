/**
 * A sensor's counters in Prometheus text format, the way sensor fleets are
 * monitored (Zeek has such an endpoint too): prom-client's registry, fed
 * from sensor.stats() at each scrape, plus Node's process metrics.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Sensor, SensorStats } from './sensor';

type Numeric = { [K in keyof SensorStats]-?: SensorStats[K] extends number ? K : never }[keyof SensorStats];

// Counters are totals the sensor keeps; each scrape sets them to the total.
const COUNTERS: readonly [name: string, help: string, field: Numeric][] = [
  ['tcpsensor_packets_received_total', 'Packets analysed (tcpdump: packets captured)', 'packetsReceived'],
  ['tcpsensor_packets_received_by_filter_total', 'Live: packets the capture filter passed, dropped ones included', 'packetsReceivedByFilter'],
  ['tcpsensor_events_total', 'Events raised', 'events'],
  ['tcpsensor_events_dropped_total', 'Live: events dropped because the reader fell behind', 'eventsDroppedByQueue'],
  ['tcpsensor_connections_total', 'TCP connections seen', 'connectionsTotal'],
  ['tcpsensor_connections_evicted_total', 'TCP connections evicted to stay within maxConnections', 'connectionsEvicted'],
  ['tcpsensor_capture_loss_acks_total', 'Acks seen in established connections (capture_loss.log acks)', 'ackEvents'],
  ['tcpsensor_capture_loss_gaps_total', 'Acks for data that was never seen (capture_loss.log gaps)', 'gapEvents'],
  ['tcpsensor_reassembly_flushes_total', 'Endpoints flushed to keep reassembly within maxReassemblyBytes', 'reassemblyFlushes'],
  ['tcpsensor_reassembly_dropped_bytes_total', 'Stream bytes given up to keep reassembly within maxReassemblyBytes', 'reassemblyDroppedBytes'],
];

const GAUGES: readonly [name: string, help: string, field: Numeric][] = [
  ['tcpsensor_connections_active', 'TCP connections open now', 'connectionsActive'],
  ['tcpsensor_reassembly_bytes', 'Memory held by stream reassembly now', 'reassemblyBytes'],
  ['tcpsensor_fragment_bytes', 'Bytes held by IP fragment reassembly now', 'fragmentBytes'],
  ['tcpsensor_memory_bytes', "Bytes of the engine's tables, timers and buffers now (approximate)", 'memoryBytes'],
  ['tcpsensor_queued_bytes', 'Bytes of event batches waiting for the reader now', 'queuedBytes'],
];

/** A registry whose metrics read `sensor`'s counters at each scrape. */
export function sensorRegistry(sensor: Sensor): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // One reading serves every metric of a scrape.
  let reading: SensorStats | undefined;
  let readAt = -1;
  const stats = (): SensorStats | undefined => {
    const now = performance.now();
    if (now - readAt > 50) {
      try {
        reading = sensor.stats();
      } catch {
        // Closed before it ever ran: nothing to report.
      }
      readAt = now;
    }
    return reading;
  };
  for (const [name, help, field] of COUNTERS) {
    new Counter({
      name, help, registers: [registry],
      collect() {
        const s = stats();
        if (!s) return;
        this.reset();
        this.inc(s[field]);
      },
    });
  }
  new Counter({
    name: 'tcpsensor_packets_dropped_total',
    help: 'Live: packets lost before analysis, by where (kernel: no room in the ring; interface: the NIC or its driver)',
    labelNames: ['where'],
    registers: [registry],
    collect() {
      const s = stats();
      if (!s) return;
      this.reset();
      this.inc({ where: 'kernel' }, s.packetsDroppedByKernel);
      this.inc({ where: 'interface' }, s.packetsDroppedByInterface);
    },
  });
  new Counter({
    name: 'tcpsensor_malformed_total',
    help: 'Packets (or parts of them) not analysed, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      const s = stats();
      if (!s) return;
      this.reset();
      for (const [reason, n] of Object.entries(s.malformed)) if (n > 0) this.inc({ reason }, n);
    },
  });
  for (const [name, help, field] of GAUGES) {
    new Gauge({
      name, help, registers: [registry],
      collect() {
        const s = stats();
        if (s) this.set(s[field]);
      },
    });
  }
  return registry;
}

/**
 * Serves `sensor`'s metrics at http://HOST:PORT/metrics. Resolves once
 * listening (with the bound address), rejects if the port cannot be bound.
 */
export async function serveMetrics(sensor: Sensor, port: number, host = '0.0.0.0'): Promise<{ server: http.Server; address: AddressInfo }> {
  const registry = sensorRegistry(sensor);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // The server never keeps the process alive by itself.
  server.unref();
  return { server, address: server.address() as AddressInfo };
}
