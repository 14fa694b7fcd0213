/** Schemas of what the Hermes gateway answers to the probe; loose, since versions add fields. */
import { z } from '../lib/zod';

export const HealthBody = z.looseObject({
  status: z.optional(z.string()),
  platform: z.optional(z.string()),
  version: z.optional(z.string()),
});

export const ModelsBody = z.looseObject({
  data: z._default(z.array(z.looseObject({ id: z.string() })), []),
});

const flag = z.optional(z.union([z.boolean(), z.looseObject({})]));

export const CapabilitiesBody = z.looseObject({
  model: z.optional(z.union([z.string(), z.looseObject({ id: z.optional(z.string()), name: z.optional(z.string()) })])),
  default_model: z.optional(z.string()),
  version: z.optional(z.string()),
  features: z.optional(z.record(z.string(), z.unknown())),
  endpoints: z.optional(z.union([z.array(z.string()), z.record(z.string(), z.unknown())])),
  runs_api: flag,
  sessions_api: flag,
});
export type CapabilitiesBody = z.infer<typeof CapabilitiesBody>;

export const SessionsListBody = z.looseObject({ object: z.optional(z.string()), data: z.array(z.unknown()) });
