// `llmrec serve` as a library: a fastify server over one or more run folders. Each model name has
// a ModelSlot (its serving generation, hot reload, and the bound on requests it holds); requests
// go through the model's own micro-batcher; everything a client sends is validated against the
// route schemas, and every failure becomes a JSON error that names the field at fault.
import fastifySwagger from '@fastify/swagger';
import underPressure from '@fastify/under-pressure';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';

import { Recommender } from '../recommender.js';
import { RequestError, type GeneratedRecommendation, type Recommendation, type ServableModel } from '../servable.js';
import { ServerMetrics, type RejectReason } from './metrics.js';
import { ModelSlot, ReloadRefusedError, type ReloadResult } from './model-slot.js';
import {
  addItemsSchema,
  healthSchema,
  listModelsSchema,
  readySchema,
  recommendSchema,
  reloadSchema,
} from './schemas.js';

/** How the server opens a run folder; `Recommender.open` serves every kind it knows. */
export type ModelLoader = (
  dir: string,
  options: { device: string; maxBatch: number; maxWaitMs: number },
) => Promise<ServableModel>;

export interface ServeOptions {
  /** The run folders to serve, each under a name (the name is the URL's :name). */
  models: readonly { name: string; dir: string }[];
  /** 'cpu' or 'cuda:N' (default 'cpu'). */
  device?: string;
  /** Calls per forward pass (default 64). */
  maxBatch?: number;
  /** How long a call may wait for others to share its forward pass (default 0: calls share a pass when they arrive together or while one runs). */
  maxWaitMs?: number;
  /** Requests one model holds at once, waiting or computing; beyond it, 503 (default 1024). */
  maxQueue?: number;
  /** A request not answered in this time gets 503 (default 30,000 ms). */
  requestTimeoutMs?: number;
  /** Largest request body in bytes (default 1 MiB); larger gets 413. */
  bodyLimit?: number;
  /** Refuse model requests with 503 while the event loop lags more than this (default 1,000 ms; 0: never). */
  maxEventLoopDelayMs?: number;
  /** The Retry-After header of a 503, in seconds (default 1). */
  retryAfterSeconds?: number;
  /** fastify's pino logger: false (default), true, or its options (e.g. `{ level: 'info' }`). */
  logger?: FastifyServerOptions['logger'];
  /** Opens a run folder (default `Recommender.load`). */
  load?: ModelLoader;
}

/** An error the routes answer with its own status (and Retry-After on 503). */
class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

const statusNames: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

interface ErrorBody {
  statusCode: number;
  error: string;
  code: string;
  message: string;
  field?: string;
}

