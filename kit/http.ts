import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type ErrorCode, type Issue, schemaIssues } from './errors.ts';

/**
 * The HTTP edge every fastify app of the project shares (the service's API, the served simulator, the fault
 * proxy's control API): route schemas written once in zod — validated with zod, so every refusal names its
 * fields, and published as OpenAPI —, fastify's own refusals as registry codes, and node's parser refusals
 * answered on the socket. Each app keeps its own body shape and status table; what is shared is which input
 * is bad and how it is named.
 */

// ---- zod → JSON Schema, and back for validation ----

/** Which zod schema a generated JSON schema came from: fastify hands the JSON schema to `validator`. */
const origin = new WeakMap<object, z.ZodType>();

/**
 * The OpenAPI 3.0 JSON schema of `schema`, remembered so that fastify validates with the zod schema itself (or
 * with `validateWith`, when the route validates further in its handler).
 */
export function json(
  schema: z.ZodType,
  io: 'input' | 'output' = 'input',
  validateWith: z.ZodType = schema,
): Record<string, unknown> {
  const generated = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  delete generated.$schema;
  origin.set(generated, validateWith);
  return generated;
}

/** A validation failure: the error handler reads `issues` and `validationContext`. */
export class ValidationFailure extends Error {
  readonly issues: Issue[];
  constructor(issues: Issue[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    this.name = 'ValidationFailure';
    this.issues = issues;
  }
}

/**
 * fastify's validator compiler: the zod schema behind a route schema part. fastify passes `null` for an
 * absent part (no body).
 */
export function validator({ schema }: { schema: unknown }): (data: unknown) => { value?: unknown; error?: Error } {
  const zod = typeof schema === 'object' && schema !== null ? origin.get(schema) : undefined;
  if (zod === undefined) throw new Error('http: a route schema was not made by json() (no zod schema behind it)');
  return (data) => {
    const parsed = zod.safeParse(data === null ? undefined : data);
    if (parsed.success) return { value: parsed.data };
    return { error: new ValidationFailure(schemaIssues(parsed.error)) };
  };
}

// ---- fastify's refusals as codes ----

export interface EdgeRefusal {
  code: ErrorCode;
  message: string;
  issues: Issue[];
  /** Set when the status is not the code's usual one (a 4xx fastify chose). */
  status?: number;
}

/**
 * Bad input fastify itself refused (validation, media type, body size, malformed JSON), as a registry code;
 * null for anything else (the app's own errors, or a bug).
 */
export function edgeRefusal(error: FastifyError): EdgeRefusal | null {
  const context = (error as { validationContext?: string }).validationContext;
  if (error instanceof ValidationFailure || error.code === 'FST_ERR_VALIDATION') {
    const issues = error instanceof ValidationFailure ? error.issues : [{ path: '(root)', message: error.message }];
    const part = context === 'querystring' ? 'query' : context;
    // Body fields are named as they are; path parameters and headers with their part (`params.id`).
    const named =
      part === undefined || part === 'body' ? issues : issues.map((i) => ({ ...i, path: prefix(part, i.path) }));
    return {
      code: 'MTP_BAD_REQUEST',
      message: `bad request: ${named.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues: named,
    };
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        code: 'MTP_UNSUPPORTED_MEDIA_TYPE',
        message: 'the body must be application/json',
        issues: [{ path: 'headers.content-type', message: 'must be application/json' }],
      };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'MTP_PAYLOAD_TOO_LARGE', message: 'the body is larger than the server accepts', issues: [] };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return {
        code: 'MTP_MALFORMED_JSON',
        message: 'the body is empty although Content-Type is application/json',
        issues: [{ path: '(body)', message: 'empty' }],
      };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      // Also a body with __proto__ or constructor.prototype keys (prototype poisoning), refused as such.
      return {
        code: 'MTP_MALFORMED_JSON',
        message: 'the body is not valid JSON',
        issues: [{ path: '(body)', message: 'not valid JSON' }],
      };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { code: 'MTP_BAD_REQUEST', message: 'the Content-Length does not match the body', issues: [] };
  }
  if (error instanceof SyntaxError || (error.statusCode === 400 && error.code === undefined)) {
    return {
      code: 'MTP_MALFORMED_JSON',
      message: `the body is not valid JSON: ${error.message}`,
      issues: [{ path: '(body)', message: 'not valid JSON' }],
    };
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return { code: 'MTP_BAD_REQUEST', message: error.message, issues: [], status };
  return null;
}

function prefix(part: string, path: string): string {
  return path === '(root)' ? part : `${part}.${path}`;
}

// ---- text the store cannot keep ----

export const UNSTORABLE = 'a NUL character (\\u0000) or an unpaired surrogate: text the store cannot keep';

/**
 * The path (`name`, `data.paymentId`, `items[2]`) of the first string, or object key, in `value` that
 * contains a NUL character or an unpaired UTF-16 surrogate, or null. Postgres cannot store either (text
 * refuses NUL, jsonb both), and a MetaTrader server cuts a string at NUL, so such a body is refused at the
 * edge. Iterative, so that a deeply nested body cannot exhaust the stack.
 */
export function unstorableString(value: unknown): string | null {
  const stack: [unknown, string][] = [[value, '']];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [item, at] = next;
    if (typeof item === 'string') {
      if (!storable(item)) return at === '' ? '(body)' : at;
    } else if (Array.isArray(item)) {
      for (let i = item.length - 1; i >= 0; i--) stack.push([item[i], `${at}[${i}]`]);
    } else if (item !== null && typeof item === 'object') {
      for (const [key, member] of Object.entries(item).reverse()) {
        const path = at === '' ? key : `${at}.${key}`;
        if (!storable(key)) return path;
        stack.push([member, path]);
      }
    }
  }
  return null;
}

/** A high surrogate not followed by a low one, or a low one not after a high one (UTF-16 code units). */
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function storable(text: string): boolean {
  return !text.includes('\u0000') && !UNPAIRED_SURROGATE.test(text);
}

/**
 * Replaces the app's JSON body parser with fastify's own plus a refusal of text no store or server can keep
 * (`unstorableString`): `refuse(path, message)` makes the app's coded error. `keep` sees the raw text first
 * (a webhook signature covers those exact bytes).
 */
export function parseStorableJson(
  app: FastifyInstance,
  refuse: (path: string, message: string) => Error,
  keep?: (request: FastifyRequest, raw: string) => void,
): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  if (app.hasContentTypeParser('application/json')) app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    keep?.(request, body as string);
    parseJson(request, body as string, (error, value) => {
      if (error !== null) return done(error, undefined);
      const bad = unstorableString(value);
      done(bad === null ? null : refuse(bad, UNSTORABLE), bad === null ? value : undefined);
    });
  });
}

/**
 * The fastify options every app of the project starts with: no HEAD twins of GET routes, a 503 while closing, and
 * what fastify (a malformed URL) and node (bad HTTP) refuse before any route answered as `body(code, message)`,
 * written with `text` (default JSON.stringify) where no serializer runs.
 */
export function edgeOptions(
  body: (code: ErrorCode, message: string) => object,
  text: (value: object) => string = JSON.stringify,
) {
  return {
    exposeHeadRoutes: false,
    return503OnClosing: true,
    // A malformed URL (bad percent-encoding) is bad input like any other.
    frameworkErrors: (error: Error, _request: unknown, reply: unknown) => {
      (reply as FastifyReply).code(400).send(body('MTP_BAD_REQUEST', `bad request: ${error.message}`));
    },
    clientErrorHandler: (error: Error & { code?: string }, socket: Socket) =>
      answerClientError(error, socket, (code, message) => text(body(code, message))),
  };
}

// ---- node's parser refusals ----

/**
 * A request node's HTTP parser refuses (a malformed request line, headers beyond the size limit, a request
 * that took too long) never reaches fastify's routes nor its error handler: it is answered here, on the
 * socket, still as a coded JSON body (`render` makes it from the status and message), and the socket is
 * closed. For fastify's `clientErrorHandler`.
 */
export function answerClientError(
  error: Error & { code?: string },
  socket: Socket,
  render: (code: ErrorCode, message: string) => string,
): void {
  // A connection reset: nobody is left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'the request headers are larger than the server accepts']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request was not received in time']
        : [400, 'the request is not valid HTTP'];
  const text = render('MTP_BAD_REQUEST', message);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
  }
  socket.destroy(error);
}
