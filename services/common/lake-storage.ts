/**
 * The lake's one storage interface, chosen by URL (docs/architecture.md, "Storage and engines"):
 *
 * - `file:<dir>` (default `file:./lake`, relative to the repository root): a local directory.
 *   A write goes to a temporary file in the same directory, is fsynced, renamed over the final
 *   name, and the directory is fsynced, so a reader or a crash never sees half an object.
 * - `s3://<bucket>/<prefix>`: any S3 API (MinIO locally) through @aws-sdk/client-s3, with the
 *   endpoint and credentials of the `S3_*` variables. A PUT is durable once acknowledged.
 *
 * Keys are `/`-separated and relative to the lake root. `list` returns keys in lexicographic
 * (UTF-8 byte) order, as S3 does, and supports `startAfter` for incremental listings.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ConfigError, REPO_ROOT, type LakeSettings } from './config.ts';
import { parseLakeUrl, LakeUrlError, type LakeLocation } from './lake-url.ts';
import { redactUrl } from './logger.ts';
import { createS3Client } from './s3.ts';

export interface LakeObject {
  /** Key relative to the lake root, e.g. `bronze/sport.public.activities/dt=2026-01-01/p0-...parquet`. */
  key: string;
  /** Size in bytes. */
  size: number;
}

export interface LakeStorage {
  /** The lake URL, e.g. `file:/abs/lake` or `s3://lakehouse/`. */
  readonly url: string;
  /** Writes `body` at `key`, replacing any object there; resolves once the object is durable. */
  put(key: string, body: Uint8Array): Promise<void>;
  /** Reads a whole object. @throws LakeObjectNotFound when there is none. */
  get(key: string): Promise<Buffer>;
  exists(key: string): Promise<boolean>;
  /** Objects whose key starts with `prefix`, in key order, after `startAfter` when given. */
  list(prefix: string, options?: { startAfter?: string }): AsyncIterable<LakeObject>;
  delete(key: string): Promise<void>;
  /** Absolute local path of a key for `file:` lakes (DuckDB can read it directly); else undefined. */
  localPath(key: string): string | undefined;
  close(): void;
}

export class LakeObjectNotFound extends Error {
  constructor(readonly key: string) {
    super(`no object at ${key}`);
    this.name = 'LakeObjectNotFound';
  }
}

function assertKey(key: string): void {
  if (!key || key.startsWith('/') || key.split('/').some((part) => part === '..' || part === '.')) {
    throw new Error(`invalid lake key "${key}": expected a relative path without "." or ".." segments`);
  }
}

/** Local-directory lake. */
export class FileLakeStorage implements LakeStorage {
  readonly url: string;
  constructor(readonly root: string) {
    this.url = `file:${root}`;
  }

  localPath(key: string): string {
    assertKey(key);
    return path.join(this.root, ...key.split('/'));
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const target = this.localPath(key);
    const dir = path.dirname(target);
    await mkdir(dir, { recursive: true });
    const tmp = path.join(dir, `.${path.basename(target)}.tmp-${randomBytes(6).toString('hex')}`);
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    // The rename is durable only once the directory entry is.
    const dirHandle = await open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await readFile(this.localPath(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new LakeObjectNotFound(key);
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.localPath(key))).isFile();
    } catch {
      return false;
    }
  }

  async *list(prefix: string, options: { startAfter?: string } = {}): AsyncIterable<LakeObject> {
    // Walk only the deepest directory the prefix names, then filter by the full prefix.
    const slash = prefix.lastIndexOf('/');
    const baseKey = slash >= 0 ? prefix.slice(0, slash) : '';
    // Sizes are read (one stat each) only for the objects actually yielded: a caller that takes
    // the first object after `startAfter` (the batch's partition skip-scan) does not pay a stat
    // for every object under the prefix.
    const keys: { key: string; abs: string }[] = [];
    const walk = async (dirKey: string): Promise<void> => {
      const abs = dirKey ? path.join(this.root, ...dirKey.split('/')) : this.root;
      let entries;
      try {
        entries = await readdir(abs, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const entry of entries) {
        if (entry.name.startsWith('.')) continue; // temp files of in-flight writes
        const key = dirKey ? `${dirKey}/${entry.name}` : entry.name;
        if (entry.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) await walk(key);
        } else if (entry.isFile() && key.startsWith(prefix)) {
          keys.push({ key, abs: path.join(abs, entry.name) });
        }
      }
    };
    await walk(baseKey);
    keys.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    for (const obj of keys) {
      if (options.startAfter !== undefined && Buffer.compare(Buffer.from(obj.key), Buffer.from(options.startAfter)) <= 0) continue;
      let size: number;
      try {
        size = (await stat(obj.abs)).size;
      } catch (err) {
        // Deleted since the directory was read: as if listed a moment later.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      yield { key: obj.key, size };
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.localPath(key), { force: true });
  }

  close(): void {}
}

