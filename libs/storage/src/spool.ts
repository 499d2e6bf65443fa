import { randomUUID } from 'node:crypto';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { DirectorySync } from './dir-sync.js';

/** What O_DIRECT writes must be aligned to here: the largest logical block size in common use. */
export const DIRECT_IO_ALIGNMENT = 4096;

/** A spool file open for writing or reading, and how. */
export interface SpoolFile {
  handle: FileHandle;
  /**
   * Opened with O_DIRECT: every write must come from aligned memory, at an aligned offset, in
   * aligned lengths (DIRECT_IO_ALIGNMENT); a short tail is padded and truncated away. Reads are
   * aligned in the same way, and only a read past the end of the file comes back short.
   */
  direct: boolean;
}

/**
 * Durable local staging for incoming bytes, and the operational-recovery cache afterwards.
 * Paths handed out and stored in the catalog are relative to the spool root
 * (`<tenantId>/<fileId>`), so the data directory can move.
 */
export class Spool {
  private readonly knownDirs = new Set<string>();
  private readonly directories = new DirectorySync();
  private directIo?: Promise<boolean>;

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
   * calls `commitDir` so the directory entry is durable too. With `preferDirect`, the file is
   * opened with O_DIRECT when the spool's filesystem takes it: writes skip the page cache, which
   * saves the kernel a copy of every byte (a third of the gateway's CPU when ingest is busy) and
   * makes the fsync cheap. The caller must then honour SpoolFile's alignment rules.
   */
  async openForWrite(relativePath: string, preferDirect = false): Promise<SpoolFile> {
    const path = this.absolute(relativePath);
    await this.ensureDir(dirname(path));
    const direct = preferDirect && (await this.supportsDirectIo());
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (direct ? constants.O_DIRECT : 0);
    return { handle: await open(path, flags, 0o600), direct };
  }

  /**
   * An existing file to read, with O_DIRECT when `preferDirect` and the spool's filesystem takes it
   * (then read it only with readFileRange and aligned slabs). A restore reads the bytes of the
   * recovery cache once, and the gateway wrote them with O_DIRECT, so the page cache does not hold
   * them: read through it, every byte first needs a new page there, and on this project's VMs, whose
   * freed memory goes back to the host, the kernel's copy out of those pages was half of the
   * gateway's CPU in a warm restore (docs/benchmarks.md).
   */
  async openForRead(relativePath: string, preferDirect = false): Promise<SpoolFile> {
    const direct = preferDirect && (await this.supportsDirectIo());
    return { handle: await open(this.absolute(relativePath), constants.O_RDONLY | (direct ? constants.O_DIRECT : 0)), direct };
  }

  /** Probed once: tmpfs and some overlay or network filesystems refuse O_DIRECT (EINVAL). */
  supportsDirectIo(): Promise<boolean> {
    this.directIo ??= this.probeDirectIo();
    return this.directIo;
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

  private async probeDirectIo(): Promise<boolean> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    const path = join(this.root, `.direct-io-probe-${randomUUID()}`);
    // WebAssembly memory is page-aligned, as the buffers ingest writes from are
    const aligned = Buffer.from(new WebAssembly.Memory({ initial: 1 }).buffer, 0, DIRECT_IO_ALIGNMENT);
    try {
      const file = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o600);
      try {
        await file.write(aligned, 0, DIRECT_IO_ALIGNMENT, 0);
      } finally {
        await file.close();
      }
      return true;
    } catch {
      return false;
    } finally {
      await rm(path, { force: true });
    }
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
