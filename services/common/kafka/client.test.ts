import { describe, expect, it } from 'vitest';
import { createProducer } from './client.ts';
import { createLogger } from '../logger.ts';

const config = { kafka: { clientId: 'test', brokers: ['127.0.0.1:1'], topicPrefix: 'test', topicPartitions: 1 } };
const logger = createLogger('client-test', 'silent');

describe('createProducer', () => {
  it('checks the options at construction with the library\'s validators when sends are not checked (checkEachSend: false)', async () => {
    expect(() => createProducer(config, 'svc', logger, { checkEachSend: false, compression: 'brotli' as never })).toThrow(/Invalid producer options: \/compression/);
    expect(() => createProducer(config, 'svc', logger, { checkEachSend: false, retries: 'often' as never })).toThrow(/Invalid producer options: \/retries/);
    // The same mistakes throw with the library's own checks (the default).
    expect(() => createProducer(config, 'svc', logger, { compression: 'brotli' as never })).toThrow(/compression/);
    const producer = createProducer(config, 'svc', logger, { checkEachSend: false, compression: 'none' });
    await producer.close();
  });
});
