// The cost calculator: `tollgatectl calc PROFILE.yaml` prices a usage profile on the running
// gateway's routes and catalog (or a proposed configuration, compiled and never applied), and
// `calc --replay` prices the requests already metered again. Every expectation is computed here
// from the catalog prices and the tokens in the access log, exactly, in integer pico-dollars:
// the four use cases cost $155.00 a day ($4,650.00 a month) on GPT-4o; a replay on the
// configuration the requests ran under reproduces their actual cost to the pico-dollar.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  startSim, startGateway, gatewayConfig, postJson, tempDir, waitFor, adminCall, freePort,
} from './lib/harness.mjs';
import { costPico } from './lib/meterkit.mjs';

const PRICES = {
  'gpt-4o': { input: 2.5, output: 10, cached_input: 1.25 },
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'deepseek-chat': { input: 0.27, output: 1.1, cached_input: 0.07 },
  'deepseek-reasoner': { input: 0.55, output: 2.19 },
  'qwen3-32b': { input: 0.1, output: 0.3 },
};

/** The routes; faqTarget is where the faq rule goes, legacy whether that route exists. */
function routes(faqTarget, legacy) {
  return `store: {path: DATA}
routes:
  auto:
    baseline: gpt-4o
    rules:
      - {task: faq, complexity: [simple, complex], targets: [${faqTarget}]}
      - {task: code_review, complexity: simple, targets: [qwen3-32b]}
      - {task: code_review, complexity: complex, targets: [deepseek-reasoner]}
      - {task: content, complexity: creative, targets: [gpt-4o]}
      - {task: content, complexity: factual, targets: [deepseek-chat]}
      - {task: extraction, targets: [gpt-4o-mini]}
      - {targets: [deepseek-chat]}
    fallback: [gpt-4o-mini]
  careful:
    strategy: cascade
    targets: [gpt-4o, qwen3-32b]
    validate: {min_length: 40}
  shadowed:
    targets: [gpt-4o-mini]
    shadow: {target: qwen3-32b, percent: 100}
${legacy ? '  legacy: {targets: [deepseek-chat]}\n' : ''}`;
}

// The profile: $75 + $20 + $35 + $25 = $155 a day on GPT-4o at $2.50/$10.00 per 1M.
const PROFILE = `baseline: gpt-4o
route: auto
days_per_month: 30
use_cases:
  - name: FAQ bot
    input_tokens_per_day: 10M
    output_tokens_per_day: 5M
    split:
      - {task: faq, complexity: simple, share: 80%}
      - {task: faq, complexity: complex, share: 20%}
  - name: Code review
    input_tokens_per_day: 4M
    output_tokens_per_day: 1M
    split:
      - {task: code_review, complexity: simple, share: 60%}
      - {task: code_review, complexity: complex, share: 40%}
  - name: Content
    input_tokens_per_day: 2M
    output_tokens_per_day: 3M
    split:
      - {task: content, complexity: creative, share: 50%}
      - {task: content, complexity: factual, share: 50%}
  - name: Extraction
    input_tokens_per_day: 4M
    output_tokens_per_day: 1.5M
    split:
      - {task: extraction, share: 75%}
      - {model: qwen3-32b, share: 25%}
`;

/** The profile's rows: tokens per day and the model auto picks (faqTarget for faq). */
function profileRows(faqTarget) {
  return [
    [8e6, 4e6, faqTarget], [2e6, 1e6, faqTarget],
    [2.4e6, 0.6e6, 'qwen3-32b'], [1.6e6, 0.4e6, 'deepseek-reasoner'],
    [1e6, 1.5e6, 'gpt-4o'], [1e6, 1.5e6, 'deepseek-chat'],
    [3e6, 1.125e6, 'gpt-4o-mini'], [1e6, 0.375e6, 'qwen3-32b'],
  ];
}

const cost = (model, prompt, completion, cached = 0) =>
  costPico(PRICES[model], { prompt_tokens: prompt, completion_tokens: completion, cached_tokens: cached });

const sum = (xs) => xs.reduce((a, b) => a + b, 0n);