/** Turns anything thrown while handling a request into the JSON error a client gets. */
function errorBody(error: FastifyError | Error, bodyLimit: number): ErrorBody {
  const make = (statusCode: number, code: string, message: string, field?: string): ErrorBody => ({
    statusCode,
    error: statusNames[statusCode] ?? 'Error',
    code,
    message,
    ...(field ? { field } : {}),
  });
  if (error instanceof HttpError) return make(error.statusCode, error.code, error.message, error.field);
  if (error instanceof RequestError) return make(400, 'BAD_REQUEST', error.message, error.field);
  const fastifyError = error as FastifyError;
  if (fastifyError.validation && fastifyError.validation.length > 0) {
    const first = fastifyError.validation[0]!;
    const params = first.params as { missingProperty?: string; additionalProperty?: string };
    const pathParts = first.instancePath.split('/').filter(Boolean);
    if (params.missingProperty) pathParts.push(params.missingProperty);
    if (params.additionalProperty) pathParts.push(params.additionalProperty);
    const field = pathParts.join('.') || (fastifyError.validationContext ?? 'body');
    const what = params.additionalProperty
      ? `is not a known field (allowed: see /docs)`
      : (first.message ?? 'is invalid');
    return make(400, 'INVALID_REQUEST', `${fastifyError.validationContext ?? 'body'}.${field} ${what}`, field);
  }
  const status = fastifyError.statusCode;
  if (status === 413)
    return make(
      413,
      'BODY_TOO_LARGE',
      `the request body is over the server's limit of ${bodyLimit} bytes (--body-limit)`,
      'body',
    );
  if (status === 415)
    return make(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the body as JSON, with Content-Type: application/json', 'body');
  if (status !== undefined && status >= 400 && status < 500)
    return make(status, fastifyError.code ?? 'BAD_REQUEST', error.message, 'body');
  if (status === 503) return make(503, fastifyError.code ?? 'UNAVAILABLE', error.message);
  return make(500, 'INTERNAL', `internal error: ${error.message}`);
}

export class RecommendationServer {
  readonly app: FastifyInstance;
  readonly slots = new Map<string, ModelSlot>();
  readonly metrics: ServerMetrics;
  /** Settles when every model has loaded and passed its warm-up; rejects with the first failure. */
  readonly loaded: Promise<void>;
  private shuttingDown = false;
  private readonly retryAfter: string;
  private readonly requestTimeoutMs: number;
  private readonly bodyLimit: number;

  constructor(options: ServeOptions) {
    const names = new Set<string>();
    if (options.models.length === 0) throw new Error('serve: no model given; pass at least one run folder');
    for (const { name } of options.models) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name))
        throw new Error(
          `serve: model name '${name}' must be 1-64 letters, digits, '.', '_' or '-' (it is part of the URL)`,
        );
      if (names.has(name)) throw new Error(`serve: two models are named '${name}'; name them with --model NAME=DIR`);
      names.add(name);
    }
    const positiveInteger = (value: number, what: string) => {
      if (!Number.isSafeInteger(value) || value < 1)
        throw new Error(`serve: ${what} must be a positive integer, got ${value}`);
      return value;
    };
    const device = options.device ?? 'cpu';
    const maxBatch = positiveInteger(options.maxBatch ?? 64, 'maxBatch');
    const maxWaitMs = options.maxWaitMs ?? 0;
    if (!(maxWaitMs >= 0 && maxWaitMs <= 60_000))
      throw new Error(`serve: maxWaitMs must be in 0..60000, got ${maxWaitMs}`);
    const maxQueue = positiveInteger(options.maxQueue ?? 1024, 'maxQueue');
    this.requestTimeoutMs = positiveInteger(options.requestTimeoutMs ?? 30_000, 'requestTimeoutMs');
    const bodyLimit = (this.bodyLimit = positiveInteger(options.bodyLimit ?? 1 << 20, 'bodyLimit'));
    this.retryAfter = String(positiveInteger(options.retryAfterSeconds ?? 1, 'retryAfterSeconds'));
    const load: ModelLoader = options.load ?? ((dir, o) => Recommender.open(dir, o));

    this.metrics = new ServerMetrics(() => this.slots.values());
    for (const { name, dir } of options.models)
      this.slots.set(
        name,
        new ModelSlot({
          name,
          dir,
          maxQueue,
          open: () => load(dir, { device, maxBatch, maxWaitMs }),
          onBatch: (size) => this.metrics.batchSize.observe({ model: name }, size),
        }),
      );

    this.app = Fastify({
      logger: options.logger ?? false,
      bodyLimit,
      // A client has this long to send its whole request, so a slow sender cannot hold a connection.
      requestTimeout: 30_000,
      // Validate exactly what was sent: "5" is not an integer and unknown fields are errors.
      ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
      return503OnClosing: true,
      forceCloseConnections: 'idle',
    });
    this.setUp(options.maxEventLoopDelayMs ?? 1000);

    this.loaded = Promise.all(
      [...this.slots.values()].map(async (slot) => {
        await slot.load();
        const described = slot.describe()!;
        this.app.log.info(
          { model: slot.name, dir: slot.dir, kind: described.info.kind, fingerprint: described.fingerprint },
          'model loaded',
        );
      }),
    ).then(() => undefined);
    // A failed start is reported by whoever awaits `loaded`; never as an unhandled rejection.
    this.loaded.catch(() => undefined);
  }

  /** Starts listening; resolves with the address (e.g. http://127.0.0.1:8080). */
  async listen(options: { host?: string; port?: number } = {}): Promise<string> {
    return this.app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 8080 });
  }

  /** Reloads every model (what SIGHUP does); one model's refusal does not stop the others. */
  async reloadAll(): Promise<Record<string, ReloadResult | { refused: string }>> {
    const results: Record<string, ReloadResult | { refused: string }> = {};
    for (const slot of this.slots.values()) {
      try {
        results[slot.name] = await this.reload(slot);
      } catch (error) {
        results[slot.name] = { refused: (error as Error).message };
      }
    }
    return results;
  }

  /** Stops accepting, answers what is in flight, then frees every model (what SIGTERM does). */
  async close(): Promise<void> {
    this.shuttingDown = true;
    await this.app.close();
  }

  private async reload(slot: ModelSlot): Promise<ReloadResult> {
    try {
      const result = await slot.reload();
      this.metrics.reloads.inc({ model: slot.name, result: 'ok' });
      this.app.log.info({ model: slot.name, ...result }, 'model reloaded');
      return result;
    } catch (error) {
      this.metrics.reloads.inc({ model: slot.name, result: 'refused' });
      this.app.log.warn({ model: slot.name, err: error }, 'reload refused');
      throw error;
    }
  }

  private slot(name: string): ModelSlot {
    const slot = this.slots.get(name);
    if (!slot)
      throw new HttpError(
        404,
        'UNKNOWN_MODEL',
        `no model named '${name}'; this server has: ${[...this.slots.keys()].join(', ')}`,
        'name',
      );
    return slot;
  }

  private unavailable(slot: ModelSlot, reason: RejectReason, message: string): HttpError {
    this.metrics.rejected.inc({ model: slot.name, reason });
    return new HttpError(503, reason.toUpperCase(), message);
  }

  /**
   * Runs `work` on the serving generation under the slot's admission bound and the request
   * timeout. The hold is released when the model settles, not at the timeout, so requests the
   * model is still computing keep counting against --max-queue.
   */
  private async withModel<T>(
    slot: ModelSlot,
    work: (model: ServableModel) => Promise<T>,
  ): Promise<{ value: T; generation: number }> {
    if (this.shuttingDown) throw this.unavailable(slot, 'shutting_down', 'the server is shutting down');
    const lease = slot.acquire();
    if (lease === 'not loaded')
      throw this.unavailable(slot, 'not_loaded', `model '${slot.name}' is still loading; retry shortly`);
    if (lease === 'queue full')
      throw this.unavailable(
        slot,
        'queue_full',
        `model '${slot.name}' holds ${slot.inFlight} requests, its limit (--max-queue); retry shortly`,
      );
    let running: Promise<T>;
    try {
      running = work(lease.model);
    } catch (error) {
      lease.release();
      throw error;
    }
    const settled = running.finally(() => lease.release());
    settled.catch(() => undefined); // a timed-out call may fail later; nobody is waiting for it then
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            this.unavailable(slot, 'timeout', `model '${slot.name}' did not answer within ${this.requestTimeoutMs} ms`),
          ),
        this.requestTimeoutMs,
      );
    });
    try {
      return { value: await Promise.race([settled, timeout]), generation: lease.generation };
    } finally {
      clearTimeout(timer);
    }
  }

  private setUp(maxEventLoopDelayMs: number): void {
    const app = this.app;
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const body = errorBody(error, this.bodyLimit);
      if (body.statusCode >= 500 && body.statusCode !== 503) request.log.error({ err: error }, 'request failed');
      if (body.statusCode === 503) reply.header('Retry-After', this.retryAfter);
      void reply.status(body.statusCode).send(body);
    });
    app.setNotFoundHandler((request, reply) => {
      void reply.status(404).send({
        statusCode: 404,
        error: 'Not Found',
        code: 'NO_ROUTE',
        message: `no route ${request.method} ${request.url}; the routes are listed at /docs`,
      });
    });
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      this.metrics.requests.inc({ method: request.method, route, status_code: String(reply.statusCode) });
      this.metrics.duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    });
    app.addHook('preClose', async () => {
      this.shuttingDown = true;
    });
    // While draining, answers close their connection: a keep-alive connection that went idle only
    // after close() began would otherwise hold the shutdown until its keep-alive timeout.
    app.addHook('onSend', async (_request, reply) => {
      if (this.shuttingDown) void reply.header('Connection', 'close');
    });
    app.addHook('onClose', async () => {
      // In-flight HTTP requests have been answered by now; close the models (drain, free memory).
      await Promise.all([...this.slots.values()].map((slot) => slot.close()));
    });

    void app.register(fastifySwagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'llmrec serve',
          description: 'Recommendations from llmrec run folders over HTTP.',
          version: '1',
        },
      },
    });

    // Routes are declared inside a plugin, after @fastify/swagger, so that /docs lists them all.
    void app.register(async (api) => {
      api.get('/healthz', { schema: healthSchema }, async () => ({ status: 'ok' }));
      api.get('/readyz', { schema: readySchema }, async (_request, reply) => {
        const models = Object.fromEntries([...this.slots.values()].map((slot) => [slot.name, slot.ready]));
        const ready = !this.shuttingDown && Object.values(models).every(Boolean);
        void reply.status(ready ? 200 : 503);
        return { status: this.shuttingDown ? 'shutting down' : ready ? 'ready' : 'loading', models };
      });
      api.get('/metrics', { schema: { summary: 'Prometheus metrics', tags: ['health'] } }, async (_request, reply) => {
        void reply.header('Content-Type', this.metrics.contentType);
        return this.metrics.text();
      });
      api.get('/docs', { schema: { hide: true } }, async () => api.swagger());

      api.get('/v1/models', { schema: listModelsSchema }, async () => ({
        models: [...this.slots.values()].map((slot) => {
          const described = slot.describe();
          return {
            name: slot.name,
            ready: slot.ready,
            inFlight: slot.inFlight,
            ...(described && {
              ...described.info,
              generation: described.generation,
              fingerprint: described.fingerprint,
              loadedAt: described.loadedAt,
            }),
          };
        }),
      }));

      api.post<{ Params: { name: string } }>('/v1/models/:name/reload', { schema: reloadSchema }, async (request) => {
        const slot = this.slot(request.params.name);
        try {
          return { model: slot.name, ...(await this.reload(slot)) };
        } catch (error) {
          if (error instanceof ReloadRefusedError) throw new HttpError(409, 'RELOAD_REFUSED', error.message);
          throw error;
        }
      });

      // The model routes are refused with 503 while the process is overloaded (event-loop lag);
      // health, readiness and metrics stay outside so that an overloaded server can still be seen.
      void api.register(async (models) => {
        if (maxEventLoopDelayMs > 0)
          await models.register(underPressure, {
            maxEventLoopDelay: maxEventLoopDelayMs,
            retryAfter: Number(this.retryAfter),
            message: `the server is overloaded (event-loop lag over ${maxEventLoopDelayMs} ms); retry shortly`,
          });

        models.post<{ Params: { name: string }; Body: RecommendBody }>(
          '/v1/models/:name/recommend',
          { schema: recommendSchema },
          async (request) => {
            const started = performance.now();
            const slot = this.slot(request.params.name);
            const body = request.body;
            const { value, generation } = await this.withModel(slot, (model) => {
              const features = model.info().features;
              if (body.candidates !== undefined && !features.candidates)
                throw new HttpError(
                  501,
                  'NOT_SUPPORTED',
                  `model '${slot.name}' (kind ${model.info().kind}) cannot rank a candidate set; leave out 'candidates'`,
                  'candidates',
                );
              if (body.k !== undefined && body.k > model.info().maxK)
                throw new HttpError(
                  400,
                  'INVALID_REQUEST',
                  `body.k must be <= ${model.info().maxK} for model '${slot.name}'`,
                  'k',
                );
              return model.recommend(body.history, body);
            });
            const answer = value as Recommendation[] | GeneratedRecommendation;
            return {
              ...(Array.isArray(answer) ? { items: answer } : answer),
              model: slot.name,
              generation,
              latencyMs: performance.now() - started,
            };
          },
        );

        models.post<{ Params: { name: string }; Body: { items: { id: string | number; title: string }[] } }>(
          '/v1/models/:name/items',
          { schema: addItemsSchema },
          async (request) => {
            const slot = this.slot(request.params.name);
            const items = request.body.items.map((item) => ({ id: String(item.id), title: item.title }));
            const { value: added, generation: _ } = await this.withModel(slot, async (model) => {
              if (!model.info().features.addItems || typeof model.addItems !== 'function')
                throw new HttpError(
                  501,
                  'NOT_SUPPORTED',
                  `model '${slot.name}' (kind ${model.info().kind}) cannot embed new items from their titles`,
                  'items',
                );
              const count = await model.addItems(items);
              return { count, numItems: model.info().numItems };
            });
            return { model: slot.name, added: added.count, numItems: added.numItems };
          },
        );
      });
    });
  }
}

interface RecommendBody {
  history: (string | number)[];
  k?: number;
  exclude?: (string | number)[];
  excludeHistory?: boolean;
  unknownItems?: 'ignore' | 'error';
  candidates?: (string | number)[];
  times?: (string | number)[];
}

/** Builds the server (models start loading at once; await `server.loaded` for readiness). */
export function createServer(options: ServeOptions): RecommendationServer {
  return new RecommendationServer(options);
}
