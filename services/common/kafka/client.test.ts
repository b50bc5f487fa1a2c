import { describe, expect, it } from 'vitest';
import { createProducer, internedUtf8Deserializer } from './client.ts';
import { createLogger } from '../logger.ts';
import type { KafkaSettings } from '../config.ts';

const config: KafkaSettings = {
  kafka: { clientId: 'test', brokers: ['127.0.0.1:1'], topicPrefix: 'test', topicPartitions: 1, security: { mechanism: 'none', tls: false, tlsCaFile: undefined }, as: 'admin', principals: {} },
};
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


describe('internedUtf8Deserializer (header names)', () => {
  it('decodes UTF-8 names and hands the same string back for the same bytes, from any buffer', () => {
    const decode = internedUtf8Deserializer();
    const first = decode(Buffer.from('lakehouse.schema.id'));
    expect(first).toBe('lakehouse.schema.id');
    // The bytes of a later message, in another buffer (a fetch response), give the remembered string.
    const fetch = Buffer.from('xxlakehouse.schema.idyy');
    expect(decode(fetch.subarray(2, 21))).toBe(first);
    expect(decode(Buffer.from('lakehouse.unavailable'))).toBe('lakehouse.unavailable');
    expect(decode(Buffer.from('lakehouse.schema.iD'))).toBe('lakehouse.schema.iD');
    expect(decode(Buffer.from('épée'))).toBe('épée');
    expect(decode(undefined)).toBe('');
    // Mutating the buffer a name was first read from does not change what it decodes to later.
    const reused = Buffer.from('dlq.reason');
    expect(decode(reused)).toBe('dlq.reason');
    reused.write('dlq.REASON');
    expect(decode(reused)).toBe('dlq.REASON');
  });
});
