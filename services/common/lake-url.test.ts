import { describe, expect, it } from 'vitest';
import { lakeUrlProblem, parseLakeUrl } from './lake-url.ts';

describe('lake URL', () => {
  it('accepts a directory and a bucket with or without a prefix', () => {
    expect(parseLakeUrl('file:./lake')).toEqual({ kind: 'file', dir: './lake' });
    expect(parseLakeUrl('file:///var/lake')).toEqual({ kind: 'file', dir: '/var/lake' });
    expect(parseLakeUrl('s3://lakehouse')).toEqual({ kind: 's3', bucket: 'lakehouse', prefix: '' });
    expect(parseLakeUrl('s3://lakehouse/')).toEqual({ kind: 's3', bucket: 'lakehouse', prefix: '' });
    expect(parseLakeUrl('s3://my.lake-1/prod/sport')).toEqual({ kind: 's3', bucket: 'my.lake-1', prefix: 'prod/sport/' });
  });

  it('says what is wrong with a malformed one (issue 14: LAKE_URL=s3:// crashed with a stack trace)', () => {
    expect(lakeUrlProblem('s3://')).toBe('"s3://" names no bucket: expected file:<dir> or s3://<bucket>/<prefix>');
    expect(lakeUrlProblem('s3:///lake')).toBe('"s3:///lake" names no bucket: expected file:<dir> or s3://<bucket>/<prefix>');
    expect(lakeUrlProblem('file:')).toBe('"file:" names no directory: expected file:<dir> or s3://<bucket>/<prefix>');
    expect(lakeUrlProblem('/data/lake')).toBe('"/data/lake": expected file:<dir> or s3://<bucket>/<prefix>');
    expect(lakeUrlProblem('s3://Lake_House/')).toBe('"s3://Lake_House/": bucket name "Lake_House" may only hold lowercase letters, digits, dots and hyphens');
    expect(lakeUrlProblem('s3://ab/')).toBe('"s3://ab/": bucket name "ab" must be 3 to 63 characters long');
    expect(lakeUrlProblem('s3://-lake/')).toBe('"s3://-lake/": bucket name "-lake" must start and end with a letter or a digit');
    expect(lakeUrlProblem('s3://127.0.0.1/')).toBe('"s3://127.0.0.1/": bucket name "127.0.0.1" must not be an IP address');
    expect(lakeUrlProblem('s3://minio:9000/lake')).toBe('"s3://minio:9000/lake": an s3 lake URL names a bucket, not a host (the endpoint is S3_ENDPOINT)');
    expect(lakeUrlProblem('s3://lake/a//b')).toBe('"s3://lake/a//b": the key prefix "a//b" has an empty, "." or ".." segment');
    expect(lakeUrlProblem('s3://lake/../x')).toBe('"s3://lake/../x": the key prefix "../x" has an empty, "." or ".." segment');
    expect(lakeUrlProblem('s3://lake/?versionId=1')).toBe('"s3://lake/?versionId=1": an s3 lake URL has no query string or fragment');
  });
});
