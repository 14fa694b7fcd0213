import { describe, expect, test } from 'bun:test';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, helpText, loadConfig, type Config } from '../src/config';
import { VARS } from '../src/config/vars';
import { tempDir } from './helpers/app';

function load(env: Record<string, string> = {}, argv: string[] = [], dotenv?: string): Config {
  const cwd = tempDir();
  if (dotenv !== undefined) writeFileSync(join(cwd, '.env'), dotenv);
  const r = loadConfig({ argv, env: { HERMES_HOME: join(cwd, 'home'), ...env }, cwd, home: cwd });
  if (r.kind !== 'run') throw new Error(r.kind);
  return r.config;
}

function failure(env: Record<string, string>, argv: string[] = []): string {
  try {
    load(env, argv);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  test('defaults follow SPEC §3', () => {
    const c = load();
    expect(c.server.port).toBe(8643);
    expect(c.server.host).toBe('0.0.0.0');
    expect(c.hermes.url).toBe('http://localhost:8642');
    expect(c.memory.backend).toBe('holographic');
    expect(c.tasks.backend).toBe('sqlite');
    expect(c.mpp.enabled).toBe(false);
    expect(c.mpp.amount).toBe('0.10');
    expect(c.server.maxBodyBytes).toBe(1024 * 1024);
    expect(c.dataDir).toBe(join(c.hermes.home, 'optx-api'));
    expect(c.wallet.agent).toBe('astrojoe');
    expect(c.hedgehog.url).toBe(c.hermes.url);
    expect(c.auth.apiKeys).toEqual([]);
  });

  test('flag beats env beats .env beats default', () => {
    expect(load({}, [], 'OPTX_API_PORT=9001\n').server.port).toBe(9001);
    expect(load({ OPTX_API_PORT: '9002' }, [], 'OPTX_API_PORT=9001\n').server.port).toBe(9002);
    expect(load({ OPTX_API_PORT: '9002' }, ['--port', '9003'], 'OPTX_API_PORT=9001\n').server.port).toBe(9003);
    expect(load({}, ['--port=9004']).server.port).toBe(9004);
    expect(load({ OPTX_API_PORT: '' }, [], 'OPTX_API_PORT=9001\n').server.port).toBe(9001);
  });

  test('every flag of SPEC §3 maps to its variable', () => {
    const c = load({}, ['--hermes-url', 'http://h:1/', '--hermes-home', '/tmp/x', '--host', '127.0.0.1', '--data-dir', '/tmp/d', '--memory-backend', 'sqlite']);
    expect(c.hermes.url).toBe('http://h:1');
    expect(c.hermes.home).toBe('/tmp/x');
    expect(c.server.host).toBe('127.0.0.1');
    expect(c.dataDir).toBe('/tmp/d');
    expect(c.memory.backend).toBe('sqlite');
  });

  test('a .env that cannot be read stops start-up naming the file and the setting that located it', () => {
    const cwd = tempDir();
    const notADir = join(cwd, 'hermes-home-is-a-file');
    writeFileSync(notADir, 'x');
    mkdirSync(join(cwd, 'home', '.env'), { recursive: true });
    const messages = [{ HERMES_HOME: notADir }, { HERMES_HOME: join(cwd, 'home') }].map((env) => {
      try {
        loadConfig({ argv: [], env, cwd, home: cwd });
        return 'started';
      } catch (err) {
        return err instanceof ConfigError ? err.message : `not a ConfigError: ${String(err)}`;
      }
    });
    expect(messages).toEqual([
      `Cannot read ${notADir}/.env (located by HERMES_HOME (--hermes-home)): ${notADir} (or a folder above it) is not a directory.`,
      expect.stringMatching(new RegExp(`^Cannot read ${join(cwd, 'home', '.env')} \\(located by HERMES_HOME \\(--hermes-home\\)\\): .*not a regular file`)),
    ]);
  });

  test('HERMES_API_KEY defaults to API_SERVER_KEY of $HERMES_HOME/.env, and an explicit value wins', () => {
    const cwd = tempDir();
    const home = join(cwd, 'home');
    mkdirSync(home);
    writeFileSync(join(home, '.env'), '# agent secrets\nAPI_SERVER_KEY="from-hermes-env"\nOTHER=1\n');
    const r = loadConfig({ env: { HERMES_HOME: home }, cwd, home: cwd });
    expect(r.kind === 'run' && r.config.hermes.apiKey).toBe('from-hermes-env');
    expect(r.kind === 'run' && r.config.hedgehog.apiKey).toBe('from-hermes-env');
    const r2 = loadConfig({ env: { HERMES_HOME: home, HERMES_API_KEY: 'explicit' }, cwd, home: cwd });
    expect(r2.kind === 'run' && r2.config.hermes.apiKey).toBe('explicit');
  });

  test('HERMES_AGENT_URL is the gateway root: a trailing slash or the OpenAI-style /v1 is dropped', () => {
    for (const [given, url] of [['http://h:8642/', 'http://h:8642'], ['http://h:8642/v1', 'http://h:8642'], ['http://h:8642/v1/', 'http://h:8642'], ['https://h/hermes/v1', 'https://h/hermes'], ['http://h/v10', 'http://h/v10']]) {
      expect(load({ HERMES_AGENT_URL: given as string }).hermes.url).toBe(url as string);
    }
  });

  test('amounts with up to 6 decimals are kept as written; RPC URLs may carry a query (an API key)', () => {
    expect(load({ MPP_AMOUNT: '0.000001' }).mpp.amount).toBe('0.000001');
    expect(load({ MPP_AMOUNT: '1.500000000' }).mpp.amount).toBe('1.500000000');
    expect(load({ TEMPO_CALLER_BUDGET_USD: '0' }).tempo.callerBudgetUsd).toBe('0');
    expect(load({ SOLANA_RPC_URL: 'https://rpc.example/?api-key=abc' }).wallet.solana.rpcUrl).toBe('https://rpc.example/?api-key=abc');
  });

  test('RPC URLs lose trailing slashes of their path only: one ending a query value is part of the key (it was cut off)', () => {
    expect(load({ SOLANA_RPC_URL: 'https://rpc.example/?api-key=k+/' }).wallet.solana.rpcUrl).toBe('https://rpc.example/?api-key=k+/');
    expect(load({ TEMPO_RPC_URL: 'https://rpc.example/v1/?k=a/b/' }).mpp.tempoRpcUrl).toBe('https://rpc.example/v1/?k=a/b/');
    expect(load({ EVM_RPC_URLS: 'mainnet=https://rpc.example/?key=ab/,base=http://[::1]:8545/v2/key/' }).wallet.evm.rpcUrls).toEqual([
      { chain: 'mainnet', url: 'https://rpc.example/?key=ab/' },
      { chain: 'base', url: 'http://[::1]:8545/v2/key' },
    ]);
  });

  test('~ in paths expands to the home directory', () => {
    const r = loadConfig({ env: { HERMES_HOME: '~/agent' }, cwd: tempDir(), home: '/home/u' });
    expect(r.kind === 'run' && r.config.hermes.home).toBe('/home/u/agent');
  });

  test('an API_KEY no client can present stops start-up, naming the variable, not the key: a space inside a key, a character outside printable ASCII', () => {
    // `Authorization: Bearer ok key` is no Bearer token, and a client sends `clé` as UTF-8 bytes, which
    // the server reads one Latin-1 character each (`clÃ©`): either key was accepted and then refused every request.
    for (const keys of ['good,ok key', 'clé', 'k1,tab\tkey', 'sk-€']) {
      const msg = failure({ API_KEY: keys });
      expect(msg).toContain('API_KEY');
      expect(msg).toContain('printable ASCII');
      expect(msg).not.toContain(keys.split(',').at(-1) as string);
    }
    // Every printable ASCII character but the comma (the separator) is a key's.
    expect(load({ API_KEY: 'sk$abc!123,a=b+c/d~e' }).auth.apiKeys).toEqual(['sk$abc!123', 'a=b+c/d~e']);
  });

  test('lists are parsed: API_KEY, CORS_ORIGINS, wallet tokens and RPCs', () => {
    const c = load({
      API_KEY: 'k1, k2 ,,k3',
      CORS_ORIGINS: 'https://a.example,*',
      SOLANA_TOKENS: 'OPTX:4r9WxzWkZPRaVQ8mRzQ6ZXmFLzDXhM7ZpVVoYeEBvRxm@devnet,JTX:9XpJiKEYzq5yDo5pJzRfjSRMPL2yPfwQXgnN62zRs9pn',
      EVM_RPC_URLS: 'base=http://b.example/,tempo=http://t.example',
      EVM_TOKENS: 'base:USDC:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913:6,tempo:pathUSD:0x20c0000000000000000000000000000000000000',
    });
    expect(c.auth.apiKeys).toEqual(['k1', 'k2', 'k3']);
    expect(c.server.corsOrigins).toEqual(['https://a.example', '*']);
    expect(c.wallet.solana.tokens).toEqual([
      { symbol: 'OPTX', mint: '4r9WxzWkZPRaVQ8mRzQ6ZXmFLzDXhM7ZpVVoYeEBvRxm', network: 'devnet' },
      { symbol: 'JTX', mint: '9XpJiKEYzq5yDo5pJzRfjSRMPL2yPfwQXgnN62zRs9pn', network: 'mainnet' },
    ]);
    expect(c.wallet.evm.rpcUrls).toEqual([{ chain: 'base', url: 'http://b.example' }, { chain: 'tempo', url: 'http://t.example' }]);
    expect(c.wallet.evm.tokens[1]).toEqual({ chain: 'tempo', symbol: 'pathUSD', contract: '0x20c0000000000000000000000000000000000000', decimals: null });
  });

  test.each([
    [{ OPTX_API_PORT: 'eighty' }, 'OPTX_API_PORT (--port)'],
    [{ OPTX_API_PORT: '70000' }, 'OPTX_API_PORT (--port)'],
    [{ HERMES_AGENT_URL: 'not a url' }, 'HERMES_AGENT_URL (--hermes-url)'],
    [{ HERMES_AGENT_URL: 'ftp://x' }, 'HERMES_AGENT_URL'],
    [{ MEMORY_BACKEND: 'redis' }, 'MEMORY_BACKEND (--memory-backend)'],
    [{ TASKS_BACKEND: 'pg' }, 'TASKS_BACKEND'],
    [{ MPP_ENABLED: 'maybe' }, 'MPP_ENABLED'],
    [{ MPP_AMOUNT: '-1' }, 'MPP_AMOUNT'],
    // Amounts the 6-decimal token cannot hold, or a price of nothing: refused, not rounded to 0.
    [{ MPP_AMOUNT: '0.0000001' }, 'MPP_AMOUNT'],
    [{ MPP_AMOUNT: '0' }, 'MPP_AMOUNT'],
    [{ MPP_AMOUNT: '0.000' }, 'MPP_AMOUNT'],
    [{ TEMPO_CALLER_BUDGET_USD: '1.0000001' }, 'TEMPO_CALLER_BUDGET_USD'],
    // Set, but holding no key: auth would be off.
    [{ API_KEY: ',' }, 'API_KEY'],
    [{ API_KEY: ' , ,' }, 'API_KEY'],
    // Paths are appended to these: a query or fragment would come before every path.
    [{ HERMES_AGENT_URL: 'http://h:8642/?token=abc' }, 'HERMES_AGENT_URL'],
    [{ HERMES_AGENT_URL: 'http://h:8642#x' }, 'HERMES_AGENT_URL'],
    [{ HEDGEHOG_URL: 'http://h/v1?x=1' }, 'HEDGEHOG_URL'],
    [{ AARON_URL: 'http://a/?k=1' }, 'AARON_URL'],
    [{ SOLANA_TOKENS: 'OPTX' }, 'SOLANA_TOKENS'],
    [{ EVM_TOKENS: 'base:USDC:0x12' }, 'EVM_TOKENS'],
    [{ EVM_RPC_URLS: 'base' }, 'EVM_RPC_URLS'],
    // Checked as URLs, as the other RPC URLs are: these failed every balance call as "unreachable".
    [{ EVM_RPC_URLS: 'base=http://[::1' }, 'EVM_RPC_URLS'],
    [{ EVM_RPC_URLS: 'mainnet=http://[::1]:8545,base=https://rpc.example:99999/v2/key' }, 'EVM_RPC_URLS: the URL given for base is not an http(s) URL'],
    [{ SSE_HEARTBEAT_S: '0' }, 'SSE_HEARTBEAT_S'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ MAX_BODY_BYTES: '12' }, 'MAX_BODY_BYTES'],
  ])('bad value %p stops start-up with one line naming %s', (env, name) => {
    const msg = failure(env as Record<string, string>);
    expect(msg).toContain(name);
    expect(msg).not.toContain('\n');
  });

  test('a bad flag value names the flag', () => {
    expect(failure({}, ['--port', 'x'])).toContain('--port');
  });

  test('unknown flags and flags without value are refused', () => {
    expect(failure({}, ['--prot', '1'])).toContain('Unknown option "--prot"');
    expect(failure({}, ['--port'])).toContain('--port needs a value');
  });

  test('a flag whose value was left out does not take the next option as its value', () => {
    // `--data-dir --memory-backend sqlite` started on a new, empty database in ./--memory-backend.
    expect(failure({}, ['--data-dir', '--memory-backend', 'sqlite'])).toContain('--data-dir needs a value');
    expect(failure({}, ['--hermes-home', '--port', '0'])).toContain('--hermes-home needs a value');
    expect(failure({}, ['--data-dir', '--version'])).toContain('--data-dir needs a value');
    expect(failure({}, ['--data-dir', '-h'])).toContain('--data-dir needs a value');
    // A value that does begin with a dash can still be given glued to its flag.
    expect(load({}, ['--data-dir=/srv/-odd', '--port=0']).dataDir).toBe('/srv/-odd');
  });

  test('an argument that is not an option is refused without being echoed: it is often a URL or key given without its flag', () => {
    const msg = failure({}, ['--port', '8643', 'http://proxy-user:pw-SECRET9@hermes:8642']);
    expect(msg).not.toContain('SECRET9');
    expect(msg).toContain('argument 3 is not an option');
    expect(msg).not.toContain('\n');
    // A value glued to an unknown flag is not echoed either; the flag's name is.
    expect(failure({}, ['--api-key=sk-SECRET10'])).toBe('Unknown option "--api-key"; see --help.');
  });

  test('a refused value of a variable that is not secret is echoed with the credentials of a URL in it masked', () => {
    for (const [name, value] of [['CORS_ORIGINS', 'https://app.example,https://user:pw-SECRET11@app.example'], ['ALLOWED_HOSTS', 'https://user:pw-SECRET12@agent.example'], ['OPTX_API_HOST', 'http://user:pw-SECRET13@0.0.0.0']] as const) {
      const msg = failure({ [name]: value });
      expect({ name, echoed: /SECRET1\d/.test(msg), masked: msg.includes('://user:***@') }).toEqual({ name, echoed: false, masked: true });
    }
  });

  test('secrets are never echoed in errors', () => {
    const msg = failure({ MPP_ENABLED: 'true', MPP_RECIPIENT: '0x' + '1'.repeat(40), MPP_SECRET_KEY: 'short-secret-value' });
    expect(msg).toContain('MPP_SECRET_KEY');
    expect(msg).not.toContain('short-secret-value');
  });

  test('a refused URL is named but not echoed: it may hold a password, or a key in its query or path', () => {
    const bad: Record<string, string> = {
      HERMES_AGENT_URL: 'http://u:pw-SECRET1@h:8642/?x=1',
      MEMORY_DB_URL: 'http://u:pw-SECRET2@h:3000/#f',
      AARON_URL: 'http://h/?token=SECRET3',
      HEDGEHOG_URL: 'htp://h/?api_key=SECRET4',
      TEMPO_RPC_URL: 'ftp://u:SECRET5@h',
      SOLANA_RPC_URL: 'mainnet.helius-rpc.com/?api-key=SECRET6',
      SOLANA_DEVNET_RPC_URL: 'devnet.helius-rpc.com/?api-key=SECRET7',
      EVM_RPC_URLS: 'base=https://base-mainnet.g.alchemy.com/v2/SECRET8,oops',
    };
    for (const [name, value] of Object.entries(bad)) {
      const msg = failure({ [name]: value });
      expect([name, msg.includes(name), /SECRET/.test(msg)]).toEqual([name, true, false]);
    }
  });

  test('the default log format follows stderr, where the logs go, not stdout', () => {
    // /dev/null is a character device, as a terminal is: each run has one of the two streams on it.
    const script = `import { loadConfig } from ${JSON.stringify(join(import.meta.dir, '../src/config'))};
      const r = loadConfig({ argv: [], env: { HERMES_HOME: '/nonexistent' }, cwd: '/nonexistent' });
      const out = r.kind === 'run' ? r.config.log.format : r.kind;
      await Bun.write(process.env.OUT === 'stdout' ? Bun.stdout : Bun.stderr, out);`;
    const run = (out: 'stdout' | 'stderr') => {
      const r = Bun.spawnSync([process.execPath, '-e', script], {
        env: { PATH: process.env.PATH ?? '', OUT: out },
        stdout: out === 'stdout' ? 'pipe' : 'ignore',
        stderr: out === 'stderr' ? 'pipe' : 'ignore',
      });
      return (out === 'stdout' ? r.stdout : r.stderr)?.toString() ?? '';
    };
    // Logs to a terminal, banner to a pipe: pretty. Logs to a pipe (a collector), banner to a terminal: JSON.
    expect([run('stdout'), run('stderr')]).toEqual(['pretty', 'json']);
  });

  test('run from source, ./.env is read by the loader alone, as the executable reads it (not by Bun, with its $-expansion and .env.local)', () => {
    // bunfig.toml is read from the working directory: the repository's own, beside a .env there.
    const cwd = tempDir();
    copyFileSync(join(import.meta.dir, '../bunfig.toml'), join(cwd, 'bunfig.toml'));
    writeFileSync(join(cwd, '.env'), `API_KEY=sk$abc123\nHERMES_HOME=${join(cwd, 'home')}\n`);
    writeFileSync(join(cwd, '.env.local'), 'OPTX_API_PORT=9999\n');
    const script = `import { loadConfig } from ${JSON.stringify(join(import.meta.dir, '../src/config'))};
      const r = loadConfig({ argv: [], env: process.env });
      if (r.kind === 'run') console.log(JSON.stringify([r.config.auth.apiKeys, r.config.server.port]));`;
    writeFileSync(join(cwd, 'probe.ts'), script);
    const r = Bun.spawnSync([process.execPath, 'probe.ts'], { cwd, env: { PATH: process.env.PATH ?? '' } });
    // Bun's own loading made the key `sk` (`$abc123` expanded to nothing) and took the port from .env.local.
    expect(JSON.parse(r.stdout.toString())).toEqual([['sk$abc123'], 8643]);
  });

  test('MPP enabled without recipient or secret is a start-up error, never an open door', () => {
    expect(failure({ MPP_ENABLED: 'true', MPP_SECRET_KEY: 'x'.repeat(32) })).toContain('MPP_RECIPIENT');
    expect(failure({ MPP_ENABLED: 'true', MPP_RECIPIENT: '0x' + '1'.repeat(40) })).toContain('MPP_SECRET_KEY');
    expect(load({ MPP_ENABLED: 'yes', MPP_RECIPIENT: '0x' + '1'.repeat(40), MPP_SECRET_KEY: 'x'.repeat(32) }).mpp.enabled).toBe(true);
  });

  test('spacetimedb backends need a URL and a database', () => {
    expect(failure({ MEMORY_BACKEND: 'spacetimedb' })).toContain('MEMORY_DB_URL');
    expect(failure({ TASKS_BACKEND: 'spacetimedb', MEMORY_DB_URL: 'http://s:3000' })).toContain('SPACETIMEDB_DB');
  });

  test('--help lists every flag and variable; --version is recognised', () => {
    const text = helpText();
    for (const v of VARS) {
      expect(text).toContain(v.env);
      if ('flag' in v) expect(text).toContain(v.flag);
    }
    expect(loadConfig({ argv: ['--help'] }).kind).toBe('help');
    expect(loadConfig({ argv: ['--version'] }).kind).toBe('version');
  });

  test('the config is frozen', () => {
    const c = load();
    expect(Object.isFrozen(c.server)).toBe(true);
  });
});
