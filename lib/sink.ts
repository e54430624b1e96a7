/**
 * Where a sensor's text goes besides stdout: a TextSink takes TextBatches
 * and owns their delivery. `sensor.pipeTo(sink)` is the one loop that feeds
 * one, for the API and the CLI alike.
 */
import { ConnLog } from './conn-log';
import { renderEvents, textBatch, TextBatch, TextFormat } from './text';
import type { Sensor } from './sensor';
import type { StatsRecord } from './stats';

/** What a sink learns about its source before the first batch. */
export interface SinkContext {
  /**
   * True for a live capture, which must never be made to wait: a sink then
   * drops (and counts) what it cannot take. A file source waits instead.
   */
  live: boolean;
}

/**
 * A consumer of TextBatches. `write` may return a promise: the next batch
 * is held back until it settles (backpressure, which reaches the capture
 * thread when reading a file).
 */
export interface TextSink<Result> {
  /** Called once, before the first batch. */
  start?(context: SinkContext): void;
  /** Takes one batch of lines, in stream order. */
  write(batch: TextBatch): void | Promise<void>;
  /** No more batches: resolves once everything written is delivered or accounted for. */
  end(): Promise<Result>;
  /** Gives up at once (after an error); what is not yet delivered is lost. */
  abort(reason?: unknown): void;
}

/** Options of `sensor.pipeTo()`. */
export interface PipeOptions {
  /**
   * 'ndjson': one line per event. 'conn': one conn.log row per finished
   * connection (open the sensor with at least CONN_LOG_EVENTS). Defaults to
   * the sensor's `output`, else 'ndjson'. A sensor opened with `output`
   * renders its text in C++ and can only be piped in that format; one
   * without is rendered here, in JavaScript.
   */
  format?: TextFormat;
}

// An event sensor's batches, rendered in JavaScript.
async function* rendered(sensor: Sensor, format: TextFormat): AsyncGenerator<TextBatch, void, undefined> {
  const connLog = new ConnLog();
  for await (const events of sensor.batches()) {
    const batch = renderEvents(events, format, connLog);
    if (batch.ends.length > 0) yield batch;
  }
}

/** @internal the body of Sensor.pipeTo */
export async function pipe<Result>(sensor: Sensor, sink: TextSink<Result>, options: PipeOptions = {}): Promise<Result> {
  const format = options.format ?? sensor.output ?? 'ndjson';
  if (format !== 'ndjson' && format !== 'conn') throw new RangeError("format must be 'ndjson' or 'conn'");
  if (sensor.output !== undefined && sensor.output !== format) {
    throw new RangeError(`the sensor renders '${sensor.output}' (its output option); it cannot be piped as '${format}'`);
  }
  // Stats records are emitted while the next batch is fetched; they go out
  // before it, where they fall in the stream, as lines named 'stats'.
  const records: TextBatch[] = [];
  const onStats = (record: StatsRecord) => records.push(textBatch([JSON.stringify(record)], ['stats']));
  const writeRecords = async () => {
    for (const r of records.splice(0)) await sink.write(r);
  };
  sensor.on('stats', onStats);
  const batches = sensor.output !== undefined ? sensor.textBatches() : rendered(sensor, format);
  let sensorError: { error: unknown } | undefined;
  try {
    sink.start?.({ live: sensor.live });
    for (;;) {
      let next: IteratorResult<TextBatch>;
      try {
        next = await batches.next();
      } catch (error) {
        // What came before a capture error (a truncated file) is still delivered.
        sensorError = { error };
        break;
      }
      await writeRecords();
      if (next.done) break;
      await sink.write(next.value);
    }
    await writeRecords();
    const result = await sink.end();
    if (sensorError) throw sensorError.error;
    return result;
  } catch (err) {
    if (err !== sensorError?.error) {
      sink.abort(err);
      await batches.return();
    }
    throw err;
  } finally {
    sensor.off('stats', onStats);
  }
}
