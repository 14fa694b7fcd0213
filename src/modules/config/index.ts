/** Routes of config.yaml and .env (SPEC §10). */
import { Elysia } from 'elysia';
import type { HermesHome } from '../../hermes/home';
import { unprocessable } from '../../lib/errors';
import type { Logger } from '../../lib/log';
import { ConfigPatchBody, ConfigPostBody, ConfigResponse, ErrorBody, ModelBody, ModelInfo, ModelQuery, ModelUpdatedResponse, treeProblem, UpdatedResponse } from './model';
import { ConfigService } from './service';

export interface ConfigDeps {
  home: HermesHome;
  log: Logger;
}

const errors = { 400: ErrorBody, 409: ErrorBody, 422: ErrorBody };

/** Runs before validation, on the body as parsed from JSON: reserved keys anywhere, or too deep, are 422. */
function checkRawTree({ body }: { body: unknown }): void {
  const problem = treeProblem(body);
  if (problem) throw unprocessable(`Invalid request body: ${problem.path || 'body'} ${problem.message}.`, [{ path: problem.path, message: problem.message }]);
}

export function configPlugin(deps: ConfigDeps) {
  const service = new ConfigService(deps.home, deps.log);
  return new Elysia({ name: 'config' })
    .get('/api/config', () => service.read(), {
      response: { 200: ConfigResponse, 409: ErrorBody },
      detail: { tags: ['config'], summary: 'config.yaml and .env, secrets redacted, with the effective model, provider and base URL' },
    })
    .post(
      '/api/config',
      ({ body }) => service.set(body),
      {
        transform: checkRawTree,
        body: ConfigPostBody,
        response: { 200: UpdatedResponse, ...errors },
        detail: { tags: ['config'], summary: 'Set one dot-path key ({key, value}) or several ({updates}) in config.yaml, keeping comments and layout' },
      },
    )
    .patch('/api/config', ({ body }) => service.patch(body), {
      transform: checkRawTree,
      body: ConfigPatchBody,
      response: { 200: UpdatedResponse, ...errors },
      detail: { tags: ['config'], summary: 'Deep-merge a partial tree into config.yaml (top-level model/provider/base_url go to model.*)' },
    })
    .get('/api/config/model', () => service.model(), {
      response: { 200: ModelInfo, 409: ErrorBody },
      detail: { tags: ['config'], summary: "The model settings Hermes uses (model.default, provider, base_url, api_mode, …)" },
    })
    .post(
      '/api/config/model',
      ({ body, query }) => {
        // The JSON body wins over query parameters field by field.
        return service.setModel({ ...query, ...body });
      },
      {
        body: ModelBody,
        query: ModelQuery,
        response: { 200: ModelUpdatedResponse, ...errors },
        detail: { tags: ['config'], summary: "Write Hermes' model.provider / model.default / model.base_url / model.api_mode (JSON body or query)" },
      },
    );
}