/** Pico-dollars as tollgatectl prints them: "$4,650.00", "$31.1335", "$0.000284". */
function usd(pico) {
  const micros = (pico + 500000n) / 1000000n;
  const whole = (micros / 1000000n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const frac = String(micros % 1000000n).padStart(6, '0').replace(/0{1,4}$/, '');
  return `$${whole}.${frac.padEnd(2, '0')}`;
}

const pct = (before, after) => `${((100 * Number(before - after)) / Number(before)).toFixed(1)}%`;

describe('tollgatectl calc: the cost calculator', () => {
  let sim, gw, dir, profilePath, proposedPath, samePath, adminUrl;
  const token = 'calc-test-admin-token-0123456789';

  before(async () => {
    sim = await startSim();
    dir = tempDir('tg-calc-');
    const data = JSON.stringify(path.join(dir, 'data'));
    const opts = {
      dir,
      workers: 2,
      providers: {
        sim: { kind: 'openai', base_url: `http://127.0.0.1:${sim.port}/v1` },
        dead: { kind: 'openai', base_url: 'http://127.0.0.1:9/v1' },
      },
      models: {
        ...Object.fromEntries(
          Object.entries(PRICES).map(([name, price]) => [name, { provider: 'sim', price }]),
        ),
        ghost: { provider: 'dead', price: { input: 1, output: 1 } },
      },
      extraYaml: routes('deepseek-chat', true).replace('DATA', data),
    };
    const adminPort = await freePort();
    adminUrl = `http://127.0.0.1:${adminPort}/admin/v1/calc`;
    gw = await startGateway({
      ...opts,
      env: { TG_ADMIN_TOKEN: token },
      extraYaml: `${opts.extraYaml}admin_http:\n  listen: 127.0.0.1:${adminPort}\n  token: \${TG_ADMIN_TOKEN}\n`,
    });
    profilePath = path.join(dir, 'profile.yaml');
    fs.writeFileSync(profilePath, PROFILE);
    // proposed: faq moves to qwen3-32b and the legacy route is gone
    proposedPath = path.join(dir, 'proposed.yaml');
    fs.writeFileSync(
      proposedPath,
      gatewayConfig({ ...gw.opts, extraYaml: routes('qwen3-32b', false).replace('DATA', data) }),
    );
    samePath = path.join(dir, 'same.yaml');
    fs.copyFileSync(gw.configPath, samePath);
  });

  after(async () => {
    const res = await gw?.stop();
    await sim?.stop();
    assert.equal(res?.code, 0, 'the gateway exits cleanly');
    gw?.checkSanitizers();
  });

  it('prices the issue profile: $155.00/day and $4,650.00/month before, the route after', async () => {
    const before = 155000000000000n;
    const after = sum(profileRows('deepseek-chat').map(([i, o, m]) => cost(m, i, o)));
    assert.equal(after, 31133500000000n, 'by hand: 8.20 + 2.176 + 19.42 + 1.3375');
    const r = await gw.ctl(['calc', profilePath]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^configuration: running; route auto; baseline gpt-4o; 30 days a month$/m);
    assert.ok(
      r.stdout.includes(
        `$155.00/day before, ${usd(after)}/day after, savings ${usd(before - after)}/day ` +
          `(${pct(before, after)})\n` +
          `$4,650.00/month before, ${usd(after * 30n)}/month after, savings ` +
          `${usd((before - after) * 30n)}/month (${pct(before, after)}) over 30 days\n`,
      ),
      r.stdout,
    );
    assert.ok(r.stdout.includes('$155.00/day before, $31.1335/day after'), r.stdout);
    // one line per use case and per row: tokens, before, after, savings
    assert.match(r.stdout, /^FAQ bot\s+10,000,000\s+5,000,000\s+\$75\.00\s+\$8\.20\s+\$66\.80\s+89\.1%$/m);
    assert.match(
      r.stdout,
      /^ {2}faq\/simple 80%\s+gpt-4o -> deepseek-chat\s+8,000,000\s+4,000,000\s+\$60\.00\s+\$6\.56\s+\$53\.44\s+89\.1%$/m,
    );
    assert.match(r.stdout, /^ {2}model qwen3-32b 25%\s+gpt-4o -> qwen3-32b\s+1,000,000\s+375,000\s+\$6\.25\s+\$0\.2125/m);
    assert.match(r.stdout, /^TOTAL\s+20,000,000\s+10,500,000\s+\$155\.00\s+\$31\.1335\s+\$123\.8665\s+79\.9%$/m);

    const j = await gw.ctl(['--json', 'calc', profilePath]);
    assert.equal(j.code, 0, j.stderr);
    const reply = JSON.parse(j.stdout);
    assert.equal(reply.ok, true);
    assert.equal(reply.mode, 'profile');
    assert.equal(reply.route, 'auto');
    assert.equal(reply.baseline, 'gpt-4o');
    assert.equal(reply.total.input_tokens, 20000000);
    assert.equal(reply.total.output_tokens, 10500000);
    assert.equal(BigInt(reply.total.before_pico), before);
    assert.equal(reply.total.before_usd, '155.000000');
    assert.equal(BigInt(reply.total.after_pico), after);
    assert.equal(BigInt(reply.total.savings_pico), before - after);
    assert.equal(BigInt(reply.total.per_month.before_pico), 4650000000000000n);
    assert.equal(reply.total.per_month.before_usd, '4650.000000');
    assert.equal(BigInt(reply.total.per_month.after_pico), after * 30n);
    assert.deepEqual(
      reply.use_cases.map((u) => [u.name, BigInt(u.before_pico)]),
      [['FAQ bot', 75000000000000n], ['Code review', 20000000000000n],
        ['Content', 35000000000000n], ['Extraction', 25000000000000n]],
    );
    const rows = reply.use_cases.flatMap((u) => u.rows);
    const want = profileRows('deepseek-chat');
    assert.equal(rows.length, want.length);
    rows.forEach((row, i) => {
      const [input, output, model] = want[i];
      assert.equal(row.input_tokens, input);
      assert.equal(row.output_tokens, output);
      assert.equal(row.model_before, 'gpt-4o');
      assert.deepEqual(row.after.map((p) => p.model), [model]);
      assert.equal(BigInt(row.after_pico), cost(model, input, output));
      assert.equal(BigInt(row.before_pico), cost('gpt-4o', input, output));
    });
    assert.equal(rows[0].after[0].rule, 1, 'the first rule of auto');
    assert.equal(rows[7].after[0].rule, null, 'a model named directly');
  });

  it('prices a proposed configuration without applying it, and takes --route and --baseline', async () => {
    const after = sum(profileRows('qwen3-32b').map(([i, o, m]) => cost(m, i, o)));
    assert.equal(after, 25433500000000n, 'faq on qwen3-32b: 10M x 0.10 + 5M x 0.30 = $2.50');
    const r = await gw.ctl(['calc', profilePath, '--config', proposedPath]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(`configuration: ${proposedPath};`), r.stdout);
    assert.ok(r.stdout.includes(`$155.00/day before, ${usd(after)}/day after`), r.stdout);
    assert.match(r.stdout, /^ {2}faq\/simple 80%\s+gpt-4o -> qwen3-32b\s/m);
    const j = JSON.parse((await gw.ctl(['--json', 'calc', profilePath, '--config', proposedPath])).stdout);
    assert.equal(BigInt(j.total.after_pico), after);
    // over the protocol a proposal may also be YAML text (anything with a line break)
    const text = fs.readFileSync(proposedPath, 'utf8');
    const t = await adminCall(gw.adminSocket, { cmd: 'calc', profile: PROFILE, config: text, config_name: 'mine.yaml' });
    assert.equal(t.ok, true, JSON.stringify(t));
    assert.equal(t.config, 'mine.yaml');
    assert.equal(BigInt(t.total.after_pico), after);
    const e = await adminCall(gw.adminSocket, { cmd: 'calc', profile: PROFILE, config: `${text}bogus: 1\n` });
    assert.equal(e.ok, false);
    assert.match(e.error, /^proposed\.yaml:\d+:1: .*bogus/);
    // nothing was applied: the running configuration still answers the same
    const again = JSON.parse((await gw.ctl(['--json', 'calc', profilePath])).stdout);
    assert.equal(again.total.after_pico, 31133500000000);
    assert.equal((await gw.status()).generation, 1);
    // --baseline: "before" on gpt-4o-mini is 20M x 0.15 + 10.5M x 0.60 = $9.30
    const b = JSON.parse((await gw.ctl(['--json', 'calc', profilePath, '--baseline', 'gpt-4o-mini'])).stdout);
    assert.equal(BigInt(b.total.before_pico), cost('gpt-4o-mini', 20e6, 10.5e6));
    assert.equal(b.total.before_usd, '9.300000');
    // --route legacy: every labelled row goes to deepseek-chat; the named model stays
    const l = JSON.parse((await gw.ctl(['--json', 'calc', profilePath, '--route', 'legacy'])).stdout);
    assert.equal(l.route, 'legacy');
    const rows = l.use_cases.flatMap((u) => u.rows);
    assert.deepEqual(rows.map((x) => x.after[0].model), [...Array(7).fill('deepseek-chat'), 'qwen3-32b']);
  });

  it('reports profile and configuration mistakes as file:line:col, before anything is priced', async () => {
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, PROFILE.replace('share: 20%', 'share: 10%'));
    let r = await gw.ctl(['calc', bad]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr.trim(),
      `tollgatectl: ${bad}:9:7: the shares of use case "FAQ bot" add up to 90%, not 100%`,
    );
    fs.writeFileSync(bad, PROFILE.replace('{model: qwen3-32b', '{model: qwen9'));
    r = await gw.ctl(['calc', bad]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `tollgatectl: ${bad}:28:9: model "qwen9" is not in the configuration's catalog`);
    fs.writeFileSync(bad, PROFILE.replace('output_tokens_per_day: 5M', 'output_tokens_per_day: 5Q'));
    r = await gw.ctl(['calc', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.yaml:7:28: output_tokens_per_day must be a whole number of tokens/);
    const broken = path.join(dir, 'broken.yaml');
    fs.writeFileSync(broken, fs.readFileSync(proposedPath, 'utf8').replace('targets: [qwen3-32b]}', 'targets: [qwen4]}'));
    r = await gw.ctl(['calc', profilePath, '--config', broken]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^tollgatectl: ${broken}:\\d+:\\d+: .*qwen4`));
    r = await gw.ctl(['calc']);
    assert.equal(r.code, 2);
    r = await gw.ctl(['calc', profilePath, '--since', '1h']);
    assert.equal(r.code, 2, 'replay flags need --replay');
  });

  it('replays metered requests: exactly their actual cost as configured, the proposal priced exactly', async () => {
    const sent = []; // request ids, in order
    const since = Math.floor(Date.now() / 1000) - 10;
    const until = since + 3600; // a window of exactly one hour, so the rates are exact
    const ask = async (model, headers = {}) => {
      const r = await postJson(
        `${gw.baseURL}/chat/completions`,
        { model, messages: [{ role: 'user', content: `Question ${sent.length}: how do routes work?` }], max_tokens: 24 },
        { headers },
      );
      sent.push(r.headers.get('x-request-id'));
      return r;
    };
    const labels = (task, complexity) => ({ 'x-tollgate-task': task, 'x-tollgate-complexity': complexity });
    for (const [task, cx] of [['faq', 'simple'], ['faq', 'simple'], ['faq', 'complex'],
      ['code_review', 'simple'], ['code_review', 'complex'], ['content', 'creative'],
      ['extraction', 'simple']]) {
      const r = await ask('auto', labels(task, cx));
      assert.equal(r.status, 200, r.text);
    }
    assert.equal((await ask('gpt-4o-mini')).status, 200); // a model named directly
    assert.equal((await ask('legacy', labels('faq', 'simple'))).status, 200);
    assert.equal((await ask('ghost')).status, 502); // nothing used: nothing to replay
    const shadowed = await ask('shadowed', labels('faq', 'simple'));
    assert.equal(shadowed.status, 200);
    await waitFor(() => gw.readAccessLog().some((l) => l.shadow_of === sent.at(-1)), {
      what: 'the shadow request',
    });

    const lines = () => {
      const byId = new Map(gw.readAccessLog().filter((l) => !l.shadow_of).map((l) => [l.request_id, l]));
      return sent.map((id) => byId.get(id)).filter((l) => l && l.prompt_tokens + l.completion_tokens > 0);
    };
    const actualOf = (l) => cost(l.model, l.prompt_tokens, l.completion_tokens, l.cached_tokens);
    const replay = async (...args) => {
      const r = await gw.ctl(['--json', 'calc', '--replay', '--since', `@${since}`, '--until', `@${until}`, ...args]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout);
    };

    // on the configuration they ran under (or the same file proposed): to the pico-dollar
    const all = lines();
    assert.equal(all.length, 10);
    const actual = sum(all.map(actualOf));
    let rp;
    await waitFor(async () => (rp = await replay()).not_replayed.shadow === 1, { what: 'the shadow event' });
    for (const r of [rp, await replay('--config', samePath)]) {
      assert.equal(r.total.requests, 10);
      assert.equal(BigInt(r.total.actual_pico), actual);
      assert.equal(BigInt(r.total.replayed_pico), actual);
      assert.equal(r.total.moved, 0);
      assert.equal(r.not_replayed.shadow, 1);
      assert.equal(r.not_replayed.no_tokens, 1);
      assert.equal(r.not_replayed.unknown_route, 0);
      assert.equal(r.undecodable, 0);
    }
    assert.deepEqual(rp.routes.map((g) => [g.name, g.requests]).sort(),
      [['auto', 7], ['gpt-4o-mini', 1], ['legacy', 1], ['shadowed', 1]]);
    const faq = rp.tasks.find((t) => t.name === 'faq');
    assert.equal(faq.requests, 5);
    // the hour's daily average and monthly projection, rounded to the pico-dollar
    const hourMs = 3600000n;
    assert.equal(rp.days, 1 / 24);
    assert.equal(BigInt(rp.per_day.actual_pico), (actual * 86400000n + hourMs / 2n) / hourMs);
    assert.equal(BigInt(rp.per_day.replayed_pico), BigInt(rp.per_day.actual_pico));
    assert.equal(BigInt(rp.per_month.actual_pico), (actual * 30n * 86400000n + hourMs / 2n) / hourMs);

    // proposed: faq on auto goes to qwen3-32b, legacy is no more
    const isFaqOnAuto = (l) => l.route === 'auto' && l.task === 'faq';
    const kept = all.filter((l) => l.route !== 'legacy');
    const expected = sum(kept.map((l) => (isFaqOnAuto(l)
      ? cost('qwen3-32b', l.prompt_tokens, l.completion_tokens, l.cached_tokens) : actualOf(l))));
    const p = await replay('--config', proposedPath);
    assert.equal(p.total.requests, 9);
    assert.equal(BigInt(p.total.actual_pico), sum(kept.map(actualOf)));
    assert.equal(BigInt(p.total.replayed_pico), expected);
    assert.ok(expected < sum(kept.map(actualOf)), 'qwen3-32b is cheaper than deepseek-chat');
    assert.equal(p.total.moved, 3);
    assert.equal(p.not_replayed.unknown_route, 1);
    const legacyLine = all.find((l) => l.route === 'legacy');
    assert.deepEqual(
      p.not_replayed.unreplayable.map((g) => [g.reason, g.name, g.requests, BigInt(g.actual_pico)]),
      [['unknown_route', 'legacy', 1, actualOf(legacyLine)]],
    );
    assert.equal(BigInt(p.tasks.find((t) => t.name === 'faq').replayed_pico),
      sum(kept.filter((l) => l.task === 'faq').map((l) => (isFaqOnAuto(l)
        ? cost('qwen3-32b', l.prompt_tokens, l.completion_tokens, l.cached_tokens) : actualOf(l)))));
    // --route auto: every routed request (legacy's and shadowed's too) is decided on auto
    const viaAuto = await replay('--config', proposedPath, '--route', 'auto');
    assert.equal(viaAuto.total.requests, 10);
    assert.equal(BigInt(viaAuto.total.replayed_pico), sum(all.map((l) => (l.route && l.task === 'faq'
      ? cost('qwen3-32b', l.prompt_tokens, l.completion_tokens, l.cached_tokens) : actualOf(l)))));

    // the table for people says the same
    const t = await gw.ctl(['calc', '--replay', '--since', '1h', '--config', proposedPath]);
    // (since 1h and until now hold the same requests as the window above)
    assert.equal(t.code, 0, t.stderr);
    const actualKept = sum(kept.map(actualOf));
    assert.ok(t.stdout.includes(`in the period: ${usd(actualKept)} actual, ${usd(expected)} replayed`), t.stdout);
    assert.match(t.stdout, /^auto\s+7\s+3\s/m);
    assert.match(t.stdout, /^not replayed: .*1 shadow.*1 no_tokens.*1 unknown_route/m);
    assert.match(t.stdout, /^ {2}unknown_route legacy: 1 requests/m);
  });

  it('skips a cascade\'s rejected answer and prices the request on the first target', async () => {
    const since = String(Math.floor(Date.now() / 1000) + 1);
    await waitFor(() => Date.now() >= Number(since) * 1000, { what: 'the next second' });
    // qwen3-32b (cheapest, tried first) answers in two tokens: too short, so gpt-4o answers
    await sim.addFault({ model: 'qwen3-32b', tokens: 2 });
    const r = await postJson(`${gw.baseURL}/chat/completions`, {
      model: 'careful', messages: [{ role: 'user', content: 'Tell me about transports.' }], max_tokens: 30,
    });
    await sim.clearFaults();
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-tollgate-model'), 'gpt-4o');
    const id = r.headers.get('x-request-id');
    const log = gw.readAccessLog();
    const main = log.find((l) => l.request_id === id);
    const rejected = log.find((l) => l.request_id.startsWith(`${id.slice(0, 48)}-`) && l.error === 'cascade_rejected');
    assert.ok(rejected, 'the rejected answer has its own line');
    const out = JSON.parse((await gw.ctl(['--json', 'calc', '--replay', '--since', `@${since}`])).stdout);
    assert.equal(out.not_replayed.extra_attempt, 1);
    assert.equal(out.total.requests, 1);
    assert.equal(BigInt(out.total.actual_pico), cost('gpt-4o', main.prompt_tokens, main.completion_tokens));
    // the replay assumes the first target answers: its price, the answer's tokens
    assert.equal(BigInt(out.total.replayed_pico), cost('qwen3-32b', main.prompt_tokens, main.completion_tokens));
    assert.equal(out.total.moved, 1);
    assert.equal(BigInt(out.not_replayed.actual_pico),
      cost('qwen3-32b', rejected.prompt_tokens, rejected.completion_tokens));
  });

  it('runs over the admin HTTP API too, where a proposal is YAML text and never a path', async () => {
    const call = async (init = {}, query = '') => {
      const r = await fetch(`${adminUrl}${query}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      });
      return { status: r.status, json: await r.json() };
    };
    let r = await call({ method: 'POST', body: JSON.stringify({ profile: PROFILE }) });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.total.before_pico, 155000000000000);
    assert.equal(r.json.total.after_pico, 31133500000000);
    const text = fs.readFileSync(proposedPath, 'utf8');
    r = await call({ method: 'POST', body: JSON.stringify({ profile: PROFILE, config: text }) });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.config, 'proposed.yaml');
    assert.equal(r.json.total.after_pico, 25433500000000);
    r = await call({ method: 'POST', body: JSON.stringify({ profile: PROFILE, config: proposedPath }) });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.message, 'calc: over HTTP, give the proposed configuration as YAML text');
    // a replay over GET matches the socket's for the same window
    const since = Math.floor(Date.now() / 1000) - 3600;
    const until = since + 7200;
    r = await call({}, `?replay=1&since=${since}&until=${until}`);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.mode, 'replay');
    const viaSocket = await adminCall(gw.adminSocket, { cmd: 'calc', replay: true, since, until });
    assert.ok(r.json.total.requests > 0);
    assert.deepEqual(r.json.total, viaSocket.total);
    assert.deepEqual(r.json.not_replayed, viaSocket.not_replayed);
  });
});
