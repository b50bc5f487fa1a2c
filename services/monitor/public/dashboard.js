/* The dashboard page: reads /api/gold/* (figures from gold.duckdb) and /api/status, /api/quality
 * (pipeline health), and draws them with Chart.js. Filters (period, business unit) live in the
 * URL query, so a filtered view can be bookmarked. `window.dashboard` exposes the charts and the
 * last data for the end-to-end test; `body[data-state]` is "ready" once a filter is rendered. */
/* global document, window, fetch, Chart, URLSearchParams, setInterval, history, location, getComputedStyle */
'use strict';

const PALETTE = ['#1f7a8c', '#e07a5f', '#3d405b', '#81b29a', '#f2cc8f', '#6d597a', '#b56576', '#457b9d', '#e9c46a', '#2a9d8f', '#8d99ae', '#ef476f', '#118ab2', '#06d6a0', '#ffd166'];
const REASONS = {
  eligible: { label: 'Eligible', color: '#2e9e5b' },
  eligible_salary_missing: { label: 'Eligible, salary missing', color: '#81b29a' },
  mode_not_eligible: { label: 'Commute mode not eligible', color: '#b0b7c3' },
  distance_missing: { label: 'Distance unknown', color: '#f2cc8f' },
  distance_above_limit: { label: 'Declared beyond the limit', color: '#e07a5f' },
  other: { label: 'Other reasons (grouped)', color: '#8d99ae' },
};

const eur = new Intl.NumberFormat('en-GB', { style: 'currency', currency: 'EUR', maximumFractionDigits: 0 });
const eurCents = new Intl.NumberFormat('en-GB', { style: 'currency', currency: 'EUR', minimumFractionDigits: 2, maximumFractionDigits: 2 });
const num = new Intl.NumberFormat('en-GB', { maximumFractionDigits: 1 });
const monthLabel = (m) => new Date(`${m}-01T00:00:00Z`).toLocaleDateString('en-GB', { month: 'short', year: 'numeric', timeZone: 'UTC' });
const $ = (id) => document.getElementById(id);

const state = { meta: null, data: null, charts: {}, ready: false };
window.dashboard = state;

Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
Chart.defaults.color = '#667085';
Chart.defaults.plugins.legend.labels.boxWidth = 12;

async function getJson(url) {
  const res = await fetch(url, { cache: 'no-store' });
  const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
  return body;
}

function showError(message) {
  const el = $('error');
  el.textContent = message;
  el.hidden = !message;
}

/** Creates or updates the chart `name` (config built by `make`, data set by `fill`). */
function chart(name, canvasId, make, fill) {
  let c = state.charts[name];
  if (!c) {
    c = new Chart($(canvasId), make());
    state.charts[name] = c;
  }
  fill(c);
  c.update();
  return c;
}

