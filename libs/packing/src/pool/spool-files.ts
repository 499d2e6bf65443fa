import { closeSync, constants, openSync, read, readSync } from 'node:fs';

export interface SpoolPiece {
  /** Absolute path of a spool file holding part of the object, in order. */
  path: string;
  size: number;
}

/**
 * What O_DIRECT needs aligned: memory, file offsets and lengths (the largest logical block size in
 * common use). The same as @ferry/storage's DIRECT_IO_ALIGNMENT, which a thread module may not import.
 */
export const DIRECT_ALIGNMENT = 4096;
const WASM_PAGE = 64 * 1024;

/**
 * The memory synchronous reads land in, kept between reads (each is used up before the thread's next
 * read): a fresh multi-MiB buffer per read cost more than the read itself (glibc maps new pages, the
 * read faults them in, and they go back to the kernel with the buffer). Cutting and encoding 64 MiB
 * of log-like data in one thread took 7.6-8.5 CPU-s per GiB with a new buffer per read and 4.1-5.0
 * with reused ones. WebAssembly memory starts on a page boundary, which O_DIRECT needs.
 */
let aligned: Buffer = Buffer.alloc(0);

/**
 * How many tasks reading the spool a packing thread runs at once when repacking (PackingPool's
 * `tasksPerThread`). Each task's first read waits for the disk (the reads are direct), and with one
 * task a thread idled through it: a small object's cut or encode is about one read and one span of
 * work, so nothing of its own hides the wait. Cutting and encoding 1,024 × 1 MiB through a pool of two
 * threads alone (`npm run bench:packing`, docs/benchmarks.md): 264-278 MB/s with one task per
 * thread, 316-381 with three, for no more CPU per GiB; a fourth added nothing.
 */
export const SPOOL_TASKS_PER_THREAD = 3;

/**
 * Read-ahead buffers no `ahead` is using. Each running `ahead` holds two (one span being worked on,
 * the next being read), and a thread runs up to SPOOL_TASKS_PER_THREAD of them at once.
 */
const aheadFree: Buffer[] = [];
/** Free read-ahead buffers kept for the next tasks: as many as the running tasks hold at most. */
const AHEAD_KEPT = 2 * SPOOL_TASKS_PER_THREAD;

const alignedMemory = (bytes: number): Buffer => Buffer.from(new WebAssembly.Memory({ initial: Math.ceil(bytes / WASM_PAGE) }).buffer);

function alignedOf(bytes: number): Buffer {
  if (aligned.length < bytes) aligned = alignedMemory(bytes);
  return aligned;
}

/** The two read-ahead buffers of one `ahead`, taken from the free ones and given back at its end. */
class AheadBuffers {
  private readonly slots: Buffer[] = [aheadFree.pop() ?? Buffer.alloc(0), aheadFree.pop() ?? Buffer.alloc(0)];

  /** Buffer `slot` (0 or 1), at least `bytes` long. */
  of(slot: number, bytes: number): Buffer {
    if (this.slots[slot].length < bytes) this.slots[slot] = alignedMemory(bytes);
    return this.slots[slot];
  }

  /** Only once no read into them is under way. */
  release(): void {
    for (const buffer of this.slots) if (buffer.length > 0 && aheadFree.length < AHEAD_KEPT) aheadFree.push(buffer);
  }
}

