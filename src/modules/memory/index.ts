import { Elysia } from 'elysia';
import {
  CreateMemoryBody, CreateMemoryResponse, DeleteResponse, ListMemoriesResponse, ListQuery, MemoryIdParams, RecallQuery, RecallResponse, SearchBody,
  SearchResponse, StatsResponse,
} from './model';
import { ErrorBody } from '../../lib/api-schemas';
import { z } from '../../lib/zod';
import type { MemoryService } from './service';

const tags = ['memory'];
/** Every route reads or writes the store (SpacetimeDB's 502/504 are under `default`). */
const unavailable = { 503: ErrorBody.check(z.describe('The memory store is unavailable: SpacetimeDB unreachable, or the local database busy or read-only')) };

/** SPEC §9. The static paths (stats, recall, search) are declared before /api/memory/:id so they always win. */
export function memoryPlugin(service: MemoryService) {
  return new Elysia({ name: 'memory' })
    .get('/api/memory/stats', () => service.stats(), {
      response: { ...unavailable, 200: StatsResponse },
      detail: { tags, summary: 'Backend, status, totals per category and backend details' },
    })
    .get('/api/memory/recall', ({ query }) => service.recall(query), {
      query: RecallQuery,
      response: { ...unavailable, 200: RecallResponse },
      detail: { tags, summary: 'Memories relevant to a query, best first' },
    })
    .post('/api/memory/search', ({ body }) => service.search(body), {
      body: SearchBody,
      response: { ...unavailable, 200: SearchResponse },
      detail: { tags, summary: 'Search memories with filters; an empty query lists by importance' },
    })
    .post(
      '/api/memory',
      async ({ body, set }) => {
        const { status, body: out } = await service.create(body);
        set.status = status;
        return out;
      },
      {
        body: CreateMemoryBody,
        response: { ...unavailable, 200: CreateMemoryResponse, 201: CreateMemoryResponse },
        detail: { tags, summary: 'Store a memory (201); the same content again returns the existing one (200, duplicate:true)' },
      },
    )
    .get('/api/memory', ({ query }) => service.list(query), {
      query: ListQuery,
      response: { ...unavailable, 200: ListMemoriesResponse },
      detail: { tags, summary: 'Memories, newest first, with a true total' },
    })
    .delete('/api/memory/:id', ({ params }) => service.remove(params.id), {
      params: MemoryIdParams,
      response: { ...unavailable, 200: DeleteResponse, 404: ErrorBody },
      detail: { tags, summary: 'Delete a memory (404 when there is none)' },
    });
}
