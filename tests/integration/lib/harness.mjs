// Integration harness: starts the real binaries (tollgate, tollgatectl, tollgate-sim) on free
// ports in private temp directories, and tears them down again even when a test fails. Every
// process started here is remembered and SIGKILLed at exit if a test forgot it. Sanitizer
// reports (ASan, LSan, UBSan) in a process's stderr or error log fail the test that stops it.
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const here = path.dirname(fileURLToPath(import.meta.url));

export const SOURCE_DIR = process.env.TG_SOURCE_DIR ?? path.resolve(here, '../../..');
export const BUILD_DIR = process.env.TG_BUILD_DIR ?? path.join(SOURCE_DIR, 'build/asan');
export const BIN = {
  tollgate: path.join(BUILD_DIR, 'tollgate'),
  ctl: path.join(BUILD_DIR, 'tollgatectl'),
  sim: path.join(BUILD_DIR, 'tollgate-sim'),
};

export const SANITIZER_ENV = {
  ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
  UBSAN_OPTIONS: 'print_stacktrace=1',
};

const SANITIZER_RE = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|LeakSanitizer|runtime error:/;

/* ---- process bookkeeping ---------------------------------------------------------------- */

const live = new Set(); // ChildProcess objects still running
const dirs = []; // temp directories made here: removed at exit unless a test failed

