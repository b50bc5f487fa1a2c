import { describe, expect, it } from 'vitest';
import { cdcReading, parsePrometheusText } from './prom-text.ts';

const CDC_TEXT = `# HELP cdc_events_total Events acknowledged by the broker
# TYPE cdc_events_total counter
cdc_events_total{topic="sport.public.activities",op="c"} 120
cdc_events_total{topic="sport.public.activities",op="d"} 3
cdc_events_total{topic="sport.public.employees",op="r"} 160
cdc_events_total{topic="sport.public.activities",op="tombstone"} 3

# TYPE cdc_events_per_second gauge
cdc_events_per_second 12.5
cdc_errors_total{kind="produce"} 2
cdc_errors_total{kind="lag_query"} 1
cdc_replication_lag_bytes 4096
process_resident_memory_bytes 1.2e+08
weird{label="a \\"quoted\\" value"} +Inf
not a sample line
`;

describe('Prometheus text', () => {
  it('parses samples with labels, escapes, exponents and infinities', () => {
    const s = parsePrometheusText(CDC_TEXT);
    expect(s[0]).toEqual({ name: 'cdc_events_total', labels: { topic: 'sport.public.activities', op: 'c' }, value: 120 });
    expect(s.find((x) => x.name === 'process_resident_memory_bytes')?.value).toBe(120_000_000);
    expect(s.find((x) => x.name === 'weird')).toEqual({ name: 'weird', labels: { label: 'a "quoted" value' }, value: Infinity });
    expect(s).toHaveLength(10);
  });

  it('sums the CDC counters the monitor relays', () => {
    expect(cdcReading('http://cdc:9464/metrics', CDC_TEXT)).toEqual({
      url: 'http://cdc:9464/metrics',
      up: true,
      error: null,
      eventsTotal: 286,
      eventsByOp: { c: 120, d: 3, r: 160, tombstone: 3 },
      errorsTotal: 3,
      errorsByKind: { produce: 2, lag_query: 1 },
      eventsPerSecond: 12.5,
    });
    expect(cdcReading('u', '')).toMatchObject({ eventsTotal: 0, errorsTotal: 0, eventsPerSecond: null });
  });
});
