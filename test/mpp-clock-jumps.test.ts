/**
 * MPP replay markers and the wall clock (docs/wallet.md, "Clock jumps"): a marker guards its
 * credential until the challenge expires; a wall clock stepped forward and then back (a wrong NTP
 * server, corrected) makes an expired challenge valid again, so its marker must still be there.
 */
import { expect, setSystemTime, test } from 'bun:test';
import { hostClock } from '../src/lib/time';
import { credentialFor, paid, PATH_USD, payer, RECIPIENT, useMppApps } from './helpers/mpp';

const { chain, open } = await useMppApps({ hermes: false });

test('a wall clock stepped a day forward and back: a used push-mode credential stays used (402), its marker purged only once its lifetime has passed on the host clock', async () => {
  const app = await open();
  const { client } = payer(app, chain, 1_000_000n, 'push');
  const t0 = Date.now();
  const cred = await credentialFor(app, client);
  expect((await paid(app, cred)).status).toBe(200);
  const markers = () => app.deps.db.sqlite.query<{ key: string }, []>("SELECT key FROM mpp_store WHERE key LIKE 'mppx:charge:%'").all().map((r) => r.key);
  const [first] = markers();
  try {
    setSystemTime(new Date(t0 + 86_400_000));
    // Another payment meanwhile: its claim purges what has expired.
    expect((await paid(app, await credentialFor(app, client))).status).toBe(200);
    expect(markers()).toContain(first!);
    setSystemTime(new Date(t0 + 1_000));
    // Before: the first marker was purged by that claim, and the replay was served again (200) for one transfer on chain.
    const replay = await paid(app, cred);
    expect([replay.status, ((await replay.json()) as { detail: string }).detail]).toEqual([402, 'Payment verification failed: Transaction hash has already been used.']);
    expect(chain.balanceOf(PATH_USD, RECIPIENT)).toBe(200_000n);

    // Its lifetime passed on the host clock too (and on the wall clock): the next claim purges it.
    app.deps.db.sqlite.run('UPDATE mpp_store SET kept_until_uptime_ms = ? WHERE key = ?', [hostClock()!.uptimeMs - 1, first!]);
    setSystemTime(new Date(t0 + 86_400_000));
    expect((await paid(app, await credentialFor(app, client))).status).toBe(200);
    expect(markers()).not.toContain(first!);
  } finally {
    setSystemTime();
  }
}, 120_000);

test('a marker written without the host clock (an older version) goes by its wall-clock expiry', async () => {
  const app = await open();
  const { client } = payer(app, chain);
  app.deps.db.sqlite.run("INSERT INTO mpp_store (key, value, expires_at_ms) VALUES ('mppx:charge:0xold', '{}', ?)", [Date.now() - 1]);
  expect((await paid(app, await credentialFor(app, client))).status).toBe(200);
  expect(app.deps.db.sqlite.query("SELECT key FROM mpp_store WHERE key = 'mppx:charge:0xold'").all()).toEqual([]);
}, 120_000);
