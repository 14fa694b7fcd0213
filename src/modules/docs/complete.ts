/**
 * One pass over the generated operations that documents what the app does around its routes, so no
 * route has to repeat it: the error envelope of each path family (SPEC §4) as a shared component, the
 * errors of body parsing (400, 413, 415) and validation (422), authentication (401 with API keys, 402
 * with MPP; none on public paths), a `default` for any other status, whether a body may be omitted,
 * and responses a route describes in `detail` beside its `response` map (the generator drops them).
 */
import type { AnyElysia } from 'elysia';
import { usesOpenAIEnvelope } from '../../lib/errors';
import { z } from '../../lib/zod';
import { PUBLIC_PATHS } from '../auth/service';

/** Which credentials the server accepts: decides the security schemes, 401 and 402. */
export interface DocAuth {
  apiKeys: boolean;
  mpp: boolean;
  /** Whether a browser page may be refused for the host name it called (lib/cors.ts `refusesHost`). */
  hosts: boolean;
}

type Json = Record<string, unknown>;
type Content = Record<string, { schema?: Json }>;
export type ResponseDoc = { description: string; content?: Content; headers?: Json };
export type Operation = { operationId?: string; requestBody?: { required?: boolean; content?: Content }; responses?: Record<string, ResponseDoc>; security?: unknown[] };
type Route = AnyElysia['routes'][number];

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** The properties of each envelope: any others in a route's error schema are its additions. */
const ENVELOPES = { ApiError: ['detail', 'code', 'errors'], OpenAIError: ['error'] } as const;
type Envelope = keyof typeof ENVELOPES;

const BODYLESS = new Set(['get', 'head', 'options', 'trace']);

/** A route's error schema as the shared envelope, plus what the route adds to it. */
function asEnvelope(schema: Json, envelope: Envelope): Json {
  if (schema.$ref || schema.allOf) return schema;
  const props = (schema.properties ?? {}) as Json;
  const extra = Object.keys(props).filter((k) => !(ENVELOPES[envelope] as readonly string[]).includes(k));
  if (!extra.length) return ref(envelope);
  const required = ((schema.required ?? []) as string[]).filter((k) => extra.includes(k));
  const added = {
    type: 'object',
    properties: Object.fromEntries(extra.map((k) => [k, props[k]])),
    ...(required.length ? { required } : {}),
    ...('additionalProperties' in schema ? { additionalProperties: schema.additionalProperties } : {}),
  };
  return { allOf: [ref(envelope), added] };
}

function errorResponse(description: string, envelope: Envelope, extra: Content = {}, headers?: Json): ResponseDoc {
  return { description, ...(headers ? { headers } : {}), content: { 'application/json': { schema: ref(envelope) }, ...extra } };
}

const challenge = (scheme: string) => ({ 'WWW-Authenticate': { description: `The ${scheme} challenge`, schema: { type: 'string' } } });
const problem: Content = { 'application/problem+json': { schema: ref('PaymentProblem') } };

/** Does the body schema accept no body at all (an empty request body reaches it as `undefined`)? */
const bodyOptional = (body: unknown) => z.safeParse(body as z.ZodMiniType, undefined).success;

