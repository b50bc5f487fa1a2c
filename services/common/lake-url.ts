/**
 * The lake URL (`LAKE_URL`, `--lake`), parsed and validated in one place: the configuration
 * refuses a malformed URL before anything starts (exit 2), and services/common/lake-storage.ts
 * opens the storage it names (issue 14: `LAKE_URL=s3://` crashed with a stack trace).
 *
 * Accepted forms:
 * - `file:<dir>` (also `file:///abs/dir`): a local directory, relative to the repository root;
 * - `s3://<bucket>` or `s3://<bucket>/<prefix>`: a bucket named by the S3 rules
 *   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html: 3-63
 *   characters, lowercase letters, digits, dots and hyphens, starting and ending with a letter or
 *   a digit, no "..", not an IP address) and an optional key prefix without empty, "." or ".."
 *   segments. No query string, no fragment, no user or port in an s3 URL.
 */

/** Where the lake is. `prefix` is "" or ends with "/". */
export type LakeLocation = { kind: 'file'; dir: string } | { kind: 's3'; bucket: string; prefix: string };

/** Thrown by {@link parseLakeUrl}; the message says what is wrong, without the variable name. */
export class LakeUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LakeUrlError';
  }
}

const EXPECTED = 'expected file:<dir> or s3://<bucket>/<prefix>';

/** Why `bucket` is not a valid S3 bucket name, or undefined. */
export function bucketNameProblem(bucket: string): string | undefined {
  if (bucket.length < 3 || bucket.length > 63) return `bucket name "${bucket}" must be 3 to 63 characters long`;
  if (!/^[a-z0-9.-]+$/.test(bucket)) return `bucket name "${bucket}" may only hold lowercase letters, digits, dots and hyphens`;
  if (!/^[a-z0-9].*[a-z0-9]$/.test(bucket)) return `bucket name "${bucket}" must start and end with a letter or a digit`;
  if (bucket.includes('..')) return `bucket name "${bucket}" must not hold two adjacent dots`;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(bucket)) return `bucket name "${bucket}" must not be an IP address`;
  return undefined;
}

/**
 * Parses a lake URL.
 * @throws LakeUrlError saying what is wrong (e.g. `"s3://" names no bucket: expected ...`).
 */
export function parseLakeUrl(url: string): LakeLocation {
  if (url.startsWith('file:')) {
    const dir = url.slice('file:'.length).replace(/^\/\/(?=\/)/, '');
    if (!dir.trim()) throw new LakeUrlError(`"${url}" names no directory: ${EXPECTED}`);
    return { kind: 'file', dir };
  }
  if (!url.startsWith('s3://')) throw new LakeUrlError(`"${url}": ${EXPECTED}`);
  const rest = url.slice('s3://'.length);
  if (/[?#]/.test(rest)) throw new LakeUrlError(`"${url}": an s3 lake URL has no query string or fragment`);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1);
  if (!bucket) throw new LakeUrlError(`"${url}" names no bucket: ${EXPECTED}`);
  if (/[@:]/.test(bucket)) throw new LakeUrlError(`"${url}": an s3 lake URL names a bucket, not a host (the endpoint is S3_ENDPOINT)`);
  const problem = bucketNameProblem(bucket);
  if (problem) throw new LakeUrlError(`"${url}": ${problem}`);
  if (prefix) {
    const segments = prefix.replace(/\/$/, '').split('/');
    if (segments.some((s) => s === '' || s === '.' || s === '..')) throw new LakeUrlError(`"${url}": the key prefix "${prefix}" has an empty, "." or ".." segment`);
  }
  return { kind: 's3', bucket, prefix: prefix && !prefix.endsWith('/') ? `${prefix}/` : prefix };
}

/** What is wrong with `url`, or undefined when it is a valid lake URL (for the configuration schema). */
export function lakeUrlProblem(url: string): string | undefined {
  try {
    parseLakeUrl(url);
    return undefined;
  } catch (err) {
    if (err instanceof LakeUrlError) return err.message;
    throw err;
  }
}
