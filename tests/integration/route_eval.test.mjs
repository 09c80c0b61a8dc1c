// tollgate-route-eval, the offline evaluation of the complexity estimator (docs/routing.md).
// On the small synthetic CSVs in tests/data/route_eval/ (multi-line quoted fields, "" escapes,
// extra response columns, CRLF, a byte order mark, a blank line): the table's format, values
// worked out by hand, agreement with an independent implementation of RouteLLM's metrics,
// JSON, and file:line errors. On the real labelled data, when present (it is not in a clean
// clone), the estimator must beat the random router overall.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SOURCE_DIR, BUILD_DIR, run, tempDir, assertNoSanitizerReport } from './lib/harness.mjs';

const BIN = path.join(BUILD_DIR, 'tollgate-route-eval');
const DATA = path.join(SOURCE_DIR, 'tests/data/route_eval');
const SMALL = path.join(DATA, 'small.csv');
const CRLF = path.join(DATA, 'crlf.csv');
const REAL = process.env.TG_ROUTING_DATA ?? path.resolve(SOURCE_DIR, '../shared/data/routing');

async function evaluate(args, opts) {
  const r = await run(BIN, args, { timeout: 240000, ...opts });
  assertNoSanitizerReport(r.stderr, 'tollgate-route-eval');
  return r;
}

/** The table row of one file: n, accuracies, estimator and random columns (null for n/a). */
function tableRow(stdout, name) {
  const line = stdout.split('\n').find((l) => l.startsWith(name + ' '));
  assert.ok(line, `a row for ${name} in:\n${stdout}`);
  const [left, est, rnd] = line.split('|');
  const num = (s) => (s === 'n/a' ? null : Number(s.replace('%', '')));
  const [n, weak, strong] = left.trim().split(/\s+/).slice(-3).map(Number);
  const [apgr, cpt50, cpt80] = est.trim().split(/\s+/).map(num);
  const [rApgr, rSd, rCpt50, rCpt80] = rnd.trim().split(/\s+/).map(num);
  return { n, weak, strong, apgr, cpt50, cpt80, rApgr, rSd, rCpt50, rCpt80 };
}

function lastLine(stdout) {
  const lines = stdout.trimEnd().split('\n');
  return { last: lines.at(-1), before: lines.at(-2) };
}

/** Per-prompt scores and labels from --features. */
async function features(files) {
  const r = await evaluate(['--features', ...files]);
  assert.equal(r.code, 0, r.stderr);
  const [head, ...rows] = r.stdout.trimEnd().split('\n');
  assert.deepEqual(head.split('\t').slice(0, 5), ['file', 'row', 'weak', 'strong', 'score']);
  return rows.map((l) => {
    const f = l.split('\t');
    return { file: f[0], row: Number(f[1]), weak: Number(f[2]), strong: Number(f[3]), score: Number(f[4]) };
  });
}

/**
 * RouteLLM's metrics written again from its description, independently of the C code:
 * thresholds at the k/bins quantiles of the scores (numpy's linear interpolation), strong
 * when score >= threshold (> for the last), points sorted by strong share, trapezoids.
 */
function routellm(rows, bins) {
  const n = rows.length;
  const asc = rows.map((r) => r.score).sort((a, b) => a - b);
  const quantile = (q) => {
    const h = (n - 1) * q;
    const lo = Math.floor(h);
    if (lo >= n - 1) return asc[n - 1];
    return h === lo ? asc[lo] : asc[lo] + (h - lo) * (asc[lo + 1] - asc[lo]);
  };
  const weak = rows.reduce((s, r) => s + r.weak, 0) / n;
  const strong = rows.reduce((s, r) => s + r.strong, 0) / n;
  const pts = [];
  for (let k = 0; k <= bins; k++) {
    const t = quantile(k / bins);
    const sel = rows.map((r) => (k === bins ? r.score > t : r.score >= t));
    pts.push({
      p: sel.filter(Boolean).length / n,
      q: rows.reduce((s, r, i) => s + (sel[i] ? r.strong : r.weak), 0) / n,
    });
  }
  pts.sort((a, b) => a.p - b.p);
  let auc = 0;
  for (let i = 1; i < pts.length; i++) auc += ((pts[i].p - pts[i - 1].p) * (pts[i].q + pts[i - 1].q)) / 2;
  const cpt = (target) => {
    for (let i = 0; i < pts.length; i++) {
      if (pts[i].q >= target) {
        if (i === 0 || pts[i].q === pts[i - 1].q) return pts[i].p;
        const a = pts[i - 1];
        return a.p + ((pts[i].p - a.p) * (target - a.q)) / (pts[i].q - a.q);
      }
    }
    return null;
  };
  const gap = strong - weak;
  return { apgr: (auc - weak) / gap, cpt50: cpt(weak + 0.5 * gap), cpt80: cpt(weak + 0.8 * gap) };
}

