/**
 * Worker thread of the {@link SegmentEncoderPool}: decodes a packed segment (bronze-row.ts) and
 * encodes its rows as one Parquet file with its own DuckDB instance, off the thread that keeps
 * the Kafka consumer fed. Messages: see encoder-pool.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { encodeSegment, type EncodeRequest, type EncodeResponse } from './encoder-pool.ts';
import { DuckDbParquetEncoder, type DuckDbEncoderOptions } from './parquet.ts';

const port = parentPort!;
const encoder = await DuckDbParquetEncoder.open(workerData as DuckDbEncoderOptions);

port.on('message', (request: EncodeRequest | 'close') => {
  if (request === 'close') {
    void encoder.close().then(() => port.close());
    return;
  }
  void (async () => {
    let response: EncodeResponse;
    try {
      const encoded = await encodeSegment(encoder, request.topic, request.partition, request.packed, new Date(request.ingestedAtMs));
      response = { id: request.id, ...encoded };
    } catch (err) {
      response = { id: request.id, error: (err as Error).stack ?? String(err) };
    }
    port.postMessage(response);
  })();
});
port.postMessage('ready');