process.on('exit', (code) => {
  if (!code && !process.exitCode) {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  } else if (dirs.length) {
    process.stderr.write(`kept for inspection: ${dirs.join(' ')}\n`);
  }
  for (const child of live) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

function track(child) {
  live.add(child);
  child.exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  return child;
}

/** Resolves with {code, signal} when child exits, or null after ms. */
/**
 * The bytes of a store file, as text (latin1), for tests that search the store for secrets.
 * An LMDB data file opened with MDB_WRITEMAP is as large as its map (4 GiB by default, sparse):
 * read it only up to the last page LMDB ever used (every page a secret could be in, stale ones
 * included), found in the newer of its two meta pages. Other files are read whole.
 */
export function storeFileText(file) {
  if (path.basename(file) !== 'data.mdb') return fs.readFileSync(file, 'latin1');
  const fd = fs.openSync(file, 'r');
  try {
    const meta = Buffer.alloc(8192);
    fs.readSync(fd, meta, 0, meta.length, 0);
    const psize = 4096; // LMDB's page size on this platform (the meta pages are the first two)
    let last = -1n;
    let txn = -1n;
    for (const at of [0, psize]) {
      // page header 16 bytes; MDB_meta: magic 4, version 4, address 8, mapsize 8, 2 x MDB_db 48,
      // last_pg 8, txnid 8
      if (meta.readUInt32LE(at + 16) !== 0xbeefc0de) continue;
      const t = meta.readBigUInt64LE(at + 144);
      if (t > txn) {
        txn = t;
        last = meta.readBigUInt64LE(at + 136);
      }
    }
    assert.ok(last >= 0n, `${file}: no LMDB meta page`);
    const len = Math.min(Number(last + 1n) * psize, fs.fstatSync(fd).size);
    const buf = Buffer.alloc(len);
    fs.readSync(fd, buf, 0, len, 0);
    return buf.toString('latin1');
  } finally {
    fs.closeSync(fd);
  }
}

export function waitExit(child, ms) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  return Promise.race([child.exitPromise, timeout]).finally(() => clearTimeout(timer));
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A fresh private directory for one test file (never shared between parallel files). */
export function tempDir(prefix = 'tg-it-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** n distinct free ports (all held open together while choosing). */
export async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const srv = net.createServer();
      srv.unref();
      await new Promise((resolve, reject) => {
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', resolve);
      });
      servers.push(srv);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

/** Poll fn() until it returns a truthy value; throws with what after ms. */
export async function waitFor(fn, { timeout = 10000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last})`);
    }
    await sleep(interval);
  }
}

/** Run a binary to completion: {code, signal, stdout, stderr}. Never rejects on exit code. */
export function run(file, args, { env = {}, timeout = 20000, cwd, input } = {}) {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { env: { ...process.env, ...SANITIZER_ENV, ...env }, timeout, cwd, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        resolve({
          code: err ? (typeof err.code === 'number' ? err.code : null) : 0,
          signal: err?.signal ?? null,
          stdout,
          stderr,
        });
      },
    );
    if (input !== undefined) child.stdin.end(input);
  });
}

/** Fails (assert) when text holds a sanitizer report. */
export function assertNoSanitizerReport(text, who) {
  const m = SANITIZER_RE.exec(text);
  if (m) {
    const at = Math.max(0, m.index - 200);
    assert.fail(`${who}: sanitizer report found:\n${text.slice(at, at + 4000)}`);
  }
}

function readIf(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/* ---- tollgate-sim ------------------------------------------------------------------------ */

/**
 * Start tollgate-sim on an ephemeral port. Returns {port, url, stats(), reset(), addFault(),
 * clearFaults(), stop(), stderr()}.
 */
export async function startSim({ args = [], quiet = true, dir = tempDir('tg-sim-'), port: listenPort = 0 } = {}) {
  const errPath = path.join(dir, 'sim.stderr');
  const errFd = fs.openSync(errPath, 'w');
  const child = track(
    spawn(BIN.sim, ['--listen', `127.0.0.1:${listenPort}`, ...(quiet ? ['--quiet'] : []), ...args], {
      env: { ...process.env, ...SANITIZER_ENV },
      stdio: ['ignore', 'pipe', errFd],
    }),
  );
  fs.closeSync(errFd);
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`tollgate-sim did not start: ${buf}`)), 15000);
    child.stdout.on('data', (d) => {
      buf += d;
      const m = /tollgate-sim listening on \S+:(\d+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tollgate-sim exited with ${code}: ${readIf(errPath)}`));
    });
  });
  child.stdout.resume();
  const url = `http://127.0.0.1:${port}`;
  let stopped = null;
  const sim = {
    port,
    url,
    child,
    async stats() {
      const r = await fetch(`${url}/_sim/stats`);
      assert.equal(r.status, 200, 'GET /_sim/stats');
      return r.json();
    },
    async lastRequest() {
      const s = await sim.stats();
      return s.last[s.last.length - 1];
    },
    async reset() {
      const r = await fetch(`${url}/_sim/reset`, { method: 'POST' });
      assert.equal(r.status, 200, 'POST /_sim/reset');
      await r.arrayBuffer();
    },
    async addFault(rule) {
      const r = await fetch(`${url}/_sim/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(rule),
      });
      assert.equal(r.status, 200, `POST /_sim/faults ${JSON.stringify(rule)}`);
      await r.arrayBuffer();
    },
    async clearFaults() {
      const r = await fetch(`${url}/_sim/faults`, { method: 'DELETE' });
      await r.arrayBuffer();
    },
    stderr: () => readIf(errPath),
    /** SIGTERM, wait, and assert no sanitizer report. Idempotent. */
    async stop() {
      if (!stopped) {
        stopped = (async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          let res = await waitExit(child, 10000);
          if (res === null) {
            child.kill('SIGKILL');
            res = await child.exitPromise;
          }
          return res;
        })();
      }
      const res = await stopped;
      assertNoSanitizerReport(readIf(errPath), 'tollgate-sim');
      return res;
    },
  };
  return sim;
}

/* ---- tollgate ------------------------------------------------------------------------------ */

/** Format a JS value as YAML (block mappings, flow sequences, JSON-quoted strings). */
export function toYaml(obj, indent = '') {
  let out = '';
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined) continue;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      out += `${indent}${k}:\n${toYaml(v, indent + '  ')}`;
    } else {
      out += `${indent}${k}: ${yamlScalar(v)}\n`;
    }
  }
  return out;
}

function yamlScalar(v) {
  if (Array.isArray(v)) return `[${v.map(yamlScalar).join(', ')}]`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  return JSON.stringify(String(v));
}

/** The default models of the test configuration (the brief's example). */
export function defaultModels() {
  return {
    'gpt-4o': {
      provider: 'sim',
      upstream_model: 'gpt-4o-2024-08-06',
      price: { input: 2.5, output: 10.0, cached_input: 1.25 },
      context_window: 128000,
      capabilities: ['tools', 'vision', 'json'],
    },
    'deepseek-chat': { provider: 'sim', price: { input: 0.27, output: 1.1, cached_input: 0.07 } },
    'text-embedding-3-small': {
      provider: 'sim',
      price: { input: 0.02, output: 0 },
      capabilities: ['embeddings'],
    },
    'broken-model': { provider: 'dead', price: { input: 1, output: 1 } },
  };
}

/**
 * Build the configuration text. http/upstream/log override single keys of the defaults;
 * providers/models replace the defaults when given; extraYaml is appended verbatim.
 */
export function gatewayConfig({
  port,
  dir,
  simPort,
  deadPort,
  workers = 2,
  http = {},
  upstream = {},
  log = {},
  providers,
  models,
  shutdownTimeout = '10s',
  extraYaml = '',
}) {
  const cfg = {
    listen: [`127.0.0.1:${port}`],
    workers,
    pid_file: path.join(dir, 'tollgate.pid'),
    admin_socket: path.join(dir, 'admin.sock'),
    shutdown_timeout: shutdownTimeout,
    log: {
      level: 'info',
      error_log: path.join(dir, 'error.log'),
      access_log: path.join(dir, 'access.log'),
      ...log,
    },
    http: {
      max_body_size: '8m',
      max_header_size: '16k',
      header_timeout: '10s',
      body_timeout: '30s',
      keepalive_timeout: '75s',
      max_connections: 10000,
      ...http,
    },
    upstream: {
      connect_timeout: '5s',
      first_byte_timeout: '120s',
      stream_idle_timeout: '60s',
      total_timeout: '600s',
      ...upstream,
    },
    providers: providers ?? {
      sim: {
        kind: 'openai',
        base_url: `http://127.0.0.1:${simPort}/v1`,
        api_key: '${SIM_KEY:-}',
        headers: { 'X-Extra': 'hello' },
      },
      // a port nothing listens on (port 1 is not safe: other tools may use it)
      dead: { kind: 'openai', base_url: `http://127.0.0.1:${deadPort}/v1` },
    },
    models: models ?? defaultModels(),
  };
  return toYaml(cfg) + extraYaml;
}

