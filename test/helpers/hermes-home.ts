/**
 * Fixture homes for the skills and config tests: a realistic Hermes config.yaml (comments, model map,
 * providers, MCP servers with env and headers, PyYAML-style lists), a `.env` with keys, and a skills
 * tree with categories, support folders, tool folders, a broken file and an external directory.
 * SECRETS lists every secret value written, so tests can search raw responses for them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const SECRETS = {
  openrouterKey: 'sk-or-v1-5f2c9a7e1d3b4c6a8e0f2b4d6c8a0e1f',
  anthropicKey: 'sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2',
  shortToken: 'tok-9f8e',
  telegramToken: '7012345678:AAHk3xQ9vLrT2mW8pZ4yN6bC1dF5gJ0sE7u',
  githubPat: 'ghp_R4nD0mG1tHubT0k3nV4lu3XyZ123456789',
  braveKey: 'BSAq1w2e3r4t5y6u7i8o9p0',
  mcpHeaderAuth: 'Bearer mcp-header-secret-6f7a8b9c0d',
  mcpHeaderKey: 'x-api-key-value-55aa66bb77',
  webhookSecret: 'whsec_3c4d5e6f7a8b9c0d1e2f',
  dbPassword: 'pg-pass-Qq77Ww88',
  argToken: 'arg-token-0a1b2c3d4e5f',
  envServerKey: 'api-server-key-9d8c7b6a5f4e3d2c',
  envOpenai: 'sk-proj-AbCdEfGhIjKlMnOpQrStUvWx',
  envTelegram: '8123456789:AAG-env-telegram-token-xyz',
  envSudo: 'hunter2-sudo-password',
  envPat: 'github_pat_11ABCDEFG0123456789',
} as const;

export const CONFIG_YAML = `# Hermes Agent configuration
# Edited by hand; keep the comments.

model:
  default: anthropic/claude-sonnet-4   # the model the agent uses
  provider: openrouter
  base_url: https://openrouter.ai/api/v1
  context_length: 200000
  max_tokens: 8192

providers:
  openrouter:
    api_key: "${SECRETS.openrouterKey}"
    timeout: 120
  anthropic:
    api_key: ${SECRETS.anthropicKey}

toolsets:
- hermes-cli
- web

terminal:
  backend: local      # local | docker | ssh
  cwd: .
  timeout: 180

platforms:
  telegram:
    enabled: true
    token: '${SECRETS.telegramToken}'
  webhook:
    secret: ${SECRETS.webhookSecret}

auxiliary:
  vision:
    provider: auto
    token: ${SECRETS.shortToken}

mcp_servers:
  github:
    command: npx
    args: ["-y", "@modelcontextprotocol/server-github", "--token", "${SECRETS.argToken}"]
    env:
      GITHUB_PERSONAL_ACCESS_TOKEN: ${SECRETS.githubPat}
      LOG_LEVEL: debug
  search:
    url: https://mcp.example.com/sse
    headers:
      Authorization: ${SECRETS.mcpHeaderAuth}
      X-Api-Key: ${SECRETS.mcpHeaderKey}
  brave:
    command: brave-mcp
    env: {BRAVE_API_KEY: ${SECRETS.braveKey}}

memory:
  provider: holographic
  database_url: postgres://hermes:${SECRETS.dbPassword}@localhost:5432/mem

compression:
  enabled: yes
  threshold: 0.85

skills:
  external_dirs:
  - ~/never-there
`;

export const DOTENV = `# Hermes secrets
API_SERVER_KEY=${SECRETS.envServerKey}
OPENAI_API_KEY="${SECRETS.envOpenai}"
TELEGRAM_BOT_TOKEN=${SECRETS.envTelegram}
SUDO_PASSWORD='${SECRETS.envSudo}'
GITHUB_PAT=${SECRETS.envPat}
TERMINAL_ENV=local
HERMES_MAX_ITERATIONS=60
`;

export function writeFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

export function writeConfigHome(home: string, config = CONFIG_YAML, env = DOTENV): void {
  writeFile(join(home, 'config.yaml'), config);
  writeFile(join(home, '.env'), env);
}

export const skillMd = (fields: Record<string, string>, body = '# Title\n\nThe body.\n') =>
  `---\n${Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join('\n')}\n---\n${body}`;

/**
 * skills/
 *   devops/docker/SKILL.md                      (tags, version, author, platforms; support folders with decoy SKILL.md)
 *   devops/kubernetes/SKILL.md                  (metadata.hermes.tags, comma string)
 *   research/arxiv/SKILL.md                     (no frontmatter: name from folder, description from body)
 *   research/papers/deep/nested/SKILL.md        (nested below a category)
 *   standalone/SKILL.md                         (no category)
 *   broken/SKILL.md                             (frontmatter does not parse)
 *   .git/, .hub/, .archive/, node_modules/      (decoys)
 * external/
 *   tools/jq/SKILL.md                           (external, category tools)
 */
export function writeSkillsTree(home: string, external: string): void {
  const s = (rel: string, text: string) => writeFile(join(home, 'skills', rel, 'SKILL.md'), text);
  s('devops/docker', skillMd({ name: 'docker', description: 'Build and run containers', tags: '[containers, ops]', version: '1.10', author: 'Ops Team', platforms: '[linux, macos]' }));
  for (const support of ['references', 'templates', 'scripts', 'assets', 'examples']) {
    s(`devops/docker/${support}/old-copy`, skillMd({ name: `decoy-${support}` }));
  }
  writeFile(join(home, 'skills/devops/docker/scripts/run.sh'), 'echo run\n');
  s('devops/kubernetes', skillMd({ name: 'kubernetes', description: '"Deploy: clusters and pods"', metadata: '\n  hermes:\n    tags: k8s, Ops' }));
  s('research/arxiv', '# ArXiv\n\n## Usage\n\nSearch and summarise papers from arXiv.\n\nMore text.\n');
  s('research/papers/deep/nested', skillMd({ name: 'deep-reader', description: 'Reads long papers' }));
  s('standalone', skillMd({ name: 'standalone-skill', description: 'Works alone', tags: '[misc]' }));
  s('broken', '---\nname: [unclosed\ndescription: oops\n---\nBroken body line.\n');
  for (const decoy of ['.git/hooks', '.hub/cache', '.archive/old', 'node_modules/pkg']) s(decoy, skillMd({ name: `decoy-${decoy.split('/')[0]}` }));
  writeFile(join(external, 'tools/jq/SKILL.md'), skillMd({ name: 'jq', description: 'Query JSON', tags: '[json, cli]' }));
}
