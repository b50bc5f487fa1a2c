import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('configuration of the Slack notifier and the distance worker', () => {
  it('defaults to dry-run and offline estimates', () => {
    const config = loadConfig({});
    expect(config.slack).toMatchObject({ webhookUrl: undefined, consumerGroup: 'slack-notifier', ratePerSecond: 1, burst: 1 });
    expect(config.slack.dryRunFile.endsWith('data/slack-dry-run.jsonl')).toBe(true);
    expect(config.distance).toMatchObject({ apiKey: undefined, provider: 'offline', otherModes: 'compute', detourFactor: 1.3, office: { address: '1362 Av. des Platanes, 34970 Lattes, France', lat: 43.567, lon: 3.899 } });
  });

  it('uses the Routes API by default once a key is set, the legacy API on request', () => {
    expect(loadConfig({ GOOGLE_MAPS_API_KEY: 'k' }).distance.provider).toBe('routes');
    expect(loadConfig({ GOOGLE_MAPS_API_KEY: 'k', DISTANCE_PROVIDER: 'distance-matrix' }).distance.provider).toBe('distance-matrix');
    expect(loadConfig({ GOOGLE_MAPS_API_KEY: 'k', DISTANCE_PROVIDER: 'offline' }).distance.provider).toBe('offline');
    expect(loadConfig({ GOOGLE_ROUTES_BASE_URL: 'http://127.0.0.1:9/' }).distance.routesBaseUrl).toBe('http://127.0.0.1:9');
  });

  it('names the variable when a value is wrong, without showing secrets', () => {
    expect(() => loadConfig({ DISTANCE_PROVIDER: 'routes' })).toThrow(/GOOGLE_MAPS_API_KEY: required when DISTANCE_PROVIDER=routes/);
    let error: unknown;
    try {
      loadConfig({ SLACK_WEBHOOK_URL: 'hooks.slack.com/services/T/B/secret-token', SLACK_RATE_PER_SECOND: '0' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toMatch(/SLACK_WEBHOOK_URL: .*\(value hidden\)/);
    expect(message).toMatch(/SLACK_RATE_PER_SECOND: /);
    expect(message).not.toContain('secret-token');
    expect(() => loadConfig({ SLACK_RETRY_MIN_MS: '5000', SLACK_RETRY_MAX_MS: '100' })).toThrow(/SLACK_RETRY_MIN_MS: must not exceed SLACK_RETRY_MAX_MS/);
  });
});