/**
 * Start the gateway. Options are those of gatewayConfig plus env (extra environment) and
 * configText (use this exact configuration instead). Waits for /readyz to answer 200.
 */
export async function startGateway(opts = {}) {
  const dir = opts.dir ?? tempDir('tg-gw-');
  const [freeA, freeB] = await freePorts(2);
  const port = opts.port ?? freeA;
  const deadPort = opts.deadPort ?? freeB;
  const configPath = path.join(dir, 'tollgate.yaml');
  const text = opts.configText ?? gatewayConfig({ ...opts, port, dir, deadPort });
  fs.writeFileSync(configPath, text);
  const stderrPath = path.join(dir, 'tollgate.stderr');
  const errFd = fs.openSync(stderrPath, 'w');
  const child = track(
    spawn(BIN.tollgate, ['-c', configPath], {
      env: { ...process.env, ...SANITIZER_ENV, ...(opts.env ?? {}) },
      stdio: ['ignore', errFd, errFd],
    }),
  );
  fs.closeSync(errFd);
  const baseURL = `http://127.0.0.1:${port}/v1`;
  const gw = {
    opts: { ...opts, port, dir, deadPort },
    dir,
    port,
    url: `http://127.0.0.1:${port}`,
    baseURL,
    pid: child.pid,
    child,
    configPath,
    errorLog: path.join(dir, 'error.log'),
    accessLog: path.join(dir, 'access.log'),
    adminSocket: path.join(dir, 'admin.sock'),
    stderrPath,
    stderr: () => readIf(stderrPath),
    readErrorLog: () => readIf(path.join(dir, 'error.log')),
    /** Access log entries, parsed (one JSON object per line). */
    readAccessLog() {
      return readIf(path.join(dir, 'access.log'))
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => {
          try {
            return JSON.parse(l);
          } catch {
            assert.fail(`access log line is not JSON: ${l}`);
          }
        });
    },
    /** Run tollgatectl against this gateway's admin socket. */
    ctl(args, runOpts) {
      return run(BIN.ctl, ['-s', path.join(dir, 'admin.sock'), ...args], runOpts);
    },
    async status() {
      const r = await gw.ctl(['--json', 'status']);
      assert.equal(r.code, 0, `tollgatectl status failed: ${r.stderr}`);
      return JSON.parse(r.stdout);
    },
    async workers() {
      const r = await gw.ctl(['--json', 'workers']);
      assert.equal(r.code, 0, `tollgatectl workers failed: ${r.stderr}`);
      return JSON.parse(r.stdout).workers;
    },
    /** Live worker pids (from the admin socket, falling back to the process table). */
    async workerPids() {
      try {
        return (await gw.workers()).map((w) => w.pid).filter((p) => p > 0);
      } catch {
        const r = await run('pgrep', ['-P', String(child.pid)]);
        return r.stdout.split('\n').filter(Boolean).map(Number);
      }
    },
    reload() {
      process.kill(child.pid, 'SIGHUP');
    },
    /** Rewrite the configuration file: gatewayConfig with these overrides, or exact text. */
    writeConfig(overrides = {}) {
      const t =
        typeof overrides === 'string' ? overrides : gatewayConfig({ ...gw.opts, ...overrides });
      fs.writeFileSync(configPath, t);
      return t;
    },
    alive: () => child.exitCode === null && child.signalCode === null,
    /**
     * SIGTERM the master and wait for it to exit (SIGKILL after timeout ms). Returns
     * {code, signal}. Idempotent. Does not check sanitizers: use checkSanitizers().
     */
    async stop({ timeout = 20000, signal = 'SIGTERM' } = {}) {
      if (!gw._stopped) {
        gw._stopped = (async () => {
          let workerPids = [];
          try {
            const r = await run('pgrep', ['-P', String(child.pid)]);
            workerPids = r.stdout.split('\n').filter(Boolean).map(Number);
          } catch {
            /* best effort */
          }
          if (gw.alive()) child.kill(signal);
          let res = await waitExit(child, timeout);
          if (res === null) {
            child.kill('SIGKILL');
            res = await child.exitPromise;
            res.killed = true;
          }
          // Workers must be gone too; give them a moment, then make sure.
          for (const p of workerPids) {
            await waitFor(() => !pidAlive(p), { timeout: 5000, what: `worker ${p} to exit` }).catch(
              () => {
                try {
                  process.kill(p, 'SIGKILL');
                } catch {
                  /* gone */
                }
                res.workerKilled = true;
              },
            );
          }
          return res;
        })();
      }
      return gw._stopped;
    },
    /** What the processes are doing, for failure messages. */
    async diagnose() {
      const kids = (await run('pgrep', ['-P', String(child.pid)])).stdout.split('\n').filter(Boolean);
      const procs = [child.pid, ...kids]
        .map((p) => {
          const stat = readIf(`/proc/${p}/stat`);
          const wchan = readIf(`/proc/${p}/wchan`);
          return `pid ${p}: state ${stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)} wchan ${wchan}`;
        })
        .join('\n');
      const ss = (await run('ss', ['-tanp'])).stdout
        .split('\n')
        .filter((l) => l.includes(`:${port} `))
        .join('\n');
      return (
        `--- processes\n${procs}\n--- sockets on :${port}\n${ss}\n` +
        `--- stderr\n${gw.stderr().slice(-3000)}\n--- error log\n${gw.readErrorLog().slice(-3000)}`
      );
    },
    /** Assert no ASan/LSan/UBSan report in the gateway's stderr or error log. */
    checkSanitizers() {
      assertNoSanitizerReport(gw.stderr(), 'tollgate stderr');
      assertNoSanitizerReport(gw.readErrorLog(), 'tollgate error log');
    },
  };

  try {
    await waitFor(
      async () => {
        if (!gw.alive()) {
          throw new Error(
            `tollgate exited (${child.exitCode}) during start:\n${gw.stderr()}\n${gw.readErrorLog()}`,
          );
        }
        // a one-shot connection: a pooled keep-alive one would occupy a connection slot
        return (await getStatus(`${gw.url}/readyz`, 2000)) === 200;
      },
      { timeout: opts.startTimeout ?? 20000, interval: 100, what: 'tollgate /readyz' },
    ).catch(async (e) => {
      if (!gw.alive()) throw new Error(`tollgate exited during start:\n${gw.stderr()}\n${gw.readErrorLog()}`);
      throw new Error(`${e.message}\n${await gw.diagnose()}`);
    });
  } catch (e) {
    await gw.stop({ timeout: 5000 });
    throw e;
  }
  return gw;
}

