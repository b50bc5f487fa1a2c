/**
 * Reading the CDC service's /metrics (Prometheus text exposition format 0.0.4,
 * https://prometheus.io/docs/instrumenting/exposition_formats/) so the monitor can relay its
 * event and error counters and show throughput without a Prometheus server. Pure.
 */
import type { CdcMetricsReading } from './snapshot.ts';

/** One sample: metric name, labels, value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the samples of an exposition text; comments, blank and malformed lines are skipped. */
export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    if (!Number.isNaN(value)) out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/** Sums the samples of `name` per value of `label` (pure). */
export function sumBy(samples: readonly Sample[], name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) if (s.name === name) out[s.labels[label] ?? ''] = (out[s.labels[label] ?? ''] ?? 0) + s.value;
  return out;
}

/** The CDC figures the monitor relays, from the text of the CDC service's /metrics (pure). */
export function cdcReading(url: string, text: string): CdcMetricsReading {
  const samples = parsePrometheusText(text);
  const has = (name: string) => samples.some((s) => s.name === name);
  const eventsByOp = sumBy(samples, 'cdc_events_total', 'op');
  const errorsByKind = sumBy(samples, 'cdc_errors_total', 'kind');
  const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
  return {
    url,
    up: true,
    error: null,
    eventsTotal: has('cdc_events_total') ? total(eventsByOp) : 0,
    eventsByOp,
    errorsTotal: total(errorsByKind),
    errorsByKind,
    eventsPerSecond: samples.find((s) => s.name === 'cdc_events_per_second')?.value ?? null,
  };
}
