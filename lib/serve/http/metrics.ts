// The server's Prometheus metrics, in a registry of its own (so that two servers in one process,
// or an application's own prom-client metrics, do not collide). Gauges that describe state (queue
// depth, device memory) are read when scraped rather than kept up to date on every request.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

import { memory } from '../../device.js';
import type { ModelSlot } from './model-slot.js';

export type RejectReason = 'queue_full' | 'timeout' | 'not_loaded' | 'shutting_down';

/** The metric names and what they count, for `/metrics` and the README. */
export const metricHelp = {
  llmrec_http_requests_total: 'HTTP requests answered, by method, route and status code',
  llmrec_http_request_duration_seconds: 'Time from receiving a request to sending its answer, by method and route',
  llmrec_batch_size: 'Calls per forward pass of the micro-batcher, by model',
  llmrec_queue_depth: 'Calls waiting in the micro-batcher for a forward pass, by model',
  llmrec_requests_in_flight: 'Requests admitted to a model and not yet answered (bounded by --max-queue), by model',
  llmrec_requests_rejected_total:
    'Requests refused with 503, by model and reason (queue_full, timeout, not_loaded, shutting_down)',
  llmrec_model_reloads_total: 'Reloads of a run folder, by model and result (ok, refused)',
  llmrec_model_generation: 'The generation of each model now serving (1 at start, +1 per reload)',
  llmrec_device_memory_bytes: "Memory of the models' devices, by device and state (in_use, reserved)",
} as const;

export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'method' | 'route' | 'status_code'>;
  readonly duration: Histogram<'method' | 'route'>;
  readonly batchSize: Histogram<'model'>;
  readonly rejected: Counter<'model' | 'reason'>;
  readonly reloads: Counter<'model' | 'result'>;

  constructor(slots: () => Iterable<ModelSlot>) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'llmrec_http_requests_total',
      help: metricHelp.llmrec_http_requests_total,
      labelNames: ['method', 'route', 'status_code'],
      registers,
    });
    this.duration = new Histogram({
      name: 'llmrec_http_request_duration_seconds',
      help: metricHelp.llmrec_http_request_duration_seconds,
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.batchSize = new Histogram({
      name: 'llmrec_batch_size',
      help: metricHelp.llmrec_batch_size,
      labelNames: ['model'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers,
    });
    this.rejected = new Counter({
      name: 'llmrec_requests_rejected_total',
      help: metricHelp.llmrec_requests_rejected_total,
      labelNames: ['model', 'reason'],
      registers,
    });
    this.reloads = new Counter({
      name: 'llmrec_model_reloads_total',
      help: metricHelp.llmrec_model_reloads_total,
      labelNames: ['model', 'result'],
      registers,
    });
    new Gauge({
      name: 'llmrec_queue_depth',
      help: metricHelp.llmrec_queue_depth,
      labelNames: ['model'],
      registers,
      collect() {
        for (const slot of slots()) this.set({ model: slot.name }, slot.model?.batching?.pending ?? 0);
      },
    });
    new Gauge({
      name: 'llmrec_requests_in_flight',
      help: metricHelp.llmrec_requests_in_flight,
      labelNames: ['model'],
      registers,
      collect() {
        for (const slot of slots()) this.set({ model: slot.name }, slot.inFlight);
      },
    });
    new Gauge({
      name: 'llmrec_model_generation',
      help: metricHelp.llmrec_model_generation,
      labelNames: ['model'],
      registers,
      collect() {
        for (const slot of slots()) this.set({ model: slot.name }, slot.describe()?.generation ?? 0);
      },
    });
    new Gauge({
      name: 'llmrec_device_memory_bytes',
      help: metricHelp.llmrec_device_memory_bytes,
      labelNames: ['device', 'state'],
      registers,
      collect() {
        const devices = new Set<string>();
        for (const slot of slots()) {
          const device = slot.model?.info().device;
          if (device) devices.add(device);
        }
        for (const device of devices) {
          const stats = memory(device);
          this.set({ device, state: 'in_use' }, stats.bytesInUse);
          this.set({ device, state: 'reserved' }, stats.bytesReserved);
        }
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
