/**
 * The refresh as operators rely on it: incremental runs apply a workload with updates, deletes,
 * key changes, truncates and re-deliveries exactly (bronze written per the contract by the
 * fixture, mirroring what PostgreSQL holds); `--full` backfills with new parameters and
 * run_log says which produced what; bad parameters change nothing; an error-level quality failure
 * keeps the previous gold; readers of gold.duckdb never block a refresh nor see half a file;
 * an s3:// lake (MinIO) is read through the S3 client and gold Parquet lands under gold/.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../common/config.ts';
import { generateSyntheticBronze } from '../../bench/lib/synthetic-bronze.ts';
import { activity, batchSandbox, canonicalSelect, commute, dailyActivities, employee, MirroredWorkload, rel, sportTable, type BatchSandbox } from './testing/batch-kit.ts';

const TABLES = ['employees', 'declared_sports', 'activities', 'commute_distances'];

async function silverMatches(sb: BatchSandbox, w: MirroredWorkload): Promise<void> {
  for (const t of TABLES) {
    const src = sportTable(t);
    const rows = await sb.silver(`SELECT ${canonicalSelect(src, 'duckdb')} FROM ${rel(t)} s ORDER BY ${src.primaryKey.map((k) => `s.${k}`).join(', ')}`);
    expect({ table: t, rows }).toEqual({ table: t, rows: w.expected(t) });
  }
}

const sha = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

/** Runs the CLI as a child process with the sandbox's environment. */
function cli(sb: BatchSandbox, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = {
    ...process.env,
    LAKE_URL: sb.config.lakeUrl,
    BATCH_STATE_DIR: sb.config.batch.stateDir,
    BATCH_GOLD_DB: sb.config.batch.goldDb,
    BATCH_THREADS: '2',
    LOG_LEVEL: 'warn',
  };
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'services/batch/cli.ts'), '--as-of', '2026-06-30T12:00:00Z', ...args], { cwd: REPO_ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('incremental refresh and backfill', () => {
  let sb: BatchSandbox;
  let w: MirroredWorkload;
  beforeAll(async () => {
    sb = await batchSandbox();
    w = new MirroredWorkload(sb.fixture);
  });
  afterAll(async () => sb?.close());

  it('applies inserts, updates, deletes, key changes and truncates in source order; re-deliveries change nothing', async () => {
    for (const id of [201, 202, 203, 204]) w.snapshot('employees', employee(id, { business_unit: id % 2 ? 'Ventes' : 'R&D' }));
    for (const id of [201, 202, 203]) w.snapshot('declared_sports', { employee_id: id, sport: 'Tennis', declared_at: new Date('2026-01-02T10:00:00Z') });
    w.snapshot('commute_distances', commute(201, 3_000));
    w.snapshot('commute_distances', commute(202, 12_000));
    const acts = [...dailyActivities(201, '2026-03-01', 10), ...dailyActivities(202, '2026-03-01', 10)];
    const inserts = acts.map((a) => w.insert('activities', a));
    await sb.fixture.flush({ filesPer: 2 });
    const first = await sb.refresh();
    expect(first.status).toBe('success');
    await silverMatches(sb, w);

    // Second batch: what a day of changes in PostgreSQL produces.
    const [a1, a2, a3, a4] = acts as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    w.update('employees', { employee_id: 202 }, { gross_annual_salary_eur: 47500.4, business_unit: 'Ventes', updated_at: new Date('2026-04-01T08:00:00Z') });
    w.update('activities', a1, { comment: 'Nouveau record personnel', updated_at: new Date('2026-04-01T09:00:00Z') });
    w.delete('activities', a2);
    w.update('activities', a3, { activity_id: 5000 }); // primary key change
    w.delete('employees', { employee_id: 204 });
    w.update('commute_distances', { employee_id: 201 }, { distance_m: 3_400, computed_at: new Date('2026-04-02T08:00:00Z') });
    sb.fixture.push('declared_sports', 't', null, null, { partition: 0 });
    for (const id of [201, 202, 203]) w.tables.get('declared_sports')!.delete(JSON.stringify([id]));
    w.insert('declared_sports', { employee_id: 201, sport: 'Escalade', declared_at: new Date('2026-04-03T10:00:00Z') });
    for (const a of dailyActivities(203, '2026-04-01', 3)) w.insert('activities', a);
    // Re-deliveries after a CDC restart: the same events again, at new offsets.
    const firstInsertOfA1 = inserts[0]!;
    const firstInsertOfA4 = inserts[3]!;
    sb.fixture.push('activities', 'c', null, a1, { lsn: firstInsertOfA1.lsn, tsMs: firstInsertOfA1.tsMs });
    sb.fixture.push('activities', 'c', null, a4, { lsn: firstInsertOfA4.lsn, tsMs: firstInsertOfA4.tsMs });
    await sb.fixture.flush();
    const second = await sb.refresh();
    expect(second.status).toBe('success');
    expect(second.entry.mode).toBe('incremental');
    await silverMatches(sb, w);

    // Only the new files were read, from where the first run stopped.
    const firstFiles = new Set(first.entry.bronzeInputs.flatMap((r) => r.files));
    expect(second.entry.bronzeInputs.flatMap((r) => r.files).some((f) => firstFiles.has(f))).toBe(false);
    for (const range of second.entry.bronzeInputs) {
      const before = first.entry.bronzeInputs.find((r) => r.topic === range.topic && r.partition === range.partition);
      if (before) expect(range.firstOffset).toBe(before.lastOffset + 1);
    }

    const history = await sb.silver(
      `SELECT employee_id, gross_annual_salary_eur::VARCHAR AS salary, business_unit, strftime(valid_from, '%Y-%m-%d') AS valid_from,
         strftime(valid_to, '%Y-%m-%d') AS valid_to, is_current
       FROM ${rel('employees', '_history')} WHERE employee_id IN (202, 204) ORDER BY employee_id, valid_from, _lsn`,
    );
    const e202 = history.filter((h) => h.employee_id === 202);
    expect(e202).toHaveLength(2);
    expect(e202[0]).toMatchObject({ salary: '40000.00', business_unit: 'R&D', is_current: false });
    expect(e202[1]).toMatchObject({ salary: '47500.40', business_unit: 'Ventes', valid_to: null, is_current: true });
    expect(e202[0]!.valid_to).toBe(e202[1]!.valid_from);
    expect(history.filter((h) => h.employee_id === 204)).toEqual([expect.objectContaining({ is_current: false, valid_to: expect.any(String) })]);

    const full = await sb.refresh({ full: true });
    expect(full.entry.mode).toBe('full');
    expect(full.entry.bronzeInputs.flatMap((r) => r.files).sort()).toEqual([...firstFiles, ...second.entry.bronzeInputs.flatMap((r) => r.files)].sort());
    await silverMatches(sb, w);
  });

  it('a parameter change and a --full re-run change the figures, and run_log shows both runs', async () => {
    const before = await sb.gold(`SELECT employee_id, bonus_amount_eur::VARCHAR AS amount FROM sport_bonus WHERE eligible ORDER BY 1`);
    expect(before).toEqual([
      { employee_id: 201, amount: '2000.00' },
      { employee_id: 202, amount: '2375.02' },
    ]);
    const rules = JSON.parse(await readFile(sb.config.batch.rulesFile, 'utf8'));
    rules.version = 'test-2';
    rules.sportBonus.rate = 0.07;
    rules.sportBonus.maxCommuteKmByMode['Marche/running'] = 12.5;
    rules.wellbeing.minActivitiesPerYear = 10;
    const changed = path.join(sb.dir, 'rules-v2.json');
    await writeFile(changed, JSON.stringify(rules));
    // Issue 14: the bonus total moves +40 % (more than rulesChangeMaxBonusDriftPct): the previous
    // gold stays until the change is accepted.
    const [builtBefore] = await sb.gold<{ run_id: string }>(`SELECT run_id FROM build_info`);
    const refused = await cli(sb, ['--full', '--rules', changed]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/the rules changed and bonus total 6125\.03 EUR vs 4375\.02 EUR in run \S+ \(rules 2026\.1, changed since\): \+40\.0 %; gold not swapped: check the rules change, then re-run with --accept-drift to accept it/);
    expect(await sb.gold(`SELECT run_id FROM build_info`)).toEqual([builtBefore]);
    expect(await sb.gold(`SELECT employee_id, bonus_amount_eur::VARCHAR AS amount FROM sport_bonus WHERE eligible ORDER BY 1`)).toEqual(before);

    const run = await sb.refresh({ full: true, rulesFile: changed, acceptDrift: true });
    expect(run.status).toBe('success');
    expect(run.results.find((r) => r.id === 'gold.rules_change_drift')).toMatchObject({ status: 'pass', severity: 'error', observed: expect.stringMatching(/\+40\.0 %; accepted with --accept-drift$/) });

    expect(await sb.gold(`SELECT employee_id, bonus_amount_eur::VARCHAR AS amount FROM sport_bonus WHERE eligible ORDER BY 1`)).toEqual([
      { employee_id: 201, amount: '2800.00' },
      { employee_id: 202, amount: '3325.03' },
    ]);
    // 201 is down to 9 activities (one deleted), 202 has 10: the new threshold of 10 lets 202 in only.
    expect(await sb.gold(`SELECT employee_id, activity_count::INTEGER AS n, eligible FROM wellbeing_days WHERE year = 2026 AND employee_id IN (201, 202) ORDER BY 1`)).toEqual([
      { employee_id: 201, n: 9, eligible: false },
      { employee_id: 202, n: 10, eligible: true },
    ]);
    const log = await sb.gold(`SELECT v.rules_version, v.params_hash, v.status, v.mode, json_extract(r.params, '$.sportBonus.rate')::DOUBLE AS rate FROM v_run_log v JOIN run_log r USING (run_id) ORDER BY v.started_at`);
    expect(log.map((l) => [l.rules_version, l.status, l.mode, l.rate])).toEqual([
      ['2026.1', 'success', 'incremental', 0.05],
      ['2026.1', 'success', 'incremental', 0.05],
      ['2026.1', 'success', 'full', 0.05],
      ['test-2', 'failed_quality', 'full', 0.07],
      ['test-2', 'success', 'full', 0.07],
    ]);
    expect(new Set(log.map((l) => l.params_hash)).size).toBe(2);
    const drift = run.results.find((r) => r.id === 'gold.cost_drift');
    expect(drift?.observed).toMatch(/parameters changed since run/);
  });

  it('rejects a bad parameter with the field named, before touching anything', async () => {
    const goldBefore = await sha(sb.config.batch.goldDb);
    const logBefore = await readFile(sb.config.batch.runLogFile, 'utf8');
    const rules = JSON.parse(await readFile(sb.config.batch.rulesFile, 'utf8'));
    rules.sportBonus.rate = 5;
    rules.wellbeing.workingDaysPerYear = 'deux cent dix-huit';
    const bad = path.join(sb.dir, 'rules-bad.json');
    await writeFile(bad, JSON.stringify(rules));
    const res = await cli(sb, ['--full', '--rules', bad]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('sportBonus.rate: Too big: expected number to be <=1 (got 5)');
    expect(res.stderr).toContain('wellbeing.workingDaysPerYear: Invalid input: expected number, received string (got "deux cent dix-huit")');
    expect(await sha(sb.config.batch.goldDb)).toBe(goldBefore);
    expect(await readFile(sb.config.batch.runLogFile, 'utf8')).toBe(logBefore);
  });

  it('refuses a rules file naming a commute mode or a sport that exists nowhere (issue 14: a misspelt mode swapped gold)', async () => {
    const goldBefore = await sha(sb.config.batch.goldDb);
    const rules = JSON.parse(await readFile(sb.config.batch.rulesFile, 'utf8'));
    rules.sportBonus.maxCommuteKmByMode = { 'Marche/running': 15, 'Vélo/Trottinette/Autre': 25 };
    const typo = path.join(sb.dir, 'rules-typo.json');
    await writeFile(typo, JSON.stringify(rules));
    const res = await cli(sb, ['--full', '--rules', typo]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(
      'sportBonus.maxCommuteKmByMode.Vélo/Trottinette/Autre: unknown commute mode "Vélo/Trottinette/Autre": HR records "Transports en commun", "véhicule thermique/électrique", "Marche/running", "Vélo/Trottinette/Autres"; did you mean "Vélo/Trottinette/Autres"? (got 25)',
    );

    // A sport no source data and no known sport type has: refused after silver, gold untouched.
    const sports = JSON.parse(await readFile(sb.config.batch.rulesFile, 'utf8'));
    sports.quarantine.maxSpeedKmhBySport.Quidditch = 40;
    const unknownSport = path.join(sb.dir, 'rules-sport.json');
    await writeFile(unknownSport, JSON.stringify(sports));
    const res2 = await cli(sb, ['--rules', unknownSport]);
    expect(res2.code).toBe(2);
    expect(res2.stderr).toContain('quarantine.maxSpeedKmhBySport.Quidditch: unknown sport type "Quidditch"');
    expect(await sha(sb.config.batch.goldDb)).toBe(goldBefore);
  });

  it('an error-level quality failure keeps the previous gold in place and is logged', async () => {
    const goldBefore = await sha(sb.config.batch.goldDb);
    const [builtBefore] = await sb.gold<{ run_id: string }>(`SELECT run_id FROM build_info`);
    w.insert('activities', activity(201, '2026-05-02T07:00:00Z', 9));
    const [key] = await sb.fixture.flush();
    // The manifest announces more rows than the file holds (a truncated upload).
    const written = sb.fixture.written.find((f) => f.key === key)!;
    const manifest = JSON.parse((await sb.lake.get(written.manifestKey)).toString());
    await sb.lake.put(written.manifestKey, Buffer.from(JSON.stringify({ ...manifest, rows: manifest.rows + 5 })));

    // The rules go back from test-2 to the product's: a rules change, accepted (this test is about the manifest).
    const run = await sb.refresh({ acceptDrift: true });
    expect(run.status).toBe('failed_quality');
    expect(run.entry.quality.errors).toEqual(['bronze.files.rows_match_manifest']);
    expect(await sha(sb.config.batch.goldDb)).toBe(goldBefore);
    expect(await sb.gold(`SELECT run_id FROM build_info`)).toEqual([builtBefore]);
    const logged = await sb.silver(`SELECT status, error FROM meta.run_log WHERE run_id = '${run.runId}'`);
    expect(logged).toEqual([{ status: 'failed_quality', error: 'error-level quality checks failed: bronze.files.rows_match_manifest' }]);
    const report = JSON.parse(await readFile(path.join(sb.config.batch.reportDir, 'latest.json'), 'utf8'));
    expect(report).toMatchObject({ runId: run.runId, status: 'failed_quality', summary: { errors: ['bronze.files.rows_match_manifest'] } });
    const lines = (await readFile(sb.config.batch.runLogFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({ runId: run.runId, status: 'failed_quality' });
    const stored = await sb.silver(`SELECT count(*)::INTEGER AS n FROM meta.quality_results WHERE run_id = '${run.runId}' AND status = 'fail' AND severity = 'error'`);
    expect(stored).toEqual([{ n: 1 }]);
  });
});

describe('a first run (empty silver) on bronze with re-deliveries', () => {
  it('writes each key once, at its newest position; a run interrupted between its transactions forces a rebuild', async () => {
    const sb = await batchSandbox();
    try {
      const w = new MirroredWorkload(sb.fixture);
      w.snapshot('employees', employee(501));
      const acts = dailyActivities(501, '2026-02-01', 6);
      const events = acts.map((a) => w.insert('activities', a));
      w.update('activities', acts[0]!, { comment: 'deuxième version' });
      w.delete('activities', acts[1]!);
      // Re-deliveries of inserts (same LSN, later offsets), one of them of the updated row.
      for (const i of [0, 2, 3]) sb.fixture.push('activities', 'c', null, acts[i]!, { lsn: events[i]!.lsn, tsMs: events[i]!.tsMs });
      await sb.fixture.flush({ filesPer: 3 });
      const run = await sb.refresh();
      expect(run.status).toBe('success');
      expect(run.merges.find((m) => m.name === 'sport__public__activities')).toMatchObject({ eventsRead: 11, superseded: 5, inserted: 6, liveRows: 5 });
      await silverMatches(sb, w);

      // A run that died between its two silver transactions leaves its mark: the next run rebuilds.
      const instance = await DuckDBInstance.create(':memory:');
      const conn = await instance.connect();
      await conn.run(`ATTACH '${sb.config.batch.silverDb}' AS sdb; INSERT INTO sdb.meta.merge_in_progress VALUES ('crashed-run', now()); DETACH sdb`);
      conn.closeSync();
      instance.closeSync();
      const next = await sb.refresh();
      expect(next.entry.mode).toBe('full');
      expect(next.entry.bronzeInputs.flatMap((r) => r.files).sort()).toEqual(run.entry.bronzeInputs.flatMap((r) => r.files).sort());
      expect(await sb.silver(`SELECT count(*)::INTEGER AS n FROM meta.merge_in_progress`)).toEqual([{ n: 0 }]);
      await silverMatches(sb, w);
    } finally {
      await sb.close();
    }
  });
});

describe('stopping a refresh', () => {
  it('SIGTERM interrupts the run: exit 0, run logged as interrupted, silver and gold as before, next run completes', async () => {
    const sb = await batchSandbox();
    try {
      const bronze = await generateSyntheticBronze(path.join(sb.dir, 'lake'), { activities: 300_000, employees: 600, endDay: new Date(Date.UTC(2026, 5, 1)), years: 1 });
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'services/batch/cli.ts')], {
        cwd: REPO_ROOT,
        env: { ...process.env, LAKE_URL: sb.config.lakeUrl, BATCH_STATE_DIR: sb.config.batch.stateDir, BATCH_GOLD_DB: sb.config.batch.goldDb, BATCH_THREADS: '1', LOG_LEVEL: 'warn' },
      });
      let stderr = '';
      let sent = false;
      child.stderr.on('data', (d) => {
        stderr += d;
        if (!sent && stderr.includes('▶ silver sport__public__activities')) {
          sent = true;
          child.kill('SIGTERM');
        }
      });
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code, stderr).toBe(0);
      expect(stderr).toContain('SIGTERM: stopping');
      const lines = (await readFile(sb.config.batch.runLogFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ status: 'interrupted', error: expect.stringContaining('interrupted (SIGTERM)') });
      await expect(readFile(sb.config.batch.goldDb)).rejects.toThrow(/ENOENT/);
      // Silver commits in one transaction: depending on when the signal lands (machine speed),
      // the run stopped before it (nothing consumed) or after it (every file consumed), never
      // in between.
      const [{ n: consumed }] = (await sb.silver(`SELECT count(*)::INTEGER AS n FROM meta.bronze_files`)) as [{ n: number }];
      expect([0, bronze.files]).toContain(consumed);

      const next = await sb.refresh();
      expect(next.status).toBe('success');
      expect(next.entry.rowCounts['silver.sport__public__activities']).toBe(300_000 - 300_000 / 200);
    } finally {
      await sb.close();
    }
  });
});

describe('readers of gold.duckdb', () => {
  let sb: BatchSandbox;
  beforeAll(async () => {
    sb = await batchSandbox();
    for (let id = 300; id < 340; id++) {
      sb.fixture.snapshot('employees', employee(id));
      sb.fixture.snapshot('commute_distances', commute(id, 1_000 + id));
      for (const a of dailyActivities(id, '2026-01-10', 20)) sb.fixture.insert('activities', a);
    }
    await sb.fixture.flush({ filesPer: 4 });
    expect((await sb.refresh()).status).toBe('success');
  });
  afterAll(async () => sb?.close());

  function reader(mode: 'hold' | 'poll') {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'services/batch/testing/gold-reader.ts'), mode, sb.config.batch.goldDb], { cwd: REPO_ROOT });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const ready = new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (out.includes('ready')) {
          clearInterval(t);
          resolve();
        }
      }, 20);
      child.on('exit', () => {
        clearInterval(t);
        reject(new Error(`reader ${mode} exited: ${out}`));
      });
    });
    const result = new Promise<Record<string, unknown>>((resolve) => child.on('exit', () => resolve(JSON.parse(out.trim().split('\n').at(-1)!))));
    return { ready, result, stop: () => child.kill('SIGTERM') };
  }

  it('a reader holding gold.duckdb open does not block a refresh, and no reader sees a half-built file', async () => {
    const [old] = await sb.gold<{ run_id: string }>(`SELECT run_id FROM build_info`);
    const holder = reader('hold');
    const poller = reader('poll');
    await Promise.all([holder.ready, poller.ready]);
    const first = await cli(sb, ['--full']);
    const second = await cli(sb, ['--full']);
    await new Promise((r) => setTimeout(r, 300));
    poller.stop();
    holder.stop();
    const [held, polled] = await Promise.all([holder.result, poller.result]);
    expect(first.code, first.stderr).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    expect(held).toEqual({ held: old!.run_id, heldAtEnd: old!.run_id });
    expect(polled.errors).toEqual([]);
    const [now] = await sb.gold<{ run_id: string }>(`SELECT run_id FROM build_info`);
    expect(now!.run_id).not.toBe(old!.run_id);
    expect(polled.runIds).toEqual(expect.arrayContaining([old!.run_id, now!.run_id]));
  });
});