export function completeOperation(path: string, method: string, op: Operation, route: Route | undefined, auth: DocAuth): void {
  const envelope: Envelope = usesOpenAIEnvelope(path) ? 'OpenAIError' : 'ApiError';
  const hooks = (route?.hooks ?? {}) as { body?: unknown; query?: unknown; params?: unknown; detail?: { responses?: Record<string, ResponseDoc> } };
  // A copy per operation: the generator gives every method of an `.all()` route the same object.
  const described = hooks.detail?.responses ?? {};
  const responses: Record<string, ResponseDoc> = { ...described, ...op.responses };
  // Headers a route describes for a status its schema documents (Idempotent-Replayed of an escrow
  // lock): the generator's entry has the schema, the route's the headers.
  for (const [status, res] of Object.entries(described)) {
    const made = responses[status];
    if (res.headers && made && made !== res) responses[status] = { ...made, description: res.description, headers: { ...made.headers, ...res.headers } };
  }
  for (const [status, res] of Object.entries(responses)) {
    if (status !== 'default' && Number(status) < 400) continue;
    const json = res.content?.['application/json']?.schema;
    responses[status] = { ...res, content: { ...res.content, 'application/json': { schema: json ? asEnvelope(json, envelope) : ref(envelope) } } };
  }
  const add = (status: string, res: ResponseDoc) => {
    const had = responses[status];
    const headers = had?.headers || res.headers ? { headers: { ...res.headers, ...had?.headers } } : {};
    // A route's own description wins, unless it is the generator's placeholder.
    const description = had && !had.description.startsWith('Response for status') ? `${had.description}. Or: ${res.description}` : res.description;
    responses[status] = had ? { ...had, description, ...headers, content: { ...res.content, ...had.content } } : res;
  };
  if (BODYLESS.has(method)) {
    // A method without a body (one of an `.all()` route) cannot have the errors of one.
    for (const status of ['400', '413', '415']) delete responses[status];
  } else if (hooks.body !== undefined) {
    add('400', errorResponse('The body is not valid JSON or not UTF-8', envelope));
    add('413', errorResponse('The body is larger than MAX_BODY_BYTES', envelope));
    add('415', errorResponse('A multipart body, or a compressed one (Content-Encoding): send plain JSON', envelope));
  }
  if (hooks.body !== undefined || hooks.query !== undefined || hooks.params !== undefined) {
    const where = envelope === 'ApiError' ? '`errors` lists every invalid field' : '`param` names the first invalid field';
    add('422', errorResponse(`A body field, query or path parameter is invalid: ${where}`, envelope));
  }
  // A write from a page of a foreign origin is refused before routing (lib/cors.ts); reads never are.
  if (!BODYLESS.has(method)) {
    add('403', errorResponse('`origin_not_allowed`: sent from a web page whose origin is neither in CORS_ORIGINS nor the sidecar\'s own; nothing was done', envelope));
  }
  if (auth.hosts && path !== '/health') {
    add('403', errorResponse('`host_not_allowed`: sent, and not marked cross-origin by a browser, under a host name that is not an IP address, localhost, dotless, .local, .internal, .home.arpa, .lan, .home, .corp, .intranet, .private, a CORS_ORIGINS host or in ALLOWED_HOSTS (DNS rebinding); nothing was done', envelope));
  }
  const isPublic = PUBLIC_PATHS.has(path);
  if (isPublic) op.security = [];
  else if (auth.mpp) add('402', { description: 'Payment required (MPP): pay MPP_AMOUNT with the challenge in WWW-Authenticate; a replayed or rejected credential is refused too', headers: challenge('Payment'), content: problem });
  else if (auth.apiKeys) add('401', errorResponse('Missing or wrong API key (`Authorization: Bearer <key>`)', envelope, {}, challenge('Bearer')));
  const payment = auth.mpp && !isPublic ? problem : {};
  add('default', errorResponse(envelope === 'OpenAIError'
    ? 'Any other error of the sidecar (503 when every upstream stream slot is taken, …), or the upstream\'s own error status and body'
    : 'Any other error: 404 no such resource, 405 method not allowed (Allow lists the methods), 503 storage or backend unavailable, 507 storage full, 500', envelope, payment));
  op.responses = responses;
  if (op.requestBody && hooks.body !== undefined) op.requestBody.required = !bodyOptional(hooks.body);
}

/** The route behind each operation, by `METHOD path` in the document's `{param}` form. */
export function routeIndex(app: AnyElysia): (method: string, path: string) => Route | undefined {
  const byKey = new Map<string, Route>();
  for (const r of app.routes) byKey.set(`${r.method.toLowerCase()} ${r.path.replace(/:([^/]+)/g, '{$1}')}`, r);
  return (method, path) => byKey.get(`${method} ${path}`) ?? byKey.get(`all ${path}`);
}
