/**
 * The one place an S3 client is built (MinIO locally, any S3 elsewhere), from validated config.
 */
import { S3Client } from '@aws-sdk/client-s3';
import type { LakeSettings } from './config.ts';

/** An S3 client for `config.s3` (endpoint, region, credentials, path-style addressing). */
export function createS3Client(config: Pick<LakeSettings, 's3'>): S3Client {
  return new S3Client({
    endpoint: config.s3.endpoint,
    region: config.s3.region,
    forcePathStyle: config.s3.forcePathStyle,
    credentials: { accessKeyId: config.s3.accessKeyId, secretAccessKey: config.s3.secretAccessKey },
  });
}
