/** Routes of the skills index (SPEC §8). */
import { Elysia } from 'elysia';
import { JSON_HEADERS } from '../../lib/errors';
import { ErrorBody, SkillDetail, SkillParams, SkillsList, SkillsQuery } from './model';
import type { SkillsIndex } from './service';

export function skillsPlugin(index: SkillsIndex) {
  return new Elysia({ name: 'skills' })
    // Sent as checked JSON text (`listJson`), so Elysia does not check the answer again.
    .get('/api/skills', async ({ query }) => new Response(await index.listJson(query), { headers: JSON_HEADERS }), {
      query: SkillsQuery,
      response: { 200: SkillsList, 422: ErrorBody },
      detail: { tags: ['skills'], summary: 'Skills of $HERMES_HOME/skills and skills.external_dirs, sorted by category and name' },
    })
    .get('/api/skills/:id', ({ params }) => index.get(params.id), {
      params: SkillParams,
      response: { 200: SkillDetail, 404: ErrorBody },
      detail: { tags: ['skills'], summary: 'One skill with its parsed frontmatter and the whole SKILL.md' },
    });
}