const roundUp = (n: number) => Math.ceil(n / DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT;

/**
 * Reads of one object's spool files, for the packing threads. Every read lands in memory this
 * thread reuses and comes back as a view of it: a synchronous read's is valid until the thread's
 * next synchronous read, an `ahead` span's until that `ahead` moves on. Reads are synchronous, but
 * for `ahead`, which reads the next span through libuv's pool while the thread works on the current
 * one (or on another task: see PackingPool).
 *
 * Repacking reads each new byte of the spool twice (cutting, then encoding) and never again, and
 * the gateway wrote it with O_DIRECT, so the page cache does not hold it. Read through the page
 * cache, every byte first needs a page of its own there: on this project's VMs, whose freed memory
 * goes back to the host, those pages cost a fault in the host as well, and the kernel's copy out of
 * them was a quarter of the packing threads' CPU in a drain (docs/benchmarks.md). So repacking
 * reads with O_DIRECT where the filesystem takes it (tmpfs before Linux 6.6 and some overlay or
 * network filesystems refuse it, and are read as usual): the disk writes straight into the reused
 * buffer. A direct read waits for the disk, which `ahead` hides. A read from the recovery cache,
 * which may well be in the page cache, still goes through it.
 */
export class SpoolFiles {
  private constructor(
    private readonly pieces: readonly SpoolPiece[],
    private readonly fds: number[],
    /** Per file: opened with O_DIRECT. */
    readonly direct: readonly boolean[],
  ) {}

  /**
   * Opens `pieces`, with O_DIRECT when `direct` and the filesystem takes it, runs `work` and closes
   * them, whatever happens.
   */
  static with<T>(pieces: readonly SpoolPiece[], direct: boolean, work: (files: SpoolFiles) => T): T {
    const files = SpoolFiles.open(pieces, direct);
    try {
      return work(files);
    } finally {
      files.close();
    }
  }

  /** As `with`, for work that reads ahead (`ahead`): the files stay open until its promise settles. */
  static async withAsync<T>(pieces: readonly SpoolPiece[], direct: boolean, work: (files: SpoolFiles) => Promise<T>): Promise<T> {
    const files = SpoolFiles.open(pieces, direct);
    try {
      return await work(files);
    } finally {
      files.close();
    }
  }

  private static open(pieces: readonly SpoolPiece[], direct: boolean): SpoolFiles {
    const fds: number[] = [];
    const modes: boolean[] = [];
    try {
      for (const piece of pieces) {
        const fd = direct ? openDirect(piece.path) : undefined;
        fds.push(fd ?? openSync(piece.path, 'r'));
        modes.push(fd !== undefined);
      }
    } catch (error) {
      for (const fd of fds) closeSync(fd);
      throw error;
    }
    return new SpoolFiles(pieces, fds, modes);
  }

  private close(): void {
    for (const fd of this.fds) closeSync(fd);
  }

  /**
   * The bytes of each of `spans` (of the object) in turn, each a view valid until the next is asked
   * for; meanwhile the next one is already being read, into memory of its own. A direct read waits
   * for the disk, and reading one span ahead lets the thread compress or hash the current span
   * meanwhile (a span of a file not read directly, or spread over two files, is read when its turn comes).
   */
  async *ahead(spans: readonly { offset: number; length: number }[]): AsyncGenerator<Buffer> {
    const buffers = new AheadBuffers();
    let next = spans.length > 0 ? this.start(spans[0], buffers, 0) : undefined;
    try {
      for (let i = 0; i < spans.length; i++) {
        const bytes = await next!;
        next = i + 1 < spans.length ? this.start(spans[i + 1], buffers, (i + 1) % 2) : undefined;
        yield bytes;
      }
    } finally {
      // a read still under way must not land after the files close (or in memory reused by then)
      await next?.catch(() => undefined);
      buffers.release();
    }
  }

  /** Starts reading `span` into read-ahead buffer `slot` (whatever can go wrong shows in the promise). */
  private async start(span: { offset: number; length: number }, buffers: AheadBuffers, slot: number): Promise<Buffer> {
    const [first, ...more] = spansOf(this.pieces, span.offset, span.length);
    if (first && more.length === 0 && this.direct[first.piece]) {
      return readDirectAhead(this.fds[first.piece], first.start, span.length, this.pieces[first.piece].size, (bytes) => buffers.of(slot, bytes));
    }
    return this.objectBytesInto(span.offset, buffers.of(slot, span.length).subarray(0, span.length));
  }

  /** `length` bytes of file `piece` at `position`. */
  pieceBytes(piece: number, position: number, length: number): Buffer {
    const size = this.pieces[piece].size;
    if (position < 0 || length < 0 || position + length > size) throw new RangeError(`bytes ${position}-${position + length} of a spool file of ${size}`);
    if (this.direct[piece]) return readDirect(this.fds[piece], position, length, size);
    const out = alignedOf(length).subarray(0, length);
    readFully(this.fds[piece], out, position);
    return out;
  }

  /** The object's bytes at `offset`, into `into` (as many as it holds), wherever its files split them; straight into it where the files are not direct. */
  objectBytesInto(offset: number, into: Buffer): Buffer {
    let written = 0;
    for (const span of spansOf(this.pieces, offset, into.length)) {
      const part = into.subarray(written, written + span.length);
      if (this.direct[span.piece]) this.pieceBytes(span.piece, span.start, span.length).copy(part);
      else readFully(this.fds[span.piece], part, span.start);
      written += span.length;
    }
    return into;
  }
}

/** The file opened with O_DIRECT, or undefined where its filesystem refuses that (EINVAL). */
function openDirect(path: string): number | undefined {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_DIRECT);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EINVAL') return undefined;
    throw error;
  }
}

