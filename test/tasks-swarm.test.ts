/**
 * Swarms: explicit plans with each strategy, LLM decomposition through the fake Hermes as
 * HEDGEHOG (sloppy answers included), and the fallback to a single task when the LLM fails.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'bun:test';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';
import { closedUrl } from './helpers/app';
import { taskApp, type TaskApp } from './helpers/tasks';
import type { Task } from '../src/modules/tasks/model';

interface Swarm {
  swarm_id: string;
  goal: string;
  strategy: string;
  root_task_id: string;
  root_task: Task;
  tasks: Task[];
  total: number;
  decomposition: { method: string; reason: string | null; model: string | null };
}

let hermes: FakeHermes;
let app: TaskApp;
beforeAll(async () => {
  hermes = await startFakeHermes();
});
afterAll(() => hermes.stop());
beforeEach(async () => {
  hermes.reset();
  app = await taskApp('sqlite', { env: { HEDGEHOG_URL: hermes.url, HEDGEHOG_API_KEY: hermes.apiKey as string, HEDGEHOG_TIMEOUT_S: '1' } });
});
afterEach(() => app.close());

async function until(ok: () => boolean): Promise<void> {
  while (!ok()) await Bun.sleep(5);
}

async function swarm(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Swarm> {
  const r = await app.json<Swarm>('POST', '/api/tasks/swarm', body, headers);
  if (r.status !== 201) throw new Error(`swarm failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

describe('explicit subtasks', () => {
  test('dag: dependencies by index and by title; a root task for the goal waits for every subtask', async () => {
    const s = await swarm({
      goal: 'Ship the release',
      strategy: 'dag',
      agents: ['ann', 'ben'],
      subtasks: [
        { title: 'Build', priority: 8, capabilities: ['ci'] },
        { title: 'Test', depends_on: [0] },
        { title: 'Docs', agent: 'cat' },
        { title: 'Publish', depends_on: ['Test', 2] },
      ],
    });
    const [build, tst, docs, publish] = s.tasks as [Task, Task, Task, Task];
    expect(s).toMatchObject({ goal: 'Ship the release', strategy: 'dag', total: 4, decomposition: { method: 'explicit', reason: null, model: null } });
    expect(s.tasks.map((t) => t.title)).toEqual(['Build', 'Test', 'Docs', 'Publish']);
    // Round-robin over the subtasks that name no agent: Docs chose its own and takes no turn.
    expect(s.tasks.map((t) => t.assigned_agent)).toEqual(['ann', 'ben', 'cat', 'ann']);
    expect(build).toMatchObject({ priority: 8, capabilities: ['ci'], depends_on: [], swarm_id: s.swarm_id, parent_task_id: s.root_task_id });
    expect(tst.depends_on).toEqual([build.task_id]);
    expect(publish.depends_on).toEqual([tst.task_id, docs.task_id]);
    expect(s.root_task).toMatchObject({ task_id: s.root_task_id, title: 'Ship the release', description: 'Ship the release', swarm_id: s.swarm_id, parent_task_id: null });
    expect(s.root_task.depends_on).toEqual(s.tasks.map((t) => t.task_id));

    const listed = (await app.json('GET', `/api/tasks?swarm_id=${s.swarm_id}`)).body as { tasks: Task[]; total: number };
    expect(listed.total).toBe(5);
    expect(new Set(listed.tasks.map((t) => t.task_id))).toEqual(new Set([s.root_task_id, ...s.tasks.map((t) => t.task_id)]));
    expect(((await app.json('GET', `/api/tasks?parent_task_id=${s.root_task_id}`)).body as { total: number }).total).toBe(4);
    expect((await app.claim(s.root_task_id, 'ann')).body.code).toBe('task_blocked');
  });

  test('sequential chains the subtasks in order; parallel leaves them independent', async () => {
    const seq = await swarm({ goal: 'g', strategy: 'sequential', subtasks: [{ title: 'a' }, { title: 'b' }, { title: 'c' }] });
    expect(seq.tasks.map((t) => t.depends_on)).toEqual([[], [seq.tasks[0]!.task_id], [seq.tasks[1]!.task_id]]);
    const par = await swarm({ goal: 'g', subtasks: [{ title: 'a' }, { title: 'b' }] });
    expect(par.strategy).toBe('parallel');
    expect(par.tasks.map((t) => t.blocked_by)).toEqual([[], []]);
    expect(par.tasks.map((t) => t.assigned_agent)).toEqual([null, null]);
  });

  test('a bad graph is 422 invalid_swarm_plan and nothing is created', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ strategy: 'dag', subtasks: [{ title: 'a', depends_on: [1] }, { title: 'b', depends_on: [0] }] }, 'dependency cycle: 0 → 1 → 0'],
      [{ strategy: 'dag', subtasks: [{ title: 'a', depends_on: ['b'] }, { title: 'b', depends_on: ['c'] }, { title: 'c', depends_on: ['a'] }] }, 'dependency cycle'],
      [{ strategy: 'dag', subtasks: [{ title: 'a', depends_on: [0] }] }, 'a subtask cannot depend on itself'],
      [{ strategy: 'dag', subtasks: [{ title: 'a', depends_on: [5] }] }, 'no subtask 5'],
      [{ strategy: 'dag', subtasks: [{ title: 'a', depends_on: ['zzz'] }] }, 'no subtask "zzz"'],
      [{ strategy: 'dag', subtasks: [{ title: 'x' }, { title: 'x' }, { title: 'y', depends_on: ['x'] }] }, 'names 2 subtasks'],
      [{ strategy: 'parallel', subtasks: [{ title: 'a' }, { title: 'b', depends_on: [0] }] }, 'strategy parallel takes no depends_on'],
      [{ strategy: 'sequential', subtasks: [{ title: 'a' }, { title: 'b', depends_on: [0] }] }, 'strategy sequential takes no depends_on'],
    ];
    for (const [body, message] of cases) {
      const before = app.snapshot();
      const r = await app.json('POST', '/api/tasks/swarm', { goal: 'g', ...body });
      expect([r.status, r.body.code]).toEqual([422, 'invalid_swarm_plan']);
      expect((r.body.errors as { message: string }[])[0]!.message).toContain(message);
      expect(app.snapshot()).toBe(before);
    }
    expect(hermes.requests.length).toBe(0);
  });
});

describe('LLM decomposition through HEDGEHOG_URL', () => {
  const sloppy = [
    'Sure! Here is a plan for your goal:',
    '```json',
    '{',
    "  tasks: [",
    "    {id: 't1', title: 'Gather sources', description: 'find papers', priority: 9, capabilities: ['search'], agent: 'ann',},",
    '    {"id": "t2", "title": "Summarise", "depends_on": ["t1"], "agent": "made-up-agent"},',
    '    {"id": 3, "title": "Write\\nreport", "dependencies": ["t1", "t2"], "priority": "12"}, // final step',
    '  ],',
    '}',
    '```',
    'Let me know if you need anything else.',
  ].join('\n');

  test('a fenced, sloppy JSON plan becomes the subtasks, with dependencies by id', async () => {
    hermes.behavior.reply = () => sloppy;
    const s = await swarm({ goal: 'Research report on HRR', strategy: 'dag', agents: ['ann', 'ben'] }, { authorization: 'Bearer client-secret' });
    expect(s.decomposition).toEqual({ method: 'llm', reason: null, model: 'hermes-agent' });
    const [gather, summarise, write] = s.tasks as [Task, Task, Task];
    expect(s.tasks.map((t) => t.title)).toEqual(['Gather sources', 'Summarise', 'Write report']);
    expect(gather).toMatchObject({ description: 'find papers', priority: 9, capabilities: ['search'], assigned_agent: 'ann' });
    // An agent the model made up is replaced by the round-robin choice among the listed agents
    // (the first subtask without a usable agent gets the first agent).
    expect(summarise.assigned_agent).toBe('ann');
    expect(write.assigned_agent).toBe('ben');
    expect(summarise.depends_on).toEqual([gather.task_id]);
    expect(write).toMatchObject({ priority: 10, depends_on: [gather.task_id, summarise.task_id] });

    const call = hermes.requests.find((r) => r.path === '/v1/chat/completions')!;
    expect(call.headers.authorization).toBe(`Bearer ${hermes.apiKey}`);
    const sent = JSON.parse(call.body);
    expect(sent.messages[0].role).toBe('system');
    expect(sent.messages[0].content).toContain('depends_on');
    expect(sent.messages[0].content).toContain('ann, ben');
    expect(sent.messages[1]).toEqual({ role: 'user', content: 'Research report on HRR' });
  });

  test('parallel drops the dependencies a model adds anyway; the model name can be chosen', async () => {
    hermes.behavior.reply = () => '[{"title": "a"}, {"title": "b", "depends_on": [0]}]';
    const s = await swarm({ goal: 'g', model: 'grok-3-fast' });
    expect(s.decomposition).toEqual({ method: 'llm', reason: null, model: 'grok-3-fast' });
    expect(s.tasks.map((t) => t.depends_on)).toEqual([[], []]);
    expect(JSON.parse(hermes.requests.at(-1)!.body).model).toBe('grok-3-fast');
  });

  /** The plan's dependencies as titles, for a dag swarm of the given answer. */
  async function dependsOfAnswer(answer: string): Promise<{ method: string; reason: string | null; deps: string[][] }> {
    hermes.behavior.reply = () => answer;
    const s = await swarm({ goal: 'g', strategy: 'dag' });
    const title = new Map(s.tasks.map((t) => [t.task_id, t.title]));
    return { method: s.decomposition.method, reason: s.decomposition.reason, deps: s.tasks.map((t) => t.depends_on.map((d) => title.get(d) as string)) };
  }

  test('a step may name another by index, by id, or by a numeric id', async () => {
    const llm = (deps: string[][]) => ({ method: 'llm', reason: null, deps });
    expect(await dependsOfAnswer('[{"title": "a"}, {"title": "b", "depends_on": [0]}]')).toEqual(llm([[], ['a']]));
    expect(await dependsOfAnswer('{"tasks": [{"id": "x", "title": "a"}, {"id": "y", "title": "b", "depends_on": [0, "x"]}]}')).toEqual(llm([[], ['a']]));
    // Steps numbered from 1 are named by their numbers, not their positions.
    expect(await dependsOfAnswer('[{"id": 1, "title": "a"}, {"id": 2, "title": "b", "depends_on": [1]}, {"id": 3, "title": "c", "depends_on": [2, "1"]}]')).toEqual(llm([[], ['a'], ['b', 'a']]));
  });

  test('fields written as null, None or "" count as absent', async () => {
    const answers = [
      '{"tasks": [{"id": null, "title": "a", "description": null, "capabilities": null, "agent": "", "depends_on": null, "priority": null}, {"title": "b", "depends_on": [0]}]}',
      "{'tasks': [{'title': 'a', 'depends_on': None, 'agent': None, 'capabilities': ['', None, 'ci']}, {'title': 'b', 'dependencies': [0]}]}",
    ];
    for (const answer of answers) {
      hermes.behavior.reply = () => answer;
      const s = await swarm({ goal: 'g', strategy: 'dag', agents: ['ann'] });
      expect([answer, s.decomposition.method]).toEqual([answer, 'llm']);
      expect(s.tasks[0]).toMatchObject({ title: 'a', description: '', priority: 5, assigned_agent: 'ann' });
      if (answer.includes("'ci'")) expect(s.tasks[0]!.capabilities).toEqual(['ci']);
      expect(s.tasks[1]!.depends_on).toEqual([s.tasks[0]!.task_id]);
    }
  });

  test('the plan is found after brackets in prose or in the model\'s thinking, and after a commented trailing comma', async () => {
    const plan = '{"tasks": [{"id": "t1", "title": "a"}, {"id": "t2", "title": "b", "depends_on": ["t1"]},  /* done */ ]}';
    for (const answer of [
      `Here is the plan [2 steps]:\n${plan}`,
      `<think>I should answer {tasks} as JSON, maybe [a, b].</think>\n${plan}`,
      `Steps: [1] gather, [2] write.\n\`\`\`json\n${plan}\n\`\`\``,
      // A value that is JSON but no plan comes first.
      `{"note": "plan follows"}\n${plan}`,
    ]) {
      expect([answer, await dependsOfAnswer(answer)]).toEqual([answer, { method: 'llm', reason: null, deps: [[], ['a']] }]);
    }
  });

  /** A chat completion whose message has this content (and finish_reason), as the wire carries it. */
  const completion = (content: unknown, finish_reason = 'stop') => ({
    id: 'chatcmpl-1', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason }],
  });
  const twoSteps = '{"tasks": [{"id": "t1", "title": "a"}, {"id": "t2", "title": "b", "depends_on": ["t1"]}]}';

  test('content sent as a list of parts: the text parts are the answer, a thinking part is not', async () => {
    for (const content of [
      [{ type: 'text', text: twoSteps }],
      // A plan split over several text parts, after a Mistral-style thinking part holding a draft.
      [{ type: 'thinking', thinking: [{ type: 'text', text: '[{"title": "draft"}]' }] }, { type: 'text', text: twoSteps.slice(0, 20) }, { type: 'text', text: twoSteps.slice(20) }],
    ]) {
      hermes.behavior.bodyOverride['/v1/chat/completions'] = completion(content);
      const s = await swarm({ goal: 'g', strategy: 'dag' });
      expect([JSON.stringify(content), s.decomposition.method, s.tasks.map((t) => t.title)]).toEqual([JSON.stringify(content), 'llm', ['a', 'b']]);
    }
  });

  test('a draft plan in the model\'s <think> block is not the plan: the answer after it is', async () => {
    const plan = '{"tasks": [{"id": "t1", "title": "a"}, {"id": "t2", "title": "b", "depends_on": ["t1"]}]}';
    const draft = '{"tasks": [{"id": "d", "title": "draft"}]}';
    for (const answer of [
      `<think>First try: ${draft} — no, split it in two.</think>\n${plan}`,
      `<think>\n\`\`\`json\n${draft}\n\`\`\`\n</think>\n\`\`\`json\n${plan}\n\`\`\``,
      // The chat template opened the block in the prompt: only its end is in the answer.
      `Maybe ${draft}? Better two steps.\n</think>\n\n${plan}`,
    ]) {
      expect([answer, await dependsOfAnswer(answer)]).toEqual([answer, { method: 'llm', reason: null, deps: [[], ['a']] }]);
    }
    // Thinking that never ended (the answer was cut): its draft is not used.
    expect((await dependsOfAnswer(`<think>Plan: ${draft} and then`)).method).toBe('fallback');
  });

  test('an answer cut off at the token limit is not used, even where part of it reads as a plan', async () => {
    // The steps of the first phase are a complete list of steps inside the cut answer.
    const cut = '{"tasks": [{"id": "p1", "title": "Phase 1", "subtasks": [{"title": "a"}, {"title": "b"}]}, {"id": "p2", "title": "Phase 2", "subtasks": [{"ti';
    hermes.behavior.bodyOverride['/v1/chat/completions'] = completion(cut, 'length');
    const s = await swarm({ goal: 'Plan the offsite', strategy: 'dag' });
    expect(s.decomposition).toMatchObject({ method: 'fallback', reason: 'the LLM answer was cut off (finish_reason "length")' });
    expect(s.tasks.map((t) => t.title)).toEqual(['Plan the offsite']);
  });

  test('a wrong step is named in the reason', async () => {
    const r = await dependsOfAnswer('{"tasks": [{"title": "a"}, {"title": 5}]}');
    expect(r.method).toBe('fallback');
    expect(r.reason).toContain('at tasks.1.title');
  });

  test('a lone surrogate in the plan (an escape cut in half) is stored as U+FFFD, read back as created', async () => {
    hermes.behavior.reply = () => String.raw`[{"title": "ship \ud83d", "description": "then \ude80 go", "capabilities": ["x\ud800"]}]`;
    const s = await swarm({ goal: 'g' });
    const [t] = s.tasks as [Task];
    expect([t.title, t.description, t.capabilities]).toEqual(['ship \ufffd', 'then \ufffd go', ['x\ufffd']]);
    expect(await app.get(t.task_id)).toEqual(t);
  });

  test('HEDGEHOG_URL may end in /v1, as OpenAI base URLs do', async () => {
    app.close();
    app = await taskApp('sqlite', { env: { HEDGEHOG_URL: `${hermes.url}/v1`, HEDGEHOG_API_KEY: hermes.apiKey as string } });
    hermes.behavior.reply = () => '[{"title": "a"}, {"title": "b"}]';
    const s = await swarm({ goal: 'g' });
    expect(s.decomposition).toEqual({ method: 'llm', reason: null, model: 'hermes-agent' });
    expect(hermes.requests.at(-1)!.path).toBe('/v1/chat/completions');
  });

  const fallbacks: [string, () => void, string][] = [
    ['prose without JSON', () => (hermes.behavior.reply = () => 'I cannot help with that.'), 'holds no readable JSON'],
    ['JSON of the wrong shape', () => (hermes.behavior.reply = () => '{"plan": "do it"}'), 'wrong shape'],
    ['an empty plan', () => (hermes.behavior.reply = () => '{"tasks": []}'), 'empty'],
    ['a cyclic plan', () => (hermes.behavior.reply = () => '{"tasks":[{"id":"a","title":"A","depends_on":["b"]},{"id":"b","title":"B","depends_on":["a"]}]}'), 'dependency cycle'],
    // Which of the two "t1" the third step waits for cannot be known (the first one used to be taken).
    ['a dependency on an id two steps share', () => (hermes.behavior.reply = () => '{"tasks":[{"id":"t1","title":"A"},{"id":"t1","title":"B"},{"id":"t3","title":"C","depends_on":["t1"]}]}'), 'id "t1" names 2 subtasks'],
    ['a dependency on nothing', () => (hermes.behavior.reply = () => '{"tasks":[{"id":"a","title":"A","depends_on":["q"]}]}'), 'no subtask "q"'],
    ['too many tasks', () => (hermes.behavior.reply = () => JSON.stringify({ tasks: Array.from({ length: 40 }, (_, i) => ({ title: `t${i}` })) })), 'more than 25'],
    ['HTTP 500', () => (hermes.behavior.statusOverride['/v1/chat/completions'] = 500), 'HTTP 500'],
    ['a hang', () => (hermes.behavior.hang['/v1/chat/completions'] = true), 'did not answer in time'],
  ];
  for (const [what, arrange, reason] of fallbacks) {
    test(`${what}: falls back to one task and says why`, async () => {
      arrange();
      const s = await swarm({ goal: 'Plan the offsite', strategy: 'dag', agents: ['ann'] });
      expect(s.decomposition.method).toBe('fallback');
      expect(s.decomposition.reason).toContain(reason);
      expect(s.total).toBe(1);
      expect(s.tasks[0]).toMatchObject({ title: 'Plan the offsite', description: 'Plan the offsite', assigned_agent: 'ann', depends_on: [] });
      expect(s.root_task.depends_on).toEqual([s.tasks[0]!.task_id]);
    });
  }

  test('a client that leaves while the LLM plans: the LLM call is given up and no swarm is created (its retry would have made a second one)', async () => {
    hermes.behavior.hang['/v1/chat/completions'] = true;
    const leave = new AbortController();
    const answered = app.t.app.handle(
      new Request('http://localhost/api/tasks/swarm', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ goal: 'Plan the offsite' }), signal: leave.signal }),
    );
    await until(() => hermes.requests.some((r) => r.path === '/v1/chat/completions'));
    leave.abort();
    const r = await answered;
    expect([r.status, ((await r.json()) as { code: string }).code]).toEqual([499, 'client_closed']);
    expect((await app.json('GET', '/api/tasks')).body.total).toBe(0);
  });

  test('an unreachable HEDGEHOG falls back too', async () => {
    app.close();
    app = await taskApp('sqlite', { env: { HEDGEHOG_URL: await closedUrl() } });
    const s = await swarm({ goal: 'g' });
    expect(s.decomposition).toMatchObject({ method: 'fallback', reason: 'the LLM endpoint is unreachable' });
  });

  test('a goal longer than a title is cut for the titles and kept whole as the description', async () => {
    hermes.behavior.reply = () => 'nothing';
    const goal = 'é'.repeat(600);
    const s = await swarm({ goal });
    expect([...s.root_task.title].length).toBe(500);
    expect(s.root_task.title.endsWith('…')).toBe(true);
    expect(s.root_task.description).toBe(goal);
  });
});