/** GET url on a fresh connection (no keep-alive pool); resolves with the status code. */
export function getStatus(url, timeout = 2000) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

export function pidAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return e.code === 'EPERM';
  }
  // A zombie still answers kill(0); look at its state.
  const stat = readIf(`/proc/${pid}/stat`);
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && stat !== '';
}

/* ---- HTTP helpers --------------------------------------------------------------------------- */

/** POST JSON with fetch; returns {status, headers, text, json}. */
export async function postJson(url, body, { headers = {}, timeout = 30000 } = {}) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(timeout),
  });
  const text = await r.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json };
}

/** Assert body is an OpenAI error object and return its error. */
export function assertOpenAIError(json, { type, code, param } = {}) {
  assert.ok(json && typeof json === 'object', `error body is JSON: ${JSON.stringify(json)}`);
  assert.ok(json.error && typeof json.error === 'object', `has "error": ${JSON.stringify(json)}`);
  const e = json.error;
  for (const k of ['message', 'type', 'param', 'code']) {
    assert.ok(k in e, `error has "${k}": ${JSON.stringify(json)}`);
  }
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0, 'error message is not empty');
  if (type !== undefined) assert.equal(e.type, type, `error.type in ${JSON.stringify(json)}`);
  if (code !== undefined) assert.equal(e.code, code, `error.code in ${JSON.stringify(json)}`);
  if (param !== undefined) assert.equal(e.param, param, `error.param in ${JSON.stringify(json)}`);
  return e;
}

