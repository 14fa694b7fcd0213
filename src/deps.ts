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
import { AaronGazeVerifier, type GazeVerifier } from './modules/gaze/service';
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
  /** The memory routes over the backend MEMORY_BACKEND selects. */
  memory: MemoryService;
  /** MPP fills this when enabled; null means API keys (or nothing) decide. */
  paymentGate: PaymentGate | null;
  /** Aborted when the process is shutting down: open streams end with an `error` event. */
  shutdown: AbortSignal;
  startedAt: number;
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
  return {
    config,
    log,
    db,
    home: new HermesHome(config.hermes.home),
    upstream,
    probe,
    gaze: new AaronGazeVerifier(config.aaron.url, config.aaron.timeoutMs),
    memory: new MemoryService(openMemoryBackend(config, db)),
    paymentGate: null,
    shutdown: opts.shutdown ?? new AbortController().signal,
    startedAt: Date.now(),
  };
}

export function closeDeps(deps: AppDeps): void {
  deps.probe.stop();
  deps.memory.backend.close();
  deps.db.close();
}
