#!/usr/bin/env node
// Markdown tables from run.sh outputs: node summarize.js LABEL=FILE [LABEL=FILE ...]
// One table per scenario: a row per run and a median row per label; the median of a column of
// numbers, or the most common value of a column of words.
'use strict';

const fs = require('fs');

const COLUMNS = {
  idle: [],
  handshakes: [
    'refused', 'codes', 'secs', 'rss_before_mib', 'rss_at_last_mib', 'rss_plus10s_mib',
    'peak_rss_mib', 'closed_by_server_at_last', 'closed_by_server_plus10s', 'server_cpu_s', 'server_alive',
  ],
  flood: [
    'side_p50_ms', 'side_p99_ms', 'side_max_ms', 'flood_live_s', 'side_live_p99_ms', 'side_answered', 'side_lost', 'side_messages',
    'says_sent', 'says_accepted', 'says_refused', 'says_unacked_open', 'says_unacked_closed',
    'flooders_closed', 'flooders_closed_why', 'rss_peak_mib', 'server_cpu_s', 'server_alive',
  ],
  joins: [
    'side_p50_ms', 'side_p99_ms', 'side_max_ms', 'side_window_s', 'side_live_n', 'side_live_p99_ms', 'side_answered', 'side_lost',
    'joined', 'join_refused', 'join_unanswered', 'joins_done_s', 'joiner_channels_at_end', 'joiner_rx_mib', 'joiner_closed',
    'rss_peak_mib', 'server_cpu_s', 'server_alive',
  ],
};
COLUMNS['joins-event'] = COLUMNS.joins;
COLUMNS.idle = ['side_p50_ms', 'side_p99_ms', 'side_max_ms', 'side_answered', 'side_lost', 'rss_peak_mib', 'server_alive'];

function parse(file) {
  const runs = {};
  let load = null;
  for (const l of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = l.match(/^# run=\S+ scenario=\S+ .*load="([^"]*)"/);
    if (m) load = m[1];
    if (!l.startsWith('RESULT ')) continue;
    const [, scenario, ...kv] = l.split(' ');
    const row = { load };
    for (const p of kv) {
      const i = p.indexOf('=');
      row[p.slice(0, i)] = p.slice(i + 1);
    }
    (runs[scenario] ||= []).push(row);
  }
  return runs;
}

function median(values) {
  // `code:count,code:count` (or `-`): the median count of each code, 0 where a run had none.
  if (values.some((v) => /^[\w-]+:\d+(,[\w-]+:\d+)*$/.test(v)) && values.every((v) => v === '-' || /^[\w-]+:\d+(,[\w-]+:\d+)*$/.test(v))) {
    const keys = [...new Set(values.flatMap((v) => (v === '-' ? [] : v.split(',').map((p) => p.split(':')[0]))))].sort();
    return keys
      .map((k) => `${k}:${median(values.map((v) => String((v.split(',').find((p) => p.split(':')[0] === k) || ':0').split(':')[1])))}`)
      .join(',');
  }
  const nums = values.map(Number);
  if (nums.every((n) => !Number.isNaN(n))) {
    const s = nums.slice().sort((a, b) => a - b);
    const mid = s[(s.length - 1) >> 1];
    const v = s.length % 2 ? mid : (mid + s[s.length >> 1]) / 2;
    return Number.isInteger(v) ? String(v) : v.toFixed(2);
  }
  const count = {};
  for (const v of values) count[v] = (count[v] || 0) + 1;
  return Object.entries(count).sort((a, b) => b[1] - a[1])[0][0];
}

const inputs = process.argv.slice(2).map((a) => {
  const i = a.indexOf('=');
  return [a.slice(0, i), parse(a.slice(i + 1))];
});
for (const [scenario, cols] of Object.entries(COLUMNS)) {
  console.log(`\n### ${scenario}\n`);
  console.log(`| build | run | load | ${cols.join(' | ')} |`);
  console.log(`|${'---|'.repeat(cols.length + 3)}`);
  for (const [label, runs] of inputs) {
    const rows = runs[scenario] || [];
    rows.forEach((r, i) => console.log(`| ${label} | ${i + 1} | ${r.load} | ${cols.map((c) => r[c] ?? '').join(' | ')} |`));
    if (rows.length) {
      console.log(`| **${label}** | **median** | | ${cols.map((c) => `**${median(rows.map((r) => r[c] ?? ''))}**`).join(' | ')} |`);
    }
  }
}
