/**
 * Schemas of what the Hermes gateway answers to the probe; loose, since versions add fields. A field
 * of an unexpected type (a `null`, a list where a map was) reads as absent: one odd field must not
 * hide what the rest of the answer says (that the endpoint exists, the model, the runs API).
 */
import { z } from '../lib/zod';

const lenient = <T extends z.ZodMiniType>(schema: T) => z.catch(z.optional(schema), undefined);

/** A model or version name; an empty one names nothing. */
const name = z.string().check(z.minLength(1));

/** Any JSON object: what a gateway's JSON endpoint answers, unlike a web page or a bare value. */
export const JsonObject = z.looseObject({});

export const HealthBody = z.looseObject({
  status: lenient(z.string()),
  platform: lenient(z.string()),
  version: lenient(name),
});

/** Entries are read one by one (see firstModelId): one without an id does not void the list. */
export const ModelsBody = z.looseObject({
  data: z._default(z.array(z.unknown()), []),
});

const ModelEntry = z.looseObject({ id: name });

export function firstModelId(models: z.infer<typeof ModelsBody>): string | null {
  for (const m of models.data) {
    const entry = ModelEntry.safeParse(m);
    if (entry.success) return entry.data.id;
  }
  return null;
}

const flag = lenient(z.union([z.boolean(), z.looseObject({})]));

export const CapabilitiesBody = z.looseObject({
  model: lenient(z.union([name, z.looseObject({ id: lenient(name), name: lenient(name) })])),
  default_model: lenient(name),
  version: lenient(z.string()),
  features: lenient(z.record(z.string(), z.unknown())),
  endpoints: lenient(z.union([z.array(z.unknown()), z.record(z.string(), z.unknown())])),
  runs_api: flag,
  sessions_api: flag,
});
export type CapabilitiesBody = z.infer<typeof CapabilitiesBody>;

export const SessionsListBody = z.looseObject({ object: z.optional(z.string()), data: z.array(z.unknown()) });
