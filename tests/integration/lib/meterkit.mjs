// Helpers for the limits and metering integration tests: a small client for the admin socket's
// JSON-lines protocol, a gateway with a store and virtual keys, one-shot HTTP requests on fresh
// connections, and exact cost arithmetic in integer pico-dollars.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import assert from 'node:assert/strict';
import { startGateway, tempDir, waitFor, pidAlive, run } from './harness.mjs';

/**
 * Send one command on a fresh connection to the admin socket and resolve with the parsed reply
 * (one JSON object per line each way). Like harness.mjs's adminCall, but the reply also keeps
 * its exact text in `_raw` (the canary test searches the bytes the socket sent).
 */
export function adminCall(socketPath, obj, { timeout = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    let buf = '';
    let done = false;
    const finish = (err, val) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(val);
    };
    const timer = setTimeout(
      () => finish(new Error(`admin ${obj.cmd}: no reply after ${timeout} ms`)),
      timeout,
    );
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(obj) + '\n'));
    sock.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        const line = buf.slice(0, nl);
        try {
          finish(null, Object.assign(JSON.parse(line), { _raw: line }));
        } catch (e) {
          finish(new Error(`admin ${obj.cmd}: reply is not JSON: ${line}`));
        }
      }
    });
    sock.on('error', (e) => finish(e));
    sock.on('close', () => finish(new Error(`admin ${obj.cmd}: closed without a reply (${buf})`)));
  });
}

/** adminCall that asserts ok:true. */
export async function admin(gw, obj) {
  const r = await adminCall(gw.adminSocket, obj);
  assert.equal(r.ok, true, `admin ${JSON.stringify(obj)} -> ${r._raw}`);
  return r;
}

/** Create a key; returns {secret, id, key, raw}. Limits default to 0 (unlimited). */
export async function createKey(gw, { tenant = 't', name, ...limits } = {}) {
  const r = await admin(gw, {
    cmd: 'keys.create',
    tenant,
    name: name ?? `k${Math.random().toString(36).slice(2, 10)}`,
    ...limits,
  });
  assert.match(r.secret, /^tg_[A-Za-z0-9]+_[A-Za-z0-9]+$/, 'secret shape');
  return { secret: r.secret, id: r.key.id, key: r.key, raw: r._raw };
}

/** Usage rows of the last day (plus a minute), grouped by `by`, as a map group -> row. */
export async function usage(gw, by, { since, until } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const r = await admin(gw, {
    cmd: 'usage',
    by,
    since: since ?? now - 3600,
    until: until ?? now + 120,
  });
  const out = new Map();
  for (const row of r.rows) out.set(row.group, row);
  out.raw = r._raw;
  return out;
}

/** An all-zero usage row, for groups with nothing recorded. */
export const ZERO_ROW = {
  requests: 0,
  errors: 0,
  prompt_tokens: 0,
  completion_tokens: 0,
  cached_tokens: 0,
  estimated: 0,
  fallbacks: 0,
  cost_pico: 0,
};

export async function usageRow(gw, by, group) {
  return (await usage(gw, by)).get(group) ?? { ...ZERO_ROW, group };
}

/** Start a gateway with a store in its temp dir and auth: keys. */
export async function startKeyedGateway(opts = {}) {
  const dir = opts.dir ?? tempDir('tg-gw-');
  const extra =
    `store:\n  path: ${JSON.stringify(path.join(dir, 'data'))}\n` +
    `  sync_interval: ${opts.syncInterval ?? '1s'}\n` +
    (opts.meterMapSize ? `  meter_map_size: ${opts.meterMapSize}\n` : '') +
    `auth: keys\n` +
    (opts.extraYaml ?? '');
  return startGateway({ workers: 2, ...opts, dir, extraYaml: extra });
}

/** Worker pids from the admin socket (no tollgatectl needed). */
export async function workerPids(gw) {
  const r = await adminCall(gw.adminSocket, { cmd: 'workers' });
  assert.equal(r.ok, true, r._raw);
  return r.workers.map((w) => w.pid).filter((p) => p > 0);
}

/** Wait until the master has `n` live workers, none of them in `exclude`. */
export async function waitWorkers(gw, n, exclude = []) {
  return waitFor(
    async () => {
      const pids = await workerPids(gw);
      return pids.length === n && pids.every((p) => !exclude.includes(p) && pidAlive(p))
        ? pids
        : null;
    },
    { timeout: 15000, interval: 100, what: `${n} live workers` },
  );
}

/**
 * POST JSON on a fresh connection (agent: false, connection: close), so that many of them
 * spread over the workers. Resolves {status, headers, text, json}; rejects on socket errors.
 * With gate (a promise), the body is held back until it resolves.
 */