/** The aligned blocks around `length` bytes at `position` of a file of `size` bytes, and where those bytes start in them. */
function directWindow(position: number, length: number, size: number): { start: number; skip: number; span: number } {
  const start = position - (position % DIRECT_ALIGNMENT);
  // the last block of the file is read whole: a direct read past the end of the file comes back
  // short, and only there may it
  return { start, skip: position - start, span: Math.min(roundUp(position + length), roundUp(size)) - start };
}

/** Throws unless `bytesRead` more bytes at `done` (of the window) may be followed by more reads, or finish it. */
function checkDirectRead(bytesRead: number, done: number, needed: number, start: number, position: number, length: number): void {
  // a short read that is not the file's end would leave the next read unaligned
  if (bytesRead === 0 || (bytesRead % DIRECT_ALIGNMENT !== 0 && done + bytesRead < needed)) {
    throw new Error(`spool file ended at byte ${start + done + bytesRead}, before ${position + length}`);
  }
}

/** Reads the aligned blocks around `length` bytes at `position` into the aligned buffer and returns the bytes asked for. */
function readDirect(fd: number, position: number, length: number, size: number): Buffer {
  const { start, skip, span } = directWindow(position, length, size);
  const buffer = alignedOf(span);
  for (let done = 0; done < skip + length; ) {
    const bytesRead = readSync(fd, buffer, done, span - done, start + done);
    checkDirectRead(bytesRead, done, skip + length, start, position, length);
    done += bytesRead;
  }
  return buffer.subarray(skip, skip + length);
}

/** As readDirect, through libuv's pool (the thread goes on meanwhile), into the buffer `bufferOf` gives for the window. */
async function readDirectAhead(fd: number, position: number, length: number, size: number, bufferOf: (bytes: number) => Buffer): Promise<Buffer> {
  const { start, skip, span } = directWindow(position, length, size);
  const buffer = bufferOf(span);
  for (let done = 0; done < skip + length; ) {
    const bytesRead = await new Promise<number>((resolve, reject) => read(fd, buffer, done, span - done, start + done, (error, n) => (error ? reject(error) : resolve(n))));
    checkDirectRead(bytesRead, done, skip + length, start, position, length);
    done += bytesRead;
  }
  return buffer.subarray(skip, skip + length);
}

function readFully(fd: number, into: Buffer, position: number): void {
  for (let done = 0; done < into.length; ) {
    const bytesRead = readSync(fd, into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new Error(`spool file ended at byte ${position + done}`);
    done += bytesRead;
  }
}

/** The pieces of `length` bytes at `offset` of an object spread over spool files: which file, where, how many. */
export function spansOf(pieces: readonly SpoolPiece[], offset: number, length: number): { piece: number; start: number; length: number }[] {
  const spans: { piece: number; start: number; length: number }[] = [];
  let written = 0;
  let base = 0;
  for (let i = 0; i < pieces.length && written < length; i++) {
    const size = pieces[i].size;
    const start = offset + written - base;
    if (start < size) {
      const take = Math.min(size - start, length - written);
      spans.push({ piece: i, start, length: take });
      written += take;
    }
    base += size;
  }
  if (written !== length) throw new Error(`spool files end before byte ${offset + length}`);
  return spans;
}
