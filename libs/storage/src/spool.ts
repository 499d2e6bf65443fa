import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { DirectorySync } from './dir-sync.js';

/**
 * Durable local staging for incoming bytes, and the operational-recovery cache afterwards.
 * Paths handed out and stored in the catalog are relative to the spool root
 * (`<tenantId>/<fileId>`), so the data directory can move.
 */
export class Spool {
  private readonly knownDirs = new Set<string>();
  private readonly directories = new DirectorySync();

  constructor(readonly root: string) {}

  /** A new, unique relative path for one tenant's file. */
  newPath(tenantId: string): string {
    return `${tenantId}/${randomUUID()}`;
  }

  absolute(relativePath: string): string {
    const path = resolve(this.root, relativePath);
    if (!path.startsWith(this.root + sep)) throw new Error(`spool path escapes the spool: ${relativePath}`);
    return path;
  }

  /**
   * A write stream for a new file (never an existing one). It fsyncs the file before 'finish' and
   * the caller must then `commitDir` so the directory entry is durable too.
   */
  async createWriter(relativePath: string): Promise<Writable> {
    const path = this.absolute(relativePath);
    await this.ensureDir(dirname(path));
    const writer = createWriteStream(path, { flags: 'wx', mode: 0o600, flush: true, highWaterMark: 1024 * 1024 });
    // surface open failures (an existing file, a full disk) here rather than mid-pipeline
    await new Promise<void>((resolve, reject) => {
      writer.once('ready', () => resolve());
      writer.once('error', reject);
    });
    return writer;
  }

  /**
   * A new file (never an existing one) to write to directly; the caller fsyncs and closes it, then
   * calls `commitDir` so the directory entry is durable too.
   */
  async openForWrite(relativePath: string): Promise<FileHandle> {
    const path = this.absolute(relativePath);
    await this.ensureDir(dirname(path));
    return open(path, 'wx', 0o600);
  }

  /** fsyncs the directory holding a newly written file, making its name durable (group commit). */
  async commitDir(relativePath: string): Promise<void> {
    await this.directories.sync(dirname(this.absolute(relativePath)));
  }

  reader(relativePath: string, start?: number, end?: number): Readable {
    return createReadStream(this.absolute(relativePath), { start, end, highWaterMark: 1024 * 1024 });
  }

  async exists(relativePath: string): Promise<boolean> {
    try {
      await stat(this.absolute(relativePath));
      return true;
    } catch {
      return false;
    }
  }

  async remove(relativePath: string): Promise<void> {
    await rm(this.absolute(relativePath), { force: true });
  }

  async removeTenant(tenantId: string): Promise<void> {
    await rm(this.absolute(tenantId), { recursive: true, force: true });
  }

  relative(absolutePath: string): string {
    return relative(this.root, absolutePath);
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.knownDirs.has(dir)) return;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // the new directory's own entry must be durable in its parent
    const parent = await open(join(dir, '..'), 'r');
    try {
      await parent.sync();
    } finally {
      await parent.close();
    }
    this.knownDirs.add(dir);
  }
}
