/**
 * createApp composes Elysia's request handler itself, with no stack frames captured: the handler keeps
 * one NotFoundError for as long as the app lives, and the stack of an Error kept past a garbage
 * collection is worked out then (in the executable, from its embedded sourcemaps: ~0.5 MB of RSS).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { Elysia, type AnyElysia } from 'elysia';
import { composeFetch } from '../src/app';
import { makeTestApp, type TestApp } from './helpers/app';

/** The error an unknown path reaches onError with: the one the composed handler keeps. */
async function notFoundError(compose: (app: AnyElysia) => void): Promise<Error> {
  let seen: unknown;
  const app = new Elysia().onError(({ error }) => {
    seen = error;
    return new Response(null, { status: 404 });
  });
  app.get('/', () => 'ok');
  compose(app);
  expect((await app.handle(new Request('http://localhost/nowhere'))).status).toBe(404);
  expect(seen).toBeInstanceOf(Error);
  return seen as Error;
}

describe('composing the request handler', () => {
  test('the not-found error the handler keeps has no stack frames', async () => {
    const err = await notFoundError(composeFetch);
    expect(err.stack ?? '').not.toContain('\n    at ');
  });

  test('composed lazily by the first request, it would keep the frames (what composeFetch avoids)', async () => {
    const err = await notFoundError(() => {});
    expect(err.stack ?? '').toContain('\n    at ');
  });

  test('the stack trace limit is put back, and later errors have their frames', () => {
    const before = Error.stackTraceLimit;
    composeFetch(new Elysia().get('/', () => 'ok'));
    expect(Error.stackTraceLimit).toBe(before);
    expect(new Error('x').stack).toContain('\n    at ');
  });

  describe('the app createApp builds', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await makeTestApp();
    });
    afterAll(() => t.close());

    test('is composed already, and answers as before', async () => {
      expect(Object.hasOwn(t.app, 'fetch')).toBe(true);
      expect((await t.fetch('/health')).status).toBe(200);
      const res = await t.fetch('/no/such/route');
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ code: 'not_found' });
    });
  });
});
