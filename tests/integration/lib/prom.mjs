// A strict parser for Prometheus' text exposition format 0.0.4 (what /metrics must be): every
// line is a comment (# HELP, # TYPE or other), blank, or `name{labels} value [timestamp]`, with
// valid metric and label names, escapes limited to \\ \" \n, HELP and TYPE at most once and
// before the family's samples, a family's samples together, no series twice, and histograms
// whose buckets rise with le, are cumulative, end at le="+Inf" and equal _count, with a _sum.
// Anything else throws, naming the line.

const METRIC_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const VALUE_RE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(s, where) {
  if (!VALUE_RE.test(s)) throw new Error(`${where}: "${s}" is not a number`);
  if (/Inf$/.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  return s === 'NaN' ? NaN : Number(s);
}

function unescape(s, allowQuote, where) {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '\\') {
      out += s[i];
      continue;
    }
    const n = s[++i];
    if (n === '\\') out += '\\';
    else if (n === 'n') out += '\n';
    else if (n === '"' && allowQuote) out += '"';
    else throw new Error(`${where}: invalid escape \\${n ?? ''}`);
  }
  return out;
}

/** The family a sample name belongs to, given the families declared so far. */
function familyOf(name, families) {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const f = families.get(base);
      if (f && (f.type === 'histogram' || f.type === 'summary')) return base;
    }
  }
  return name;
}

/** Parse one sample line: {name, labels: {..}, value}. */
function parseSample(line, where) {
  const m = METRIC_RE.exec(line);
  if (!m) throw new Error(`${where}: no metric name`);
  const name = m[0];
  let rest = line.slice(name.length);
  const labels = {};
  if (rest.startsWith('{')) {
    rest = rest.slice(1);
    for (;;) {
      if (rest.startsWith('}')) {
        rest = rest.slice(1);
        break;
      }
      const l = LABEL_RE.exec(rest);
      if (!l) throw new Error(`${where}: bad label name at "${rest.slice(0, 20)}"`);
      rest = rest.slice(l[0].length);
      if (!rest.startsWith('="')) throw new Error(`${where}: label ${l[0]} without ="`);
      rest = rest.slice(2);
      let j = 0;
      while (j < rest.length && rest[j] !== '"') j += rest[j] === '\\' ? 2 : 1;
      if (j >= rest.length) throw new Error(`${where}: unterminated label value`);
      if (l[0] in labels) throw new Error(`${where}: label ${l[0]} twice`);
      labels[l[0]] = unescape(rest.slice(0, j), true, where);
      rest = rest.slice(j + 1);
      if (rest.startsWith(',')) rest = rest.slice(1);
      else if (!rest.startsWith('}')) throw new Error(`${where}: expected , or } after a label`);
    }
  }
  if (!rest.startsWith(' ')) throw new Error(`${where}: no space before the value`);
  const parts = rest.trim().split(/ +/);
  if (parts.length < 1 || parts.length > 2) throw new Error(`${where}: expected value [timestamp]`);
  if (parts.length === 2 && !/^-?\d+$/.test(parts[1])) throw new Error(`${where}: bad timestamp`);
  return { name, labels, value: parseValue(parts[0], where) };
}

function seriesKey(name, labels) {
  return `${name}{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',')}}`;
}

function checkHistogram(name, fam) {
  const groups = new Map();
  for (const s of fam.samples) {
    const { le, ...rest } = s.labels;
    const key = seriesKey('', rest);
    if (!groups.has(key)) groups.set(key, { labels: rest, buckets: [], sum: null, count: null });
    const g = groups.get(key);
    if (s.name === `${name}_bucket`) {
      if (le === undefined) throw new Error(`${name}: a bucket without le`);
      g.buckets.push({ le: parseValue(le, `${name} le`), value: s.value });
    } else if (s.name === `${name}_sum`) g.sum = s.value;
    else if (s.name === `${name}_count`) g.count = s.value;
    else throw new Error(`${name}: sample ${s.name} in a histogram`);
  }
  for (const [key, g] of groups) {
    const where = `${name}${key}`;
    if (g.buckets.length === 0 || g.sum === null || g.count === null) {
      throw new Error(`${where}: a histogram needs buckets, _sum and _count`);
    }
    for (let i = 1; i < g.buckets.length; i++) {
      if (!(g.buckets[i].le > g.buckets[i - 1].le)) throw new Error(`${where}: le not rising`);
      if (g.buckets[i].value < g.buckets[i - 1].value) throw new Error(`${where}: not cumulative`);
    }
    const last = g.buckets[g.buckets.length - 1];
    if (last.le !== Infinity) throw new Error(`${where}: the last bucket is not le="+Inf"`);
    if (last.value !== g.count) throw new Error(`${where}: +Inf bucket ${last.value} != _count ${g.count}`);
  }
  fam.histograms = [...groups.values()];
}

/**
 * Parse exposition text. Returns Map family name -> {help, type, samples: [{name, labels,
 * value}], histograms (for histograms: [{labels, buckets: [{le, value}], sum, count}])}.
 */
export function parseProm(text) {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the text does not end with a newline');
  const families = new Map();
  const seen = new Set();
  let current = null; // the family whose samples are being read
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((line, i) => {
    const where = `line ${i + 1} "${line.slice(0, 80)}"`;
    if (line.trim() === '') return;
    const fam = (name) => {
      if (!families.has(name)) families.set(name, { help: null, type: null, samples: [] });
      return families.get(name);
    };
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest = ''] = m;
      if (!METRIC_RE.test(name) || METRIC_RE.exec(name)[0] !== name) throw new Error(`${where}: bad name`);
      const f = fam(name);
      if (f.samples.length > 0) throw new Error(`${where}: ${kind} after the family's samples`);
      if (kind === 'HELP') {
        if (f.help !== null) throw new Error(`${where}: HELP twice`);
        f.help = unescape(rest, false, where);
      } else {
        if (f.type !== null) throw new Error(`${where}: TYPE twice`);
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type "${rest}"`);
        f.type = rest;
      }
      return;
    }
    const s = parseSample(line, where);
    const name = familyOf(s.name, families);
    const f = families.get(name);
    if (!f || f.type === null || f.help === null) throw new Error(`${where}: no HELP and TYPE before it`);
    if (current !== name && f.samples.length > 0) throw new Error(`${where}: family ${name} interleaved`);
    current = name;
    const key = seriesKey(s.name, s.labels);
    if (seen.has(key)) throw new Error(`${where}: series ${key} twice`);
    seen.add(key);
    f.samples.push(s);
  });
  for (const [name, f] of families) if (f.type === 'histogram') checkHistogram(name, f);
  return families;
}

/** The value of the one sample of family whose labels include want; undefined if none. */
export function sampleValue(families, name, want = {}, sampleName = name) {
  const f = families.get(name);
  const hits = (f?.samples ?? []).filter(
    (s) => s.name === sampleName && Object.entries(want).every(([k, v]) => s.labels[k] === v),
  );
  if (hits.length > 1) throw new Error(`${name} ${JSON.stringify(want)}: ${hits.length} samples`);
  return hits[0]?.value;
}

/** Sum of the samples of family whose labels include want. */
export function sampleSum(families, name, want = {}) {
  return (families.get(name)?.samples ?? [])
    .filter((s) => s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}
