/** ISO 8601 UTC with milliseconds, the format of every timestamp the sidecar itself writes. */
export const isoNow = (now: number = Date.now()): string => new Date(now).toISOString();
