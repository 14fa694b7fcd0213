/**
 * Everything the app is built from, opened in one place. main.ts calls openDeps; tests call it with a
 * config of their own (temp dirs, fake upstreams) or replace single parts before createApp.
 */
import { join } from 'node:path';
import type { Config, Hedgehog } from './config';
import { openDatabase, type DbHandle } from './db';
import type { BusyClock } from './db/busy';
import { HomeApiKey } from './hermes/api-key';
import { HermesHome } from './hermes/home';
import { createLogger, type Logger } from './lib/log';
import { HermesClient } from './upstream/client';
import { UpstreamProbe } from './upstream/probe';
import type { PaymentGate } from './modules/auth/service';
import { AaronGazeVerifier, type GazeVerifier } from './modules/gaze/service';
import { openWallet, readWalletSettings, type Wallet } from './modules/wallet/service';
import { SessionService } from './modules/sessions/service';
import { StateDb } from './modules/sessions/state-db';
import { TranscriptStore } from './modules/sessions/transcripts';
import { UpstreamSessions } from './modules/sessions/upstream-sessions';
import { ChatService } from './modules/chat/service';
import { SkillsIndex } from './modules/skills/service';
import { SKILLS_INDEX_FILE } from './modules/skills/saved';
import { openTaskStore } from './modules/tasks/open';
import { TaskService } from './modules/tasks/service';
import { openMemoryBackend } from './modules/memory/backends';
import { MemoryService } from './modules/memory/service';

export interface AppDeps {
  config: Config;
  log: Logger;
  db: DbHandle;
  home: HermesHome;
  upstream: HermesClient;
  probe: UpstreamProbe;
  /** Gaze checks through AARON, shared by tasks and escrow. */
  gaze: GazeVerifier;
  /** Balances, metered calls and escrow (SPEC §12). */
  wallet: Wallet;
  /** The endpoint of metered calls and swarm decomposition, with its current key. */
  hedgehog: Hedgehog;
  /** The cached index of SKILL.md files under the skill roots. */
  skills: SkillsIndex;
  /** The task queue, on SQLite or (TASKS_BACKEND=spacetimedb) on SpacetimeDB. */
  tasks: TaskService;
  /** The memory routes over the backend MEMORY_BACKEND selects. */
  memory: MemoryService;
  /** MPP fills this when enabled; null means API keys (or nothing) decide. */
  paymentGate: PaymentGate | null;
  /** Aborted when the process is shutting down: open streams end with an `error` event. */
  shutdown: AbortSignal;
  /** performance.now() at start: the uptime is not moved by the wall clock being set. */
  startedAt: number;
  sessions: SessionService;
  chat: ChatService;
}

export interface OpenOptions {
  log?: Logger;
  shutdown?: AbortSignal;
  /**
   * Aborted just inside the stop's grace, before the connections still open are cut (main.ts): what is
   * let run past `shutdown` (a payment's broadcast and its checks) gives up then, so its request is
   * still answered.
   */
  shutdownLastCall?: AbortSignal;
  /** Makes up the ids of sessions created without one (tests make them collide on purpose). */
  newSessionId?: () => string;
  /** How long a write waits for another process's lock on the sidecar's database (BUSY_WAIT_MS; tests shorten it). */
  dbBusyWaitMs?: number;
  /** The clock that wait is counted on (tests move their own). */
  dbBusyClock?: BusyClock;
  /** The monotonic clock the chat's memo of a keyless gateway ages on (tests move their own). */
  chatClock?: () => number;
}

