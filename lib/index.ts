/**
 * tcpsensor: Zeek's TCP connection analysis for Node.js.
 *
 *   for await (const ev of open({ file: 'trace.pcap' })) {
 *     if (ev.event === 'connection_established') console.log(ev.id, ev.conn.history);
 *   }
 */
import { buildConfig, SensorOptions, Source } from './options';
import { Sensor } from './sensor';

export * from './events';
export { TcpsensorError, TcpsensorWarning } from './errors';
export type { ErrorCode, WarningCode, ChecksumOffloadDetail } from './errors';
export type { StatsRecord } from './stats';
export type { FileSource, InterfaceSource, Source, SensorOptions, TunableOptions, Tunable, TunableKind } from './options';
export { TUNABLES, parseZeekSetting, defaultMaxConnections, CONNECTION_BYTES } from './options';
export { Sensor } from './sensor';
export type { SensorStats, ContentsDirection, SensorEventMap } from './sensor';
export type { CaptureInfo } from './native';
export { ConnLog, connState, CONN_LOG_EVENTS } from './conn-log';
export type { ConnLogRow } from './conn-log';
export { renderEvents, textBatch, eventJson, TEXT_FORMATS } from './text';
export type { TextBatch, TextFormat } from './text';
export type { TextSink, SinkContext, PipeOptions } from './sink';
export { NatsSink, natsSink, defaultSensorName } from './nats-sink';
export type { NatsSinkOptions, NatsSinkStats, NatsSinkEventMap } from './nats-sink';

/**
 * Opens a capture file or an interface. Throws TypeError / RangeError for
 * bad options and a TcpsensorError (with `code`) if the capture cannot be
 * opened. Capture starts when iteration starts.
 */
export function open(source: Source, options: SensorOptions = {}): Sensor {
  const config = buildConfig(source, options);
  return new Sensor(config, options.signal);
}