/**
 * Parse a server-sent event stream body into the data payloads (strings), in order.
 */
export function sseData(text) {
  const out = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const lines = block.split(/\r?\n/).filter((l) => l.startsWith('data:'));
    if (lines.length === 0) continue;
    out.push(lines.map((l) => l.slice(5).replace(/^ /, '')).join('\n'));
  }
  return out;
}

/** The function tool the simulator calls when the last user text mentions the weather. */
export const WEATHER_TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Weather for a city',
      parameters: { type: 'object', properties: { location: { type: 'string' } } },
    },
  },
];

/**
 * Read an OpenAI SDK chat stream to its end: the text, the role, the finish_reason, the usage
 * chunk (or null) and the first tool call (id, name and arguments, fragments joined).
 */
export async function readChatStream(stream) {
  const r = { text: '', role: null, finish: null, usage: null, chunks: 0, tool: { id: '', name: '', args: '' } };
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    const tc = c?.delta?.tool_calls?.[0];
    r.chunks++;
    r.text += c?.delta?.content ?? '';
    r.role ??= c?.delta?.role ?? null;
    if (c?.finish_reason) r.finish = c.finish_reason;
    if (chunk.usage) r.usage = chunk.usage;
    if (tc?.id) r.tool.id = tc.id;
    if (tc?.function?.name) r.tool.name += tc.function.name;
    if (tc?.function?.arguments) r.tool.args += tc.function.arguments;
  }
  return r;
}

/**
 * Send the same chat request whole and then streamed (with include_usage) through the gateway:
 * both must give the same text and usage, end properly, and be billed exactly the same (reported
 * usage, not estimated). Returns {whole, stream} (the postJson answer and readChatStream's).
 */
