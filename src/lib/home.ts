import { homedir } from 'node:os';

/**
 * The user's home directory, or null when there is none to find: HOME unset and a uid with no
 * passwd entry (`env -i`, `setpriv`, a container started with a bare numeric uid). os.homedir()
 * throws then, and called eagerly it stopped every start-up, `--version` included, with
 * "ENOENT … uv_os_homedir" even when HERMES_HOME was set.
 */
export function userHome(): string | null {
  try {
    return homedir() || null;
  } catch {
    return null;
  }
}
