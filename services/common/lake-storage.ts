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
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { REPO_ROOT, type LakeSettings } from './config.ts';
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

  close(): void {
    this.client.destroy();
  }
}

/**
 * Opens the lake named by `url` (default: `config.lakeUrl`).
 * @throws Error naming LAKE_URL when the URL is neither `file:` nor `s3://bucket[/prefix]`.
 */
export function openLake(config: LakeSettings, url: string = config.lakeUrl): LakeStorage {
  if (url.startsWith('file:')) {
    const dir = url.slice('file:'.length).replace(/^\/\/(?=\/)/, '');
    if (!dir) throw new Error(`LAKE_URL: "${url}" names no directory`);
    return new FileLakeStorage(path.resolve(REPO_ROOT, dir));
  }
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m?.[1]) throw new Error(`LAKE_URL: expected file:<dir> or s3://<bucket>/<prefix>, got "${url}"`);
  const prefix = m[2] ? (m[2].endsWith('/') ? m[2] : `${m[2]}/`) : '';
  return new S3LakeStorage(createS3Client(config), m[1], prefix);
}
