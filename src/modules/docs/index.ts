/** The OpenAPI document (built in service.ts) at /openapi/json, and an offline docs page at /openapi. */
import { Elysia, type AnyElysia } from 'elysia';
import type { DocAuth } from './complete';
import { DOCS_HTML } from './page';
import { buildOpenApiDocument } from './service';

/**
 * `root` is read lazily: the document describes the whole app, which exists only once built. The page
 * is public (it holds no route, and fetches the document with the key a user gives it); the document is not.
 */
export function docsPlugin(version: string, auth: DocAuth, root: () => AnyElysia) {
  let cached: { routes: number; doc: Awaited<ReturnType<typeof buildOpenApiDocument>> } | null = null;
  return new Elysia({ name: 'docs' })
    .get('/openapi/json', async () => {
      const app = root();
      if (cached?.routes !== app.routes.length) cached = { routes: app.routes.length, doc: await buildOpenApiDocument(app, version, auth) };
      return cached.doc;
    }, {
      detail: {
        tags: ['docs'],
        summary: 'OpenAPI 3.1 document of every route',
        responses: { 200: { description: 'This document', content: { 'application/json': { schema: { type: 'object' } } } } },
      },
    })
    .get('/openapi', () => new Response(DOCS_HTML, { headers: { 'content-type': 'text/html; charset=utf-8' } }), {
      detail: {
        tags: ['docs'],
        summary: 'API reference page (self-contained, works offline; no credentials needed, it asks for a key to load the document)',
        responses: { 200: { description: 'The page', content: { 'text/html': { schema: { type: 'string' } } } } },
      },
    });
}
