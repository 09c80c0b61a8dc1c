// The README's curl examples, run with the real curl binary against the demo configuration
// (etc/demo.yaml with the etc/models.yaml catalog, rewritten only for ports and paths), plus
// the everyday curl usages a user tries next: headers with -i, -N streaming that really
// streams, big bodies, errors with --fail-with-body.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  SOURCE_DIR,
  run,
  startSim,
  startGateway,
  adminCall,
  freePorts,
  tempDir,
  sseData,
} from './lib/harness.mjs';

/** The shell code blocks of the README that call curl, continuation lines joined. */
function readmeCurlCommands() {
  const readme = fs.readFileSync(path.join(SOURCE_DIR, 'README.md'), 'utf8');
  const cmds = [];
  for (const m of readme.matchAll(/```(?:sh|bash|shell|console)\n([\s\S]*?)```/g)) {
    const joined = m[1].replace(/\\\n\s*/g, ' ');
    for (let line of joined.split('\n')) {
      line = line.replace(/^\$ /, '').trim();
      if (/^curl\s/.test(line)) cmds.push(line);
    }
  }
  return cmds;
}

const ADMIN_TOKEN = 'curl-test-admin-token-0123456789';

/** etc/demo.yaml with its fixed ports and paths moved into dir. */
function demoConfig({ dir, port, simPort, adminPort }) {
  let text = fs.readFileSync(path.join(SOURCE_DIR, 'etc/demo.yaml'), 'utf8');
  const must = (re, to) => {
    assert.match(text, re, `etc/demo.yaml has ${re}`);
    text = text.replace(re, to);
  };
  must(/127\.0\.0\.1:8080/g, `127.0.0.1:${port}`);
  must(/127\.0\.0\.1:9090/g, `127.0.0.1:${simPort}`);
  must(/^(\s*-\s*)models\.yaml\s*$/m, `$1${path.join(SOURCE_DIR, 'etc/models.yaml')}`);
  must(/^pid_file:.*$/m, `pid_file: ${path.join(dir, 'tollgate.pid')}`);
  must(/^admin_socket:.*$/m, `admin_socket: ${path.join(dir, 'admin.sock')}`);
  must(/^(\s+)error_log:.*$/m, `$1error_log: ${path.join(dir, 'error.log')}`);
  must(/^(\s+)access_log:.*$/m, `$1access_log: ${path.join(dir, 'access.log')}`);
  must(/^(\s+)path: build\/demo-data$/m, `$1path: ${path.join(dir, 'data')}`);
  must(/127\.0\.0\.1:9091/g, `127.0.0.1:${adminPort}`);
  must(/TOLLGATE_DEMO_ADMIN_TOKEN/, 'TOLLGATE_DEMO_ADMIN_TOKEN');
  return text;
}

