// The JSON schemas of the routes: fastify validates requests against them (no type coercion, no
// unknown fields), serialises answers with them, and @fastify/swagger turns them into the
// OpenAPI document at /docs.

const itemId = {
  anyOf: [
    { type: 'string', minLength: 1, maxLength: 256 },
    { type: 'integer', minimum: 0 },
  ],
  description: 'an item id as in the training data (a string, or an integer for numeric ids)',
} as const;

const itemIds = (description: string, maxItems: number) =>
  ({ type: 'array', items: itemId, maxItems, description }) as const;

export const errorBody = {
  type: 'object',
  description: 'What went wrong; `field` names the part of the request at fault',
  properties: {
    statusCode: { type: 'integer' },
    error: { type: 'string' },
    code: { type: 'string' },
    message: { type: 'string' },
    field: { type: 'string' },
  },
  required: ['statusCode', 'error', 'message'],
} as const;

const modelName = {
  type: 'object',
  properties: { name: { type: 'string', description: 'the served model name (from --model name=DIR)' } },
  required: ['name'],
} as const;

const errors = (...codes: number[]) => Object.fromEntries(codes.map((code) => [code, errorBody]));

export const recommendSchema = {
  summary: 'Top-k items for a history',
  description:
    'Concurrent requests to one model are micro-batched into one forward pass. Item ids the model never saw are dropped (or refused with unknownItems: "error"); an empty history gets the most popular items.',
  tags: ['recommend'],
  params: modelName,
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['history'],
    properties: {
      history: itemIds("the user's items, oldest first", 10_000),
      k: { type: 'integer', minimum: 1, maximum: 1024, default: 10, description: 'how many items' },
      exclude: itemIds('items never to return', 100_000),
      excludeHistory: { type: 'boolean', default: true, description: 'leave out the items of the history' },
      unknownItems: { type: 'string', enum: ['ignore', 'error'], default: 'ignore' },
      candidates: {
        ...itemIds('rank only these items (models whose features include candidates)', 100_000),
        minItems: 1,
      },
      times: {
        type: 'array',
        maxItems: 10_000,
        items: { anyOf: [{ type: 'number' }, { type: 'string', maxLength: 64 }] },
        description:
          'when each history item was interacted with (UTC ms or an ISO date), aligned with history; read by models whose prompts carry dates (LLM-SRec)',
      },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        items: {
          type: 'array',
          items: {
            type: 'object',
            properties: { item: { type: 'string' }, title: { type: 'string' }, score: { type: 'number' } },
            required: ['item', 'title', 'score'],
          },
        },
        text: { type: 'string', description: 'the generated text, from models whose features include text' },
        model: { type: 'string' },
        generation: { type: 'integer', description: 'the generation of the model that answered' },
        latencyMs: { type: 'number' },
      },
      required: ['items', 'model', 'generation', 'latencyMs'],
    },
    ...errors(400, 404, 413, 415, 501, 503),
  },
} as const;

export const addItemsSchema = {
  summary: 'Add items by title',
  description: 'For models that embed new items from their text (features.addItems); they can be recommended at once.',
  tags: ['items'],
  params: modelName,
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['items'],
    properties: {
      items: {
        type: 'array',
        minItems: 1,
        maxItems: 10_000,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['id', 'title'],
          properties: { id: itemId, title: { type: 'string', minLength: 1, maxLength: 4096 } },
        },
      },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: { model: { type: 'string' }, added: { type: 'integer' }, numItems: { type: 'integer' } },
      required: ['model', 'added', 'numItems'],
    },
    ...errors(400, 404, 413, 415, 501, 503),
  },
} as const;

const modelDescription = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    ready: { type: 'boolean' },
    kind: { type: 'string' },
    device: { type: 'string' },
    numItems: { type: 'integer' },
    maxK: { type: 'integer' },
    features: {
      type: 'object',
      properties: { candidates: { type: 'boolean' }, addItems: { type: 'boolean' }, text: { type: 'boolean' } },
    },
    generation: { type: 'integer' },
    fingerprint: { type: 'string', description: "a hash of the run folder's files when this generation was loaded" },
    loadedAt: { type: 'string', format: 'date-time' },
    inFlight: { type: 'integer' },
  },
  required: ['name', 'ready'],
} as const;

export const listModelsSchema = {
  summary: 'The served models',
  tags: ['models'],
  response: {
    200: { type: 'object', properties: { models: { type: 'array', items: modelDescription } }, required: ['models'] },
  },
} as const;

export const reloadSchema = {
  summary: 'Reload a model from its run folder (also on SIGHUP)',
  description:
    'Loads the run folder as it is now and swaps it in after a warm-up pass, without dropping requests in flight. A folder that does not load (a corrupt or half-written checkpoint) is refused with 409 and the serving generation goes on.',
  tags: ['models'],
  params: modelName,
  response: {
    200: {
      type: 'object',
      properties: {
        model: { type: 'string' },
        generation: { type: 'integer' },
        previousGeneration: { type: 'integer' },
        fingerprint: { type: 'string' },
      },
      required: ['model', 'generation', 'previousGeneration', 'fingerprint'],
    },
    ...errors(404, 409),
  },
} as const;

const status = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    models: { type: 'object', additionalProperties: { type: 'boolean' } },
  },
  required: ['status'],
} as const;

export const healthSchema = {
  summary: 'Liveness: the process answers',
  tags: ['health'],
  response: { 200: status },
} as const;

export const readySchema = {
  summary: 'Readiness: every model loaded and warmed up, and not shutting down',
  tags: ['health'],
  response: { 200: status, 503: status },
} as const;
