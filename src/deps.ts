/**
 * Everything the app is built from, opened in one place. main.ts calls openDeps; tests call it with a
 * config of their own (temp dirs, fake upstreams) or replace single parts before createApp.
 */
import type { Config } from './config';
import { openDatabase, type DbHandle } from './db';
import { HermesHome } from './hermes/home';
import { createLogger, type Logger } from './lib/log';
import { HermesClient } from './upstream/client';
import { UpstreamProbe } from './upstream/probe';
import type { PaymentGate } from './modules/auth/service';
import { SessionService } from './modules/sessions/service';
import { StateDb } from './modules/sessions/state-db';
import { TranscriptStore } from './modules/sessions/transcripts';
import { UpstreamSessions } from './modules/sessions/upstream-sessions';
import { ChatService } from './modules/chat/service';

export interface AppDeps {
  config: Config;
  log: Logger;
  db: DbHandle;
  home: HermesHome;
  upstream: HermesClient;
  probe: UpstreamProbe;
  /** MPP fills this when enabled; null means API keys (or nothing) decide. */
  paymentGate: PaymentGate | null;
  /** Aborted when the process is shutting down: open streams end with an `error` event. */
  shutdown: AbortSignal;
  startedAt: number;
  sessions: SessionService;
  chat: ChatService;
}

export interface OpenOptions {
  log?: Logger;
  shutdown?: AbortSignal;
}

export function openDeps(config: Config, opts: OpenOptions = {}): AppDeps {
  const log = opts.log ?? createLogger(config.log);
  const db = openDatabase(config.dataDir);
  const upstream = new HermesClient(config.hermes.url, config.hermes.apiKey, { timeoutMs: config.upstream.timeoutMs });
  const probe = new UpstreamProbe(upstream, { intervalMs: config.upstream.probeIntervalMs, timeoutMs: config.upstream.probeTimeoutMs }, log);
  const home = new HermesHome(config.hermes.home);
  const shutdown = opts.shutdown ?? new AbortController().signal;
  const sessions = new SessionService({
    stateDb: new StateDb(home.paths.stateDb, log),
    upstream: new UpstreamSessions(upstream),
    transcripts: new TranscriptStore(db),
    probe,
  });
  const chat = new ChatService({
    sessions,
    client: upstream,
    idleTimeoutMs: config.upstream.idleTimeoutMs,
    heartbeatMs: config.chat.heartbeatMs,
    shutdown,
    defaultModel: () => probe.state.model ?? home.configuredModel() ?? 'hermes-agent',
  });
  return {
    config,
    log,
    db,
    home,
    upstream,
    probe,
    paymentGate: null,
    shutdown,
    startedAt: Date.now(),
    sessions,
    chat,
  };
}

export function closeDeps(deps: AppDeps): void {
  deps.probe.stop();
  deps.sessions.close();
  deps.db.close();
}