describe('curl', () => {
  let sim, gw, url, key;

  before(async () => {
    sim = await startSim();
    const dir = tempDir('tg-curl-');
    const [port, adminPort] = await freePorts(2);
    gw = await startGateway({
      dir,
      port,
      configText: demoConfig({ dir, port, simPort: sim.port, adminPort }),
      env: { TOLLGATE_DEMO_ADMIN_TOKEN: ADMIN_TOKEN }, // as make demo passes its random token
    });
    gw.adminURL = `http://127.0.0.1:${adminPort}`;
    url = gw.url;
    // the demo runs with auth: keys; make the key `make demo` would have printed
    const made = await adminCall(gw.adminSocket, { cmd: 'keys.create', tenant: 'demo', name: 'demo-key' });
    assert.equal(made.ok, true, JSON.stringify(made));
    key = made.secret;
  });

  after(async () => {
    await gw?.stop();
    await sim?.stop();
  });

  const curl = (args) =>
    run('curl', ['-sS', '-H', `Authorization: Bearer ${key}`, ...args], { timeout: 30000 });
  const chatBody = (extra = {}) =>
    JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello!' }], ...extra });

  it('the README curl examples (non-stream and curl -N stream) work against the demo configuration', async () => {
    const cmds = readmeCurlCommands();
    assert.ok(cmds.length >= 2, `README has curl examples (${cmds.length})`);
    let streams = 0;
    let plain = 0;
    for (const cmd of cmds) {
      assert.match(cmd, /http:\/\/(127\.0\.0\.1|localhost):8080/, `targets the demo: ${cmd}`);
      const ours = cmd
        .replace(/http:\/\/(127\.0\.0\.1|localhost):8080/g, url)
        .replace(/^curl\s/, 'curl -sS --fail-with-body ');
      const r = await run('bash', ['-c', ours], { timeout: 30000, env: { TOLLGATE_KEY: key } });
      assert.equal(r.code, 0, `${cmd}\nexit ${r.code}: ${r.stderr}\n${r.stdout}`);
      if (/"stream":\s*true/.test(cmd)) {
        streams++;
        const events = sseData(r.stdout);
        assert.equal(events[events.length - 1], '[DONE]', `ends with [DONE]: ${cmd}`);
        const text = events
          .slice(0, -1)
          .map((e) => JSON.parse(e).choices[0]?.delta?.content ?? '')
          .join('');
        assert.ok(text.length > 0, `streamed text: ${cmd}`);
      } else {
        plain++;
        let body = r.stdout;
        if (/\scurl\s.*\s-i\s|^curl -sS --fail-with-body -i\s/.test(ours)) {
          // -i: the head, then the body; routed answers say which model served them
          const [head, rest] = body.split(/\r\n\r\n/, 2);
          body = rest;
          if (/"model":\s*"auto"/.test(cmd)) {
            assert.match(head, /^x-tollgate-route: auto\r?$/im, cmd);
            assert.match(head, /^x-tollgate-model: deepseek-reasoner\r?$/im, 'code_review/complex');
          }
        }
        const j = JSON.parse(body);
        assert.equal(j.object, 'chat.completion', cmd);
        assert.ok(j.choices[0].message.content.length > 0, cmd);
        assert.ok(j.usage.total_tokens > 0, cmd);
      }
    }
    assert.ok(streams >= 1 && plain >= 1, 'both a streaming and a plain example ran');
  });

  /** Run the README's Node example under this heading, pointed at the test gateway. */
  async function runReadmeNode(heading, baseRe) {
    const readme = fs.readFileSync(path.join(SOURCE_DIR, 'README.md'), 'utf8');
    const m = new RegExp(`### ${heading}[^\\n]*\\n[\\s\\S]*?\`\`\`js\\n([\\s\\S]*?)\`\`\``).exec(readme);
    assert.ok(m, `README has a ${heading} example`);
    assert.match(m[1], baseRe);
    const code = m[1].replace(/http:\/\/127\.0\.0\.1:8080/g, url);
    const r = await run(process.execPath, ['--input-type=module', '-e', code], {
      env: { TOLLGATE_KEY: key },
      cwd: path.dirname(new URL(import.meta.url).pathname), // resolves the pinned SDK packages
      timeout: 30000,
    });
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    assert.ok(r.stdout.trim().length > 0, 'it printed the answer');
    return r.stdout;
  }

  it("the README's Node (openai SDK) example runs against the demo configuration", async () => {
    await runReadmeNode('Node \\(openai SDK\\)', /http:\/\/127\.0\.0\.1:8080\/v1/);
  });

  it("the README's Node (Anthropic SDK) example runs against the demo configuration", async () => {
    const out = await runReadmeNode('Node \\(Anthropic SDK\\)', /http:\/\/127\.0\.0\.1:8080"/);
    assert.match(out, /output_tokens/, 'it printed the usage');
  });

  it('curl -i shows the status line and the gateway headers', async () => {
    const r = await curl([
      '-i',
      `${url}/v1/chat/completions`,
      '-H',
      'Content-Type: application/json',
      '-H',
      'x-request-id: curl-demo-1',
      '-d',
      chatBody(),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const end = r.stdout.indexOf('\r\n\r\n');
    const head = r.stdout.slice(0, end + 2);
    const body = r.stdout.slice(end + 4);
    assert.match(head, /^HTTP\/1\.1 200 OK/);
    assert.match(head, /\r\nx-request-id: curl-demo-1\r\n/i);
    assert.match(head, /\r\nx-tollgate-provider: openai\r\n/i);
    assert.match(head, /\r\nx-tollgate-model: gpt-4o\r\n/i);
    assert.match(head, /\r\nx-tollgate-cost-usd: \d+\.\d{6}\r\n/i);
    assert.match(head, /\r\ncontent-type: application\/json/i);
    assert.ok(JSON.parse(body).choices[0].message.content);
  });

  it('curl -N receives a stream as it is produced, not all at the end', async () => {
    const r = await curl([
      '-N',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{time_starttransfer} %{time_total}',
      `${url}/v1/chat/completions`,
      '-H',
      'Content-Type: application/json',
      '-d',
      chatBody({ stream: true, sim: { tps: 20, tokens: 25 } }),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [code, ttfb, total] = r.stdout.trim().split(' ');
    assert.equal(code, '200');
    assert.ok(Number(total) > 1.0, `the stream took its time (${total}s)`);
    assert.ok(Number(ttfb) < 0.5, `first bytes arrived early (${ttfb}s of ${total}s)`);
  });

  it('a 200 KB body sent with --data-binary @file and Expect: 100-continue is answered without a stall', async () => {
    const file = path.join(gw.dir, 'big.json');
    fs.writeFileSync(
      file,
      chatBody({ messages: [{ role: 'user', content: 'x'.repeat(200 * 1024) }] }),
    );
    const r = await curl([
      '-w',
      '\n%{http_code} %{time_total}',
      `${url}/v1/chat/completions`,
      '-H',
      'Content-Type: application/json',
      '-H',
      'Expect: 100-continue',
      '--data-binary',
      `@${file}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    const [code, total] = lines.pop().split(' ');
    assert.equal(code, '200', lines.join('\n'));
    assert.ok(Number(total) < 0.9, `no 1s Expect: 100-continue wait (${total}s)`);
    assert.equal(JSON.parse(lines.join('\n')).usage.prompt_tokens > 50000, true);
  });

  it('curl embeddings, models and an error with --fail-with-body', async () => {
    let r = await curl([
      `${url}/v1/embeddings`,
      '-H',
      'Content-Type: application/json',
      '-d',
      JSON.stringify({ model: 'text-embedding-3-small', input: 'hi', encoding_format: 'float' }),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const emb = JSON.parse(r.stdout);
    assert.ok(emb.data[0].embedding.length > 0, r.stdout);

    r = await curl([`${url}/v1/models`]);
    assert.equal(r.code, 0, r.stderr);
    const ids = JSON.parse(r.stdout).data.map((m) => m.id);
    for (const id of ['gpt-4o', 'deepseek-chat']) assert.ok(ids.includes(id), `lists ${id}`);

    r = await curl([
      '--fail-with-body',
      `${url}/v1/chat/completions`,
      '-H',
      'Content-Type: application/json',
      '-d',
      chatBody({ model: 'no-such-model' }),
    ]);
    assert.equal(r.code, 22, 'curl reports the HTTP error');
    assert.equal(JSON.parse(r.stdout).error.code, 'model_not_found');
  });

  it("the demo workload script feeds the analytics: savings per task, quality per route", async () => {
    const w = await run('bash', [path.join(SOURCE_DIR, 'tools/demo-workload.sh'), '30', gw.baseURL],
      { timeout: 60000, env: { TOLLGATE_KEY: key } });
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout, /sent 30 requests through route auto, rated \d+ of them/);
    const s = await gw.ctl(['--json', 'savings', '--by', 'task']);
    assert.equal(s.code, 0, s.stderr);
    const sv = JSON.parse(s.stdout);
    const tasks = sv.rows.map((r) => r.group).sort();
    for (const t of ['code_review', 'content', 'extraction', 'faq'])
      assert.ok(tasks.includes(t), `savings has task ${t}: ${tasks}`);
    // the demo's baseline is GPT-4o: routing to cheaper models saved money
    assert.ok(BigInt(sv.total.baseline_pico) > BigInt(sv.total.cost_pico), JSON.stringify(sv.total));
    const text = await gw.ctl(['savings', '--by', 'task']);
    assert.match(text.stdout, /projected per month/);
    const u = await gw.ctl(['--json', 'usage', '--by', 'route']);
    const auto = JSON.parse(u.stdout).rows.find((r) => r.group === 'auto');
    assert.ok(auto.ratings > 0 && auto.thumbs_up_ratio > 0.5, JSON.stringify(auto));
    // the demo's /metrics is scrapeable with its token (the README's curl line)
    const m = await run('curl', ['-sS', '--fail-with-body', `${gw.adminURL}/metrics`, '-H',
      `Authorization: Bearer ${ADMIN_TOKEN}`]);
    assert.equal(m.code, 0, m.stderr + m.stdout);
    assert.match(m.stdout, /^# TYPE tollgate_requests_total counter$/m);
    assert.match(m.stdout, /^tollgate_requests_total\{[^}]*route="auto"[^}]*\} \d+/m);
    const denied = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${gw.adminURL}/metrics`]);
    assert.equal(denied.stdout, '401');
    // the shipped profile on the demo's routes: the issue's $155.00/day before
    const c = await gw.ctl(['calc', path.join(SOURCE_DIR, 'etc/calc-profile.yaml')]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /\$155\.00\/day before/);
    assert.match(c.stdout, /\$4,650\.00\/month before/);
  });

  it('the gateway stops cleanly on SIGTERM with no sanitizer report', async () => {
    const res = await gw.stop();
    assert.deepEqual({ code: res.code, signal: res.signal }, { code: 0, signal: null });
    gw.checkSanitizers();
  });
});
