/** The pipeline status as text for a terminal (`lakehouse status`). Pure. */
import type { BatchRun } from './batch-state.ts';
import type { PipelineStatus } from './pipeline-status.ts';

const int = (n: number) => n.toLocaleString('en-US');

/** Human-readable bytes, binary units: 1536 -> "1.5 KiB" (pure). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Human-readable age of `iso` at `now`: "42 s", "5 min", "3.2 h", "2.0 d" (pure). */
export function formatAge(iso: string, now: Date = new Date()): string {
  const s = Math.max(0, (now.getTime() - Date.parse(iso)) / 1000);
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86_400).toFixed(1)} d`;
}

/** The status as plain text lines, for a terminal (pure). */
export function formatPipelineStatus(status: PipelineStatus, now: Date = new Date(status.checkedAt)): string[] {
  const out: string[] = ['Consumer groups (lag = messages not yet consumed)'];
  if (status.kafka.error) out.push(`  Kafka unreachable: ${status.kafka.error}`);
  for (const g of status.kafka.groups) {
    const live = g.liveness ? (g.liveness.live ? `${g.liveness.members} member(s), ${g.liveness.state}` : `no live member (${g.liveness.state})`) : 'membership unknown';
    out.push(`  ${g.groupId.padEnd(24)} lag ${int(g.totalLag).padStart(10)}   ${live}`);
    for (const p of g.partitions) out.push(`    ${p.topic}[${p.partition}]  committed ${p.committed ?? 'none'}  high ${p.high}  lag ${int(p.lag)}`);
  }
  out.push('Dead-letter topics');
  if (status.kafka.deadLetters.length === 0) out.push('  none');
  for (const d of status.kafka.deadLetters) out.push(`  ${d.topic.padEnd(40)} ${int(d.messages)} message(s)`);
  const slot = status.replicationSlot;
  out.push('Replication slot');
  if ('error' in slot) out.push(`  ${slot.slotName}: PostgreSQL unreachable: ${slot.error}`);
  else if (!slot.exists) out.push(`  ${slot.slotName}: does not exist (the CDC service creates it on start)`);
  else out.push(`  ${slot.slotName}: ${slot.active ? 'active' : 'INACTIVE'}, lag ${formatBytes(slot.lagBytes ?? 0)} (${int(slot.lagBytes ?? 0)} bytes), confirmed ${slot.confirmedFlushLsn}, wal_status ${slot.walStatus}`);
  out.push('Batch');
  const b = status.batch;
  if ('error' in b) out.push(`  unreadable: ${b.error}`);
  else {
    const run = (r: BatchRun | null) => (r ? `${r.runId} ${r.status} (${r.mode}), finished ${r.finishedAt} (${formatAge(r.finishedAt, now)} ago), ${r.durationS.toFixed(1)} s` : 'none');
    out.push(`  last refresh       ${run(b.lastRun)}`);
    out.push(`  last success       ${run(b.lastSuccess)}`);
    if (b.lastSuccess) out.push(`  costs              bonus ${b.lastSuccess.bonusCostEur ?? '?'} EUR, well-being ${b.lastSuccess.wellbeingCostEur ?? '?'} EUR`);
    const q = b.quality;
    out.push(`  quality            ${q ? `${q.state.toUpperCase()}: ${q.passed}/${q.checks} passed, ${q.skipped} skipped, ${q.failed.length} failed (run ${q.runId})` : 'no report yet'}`);
    for (const f of q?.failed ?? []) out.push(`    [${f.severity}] ${f.id}${f.observed ? `: ${f.observed}` : ` (${f.failures} row(s))`}`);
    out.push(`  gold               ${b.gold.exists ? `${b.gold.file} (${formatBytes(b.gold.sizeBytes ?? 0)}, ${b.gold.modifiedAt})` : `${b.gold.file} (not built yet)`}`);
  }
  return out;
}
