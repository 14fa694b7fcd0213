/**
 * The executable: flags and environment → Config, open the stores, build the app, listen, probe the
 * upstream in the background, and stop cleanly on SIGINT/SIGTERM.
 */
import { isIP } from './lib/ip';
import { join } from 'node:path';
import { ConfigError, helpText, loadConfig, VERSION, type Config } from './config';
import { createApp, IDLE_TIMEOUT_S } from './app';
import { closeDeps, drainDeps, openDeps, warmDeps } from './deps';
import { BUSY_WAIT_MS } from './db/busy';
import { openedAs } from './db';
import { originHosts } from './lib/cors';
import { pathOf } from './lib/http';
import { publicUrl } from './lib/public-url';
import { readDotenv } from './lib/dotenv';
import { createLogger, escapePretty } from './lib/log';
import { flushStdio, stderrIsTerminal, writeStderr, writeStdout } from './lib/stdio';
import { ReopeningBackend } from './modules/memory/reopening';

/**
 * How long a stop waits for requests in flight before cutting their connections, and for writes in
 * line (src/db/busy.ts) before closing the databases. Past the busy wait: a request waiting for
 * another process's lock when the signal came gets its own answer (201, or 503 storage_busy).
 */
const SHUTDOWN_GRACE_MS = BUSY_WAIT_MS + 1000;
/**
 * What is let run past the stop (an MPP payment's broadcast) gives up this long before the grace
 * ends, so that its request is answered before its connection is cut.
 */
const LAST_ANSWER_MS = 1000;
/** Bodies declared larger than this are refused by Bun itself, before any of our code (a bare 413). */
const BUN_BODY_CEILING = 1024 ** 3;

