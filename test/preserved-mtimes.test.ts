/**
 * Files deployed by tools that keep modification times: `cp -p` rewrites a file in place (same inode)
 * and sets the source's mtime; `rsync -a`, `tar x` and `unzip` set a directory's mtime back to the
 * archive's or the source's after adding entries to it. A cache keyed by mtime, size and inode alone
 * kept serving what it read before such a change — until the sidecar was restarted. The change time
 * (ctime) moves with every write, rename and utimes, and no user tool can set it.
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test';
import { mkdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HomeApiKey } from '../src/hermes/api-key';
import { HermesHome } from '../src/hermes/home';
import { scanRoots } from '../src/modules/skills/scan';
import { structureChanged } from '../src/modules/skills/stamps';
import { SkillsIndex } from '../src/modules/skills/service';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';
import { skillMd, writeFile } from './helpers/hermes-home';

const OLD = new Date('2024-03-01T12:00:00Z');

/** `cp -p src dest` onto an existing file: truncated and written in place, then the source's times set. */
function copyPreservingTimes(dest: string, text: string, times = OLD): void {
  writeFileSync(dest, text);
  utimesSync(dest, times, times);
}

/**
 * Waits past the file-system timestamp tick (a few ms) so the change that follows gets another ctime
 * than the read before it: a deploy does not land within milliseconds of a request.
 */
const nextTick = () => Bun.sleep(25);

describe('config.yaml replaced with `cp -p` (same size, same inode, the old mtime)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await makeTestApp();
    mkdirSync(t.home, { recursive: true });
  });
  afterEach(() => t.close());

  test('GET /api/config and the configured model show the new file at once', async () => {
    const path = join(t.home, 'config.yaml');
    copyPreservingTimes(path, 'model:\n  default: model-aaaa\n');
    expect((await t.json<{ model: string | null }>('GET', '/api/config')).body.model).toBe('model-aaaa');
    const before = statSync(path);
    await nextTick();
    copyPreservingTimes(path, 'model:\n  default: model-bbbb\n');
    const after = statSync(path);
    // What made the cache key equal: nothing but the change time tells the two files apart.
    expect([after.ino, after.size, after.mtimeMs, after.ctimeMs === before.ctimeMs]).toEqual([before.ino, before.size, before.mtimeMs, false]);
    const body = (await t.json<{ config: unknown; model: string | null }>('GET', '/api/config')).body;
    expect([body.config, body.model]).toEqual([{ model: { default: 'model-bbbb' } }, 'model-bbbb']);
  });
});

describe('$HERMES_HOME/.env replaced with `cp -p`', () => {
  test("a rotated API_SERVER_KEY of the same length is the key sent upstream (it was the old one, refused with 401, until a restart)", async () => {
    const home = tempDir('optx-mtimes-env-');
    const env = join(home, '.env');
    copyPreservingTimes(env, 'API_SERVER_KEY=key-one-aaaa\n');
    const key = new HomeApiKey(new HermesHome(home).env);
    expect(key.current()).toBe('key-one-aaaa');
    await nextTick();
    copyPreservingTimes(env, 'API_SERVER_KEY=key-two-bbbb\n');
    expect(key.current()).toBe('key-two-bbbb');
    rmSync(home, { recursive: true, force: true });
  });
});

describe('a skill added by a tool that sets the folder mtime back (rsync -a, tar x, unzip)', () => {
  let home: string;
  let category: string;
  beforeEach(() => {
    home = tempDir('optx-mtimes-skills-');
    category = join(home, 'skills', 'ops');
    writeFile(join(category, 'one', 'SKILL.md'), skillMd({ name: 'one' }));
    utimesSync(category, OLD, OLD);
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  /** What the tool does: the new folder is written, then the category gets the source's mtime again. */
  function deploy(name: string): void {
    writeFile(join(category, name, 'SKILL.md'), skillMd({ name }));
    utimesSync(category, OLD, OLD);
  }
  const names = async (index: SkillsIndex) => (await index.list({ offset: 0 })).skills.map((s) => s.name);

  test('is listed on the next request, right after the previous listing', async () => {
    const index = new SkillsIndex(new HermesHome(home));
    expect(await names(index)).toEqual(['one']);
    deploy('two');
    expect(await names(index)).toEqual(['one', 'two']);
  });

  test('is listed on the next request when the listing before was long ago', async () => {
    // The clock of the index runs 10 s ahead: every directory looks settled (not racy) to it.
    const index = new SkillsIndex(new HermesHome(home), { now: () => Date.now() + 10_000 });
    expect(await names(index)).toEqual(['one']);
    const before = statSync(category);
    await nextTick();
    deploy('two');
    const after = statSync(category);
    expect([after.ino, after.mtimeMs, after.ctimeMs === before.ctimeMs]).toEqual([before.ino, before.mtimeMs, false]);
    expect(await names(index)).toEqual(['one', 'two']);
    expect((await new SkillsIndex(new HermesHome(home)).get('ops.two')).name).toBe('two');
  });
});

test('directories with mtimes in the future (an archive from a machine whose clock ran ahead) do not stay "racy", re-listed on every request, for as long as that', async () => {
  const home = tempDir('optx-mtimes-future-');
  const skills = join(home, 'skills');
  writeFile(join(skills, 'ops', 'one', 'SKILL.md'), skillMd({ name: 'one' }));
  const ahead = new Date(Date.now() + 3_600_000);
  utimesSync(join(skills, 'ops'), ahead, ahead);
  utimesSync(skills, ahead, ahead);
  // Ten seconds after the archive was unpacked: its directories changed long enough ago.
  const now = Date.now() + 10_000;
  const { dirs } = await scanRoots([{ path: skills, source: 'local', idPrefix: '', label: skills }], new Map(), now);
  expect(structureChanged(dirs, now)).toBe(false);
  expect([...dirs.values()].filter((d) => d.racy)).toEqual([]);
  rmSync(home, { recursive: true, force: true });
});