export async function openDeps(config: Config, opts: OpenOptions = {}): Promise<AppDeps> {
  const log = opts.log ?? createLogger(config.log);
  // Checked first: a start these refuse leaves the data dir untouched (no database created or migrated).
  const walletSettings = await readWalletSettings(config);
  const db = openDatabase(config.dataDir, { busyWaitMs: opts.dbBusyWaitMs, busyClock: opts.dbBusyClock });
  const home = new HermesHome(config.hermes.home);
  const homeKey = config.hermes.keyFromHome ? new HomeApiKey(home.env) : null;
  // HEDGEHOG_API_KEY's default is the Hermes key: the same HomeApiKey, so both follow a rotation.
  const shutdown = opts.shutdown ?? new AbortController().signal;
  const hedgehog: Hedgehog = {
    shutdown,
    url: config.hedgehog.url,
    timeoutMs: config.hedgehog.timeoutMs,
    apiKey: homeKey && config.hedgehog.keyFromHome ? () => homeKey.current() : () => config.hedgehog.apiKey,
  };
  const upstream = new HermesClient(config.hermes.url, homeKey ? () => homeKey.current() : config.hermes.apiKey, {
    timeoutMs: config.upstream.timeoutMs, maxStreams: config.upstream.streams, httpRequests: config.upstream.httpRequests, shutdown,
  });
  const probe = new UpstreamProbe(upstream, { intervalMs: config.upstream.probeIntervalMs, timeoutMs: config.upstream.probeTimeoutMs }, log);
  const gaze = new AaronGazeVerifier(config.aaron.url, config.aaron.timeoutMs);
  let wallet: Wallet;
  let paymentGate: PaymentGate | null;
  try {
    wallet = openWallet(config, walletSettings, db, gaze, hedgehog, log);
    // mppx (with viem) weighs ~60 MB of memory: loaded only when MPP is on.
    paymentGate = config.mpp.enabled ? new (await import('./modules/mpp/service')).MppPaymentGate(config.mpp, db, log, config.wallet.rpcTimeoutMs, { shutdown, lastCall: opts.shutdownLastCall }) : null;
  } catch (err) {
    db.close();
    throw err;
  }
  const sessions = new SessionService({
    stateDb: new StateDb(home.paths.stateDb, log),
    upstream: new UpstreamSessions(upstream),
    transcripts: new TranscriptStore(db),
    probe,
    newId: opts.newSessionId,
  });
  const chat = new ChatService({
    sessions,
    client: upstream,
    idleTimeoutMs: config.upstream.idleTimeoutMs,
    heartbeatMs: config.chat.heartbeatMs,
    shutdown,
    defaultModel: () => probe.state.model ?? home.configuredModel() ?? 'hermes-agent',
    log,
    now: opts.chatClock,
  });
  return {
    config,
    log,
    db,
    home,
    upstream,
    probe,
    gaze,
    wallet,
    hedgehog,
    paymentGate,
    shutdown,
    skills: new SkillsIndex(home, { savePath: join(config.dataDir, SKILLS_INDEX_FILE), log }),
    tasks: new TaskService({ store: openTaskStore(config, db, log), gaze, hedgehog }),
    memory: new MemoryService(openMemoryBackend(config, db, log, home)),
    startedAt: performance.now(),
    sessions,
    chat,
  };
}

/**
 * Waits, for up to `ms`, until no write waits in line for a lock any more (the sidecar's database,
 * the agent's memory file): closing the file under one loses it — an MPP payment's record, written
 * after its request was answered, or a write whose request the shutdown cut. Call before closeDeps.
 */
export async function drainDeps(deps: AppDeps, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([Promise.all([deps.db.drained(), deps.memory.backend.drained?.()]), late]);
  clearTimeout(timer);
}

/**
 * Work done once after start-up, in the background (main.ts: after the server listens and the first
 * upstream probe settled, so neither the start nor the probe waits for it): the skills index is built
 * (SKILLS_WARM). Resolves when done; never rejects.
 */
export function warmDeps(deps: AppDeps): Promise<void> {
  if (!deps.config.skills.warm || deps.shutdown.aborted) return Promise.resolve();
  return deps.skills.warm();
}

export function closeDeps(deps: AppDeps): void {
  deps.probe.stop();
  deps.skills.closeSave();
  deps.sessions.close();
  deps.memory.backend.close();
  deps.db.close();
}
