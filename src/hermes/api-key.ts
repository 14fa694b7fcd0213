/**
 * The upstream key when HERMES_API_KEY is not set: API_SERVER_KEY of the agent's `$HERMES_HOME/.env`
 * (interpolated as python-dotenv loads it), followed as the file changes (AgentEnv). Rotating the
 * agent's key (a new API_SERVER_KEY, the gateway restarted) used to leave the sidecar sending the old
 * one, every upstream call refused with 401, until the sidecar itself was restarted.
 */
import type { AgentEnv } from './agent-env';

export class HomeApiKey {
  constructor(private readonly env: AgentEnv) {}

  /** The key as the file has it now; one stat per call, the file read again only when it changed. */
  current(): string | null {
    const key = this.env.fromFile('API_SERVER_KEY');
    return key === undefined || key.trim() === '' ? null : key;
  }
}
