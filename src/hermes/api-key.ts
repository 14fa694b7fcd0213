/**
 * The upstream key when HERMES_API_KEY is not set: API_SERVER_KEY of the agent's `$HERMES_HOME/.env`,
 * followed as the file changes. Rotating the agent's key (a new API_SERVER_KEY, the gateway
 * restarted) used to leave the sidecar sending the old one, every upstream call refused with 401,
 * until the sidecar itself was restarted.
 */
import { statSync } from 'node:fs';
import { interpolateDotenv, parseDotenvPairs } from '../lib/dotenv';
import { isWhole, readSettledSync } from '../lib/files';

export class HomeApiKey {
  private stamp: string;

  /** `initial` is the value read at start-up (config), from the file as it is now. */
  constructor(private readonly envPath: string, private value: string | null) {
    this.stamp = stampOf(envPath);
  }

  /** The key as the file has it now; one stat per call, the file read again only when it changed. */
  current(): string | null {
    const stamp = stampOf(this.envPath);
    if (stamp === this.stamp) return this.value;
    try {
      const snap = readSettledSync(this.envPath);
      // Caught mid-rewrite in place (truncated, or changing under every read): read as it was, the
      // agent's key went missing and that request went upstream without one (401).
      if (snap && !isWhole(snap)) return this.value;
      // As the agent loads it: python-dotenv interpolates `${VAR}` in the value.
      const key = snap ? interpolateDotenv(parseDotenvPairs(snap.text), (name) => process.env[name]).get('API_SERVER_KEY') : undefined;
      this.value = key === undefined || key.trim() === '' ? null : key;
      this.stamp = stamp;
    } catch {
      // Unreadable for a moment (permissions, a file replaced): the last key read stays, and the file is tried again.
    }
    return this.value;
  }
}

/** mtime, size and inode: an editor's or Hermes' atomic rename gives a new inode within one clock tick. */
function stampOf(path: string): string {
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    return st ? `${st.mtimeMs}:${st.size}:${st.ino}` : 'missing';
  } catch {
    return 'unreadable';
  }
}
