// llmrec serve: run folders behind HTTP. Logs are pino JSON lines on stdout; SIGHUP reloads every
// model from its run folder, SIGTERM (or Ctrl-C) stops accepting, answers what is in flight, frees
// the models and exits 0.
import * as path from 'node:path';

import { defineCommand, UsageError } from '../args.js';
import { resolveDevice } from './common.js';

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'silent'] as const;

/** `DIR` or `NAME=DIR`; a bare DIR is served under its folder's name. */
export function parseModelOption(value: string): { name: string; dir: string } {
  const named = /^([A-Za-z0-9][A-Za-z0-9._-]{0,63})=(.+)$/.exec(value);
  if (named) return { name: named[1]!, dir: named[2]! };
  if (value.trim() === '') throw new UsageError('--model needs a run folder: --model DIR or --model NAME=DIR');
  return { name: path.basename(path.resolve(value)), dir: value };
}

export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'Serve trained run folders over HTTP (micro-batched, bounded queue, hot reload, metrics).',
  options: {
    model: {
      type: 'string',
      multiple: true,
      description: 'a run folder to serve, as DIR (named after the folder) or NAME=DIR; default runs/sasrec',
    },
    port: { type: 'integer', description: 'TCP port (0: any free port)', default: 8080 },
    host: { type: 'string', description: 'address to listen on (0.0.0.0 for every interface)', default: '127.0.0.1' },
    device: { type: 'string', description: 'cpu, cuda or cuda:N', default: 'cpu' },
    'max-batch': { type: 'integer', description: 'requests per forward pass', default: 64 },
    'max-wait-ms': {
      type: 'number',
      description:
        'how long a request may wait for others to share its forward pass (0: requests that arrive together or while a pass runs share the next)',
      default: 0,
    },
    'max-queue': {
      type: 'integer',
      description: 'requests a model holds at once (waiting or computing); beyond it, 503 with Retry-After',
      default: 1024,
    },
    'timeout-ms': { type: 'integer', description: 'a request not answered in this time gets 503', default: 30_000 },
    'body-limit': { type: 'integer', description: 'largest request body in bytes (larger: 413)', default: 1 << 20 },
    'max-event-loop-delay-ms': {
      type: 'integer',
      description: 'refuse model requests with 503 while the event loop lags more than this (0: never)',
      default: 1000,
    },
    'shutdown-timeout-ms': {
      type: 'integer',
      description: 'on SIGTERM, exit 1 if in-flight requests are not answered in this time',
      default: 30_000,
    },
    'log-level': { type: 'string', description: 'pino log level', choices: logLevels, default: 'info' },
  },
  async run(options, positionals) {
    if (positionals.length > 0)
      throw new UsageError(`serve takes no positional arguments (got '${positionals.join(' ')}'); use --model DIR`);
    const models = (options.model.length > 0 ? options.model : ['runs/sasrec']).map(parseModelOption);
    for (const [flag, value] of [
      ['--max-batch', options['max-batch']],
      ['--max-queue', options['max-queue']],
      ['--timeout-ms', options['timeout-ms']],
      ['--body-limit', options['body-limit']],
      ['--shutdown-timeout-ms', options['shutdown-timeout-ms']],
    ] as const)
      if (value < 1) throw new UsageError(`${flag} must be at least 1, got ${value}`);
    if (options['max-wait-ms'] < 0) throw new UsageError(`--max-wait-ms must be >= 0, got ${options['max-wait-ms']}`);
    if (options['max-event-loop-delay-ms'] < 0)
      throw new UsageError(`--max-event-loop-delay-ms must be >= 0, got ${options['max-event-loop-delay-ms']}`);
    if (options.port < 0 || options.port > 65535)
      throw new UsageError(`--port must be in 0..65535, got ${options.port}`);

    // Loaded here, not at the top: fastify and its plugins cost every other command ~0.4 s to import.
    const { createServer } = await import('../../serve/http/server.js');
    const device = resolveDevice(options.device);
    let server;
    try {
      server = createServer({
        models,
        device,
        maxBatch: options['max-batch'],
        maxWaitMs: options['max-wait-ms'],
        maxQueue: options['max-queue'],
        requestTimeoutMs: options['timeout-ms'],
        bodyLimit: options['body-limit'],
        maxEventLoopDelayMs: options['max-event-loop-delay-ms'],
        logger: { level: options['log-level'] },
      });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const log = server.app.log;

    let stopping: Promise<void> | undefined;
    let stopped!: { resolve: () => void; reject: (error: unknown) => void };
    const closed = new Promise<void>((resolve, reject) => (stopped = { resolve, reject }));
    const stop = (signal: string) => {
      if (stopping) {
        log.error({ signal }, 'second signal while draining: exiting at once');
        process.exit(1);
      }
      log.info({ signal }, 'shutting down: no new connections, answering requests in flight');
      const deadline = setTimeout(() => {
        log.error({ timeoutMs: options['shutdown-timeout-ms'] }, 'requests still in flight at the shutdown deadline');
        process.exit(1);
      }, options['shutdown-timeout-ms']);
      deadline.unref();
      stopping = server
        .close()
        .finally(() => clearTimeout(deadline))
        .then(stopped.resolve, stopped.reject);
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    const onHup = () => {
      log.info('SIGHUP: reloading every model from its run folder');
      void server.reloadAll();
    };
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    process.on('SIGHUP', onHup);
    try {
      let address: string;
      try {
        address = await server.listen({ host: options.host, port: options.port });
      } catch (error) {
        await server.close();
        throw new Error(
          `cannot listen on ${options.host}:${options.port}: ${(error as Error).message}; choose another --port or --host`,
          { cause: error },
        );
      }
      try {
        await server.loaded;
      } catch (error) {
        await server.close();
        throw error;
      }
      if (!stopping)
        log.info(
          { address, models: models.map((m) => m.name), docs: `${address}/docs`, metrics: `${address}/metrics` },
          'ready',
        );
      // Serve until a signal has closed the server.
      await closed;
      log.info('stopped');
    } finally {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      process.off('SIGHUP', onHup);
    }
  },
});
