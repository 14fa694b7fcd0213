/** Schemas of what the Hermes gateway answers to the probe; loose, since versions add fields. */
import { z } from 'zod';

export const HealthBody = z.looseObject({
  status: z.string().optional(),
  platform: z.string().optional(),
  version: z.string().optional(),
});

export const ModelsBody = z.looseObject({
  data: z.array(z.looseObject({ id: z.string() })).default([]),
});

const flag = z.union([z.boolean(), z.looseObject({})]).optional();

export const CapabilitiesBody = z.looseObject({
  model: z.union([z.string(), z.looseObject({ id: z.string().optional(), name: z.string().optional() })]).optional(),
  default_model: z.string().optional(),
  version: z.string().optional(),
  features: z.record(z.string(), z.unknown()).optional(),
  endpoints: z.union([z.array(z.string()), z.record(z.string(), z.unknown())]).optional(),
  runs_api: flag,
  sessions_api: flag,
});
export type CapabilitiesBody = z.infer<typeof CapabilitiesBody>;

export const SessionsListBody = z.looseObject({ object: z.string().optional(), data: z.array(z.unknown()) });