describe('tollgate-route-eval on synthetic CSV', () => {
  it('reads quoted multi-line fields, "" escapes and extra columns into 8 rows', async () => {
    const rows = await features([SMALL]);
    assert.equal(rows.length, 8);
    assert.deepEqual(rows.map((r) => r.weak), [1, 1, 0, 0, 1, 0, 0, 0]);
    assert.deepEqual(rows.map((r) => r.strong), [1, 1, 1, 0, 1, 1, 1, 1]);
    // Short questions score 0 (a tie of three); the code, word problem and proof rank highest.
    assert.deepEqual(rows.slice(0, 3).map((r) => r.score), [0, 0, 0]);
    const order = [...rows].sort((a, b) => b.score - a.score).map((r) => r.row);
    assert.deepEqual(order.slice(0, 5), [8, 7, 4, 6, 5]);
  });

  it('gives the hand-computed exact-curve metrics', async () => {
    // Highest score first: rows 8, 7, 4, 6, 5, then 1, 2, 3 tied. Gains (strong - weak):
    // +1, +1, 0, +1, 0, and +1 inside the tie. Weak 3/8, strong 7/8. Accuracy at p = k/8:
    // .375 .5 .625 .625 .75 .75, then a straight line to .875 at p = 1 (the tie's average).
    // Area 11/16: APGR = (11/16 - 3/8) / (1/2) = 0.625. Half the gap (.625) is reached at
    // p = 1/4; 80% (.775) at 5/8 + 3/8 * .025 / .125 = 0.7.
    const r = await evaluate(['--bins', '0', SMALL]);
    assert.equal(r.code, 0, r.stderr);
    const row = tableRow(r.stdout, 'small.csv');
    assert.deepEqual([row.n, row.weak, row.strong], [8, 0.375, 0.875]);
    assert.equal(row.apgr, 0.625);
    assert.equal(row.cpt50, 25.0);
    assert.equal(row.cpt80, 70.0);
    assert.equal(lastLine(r.stdout).last, 'APGR 0.6250 random ' + row.rApgr.toFixed(4));
  });

  it('agrees with an independent implementation of RouteLLM\'s binned metrics', async () => {
    const rows = await features([SMALL, CRLF]);
    for (const bins of [10, 3]) {
      const r = await evaluate(['--bins', String(bins), SMALL, CRLF]);
      assert.equal(r.code, 0, r.stderr);
      for (const [name, subset] of [
        ['small.csv', rows.filter((x) => x.file === 'small.csv')],
        ['all files', rows],
      ]) {
        const want = routellm(subset, bins);
        const got = tableRow(r.stdout, name);
        // Printed with 4 decimals (APGR) and 1 (CPT, in %): equal up to that rounding.
        const near = (a, b, half, what) =>
          assert.ok(Math.abs(a - b) <= half + 1e-9, `${name} bins ${bins} ${what}: ${a} vs ${b}`);
        near(got.apgr, want.apgr, 0.00005, 'APGR');
        near(got.cpt50, 100 * want.cpt50, 0.05, 'CPT50');
        near(got.cpt80, 100 * want.cpt80, 0.05, 'CPT80');
      }
    }
  });

  it('prints a row per file, the combined row, the cost, and the APGR line last', async () => {
    const r = await evaluate([SMALL, CRLF]);
    assert.equal(r.code, 0, r.stderr);
    // crlf.csv: BOM, CRLF, a blank line and a quoted CRLF inside a field; 4 rows. Its two
    // models are equally accurate, so there is no gap to recover: n/a, not a number.
    const crlf = tableRow(r.stdout, 'crlf.csv');
    assert.deepEqual([crlf.n, crlf.weak, crlf.strong], [4, 0.5, 0.5]);
    assert.equal(crlf.apgr, null);
    assert.equal(crlf.rApgr, null);
    const all = tableRow(r.stdout, 'all files');
    assert.equal(all.n, 12);
    // The random router is a mean over 200 orderings: near 0.5, with its spread shown.
    assert.ok(Math.abs(all.rApgr - 0.5) < 0.06, `random ${all.rApgr}`);
    assert.ok(all.rSd > 0);
    const { last, before } = lastLine(r.stdout);
    assert.match(last, /^APGR \d\.\d{4} random \d\.\d{4}$/);
    assert.equal(last, `APGR ${all.apgr.toFixed(4)} random ${all.rApgr.toFixed(4)}`);
    assert.match(before, /^estimator cost: \d+\.\d{3} us\/prompt \(12 prompts x \d+ passes/);
    // The same seed gives the same random baseline; another seed another one.
    const again = await evaluate([SMALL, CRLF]);
    assert.equal(lastLine(again.stdout).last, last);
    const seeded = await evaluate(['--seed', '7', SMALL, CRLF]);
    assert.notEqual(lastLine(seeded.stdout).last.split(' ')[3], last.split(' ')[3]);
  });

  it('--json reports the same numbers as the table', async () => {
    const [t, j] = await Promise.all([evaluate([SMALL, CRLF]), evaluate(['--json', SMALL, CRLF])]);
    assert.equal(j.code, 0, j.stderr);
    const doc = JSON.parse(j.stdout);
    assert.equal(doc.bins, 10);
    assert.equal(doc.prompts, 12);
    assert.deepEqual(doc.files.map((f) => f.name), ['small.csv', 'crlf.csv']);
    assert.equal(doc.files[1].estimator, null);
    const all = tableRow(t.stdout, 'all files');
    assert.equal(doc.combined.estimator.apgr.toFixed(4), all.apgr.toFixed(4));
    assert.equal(doc.combined.random.apgr.toFixed(4), all.rApgr.toFixed(4));
  });

  it('--fit cross-validates by file', async () => {
    const r = await evaluate(['--fit', SMALL, CRLF]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /2 folds by file/);
    assert.match(r.stdout, /^small\.csv\s+8 \|/m);
    assert.match(r.stdout, /^weights fitted on all rows: intercept [-+]\d\.\d{4}, length /m);
    const one = await evaluate(['--fit', SMALL]);
    assert.equal(one.code, 1);
    assert.match(one.stderr, /needs at least two folds/);
  });
});

describe('tollgate-route-eval input errors', () => {
  const dir = tempDir('tg-route-eval-');
  const write = (name, text) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };

  for (const [name, text, message] of [
    ['open.csv', 'prompt,w,s\nok,True,True\n"never\nclosed,True,True\n', /open\.csv:3: quoted field never closes/],
    ['junk.csv', 'prompt,w,s\n"a"b,True,True\n', /junk\.csv:2: unexpected character after a closing quote/],
    ['label.csv', 'prompt,w,s\nok,True,True\nbad,yes,True\n', /label\.csv:3: column 2: expected True or False, got "yes"/],
    ['short.csv', 'prompt,w,s\n"two\nlines",True\n', /short\.csv:2: expected 3 columns, got 2/],
    ['empty.csv', 'prompt,w,s\n', /empty\.csv: no rows after the header/],
  ]) {
    it(`reports ${name} with its file and line`, async () => {
      const r = await evaluate([SMALL, write(name, text)]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    });
  }

  it('reports a missing file and bad usage', async () => {
    const missing = await evaluate([path.join(dir, 'nope.csv')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.csv: No such file or directory/);
    const none = await evaluate([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^usage: tollgate-route-eval/);
    const bad = await evaluate(['--random-runs', '0', SMALL]);
    assert.equal(bad.code, 2);
    const help = await evaluate(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /APGR <estimator> random <random>/);
  });
});

describe('tollgate-route-eval on the labelled data', { skip: !fs.existsSync(REAL) && `no ${REAL}` }, () => {
  it('beats the random router overall, on GSM8K and on MMLU', async () => {
    const gsm8k = path.join(REAL, 'gsm8k_responses.csv');
    const mmlu = fs
      .readdirSync(path.join(REAL, 'mmlu'))
      .filter((f) => f.endsWith('.csv'))
      .map((f) => path.join(REAL, 'mmlu', f));
    const r = await evaluate(['--summary', gsm8k, ...mmlu]);
    assert.equal(r.code, 0, r.stderr);
    const [, est, rnd] = /^APGR (\S+) random (\S+)$/.exec(lastLine(r.stdout).last).map(Number);
    const sd = tableRow(r.stdout, 'all files').rSd;
    // "Clearly": by more than five standard deviations of the random router's APGR.
    assert.ok(est - rnd > 5 * sd, `estimator ${est}, random ${rnd} (sd ${sd})`);
    for (const files of [[gsm8k], mmlu]) {
      const one = await evaluate(['--summary', '--random-runs', '50', ...files]);
      const [, e, x] = /^APGR (\S+) random (\S+)$/.exec(lastLine(one.stdout).last).map(Number);
      assert.ok(e > x + 0.03, `${files.length} file(s): estimator ${e}, random ${x}`);
    }
  });
});
