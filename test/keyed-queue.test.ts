/**
 * KeyedQueue (src/lib/keyed-queue.ts): tasks of one key run in turn, other keys run freely, a
 * failure does not stop the next task, and no key is kept once its tasks have settled.
 */
import { describe, expect, test } from 'bun:test';
import { KeyedQueue } from '../src/lib/keyed-queue';

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 1));

describe('KeyedQueue', () => {
  test('tasks of one key run one at a time, in order; other keys do not wait', async () => {
    const q = new KeyedQueue();
    const log: string[] = [];
    let running = 0;
    let most = 0;
    const task = (name: string) => async () => {
      running++;
      most = Math.max(most, running);
      log.push(`start ${name}`);
      await tick();
      log.push(`end ${name}`);
      running--;
      return name;
    };
    const a = [q.run('k', task('a1')), q.run('k', task('a2')), q.run('k', task('a3'))];
    const other = q.run('other', () => 'free');
    expect(await other).toBe('free');
    expect(log).toEqual(['start a1']);
    expect(await Promise.all(a)).toEqual(['a1', 'a2', 'a3']);
    expect(log).toEqual(['start a1', 'end a1', 'start a2', 'end a2', 'start a3', 'end a3']);
    expect(most).toBe(1);
  });

  test('a failing task (thrown or rejected) rejects its caller only; the next task of the key still runs', async () => {
    const q = new KeyedQueue();
    const first = q.run('k', async () => {
      await tick();
      throw new Error('first failed');
    });
    const second = q.run('k', () => {
      throw new Error('second failed');
    });
    const third = q.run('k', () => 'third ran');
    await expect(first).rejects.toThrow('first failed');
    await expect(second).rejects.toThrow('second failed');
    expect(await third).toBe('third ran');
  });

  test('no key is kept once its tasks have settled, whatever their outcome', async () => {
    const q = new KeyedQueue();
    const runs = Array.from({ length: 500 }, (_, i) =>
      q.run(`key-${i % 50}`, async () => {
        await tick();
        if (i % 7 === 0) throw new Error('boom');
        return i;
      }),
    );
    expect(q.size).toBe(50);
    await Promise.allSettled(runs);
    await tick();
    expect(q.size).toBe(0);
    expect(await q.run('key-1', () => 'again')).toBe('again');
    await tick();
    expect(q.size).toBe(0);
  });
});
