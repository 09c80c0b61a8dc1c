// tollgate-loadgen, the benchmark's load generator (bench/loadgen.c, docs/benchmarks.md), against
// tollgate-sim: a short smoke test of each mode, so bench/run cannot rot unnoticed. It must hold
// the requested rate and report percentiles, count exactly N requests, count every SSE event of a
// stream (no event merged into another's HTTP chunk: the simulator writes one chunk per event),
// and keep idle connections open. About two seconds in all.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { BUILD_DIR, run, startSim, assertNoSanitizerReport } from './lib/harness.mjs';

const BIN = path.join(BUILD_DIR, 'tollgate-loadgen');
const BODY = '{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello"}]}';

/** "name value" lines -> { name: number|string } */
function parse(stdout) {
  const out = {};
  for (const line of stdout.trim().split('\n')) {
    const [k, v] = line.split(' ');
    out[k] = Number.isNaN(Number(v)) ? v : Number(v);
  }
  return out;
}

async function loadgen(args) {
  const r = await run(BIN, args, { timeout: 20000 });
  assertNoSanitizerReport(r.stderr, 'tollgate-loadgen');
  return { ...r, m: parse(r.stdout) };
}

describe('tollgate-loadgen', () => {
  let sim;
  let url;
  before(async () => {
    sim = await startSim();
    url = `${sim.url}/v1/chat/completions`;
  });
  after(async () => {
    await sim.stop();
  });

  it('rate: sends the scheduled requests at the rate and reports ordered percentiles', async () => {
    const { code, m, stderr } = await loadgen(['rate', '--rate', '200', '--duration', '1', '-c', '4', '--body', BODY, url]);
    assert.equal(code, 0, stderr);
    assert.equal(m.mode, 'rate');
    assert.equal(m.sent, 200);
    assert.equal(m.ok, 200);
    assert.equal(m.errors + m.non2xx + m.unsent, 0);
    assert.equal(m.latency_count, 200);
    assert.ok(m.achieved_rps > 150 && m.achieved_rps < 250, `achieved ${m.achieved_rps}/s`);
    assert.ok(m.latency_p50_us > 0);
    assert.ok(m.latency_p50_us <= m.latency_p99_us && m.latency_p99_us <= m.latency_p999_us);
    assert.ok(m.latency_p999_us <= m.latency_max_us);
  });

  it('count: exactly N requests, closed loop', async () => {
    const { code, m, stderr } = await loadgen(['count', '-n', '300', '-c', '3', '--body', BODY, url]);
    assert.equal(code, 0, stderr);
    assert.equal(m.ok, 300);
    assert.equal(m.latency_count, 300);
  });

  it('stream: counts every event of every stream, none merged into one HTTP chunk', async () => {
    const body = JSON.stringify({
      model: 'gpt-4o',
      stream: true,
      messages: [{ role: 'user', content: 'Say hello' }],
      sim: { tokens: 20, tps: 200 },
    });
    const { code, m, stderr } = await loadgen(['stream', '-c', '5', '--per-conn', '2', '--ramp', '0.1', '--body', body, url]);
    assert.equal(code, 0, stderr);
    assert.equal(m.streams, 10);
    // role chunk + 20 tokens + finish chunk + [DONE]
    assert.equal(m.events_min, 23);
    assert.equal(m.events_max, 23);
    assert.equal(m.events_total, 230);
    assert.equal(m.chunks_coalesced, 0);
    assert.equal(m.ttft_count, 10);
    assert.ok(m.ttft_p50_us > 0 && m.ttft_p99_us >= m.ttft_p50_us);
    assert.ok(m.stream_time_p50_us >= 90000, `20 tokens at 200/s take ~100 ms: ${m.stream_time_p50_us} us`);
  });

  it('idle: opens the connections, one request each, and holds them', async () => {
    const { code, m, stdout, stderr } = await loadgen(['idle', '-c', '50', '--hold', '0.3', '--body', BODY, url]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^ready 50$/m);
    assert.equal(m.ok, 50);
    assert.equal(m.still_open, 50);
    assert.equal(m.closed_by_peer, 0);
  });

  it('rejects bad usage with exit 2', async () => {
    const { code } = await loadgen(['fly', url]);
    assert.equal(code, 2);
  });
});
