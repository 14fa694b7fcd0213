/**
 * Gaze verification through AARON (SPEC §11), shared by the task queue and the escrow ledger.
 * A session is verified when AARON says `status:"verified"` (or `verified:true`) and, when it gives
 * `verified_at`, that moment is less than five minutes old.
 */
import { ApiError } from '../../lib/errors';
import { fetchJson, OutboundError } from '../../lib/http';
import { toUtcIso } from '../../lib/time';
import { AaronSession } from './model';

const GAZE_MAX_AGE_MS = 300_000;
/**
 * How far ahead of this clock a verified_at may be (the two machines' clocks differ a little). Beyond
 * it the timestamp is not believed: a verified_at in another unit (microseconds read as milliseconds
 * lands in the year 50,000) or from a broken clock would otherwise keep a session fresh forever.
 */
const GAZE_CLOCK_SKEW_MS = 60_000;

export interface GazeVerifier {
  /** Resolves when the gaze session is verified and fresh; otherwise throws ApiError 403/503. */
  requireVerified(gazeSessionId: string | null | undefined): Promise<void>;
}

export class AaronGazeVerifier implements GazeVerifier {
  constructor(
    private readonly url: string | null,
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async requireVerified(gazeSessionId: string | null | undefined): Promise<void> {
    if (!this.url) throw new ApiError(503, 'gaze_unavailable', 'Gaze verification is required but AARON_URL is not configured.');
    if (!gazeSessionId) throw new ApiError(403, 'gaze_required', 'This action requires a verified gaze session: send gaze_session_id.');
    // encodeURIComponent leaves "." and ".." as they are, and fetch resolves them as dot segments:
    // `/session/..` would ask AARON's root, whose answer must never count as a verified session.
    if (gazeSessionId === '.' || gazeSessionId === '..') throw new ApiError(403, 'gaze_not_verified', `Gaze session ${gazeSessionId} is unknown to AARON.`);
    let res;
    try {
      res = await fetchJson(`${this.url}/session/${encodeURIComponent(gazeSessionId)}`, { method: 'GET', timeoutMs: this.timeoutMs, target: 'AARON' });
    } catch (err) {
      const why = err instanceof OutboundError && err.kind === 'timeout' ? 'did not answer in time' : err instanceof OutboundError && err.kind === 'too_large' ? 'sent an answer too large to read' : 'is unreachable';
      throw new ApiError(503, 'gaze_unavailable', `The gaze verification service ${why}.`);
    }
    if (res.status === 404) throw new ApiError(403, 'gaze_not_verified', `Gaze session ${gazeSessionId} is unknown to AARON.`);
    if (!res.ok) throw new ApiError(503, 'gaze_unavailable', `The gaze verification service answered ${res.status}.`);
    const body = AaronSession.safeParse(res.json);
    if (!body.success) throw new ApiError(503, 'gaze_unavailable', 'The gaze verification service sent an unreadable answer.');
    const s = body.data;
    // An answer that contradicts itself (`status:"verified", verified:false`) fails closed.
    if (!(s.status === 'verified' || s.verified === true) || s.verified === false) {
      const status = typeof s.status === 'string' && s.status ? ` (status: ${s.status})` : '';
      throw new ApiError(403, 'gaze_not_verified', `Gaze session ${gazeSessionId} is not verified${status}.`);
    }
    if (s.verified_at !== undefined && s.verified_at !== null) {
      const at = toMillis(s.verified_at);
      if (at === null) throw new ApiError(503, 'gaze_unavailable', 'The gaze verification service sent an unreadable verified_at.');
      if (at - this.now() > GAZE_CLOCK_SKEW_MS) throw new ApiError(503, 'gaze_unavailable', 'The gaze verification service sent a verified_at in the future.');
      if (this.now() - at >= GAZE_MAX_AGE_MS) {
        throw new ApiError(403, 'gaze_stale', `Gaze session ${gazeSessionId} was verified more than 300 s ago; verify again.`);
      }
    }
  }
}

/**
 * ISO strings, epoch seconds and epoch milliseconds → epoch milliseconds; null when unreadable. An ISO
 * time without a zone is UTC (Date.parse would read it in the host's zone, hours off).
 */
export function toMillis(v: string | number): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? (v < 1e12 ? v * 1000 : v) : null;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return toMillis(Number(v));
  // ISO 8601 through the shared reader; other forms (RFC 2822 "… GMT") as Date reads them.
  let iso: string;
  try {
    iso = toUtcIso(v);
  } catch {
    iso = v;
  }
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}