async function main(): Promise<number> {
  let request;
  try {
    request = loadConfig({ argv: process.argv.slice(2), env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) {
      writeFailure(err.message);
      return 2;
    }
    throw err;
  }
  if (request.kind === 'help') {
    writeStdout(helpText() + '\n');
    return 0;
  }
  if (request.kind === 'version') {
    writeStdout(`hermes-optx-api ${VERSION}\n`);
    return 0;
  }
  const { config } = request;
  logFormat = config.log.format;
  // Taken before anything slow (a migration, a locked database): as a container's PID 1 a signal
  // with no handler is dropped, so a stop asked for while starting was lost until the runtime's
  // SIGKILL. It is kept and carried out once the server is up.
  let requested: string | undefined;
  let onSignal = (signal: string): void => {
    requested ??= signal;
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  const shutdown = new AbortController();
  const lastCall = new AbortController();
  let deps;
  try {
    deps = await openDeps(config, { shutdown: shutdown.signal, shutdownLastCall: lastCall.signal });
  } catch (err) {
    // Some settings (EVM chains, the pricing table) can only be checked while opening.
    if (err instanceof ConfigError) {
      writeFailure(err.message);
      return 2;
    }
    throw err;
  }
  const app = createApp(deps);
  const { log } = deps;
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: config.server.host,
      port: config.server.port,
      // Long-lived responses lift this per request (see IDLE_TIMEOUT_S for all it bounds).
      idleTimeout: IDLE_TIMEOUT_S,
      // Our own limits answer 413 in JSON (from the declared length, or while reading, then closing the
      // connection); Bun's sits far above them so that only a body declared past 1 GiB gets its bare 413.
      maxRequestBodySize: Math.max(BUN_BODY_CEILING, config.server.maxBodyBytes, config.server.proxyMaxBodyBytes) + 1024,
      // One access-log line per request, whatever answered it (route, auth, CORS, error handler).
      // For streams `ms` is the time to the response headers.
      async fetch(request) {
        const t0 = performance.now();
        const res = await app.fetch(request);
        log.info('request', { method: request.method, path: pathOf(request.url), status: res.status, ms: Math.round((performance.now() - t0) * 100) / 100 });
        return res;
      },
    });
  } catch (err) {
    closeDeps(deps);
    throw new Error(listenFailure(err, config.server.host, config.server.port), { cause: err });
  }
  // Routes reach the server through Elysia's context (to lift the idle timeout of a stream).
  app.server = server;
  deps.probe.start();
  writeStdout(
    `hermes-optx-api ${VERSION} listening on ${listeningOn(config.server.host, server.port ?? config.server.port, boundAddress(server))}\n` +
      `  upstream ${publicUrl(config.hermes.url)} (mode: probing…)\n` +
      `  auth: ${authSummary(config)}\n` +
      `  memory backend ${config.memory.backend}, tasks backend ${config.tasks.backend}\n` +
      (deps.memory.backend instanceof ReopeningBackend ? `  memory file ${deps.memory.backend.describe()}\n` : '') +
      `  data dir ${config.dataDir}${openedAs(deps.db)}\n` +
      // Read by Bun only at process start; without it fetch holds at most 256 upstream requests at once.
      (process.env.BUN_CONFIG_MAX_HTTP_REQUESTS ? '' : `  note: BUN_CONFIG_MAX_HTTP_REQUESTS is not set: at most ${config.upstream.streams} upstream streams at once\n`),
  );
  void deps.probe.probeNow().then((s) => {
    // The executable starts with the JIT reluctant (scripts/build.ts), so code that runs once while
    // starting (config, migrations, the first probe) is not compiled. Start-up ends here: the mode
    // /health reports is decided. Tier-up counts calls, so under load hot request code is compiled
    // within moments either way; the policy only spares run-once code. Idle RSS: ~1 MB less than
    // restoring it at listen.
    Bun.unsafe.setJITPolicy(1);
    writeStdout(`  upstream mode: ${s.mode}${s.error ? ` (${s.error})` : ''}\n`);
    // Not before: the listing's walk holds the event loop for tens of ms, which start-up must not wait for.
    void warmDeps(deps);
  });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info('shutting down', { signal });
      // Streams see this and end with an `error` event; new connections are refused meanwhile.
      shutdown.abort();
      const deadline = performance.now() + SHUTDOWN_GRACE_MS;
      const last = setTimeout(() => lastCall.abort(), SHUTDOWN_GRACE_MS - LAST_ANSWER_MS);
      const grace = setTimeout(() => server.stop(true), SHUTDOWN_GRACE_MS);
      await server.stop(false);
      clearTimeout(last);
      clearTimeout(grace);
      // Writes no request waits for any more (an MPP payment's record) may still be in line: the
      // same deadline bounds them, so a stop takes no longer than the grace in all.
      await drainDeps(deps, Math.max(0, deadline - performance.now()));
      closeDeps(deps);
      resolve(0);
    };
    onSignal = (signal) => void stop(signal);
    if (requested) onSignal(requested);
  });
}

/**
 * Who may use the API, for the banner: an edge device left open on 0.0.0.0 (no API_KEY, no MPP) is
 * otherwise only noticed by reading the configuration.
 */
function authSummary(config: Config): string {
  const ways: string[] = [];
  if (config.auth.apiKeys.length) ways.push(`API key (${config.auth.apiKeys.length} accepted)`);
  if (config.mpp.enabled) ways.push(`MPP payment of ${config.mpp.amount} per request (${config.mpp.network})`);
  if (ways.length) return ways.join(' or ');
  // The DNS-rebinding check (lib/cors.ts) then refuses other names: say so where it is first looked for.
  if (config.server.allowedHosts.includes('*') || config.server.corsOrigins.includes('*')) return 'none, every route is open to whoever reaches this address (API_KEY sets keys)';
  // The names the operator added are served as well: leaving them out undersold who can reach it.
  const names = new Set([...config.server.allowedHosts, ...originHosts(config.server.corsOrigins)]);
  const by = names.size ? `an IP, localhost, a LAN name or ${[...names].join(', ')}` : 'an IP, localhost or a LAN name';
  return `none, every route is open to whoever reaches this address by ${by} (API_KEY sets keys; ALLOWED_HOSTS adds names)`;
}

/**
 * The address the server took. Bun sets `server.address` at runtime, but its types leave it out:
 * read it guarded, so that without it the banner only loses its note.
 */
