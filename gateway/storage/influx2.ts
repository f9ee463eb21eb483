import { HttpError, InfluxDB, type Transport } from '@influxdata/influxdb-client';
import { WriteError, classifyStatus, type PointWriter, type Precision } from './writer.js';

/**
 * InfluxDB 2.x (or 1.8+ with its 2.x-compatible endpoint) through `@influxdata/influxdb-client`.
 * Its transport carries the token, TLS and timeouts; its WriteApi is not used because it buffers
 * and retries on its own, and the spool already does both, durably.
 */
export class Influx2Writer implements PointWriter {
  readonly description: string;
  private readonly transport: Transport;
  private readonly writePath: Record<Precision, string>;

  constructor(url: string, token: string, org: string, bucket: string, timeoutMs: number) {
    this.description = `InfluxDB 2.x at ${url}, org ${org}, bucket ${bucket}`;
    this.transport = new InfluxDB({ url, token, timeout: timeoutMs }).transport;
    const write = `/api/v2/write?org=${encodeURIComponent(org)}&bucket=${encodeURIComponent(bucket)}&precision=`;
    this.writePath = { ns: `${write}ns`, ms: `${write}ms` };
  }

  async prepare(): Promise<void> {
    // The bucket is the operator's to create in 2.x (it carries a retention policy).
  }

  async write(body: Buffer, precision: Precision = 'ns', signal?: AbortSignal): Promise<void> {
    try {
      await this.transport.request(this.writePath[precision], body.toString('utf8'), {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        signal,
      });
    } catch (err) {
      if (err instanceof HttpError) {
        const failure = classifyStatus(err.statusCode, err.body ?? '');
        throw new WriteError(failure === 'missing-database' ? 'retryable' : failure, `InfluxDB answered ${err.statusCode}: ${(err.body ?? err.message).slice(0, 500)}`, err.statusCode, { cause: err });
      }
      throw new WriteError('retryable', `InfluxDB unreachable: ${(err as Error).message}`, undefined, { cause: err });
    }
  }

  async ping(): Promise<boolean> {
    try {
      await this.transport.request('/ping', '', { method: 'GET' });
      return true;
    } catch (err) {
      // Any HTTP answer means the server is up.
      return err instanceof HttpError;
    }
  }

  async close(): Promise<void> {}
}