/** S3 / MinIO lake. */
export class S3LakeStorage implements LakeStorage {
  readonly url: string;
  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
    readonly prefix: string,
  ) {
    this.url = `s3://${bucket}/${prefix}`;
  }

  private fullKey(key: string): string {
    assertKey(key);
    return `${this.prefix}${key}`;
  }

  localPath(): undefined {
    return undefined;
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key), Body: body }));
  }

  async get(key: string): Promise<Buffer> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }));
      return Buffer.from(await res.Body!.transformToByteArray());
    } catch (err) {
      if (err instanceof NoSuchKey) throw new LakeObjectNotFound(key);
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }));
      return true;
    } catch (err) {
      if (err instanceof NotFound || (err as { name?: string }).name === 'NotFound') return false;
      throw err;
    }
  }

  async *list(prefix: string, options: { startAfter?: string } = {}): AsyncIterable<LakeObject> {
    let token: string | undefined;
    do {
      const res = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: `${this.prefix}${prefix}`,
          StartAfter: token ? undefined : options.startAfter !== undefined ? `${this.prefix}${options.startAfter}` : undefined,
          ContinuationToken: token,
        }),
      );
      for (const obj of res.Contents ?? []) {
        yield { key: obj.Key!.slice(this.prefix.length), size: obj.Size ?? 0 };
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }));
  }

  /** HeadBucket (see {@link verifyLake}); rejects with the SDK's error. */
  async headBucket(abortSignal?: AbortSignal): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal });
  }

  close(): void {
    this.client.destroy();
  }
}

/**
 * Opens the lake named by `url` (default: `config.lakeUrl`).
 * @throws ConfigError naming LAKE_URL when the URL is not a valid lake URL (services/common/lake-url.ts).
 */
export function openLake(config: LakeSettings, url: string = config.lakeUrl): LakeStorage {
  let where: LakeLocation;
  try {
    where = parseLakeUrl(url);
  } catch (err) {
    if (err instanceof LakeUrlError) throw new ConfigError([`LAKE_URL: ${err.message}`]);
    throw err;
  }
  if (where.kind === 'file') return new FileLakeStorage(path.resolve(REPO_ROOT, where.dir));
  return new S3LakeStorage(createS3Client(config), where.bucket, where.prefix);
}

/** The lake's storage cannot be reached now (S3 endpoint down or not answering): transient. */
export class LakeUnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LakeUnreachableError';
  }
}

/**
 * Checks at start-up that the lake is usable (issue 14: `s3://no-such-bucket/` retried forever
 * without saying so):
 * - `file:`: the directory exists or can be created, and is writable;
 * - `s3://`: HeadBucket on the bucket at S3_ENDPOINT.
 * @throws ConfigError (exit 2 under the service runtime) when retrying cannot help: the bucket does
 *   not exist, access to it is denied, it answers with a redirect (another region or endpoint), the
 *   directory is a file or not writable;
 *   LakeUnreachableError when the endpoint cannot be reached within `timeoutMs` (default 10 s):
 *   a task fails with it, a long-running service logs it and rides the outage out.
 */
export async function verifyLake(lake: LakeStorage, config: Pick<LakeSettings, 's3'>, options: { timeoutMs?: number } = {}): Promise<void> {
  if (lake instanceof FileLakeStorage) {
    try {
      await mkdir(lake.root, { recursive: true });
      await access(lake.root, fsConstants.R_OK | fsConstants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new ConfigError([`LAKE_URL ${lake.url}: the directory ${lake.root} cannot be used as the lake (${code})`]);
    }
    return;
  }
  if (!(lake instanceof S3LakeStorage)) return;
  // As configured (redacted only when it holds a password: redactUrl normalizes the URL).
  const endpoint = `S3_ENDPOINT ${URL.canParse(config.s3.endpoint) && new URL(config.s3.endpoint).password ? redactUrl(config.s3.endpoint) : config.s3.endpoint}`;
  try {
    await lake.headBucket(AbortSignal.timeout(options.timeoutMs ?? 10_000));
  } catch (err) {
    const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode;
    if (status === 404 || e.name === 'NotFound' || e.name === 'NoSuchBucket') {
      throw new ConfigError([`LAKE_URL ${lake.url}: bucket "${lake.bucket}" does not exist at ${endpoint} (create it, or fix LAKE_URL)`]);
    }
    if (status === 403 || e.name === 'Forbidden' || e.name === 'AccessDenied') {
      throw new ConfigError([`LAKE_URL ${lake.url}: access to bucket "${lake.bucket}" denied at ${endpoint} (check S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY and the bucket's policy)`]);
    }
    if (status === 301 || status === 307 || e.name === 'PermanentRedirect') {
      throw new ConfigError([`LAKE_URL ${lake.url}: bucket "${lake.bucket}" answers with a redirect at ${endpoint} (another region or endpoint: check S3_REGION, S3_ENDPOINT)`]);
    }
    if (status !== undefined && status >= 400 && status < 500) {
      throw new ConfigError([`LAKE_URL ${lake.url}: bucket "${lake.bucket}" refused at ${endpoint}: HTTP ${status} ${e.name ?? ''}`.trimEnd()]);
    }
    const why = e.code ?? (e.name === 'TimeoutError' || e.name === 'AbortError' ? `no answer within ${(options.timeoutMs ?? 10_000) / 1000} s` : (e.name ?? String(err)));
    throw new LakeUnreachableError(`LAKE_URL ${lake.url}: ${endpoint} unreachable (${why}${status ? `, HTTP ${status}` : ''})`, { cause: err });
  }
}