function boundAddress(server: object): string | undefined {
  const a = (server as { address?: { address?: unknown } }).address?.address;
  return typeof a === 'string' ? a : undefined;
}

/** host:port as written in a message: an IPv6 literal in brackets (`:::8643` read as nothing). */
function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * The banner's URL. A wildcard address (0.0.0.0, ::) means every interface, and is no address to send
 * a request to: the loopback URL that works from this machine is given beside it. A host name is
 * listened on at one address, the first it resolves to: `localhost` on a dual-stack host is ::1
 * alone, and clients of 127.0.0.1 (the Docker health check among them) were refused with nothing
 * in the banner to say why. The address taken is named.
 */
function listeningOn(host: string, port: number, bound?: string): string {
  // A zone id (`fe80::1%eth0`) is written `%25` in a URL.
  const url = (h: string) => `http://${hostPort(h.replace('%', '%25'), port)}`;
  if (isIP(host) === 0 && bound) return `${url(host)} (address ${bound} only)`;
  if (!/^[0:.]+$/.test(host)) return url(host);
  return `${url(host)} (every interface; from this machine: ${url(host.includes(':') ? '::1' : '127.0.0.1')})`;
}

/** Why the address could not be taken, naming the settings that chose it. */
function listenFailure(err: unknown, host: string, port: number): string {
  const where = `cannot listen on ${hostPort(host, port)} (OPTX_API_HOST/--host, OPTX_API_PORT/--port)`;
  switch ((err as NodeJS.ErrnoException | null)?.code) {
    case 'EADDRINUSE':
      return `${where}: the port is in use`;
    case 'EACCES':
      return `${where}: permission denied (ports below 1024 need privileges)`;
    case 'EADDRNOTAVAIL':
      return `${where}: ${host} is not an address of this machine`;
    // A host name the resolver does not know: Bun reports it as one of these, depending on the
    // resolver's answer ("ENOENT: no such file or directory, listen" said nothing useful).
    case 'ENOTFOUND':
    case 'ENOENT':
    case 'ENOTCONN':
    case 'EAI_AGAIN':
      return `${where}: the host name ${host} does not resolve to an address of this machine`;
    default:
      return `${where}: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** The logs' format once the configuration is read; before that (or when it is refused), LOG_FORMAT if valid, else the default. */
let logFormat: 'pretty' | 'json' | undefined;

/**
 * The one line that stops start-up, in the format of the logs: a collector reading stderr as JSON
 * (the default when it is no terminal) got a bare `hermes-optx-api: …` line it could not parse.
 * Written at any LOG_LEVEL, `silent` included: without it the exit status alone says nothing.
 */
function writeFailure(message: string): void {
  const format = logFormat ?? logFormatSetting() ?? (stderrIsTerminal() ? 'pretty' : 'json');
  // The message may quote a setting's value (`got "…"`), which JSON.stringify leaves C1 and bidi controls in.
  if (format === 'pretty') return writeStderr(`${escapePretty(`hermes-optx-api: ${message}`)}\n`);
  createLogger({ level: 'error', format, write: (line) => writeStderr(`${line}\n`) }).error(message);
}

/**
 * LOG_FORMAT where loadConfig looks for it (the environment, then ./.env, which the executable does
 * not load into its environment), when valid: the rest of the configuration may be what failed.
 */
function logFormatSetting(): 'pretty' | 'json' | undefined {
  let value = process.env.LOG_FORMAT?.trim() ? process.env.LOG_FORMAT : undefined;
  try {
    value ??= readDotenv(join(process.cwd(), '.env')).LOG_FORMAT;
  } catch {
    // An unreadable ./.env is itself the failure being written.
  }
  return value === 'json' || value === 'pretty' ? value : undefined;
}

const exit = (code: number) => void flushStdio().finally(() => process.exit(code));
main().then(exit, (err: unknown) => {
  writeFailure(`fatal: ${err instanceof Error ? err.message : String(err)}`);
  exit(1);
});