export async function assertStreamMatchesWhole(gw, client, body) {
  const whole = await postJson(`${gw.baseURL}/chat/completions`, body);
  assert.equal(whole.status, 200, whole.text);
  const stream = await readChatStream(
    await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } }),
  );
  assert.equal(stream.role, 'assistant');
  assert.equal(stream.finish, whole.json.choices[0].finish_reason);
  assert.equal(stream.text, whole.json.choices[0].message.content);
  assert.ok(stream.usage, 'a usage chunk when asked for');
  assert.deepEqual(stream.usage, whole.json.usage, 'the latest usage, not summed');
  const last2 = gw.readAccessLog().filter((l) => l.model === body.model && l.status === 200).slice(-2);
  assert.deepEqual(last2.map((l) => l.stream), [false, true]);
  assert.equal(last2[0].cost_usd, last2[1].cost_usd, JSON.stringify(last2));
  assert.equal(whole.headers.get('x-tollgate-cost-usd'), last2[0].cost_usd);
  assert.deepEqual(last2.map((l) => l.usage_estimated), [false, false]);
  return { whole, stream };
}

/**
 * The weather question with WEATHER_TOOLS to model, whole and then streamed: both must call
 * get_weather with the same id and arguments (location Paris) and finish with tool_calls. Then
 * the call and its result ({"temp": 21}) go back. Returns {call, reply}; sim.stats().last holds
 * the three upstream requests, in order, for the provider's wire checks.
 */
export async function assertToolRoundTrip(client, model) {
  const tools = WEATHER_TOOLS;
  const ask = [{ role: 'user', content: 'What is the weather in Paris?' }];
  const r = await client.chat.completions.create({ model, messages: ask, tools });
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  const call = r.choices[0].message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { location: 'Paris' });
  const { tool, finish } = await readChatStream(
    await client.chat.completions.create({ model, messages: ask, tools, stream: true }),
  );
  assert.equal(tool.name, 'get_weather');
  assert.deepEqual(JSON.parse(tool.args), { location: 'Paris' });
  assert.equal(finish, 'tool_calls');
  const reply = await client.chat.completions.create({
    model,
    tools,
    messages: [
      ...ask,
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', tool_call_id: call.id, content: '{"temp": 21}' },
    ],
  });
  assert.equal(reply.object, 'chat.completion');
  return { call, streamed: tool, reply };
}

/** Price (USD per 1M tokens) as integer pico-dollars per token, exactly. */
function picoPerToken(usdPerMillion) {
  const [w, f = ''] = String(usdPerMillion).split('.');
  return BigInt(w) * 1000000n + BigInt((f + '000000').slice(0, 6));
}

/** Cost in USD, formatted as the gateway does (6 decimals, rounded half up). */
export function costUsd(price, usage) {
  const cached = BigInt(usage.prompt_tokens_details?.cached_tokens ?? 0);
  const prompt = BigInt(usage.prompt_tokens);
  const completion = BigInt(usage.completion_tokens);
  const cachedPrice = picoPerToken(price.cached_input ?? price.input);
  const pico =
    (prompt - cached) * picoPerToken(price.input) +
    cached * cachedPrice +
    completion * picoPerToken(price.output);
  const micros = (pico + 500000n) / 1000000n;
  return `${micros / 1000000n}.${String(micros % 1000000n).padStart(6, '0')}`;
}

/* ---- admin socket ---------------------------------------------------------------------------- */

/**
 * Send one command to the admin socket on a fresh connection (one JSON line out, one JSON line
 * back, as docs/admin-protocol.md says) and resolve with the parsed reply. Rejects on a
 * connection error, a reply that is not JSON, or no reply within timeout ms.
 */
export function adminCall(socketPath, obj, { timeout = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    let buf = '';
    let done = false;
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(
      () => finish(new Error(`admin ${JSON.stringify(obj)}: no reply after ${timeout} ms`)),
      timeout,
    );
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${JSON.stringify(obj)}\n`));
    sock.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl === -1) return;
      const line = buf.slice(0, nl);
      try {
        finish(null, JSON.parse(line));
      } catch {
        finish(new Error(`admin ${JSON.stringify(obj)}: reply is not JSON: ${line}`));
      }
    });
    sock.on('error', (e) => finish(e));
    sock.on('close', () => finish(new Error(`admin ${JSON.stringify(obj)}: closed without a reply: ${buf}`)));
  });
}