const moneyAxis = { ticks: { callback: (v) => eur.format(v) }, grid: { color: '#eef1f5' } };
const moneyTooltip = { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${eurCents.format(ctx.parsed.x ?? ctx.parsed.y)}` } };

function renderGold(d) {
  const s = d.summary || {};
  const p = d.protection;
  // Scheme figures (bonus, well-being, costs) cover whole calendar years and blocks of at least k
  // people (protect.ts): say which, so nobody reads them as the months picked.
  const years = (ys) => (ys.length === 0 ? 'none (fewer than k people)' : ys.length === 1 ? String(ys[0]) : `${ys[0]}–${ys[ys.length - 1]}`);
  const count = (v) => (v === null || v === undefined ? '–' : num.format(v));
  $('kpi-employees').textContent = count(s.employees);
  $('kpi-employees-note').textContent = p.selection ? p.selection.label : 'all business units';
  $('kpi-eligible').textContent = count(s.bonus_eligible_employees);
  $('kpi-eligible-note').textContent = s.bonus_eligible_employees === null ? `hidden: fewer than ${p.minGroupSize} people` : `${s.employees ? Math.round((s.bonus_eligible_employees / s.employees) * 100) : 0} % · ${eur.format(s.bonus_annual_eur ?? 0)} a year`;
  $('kpi-bonus').textContent = eur.format(s.bonus_cost_eur ?? 0);
  $('kpi-bonus-note').textContent = `whole year(s) ${years(p.costYears.bonus)}`;
  $('kpi-wellbeing-days').textContent = num.format(s.wellbeing_days ?? 0);
  $('kpi-wellbeing-note').textContent = `cost ${eur.format(s.wellbeing_cost_eur ?? 0)} · whole year(s) ${years(p.costYears.wellbeing)}`;
  $('kpi-activities').textContent = num.format(s.activities ?? 0);
  $('kpi-activities-note').textContent = `${monthLabel(d.filter.from)} – ${monthLabel(d.filter.to)} · ${num.format(s.distance_km ?? 0)} km · adoption ${s.avg_adoption_pct ?? 0} %/month`;
  $('kpi-total').textContent = eur.format(s.total_cost_eur ?? 0);
  $('kpi-total-note').textContent = 'bonus + well-being days, whole years';
  $('protection-info').textContent = `Costs and well-being: whole calendar years, business units grouped so that each figure covers at least ${p.minGroupSize} people, amounts rounded to ${eur.format(p.moneyStepEur)}${p.suppressed.length ? `; hidden (fewer than ${p.minGroupSize} people in the company): ${p.suppressed.join(', ')}` : ''}.`;
  for (const [id, key] of [['kpi-employees', 'employees'], ['kpi-eligible', 'bonus_eligible_employees'], ['kpi-bonus', 'bonus_cost_eur'], ['kpi-wellbeing-days', 'wellbeing_days'], ['kpi-activities', 'activities'], ['kpi-total', 'total_cost_eur']]) {
    $(id).dataset.value = String(s[key] ?? 0);
  }

  chart(
    'costByBu',
    'chart-cost-by-bu',
    () => ({
      type: 'bar',
      data: { labels: [], datasets: [{ label: 'Sport bonus', backgroundColor: '#1f7a8c', data: [], maxBarThickness: 42 }, { label: 'Well-being days', backgroundColor: '#e07a5f', data: [], maxBarThickness: 42 }] },
      options: { indexAxis: 'y', maintainAspectRatio: false, scales: { x: { ...moneyAxis, stacked: true }, y: { stacked: true, grid: { display: false } } }, plugins: { tooltip: moneyTooltip } },
    }),
    (c) => {
      c.data.labels = d.costByBu.map((r) => r.business_unit);
      c.data.datasets[0].data = d.costByBu.map((r) => r.bonus_cost_eur);
      c.data.datasets[1].data = d.costByBu.map((r) => r.wellbeing_cost_eur);
    },
  );

  chart(
    'eligibility',
    'chart-eligibility',
    () => ({ type: 'doughnut', data: { labels: [], datasets: [{ label: 'Employees', data: [], backgroundColor: [] }] }, options: { maintainAspectRatio: false, cutout: '58%', plugins: { legend: { position: 'right' } } } }),
    (c) => {
      c.data.labels = d.eligibility.map((r) => (REASONS[r.reason_code] || { label: r.reason_code }).label);
      c.data.datasets[0].data = d.eligibility.map((r) => r.employees);
      c.data.datasets[0].backgroundColor = d.eligibility.map((r, i) => (REASONS[r.reason_code] || { color: PALETTE[i % PALETTE.length] }).color);
    },
  );

  chart(
    'activitiesByMonth',
    'chart-activities-by-month',
    () => ({
      type: 'bar',
      data: {
        labels: [],
        datasets: [
          { type: 'bar', label: 'Activities', backgroundColor: '#3d405b', data: [], yAxisID: 'y', order: 2 },
          { type: 'line', label: 'Distance (km)', borderColor: '#e07a5f', backgroundColor: '#e07a5f', data: [], yAxisID: 'km', tension: 0.3, order: 1 },
        ],
      },
      options: {
        maintainAspectRatio: false,
        interaction: { mode: 'index', intersect: false },
        scales: { y: { beginAtZero: true, title: { display: true, text: 'activities' }, grid: { color: '#eef1f5' } }, km: { position: 'right', beginAtZero: true, title: { display: true, text: 'km' }, grid: { display: false } }, x: { grid: { display: false } } },
      },
    }),
    (c) => {
      c.data.labels = d.activitiesByMonth.map((r) => monthLabel(r.month));
      c.data.datasets[0].data = d.activitiesByMonth.map((r) => r.activities);
      c.data.datasets[1].data = d.activitiesByMonth.map((r) => r.distance_km);
    },
  );

  chart(
    'activitiesBySport',
    'chart-activities-by-sport',
    () => ({
      type: 'bar',
      data: { labels: [], datasets: [{ label: 'Activities', data: [], backgroundColor: [], maxBarThickness: 28 }] },
      options: { indexAxis: 'y', maintainAspectRatio: false, plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, grid: { color: '#eef1f5' } }, y: { grid: { display: false } } } },
    }),
    (c) => {
      c.data.labels = d.activitiesBySport.map((r) => r.sport_type);
      c.data.datasets[0].data = d.activitiesBySport.map((r) => r.activities);
      c.data.datasets[0].backgroundColor = d.activitiesBySport.map((_, i) => PALETTE[i % PALETTE.length]);
    },
  );

  chart(
    'wellbeingByBu',
    'chart-wellbeing-by-bu',
    () => ({
      type: 'bar',
      data: { labels: [], datasets: [{ label: 'Well-being days', data: [], backgroundColor: '#81b29a', maxBarThickness: 64 }] },
      options: {
        maintainAspectRatio: false,
        plugins: { legend: { display: false }, tooltip: { callbacks: { afterLabel: (ctx) => { const r = d.wellbeingByBu[ctx.dataIndex]; return r ? `${r.employees_reaching_threshold} employee(s), ${eurCents.format(r.wellbeing_cost_eur)}` : ''; } } } },
        scales: { y: { beginAtZero: true, grid: { color: '#eef1f5' } }, x: { grid: { display: false } } },
      },
    }),
    (c) => {
      c.data.labels = d.wellbeingByBu.map((r) => r.business_unit);
      c.data.datasets[0].data = d.wellbeingByBu.map((r) => r.wellbeing_days);
    },
  );
}

function filterFromForm() {
  return { from: $('filter-from').value, to: $('filter-to').value, bu: $('filter-bu').value };
}

async function loadGold() {
  const f = filterFromForm();
  if (f.from > f.to) {
    showError('The period starts after it ends.');
    return;
  }
  document.body.dataset.state = 'loading';
  const q = new URLSearchParams(f);
  history.replaceState(null, '', `?${q}`);
  try {
    const d = await getJson(`/api/gold/dashboard?${q}`);
    state.data = d;
    renderGold(d);
    showError('');
    document.body.dataset.filter = `${d.filter.from}|${d.filter.to}|${d.filter.bu}`;
    document.body.dataset.state = 'ready';
    state.ready = true;
  } catch (err) {
    showError(`Gold could not be read: ${err.message}`);
    document.body.dataset.state = 'error';
  }
}

function option(value, label) {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = label;
  return o;
}

async function init() {
  try {
    state.meta = await getJson('/api/gold/meta');
  } catch (err) {
    showError(`Gold could not be read: ${err.message}`);
    $('build-info').textContent = '';
    document.body.dataset.state = 'error';
    return;
  }
  const m = state.meta;
  const b = m.build;
  // The completeness watermark (issue 17): every source change committed up to it is in the figures.
  const through = b && b.complete_through ? `Figures complete through ${new Date(b.complete_through).toLocaleString('en-GB', { timeZone: 'UTC' })} UTC` : 'Figures complete through: unknown (no watermark yet)';
  $('build-info').textContent = b ? `${through} · gold built ${new Date(b.built_at).toLocaleString('en-GB')} by run ${b.run_id} · rules ${b.rules_version} · figures as of ${new Date(b.as_of).toLocaleDateString('en-GB')}` : '';
  for (const month of m.months) {
    $('filter-from').append(option(month, monthLabel(month)));
    $('filter-to').append(option(month, monthLabel(month)));
  }
  for (const bu of m.businessUnits) $('filter-bu').append(option(bu, bu));
  const url = new URLSearchParams(location.search);
  const pick = (name, fallback, allowed) => (allowed.includes(url.get(name)) ? url.get(name) : fallback);
  $('filter-from').value = pick('from', m.defaultPeriod ? m.defaultPeriod.from : '', m.months);
  $('filter-to').value = pick('to', m.defaultPeriod ? m.defaultPeriod.to : '', m.months);
  $('filter-bu').value = pick('bu', '', m.businessUnits);
  for (const id of ['filter-from', 'filter-to', 'filter-bu']) $(id).addEventListener('change', loadGold);
  for (const button of document.querySelectorAll('[data-preset]')) {
    button.addEventListener('click', () => {
      const n = button.dataset.preset;
      const months = m.months;
      $('filter-to').value = months[months.length - 1];
      $('filter-from').value = n === 'all' ? months[0] : months[Math.max(0, months.length - Number(n))];
      loadGold();
    });
  }
  await loadGold();
}

// ---------------------------------------------------------------- pipeline health

function ago(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 120) return `${Math.round(s)} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h ago`;
  return `${(s / 86400).toFixed(1)} days ago`;
}

function bytes(n) {
  if (n === null || n === undefined) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderHealth(st) {
  const services = $('health-services');
  services.replaceChildren();
  for (const [name, h] of Object.entries(st.services)) {
    const line = el('div');
    line.append(el('span', `dot ${h.up === true ? 'up' : h.up === false ? 'down' : 'unknown'}`), document.createTextNode(name));
    line.title = h.detail;
    services.append(line);
  }
  $('health-throughput').textContent = st.eventsPerSecond === null ? '–' : num.format(st.eventsPerSecond);
  $('health-slot').textContent = st.replicationSlot ? bytes(st.replicationSlot.lagBytes ?? 0) : '–';
  $('health-slot-note').textContent = st.replicationSlot ? `${st.replicationSlot.slotName} · ${st.replicationSlot.exists ? (st.replicationSlot.active ? 'active' : 'inactive') : 'missing'}` : 'PostgreSQL unreachable';
  const dlq = st.deadLetters ? st.deadLetters.reduce((a, x) => a + x.messages, 0) : null;
  $('health-dlq').textContent = dlq === null ? '–' : num.format(dlq);
  $('health-dlq').className = `value ${dlq ? 'state-error' : ''}`;
  $('health-dlq-note').textContent = st.deadLetters ? `${st.deadLetters.filter((x) => x.messages > 0).length} of ${st.deadLetters.length} topic(s) non-empty` : 'Kafka unreachable';
  const b = st.batch || {};
  const last = b.lastRun;
  $('health-refresh').textContent = last ? ago(last.finishedAt) : 'never';
  $('health-refresh-note').textContent = last ? `${last.status} · ${last.mode} · ${last.durationS.toFixed(1)} s` : 'npm run refresh';
  const q = b.quality;
  $('health-quality').textContent = q ? q.state.toUpperCase() : '–';
  $('health-quality').className = `value ${q ? `state-${q.state}` : ''}`;
  $('health-quality-note').textContent = q ? `${q.passed}/${q.checks} checks passed, ${q.failed.length} failed` : 'no report yet';

  const hist = st.history || [];
  // With few samples a line has nothing to join: show the points.
  const radius = hist.length < 3 ? 3 : 0;
  const labels = hist.map((p) => new Date(p.at).toLocaleTimeString('en-GB'));
  const groups = [...new Set(hist.flatMap((p) => Object.keys(p.lagByGroup)))].sort();
  chart(
    'lag',
    'chart-lag',
    () => ({ type: 'line', data: { labels: [], datasets: [] }, options: { maintainAspectRatio: false, animation: false, scales: { y: { beginAtZero: true }, x: { ticks: { maxTicksLimit: 6 } } }, elements: { point: { radius: 0 } } } }),
    (c) => {
      c.data.labels = labels;
      c.data.datasets = groups.map((g, i) => ({ label: g, data: hist.map((p) => p.lagByGroup[g] ?? null), borderColor: PALETTE[i % PALETTE.length], backgroundColor: PALETTE[i % PALETTE.length], tension: 0.2, pointRadius: radius }));
    },
  );
  chart(
    'throughput',
    'chart-throughput',
    () => ({
      type: 'line',
      data: { labels: [], datasets: [{ label: 'events/s', data: [], borderColor: '#1f7a8c', backgroundColor: 'rgba(31,122,140,0.15)', fill: true, tension: 0.2 }] },
      options: { maintainAspectRatio: false, animation: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true }, x: { ticks: { maxTicksLimit: 6 } } }, elements: { point: { radius: 0 } } },
    }),
    (c) => {
      c.data.labels = labels;
      c.data.datasets[0].data = hist.map((p) => p.eventsPerSecond);
      c.data.datasets[0].pointRadius = radius;
    },
  );

  const alerts = $('alerts');
  alerts.replaceChildren();
  const list = [...st.alerts.firing, ...st.alerts.pending];
  if (list.length === 0) alerts.append(el('li', 'muted', 'No alert.'));
  for (const a of list) {
    const li = el('li');
    li.append(el('span', `badge ${a.state === 'pending' ? 'pending' : a.severity}`, a.state === 'pending' ? 'pending' : a.severity), document.createTextNode(`${a.summary} (since ${ago(a.since)})`));
    alerts.append(li);
  }
}

function renderQuality(q) {
  const box = $('quality-scores');
  box.replaceChildren();
  const f = q.freshness;
  const c = q.completeness;
  const a = q.anomaly;
  const notes = {
    Freshness: f.eventAgeHours === null ? 'no event measured yet' : `newest event ${num.format(f.eventAgeHours)} h old (limit ${f.limitHours} h)`,
    Completeness: `${num.format(c.rows.quarantined)} of ${num.format(c.rows.silver)} rows quarantined · ${c.commuteDistances.withDistance}/${c.commuteDistances.qualifyingEmployees} commute distances known`,
    Anomaly: `volume ${a.volume.status}${a.volume.z === null ? '' : ` (z ${a.volume.z})`} · cost drift ${a.costDrift.status}${a.costDrift.pct === null ? '' : ` (${a.costDrift.pct} %)`}`,
  };
  for (const [name, s, higherIsBetter] of [['Freshness', f, true], ['Completeness', c, true], ['Anomaly', a, false]]) {
    const div = el('div', 'score');
    const row = el('div', 'row');
    row.append(el('span', '', name), el('span', '', s.score === null ? 'unknown' : s.score.toFixed(2)));
    const good = s.score === null ? null : higherIsBetter ? s.score : 1 - s.score;
    const bar = el('div', `bar ${good === null ? '' : good >= 0.99 ? '' : good >= 0.5 ? 'warn' : 'bad'}`);
    const fill = el('span');
    fill.style.width = `${Math.round((s.score ?? 0) * 100)}%`;
    bar.append(fill);
    div.append(row, bar, el('div', 'score-note', notes[name]));
    box.append(div);
  }
  const checks = $('quality-checks');
  checks.replaceChildren();
  const failed = q.checks ? q.checks.failed : [];
  if (!q.checks) checks.append(el('li', 'muted', 'No quality report yet.'));
  else if (failed.length === 0) checks.append(el('li', 'muted', `All ${q.checks.total} checks passed or skipped.`));
  for (const f of failed.slice(0, 6)) {
    const li = el('li');
    li.append(el('span', `badge ${f.severity}`, f.severity), document.createTextNode(`${f.id}${f.observed ? `: ${f.observed}` : ` (${f.failures} row(s))`}`));
    checks.append(li);
  }
  if (q.findings && q.findings.total) checks.append(el('li', 'muted', `${q.findings.total} row-level finding(s) in gold: ${q.findings.byType.map((x) => `${x.finding_type} ${x.findings}`).join(', ')}`));
}

async function loadHealth() {
  try {
    const [st, q] = await Promise.all([getJson('/api/status'), getJson('/api/quality')]);
    renderHealth(st);
    renderQuality(q);
  } catch (err) {
    $('health-services').textContent = `monitor API unreachable: ${err.message}`;
  }
}

init();
loadHealth();
setInterval(loadHealth, 15000);