describe('an s3:// lake (MinIO)', () => {
  let sb: BatchSandbox;
  beforeAll(async () => {
    sb = await batchSandbox({ LAKE_URL: `s3://${process.env.S3_BUCKET ?? 'lakehouse'}/batch-it-${Date.now().toString(36)}/` });
  });
  afterAll(async () => sb?.close());

  it('reads bronze through the S3 client and publishes gold Parquet under gold/', async () => {
    sb.fixture.snapshot('employees', employee(401));
    sb.fixture.snapshot('commute_distances', commute(401, 900));
    for (const a of dailyActivities(401, '2026-02-01', 16)) sb.fixture.insert('activities', a);
    await sb.fixture.flush({ filesPer: 2 });
    const run = await sb.refresh();
    expect(run.status).toBe('success');
    expect(run.entry.rowCounts['silver.sport__public__activities']).toBe(16);
    const build = JSON.parse((await sb.lake.get('gold/_build.json')).toString());
    expect(build.runId).toBe(run.runId);
    expect(build.tables).toEqual(expect.arrayContaining(['gold/sport_bonus.parquet', 'gold/wellbeing_days.parquet', 'gold/kpi_bu_month.parquet', 'gold/run_log.parquet']));
    const file = path.join(sb.dir, 'sport_bonus.parquet');
    await writeFile(file, await sb.lake.get('gold/sport_bonus.parquet'));
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    const rows = (await conn.runAndReadAll(`SELECT employee_id, eligible, bonus_amount_eur::VARCHAR AS amount FROM read_parquet('${file}')`)).getRowObjectsJson();
    conn.closeSync();
    instance.closeSync();
    expect(rows).toEqual([{ employee_id: 401, eligible: true, amount: '2000.00' }]);
  });
});