export function postFresh(url, body, { headers = {}, timeout = 30000, gate } = {}) {
  return new Promise((resolve, reject) => {
    const data = typeof body === 'string' ? body : JSON.stringify(body);
    const req = http.request(
      url,
      {
        method: 'POST',
        agent: false,
        timeout,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(data),
          connection: 'close',
          ...headers,
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, text, json, complete: res.complete });
        });
        res.on('error', reject);
        res.on('aborted', () => reject(new Error('response aborted')));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${url} timed out`)));
    req.on('error', reject);
    if (gate) {
      // send the head now and the body when the gate opens: many requests connect first and
      // then arrive together
      req.flushHeaders();
      gate.then(() => req.end(data));
    } else {
      req.end(data);
    }
  });
}

/* ---- exact money ------------------------------------------------------------------------ */

/** Price (USD per 1M tokens) as integer pico-dollars per token. */
export function picoPerToken(usdPerMillion) {
  const [w, f = ''] = String(usdPerMillion).split('.');
  return BigInt(w) * 1000000n + BigInt((f + '000000').slice(0, 6));
}

/** Exact cost in pico-dollars (BigInt) of a usage at a price. */
export function costPico(price, { prompt_tokens, completion_tokens, cached_tokens = 0 }) {
  const cached = BigInt(cached_tokens);
  return (
    (BigInt(prompt_tokens) - cached) * picoPerToken(price.input) +
    cached * picoPerToken(price.cached_input ?? price.input) +
    BigInt(completion_tokens) * picoPerToken(price.output)
  );
}

/** Pico-dollars -> "0.000185" (6 decimals, half up), as the gateway formats USD. */
export function formatUsd(pico) {
  const micros = (BigInt(pico) + 500000n) / 1000000n;
  return `${micros / 1000000n}.${String(micros % 1000000n).padStart(6, '0')}`;
}

/** "0.000185" -> micro-dollars (BigInt). */
export function usdToMicros(s) {
  const [w, f = ''] = String(s).split('.');
  return BigInt(w) * 1000000n + BigInt((f + '000000').slice(0, 6));
}

/** Prompt tokens the sim counts for chat messages (string contents). */
export function simChatPromptTokens(messages) {
  let n = 3;
  for (const m of messages) n += Math.ceil(Buffer.byteLength(m.content ?? '') / 4) + 4;
  return n;
}

/** All text of a file, '' if missing. */
export function readText(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Make sure at least needMs remain in the current UTC minute (the rpm/tpm window), sleeping
 * into the next minute if not, so a test's requests all land in one window.
 */
export async function minuteRoom(needMs) {
  const left = 60000 - (Date.now() % 60000);
  if (left < needMs) await new Promise((r) => setTimeout(r, left + 100));
}

/**
 * Which gateway process owns each established connection on port: Map client port -> pid
 * (from ss; the gateway runs as our user, so ss may show its sockets' owners).
 */
export async function connOwners(port) {
  const r = await run('ss', ['-tnpH', 'state', 'established', `( sport = :${port} )`]);
  const out = new Map();
  for (const line of r.stdout.split('\n')) {
    const m = /\S+:(\d+)\s+\S+:(\d+)\s+users:\(\("[^"]*",pid=(\d+)/.exec(line);
    if (m && Number(m[1]) === port) out.set(Number(m[2]), Number(m[3]));
  }
  return out;
}

/**
 * Start a streaming POST on a fresh connection and resolve once the response head arrived:
 * {status, headers, localPort, text() (body so far), done (promise of {text, error}), close()}.
 */
export function openStream(url, body, { headers = {}, timeout = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const data = typeof body === 'string' ? body : JSON.stringify(body);
    let text = '';
    const req = http.request(url, {
      method: 'POST',
      agent: false,
      timeout,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(data),
        connection: 'close',
        ...headers,
      },
    });
    let localPort = null;
    req.on('socket', (s) => {
      s.on('connect', () => {
        localPort = s.localPort;
      });
    });
    req.on('timeout', () => req.destroy(new Error('stream timed out')));
    req.on('error', reject);
    req.on('response', (res) => {
      res.setEncoding('utf8');
      let settle;
      const done = new Promise((r) => {
        settle = r;
      });
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => settle({ text, error: res.complete ? null : new Error('incomplete') }));
      res.on('error', (e) => settle({ text, error: e }));
      res.on('aborted', () => settle({ text, error: new Error('aborted') }));
      res.on('close', () => settle({ text, error: res.complete ? null : new Error('closed') }));
      req.removeListener('error', reject);
      req.on('error', (e) => settle({ text, error: e }));
      resolve({
        status: res.statusCode,
        headers: res.headers,
        localPort: localPort ?? req.socket?.localPort,
        text: () => text,
        done,
        close: () => req.destroy(),
      });
    });
    req.end(data);
  });
}
