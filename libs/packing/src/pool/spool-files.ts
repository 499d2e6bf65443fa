import { closeSync, constants, openSync, readSync } from 'node:fs';

export interface SpoolPiece {
  /** Absolute path of a spool file holding part of the object, in order. */
  path: string;
  size: number;
}

/** What O_DIRECT needs aligned: memory, file offsets and lengths (the largest logical block size in common use). */
export const DIRECT_ALIGNMENT = 4096;
const WASM_PAGE = 64 * 1024;

/**
 * The memory reads land in, kept between tasks (which never overlap in a thread): a fresh multi-MiB
 * buffer per read cost more than the read itself (glibc maps new pages, the read faults them in, and
 * they go back to the kernel with the buffer). Cutting and encoding 64 MiB of log-like data in one
 * thread took 7.6-8.5 CPU-s per GiB with a new buffer per read and 4.1-5.0 with reused ones.
 * WebAssembly memory starts on a page boundary, which O_DIRECT needs.
 */
let aligned: Buffer = Buffer.alloc(0);
/** Where a read that spans two spool files is joined into one run of bytes. */
let joined = Buffer.alloc(0);

function alignedOf(bytes: number): Buffer {
  if (aligned.length < bytes) aligned = Buffer.from(new WebAssembly.Memory({ initial: Math.ceil(bytes / WASM_PAGE) }).buffer);
  return aligned;
}

function joinedOf(bytes: number): Buffer {
  if (joined.length < bytes) joined = Buffer.allocUnsafeSlow(bytes);
  return joined;
}

const roundUp = (n: number) => Math.ceil(n / DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT;

/**
 * Synchronous reads of one object's spool files, for the packing threads (a thread runs one task
 * at a time, so nothing is gained by async reads and every one would cost a trip through libuv's
 * pool). Every read lands in memory this thread reuses, and comes back as a view of it, valid until
 * the thread's next read.
 *
 * Repacking reads each new byte of the spool twice (cutting, then encoding) and never again, and
 * the gateway wrote it with O_DIRECT, so the page cache does not hold it. Read through the page
 * cache, every byte first needs a page of its own there: on this project's VMs, whose freed memory
 * goes back to the host, those pages cost a fault in the host as well, and the kernel's copy out of
 * them was a quarter of the packing threads' CPU in a drain (docs/benchmarks.md). So repacking
 * reads with O_DIRECT where the filesystem takes it (tmpfs before Linux 6.6 and some overlay or
 * network filesystems refuse it, and are read as usual): the disk writes straight into the reused
 * buffer. A read from the recovery cache, which may well be in the page cache, still goes through it.
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
    const fds: number[] = [];
    const modes: boolean[] = [];
    try {
      for (const piece of pieces) {
        const fd = direct ? openDirect(piece.path) : undefined;
        fds.push(fd ?? openSync(piece.path, 'r'));
        modes.push(fd !== undefined);
      }
      return work(new SpoolFiles(pieces, fds, modes));
    } finally {
      for (const fd of fds) closeSync(fd);
    }
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

  /** `length` bytes of the object at `offset`, wherever its files split it. */
  objectBytes(offset: number, length: number): Buffer {
    const spans = spansOf(this.pieces, offset, length);
    if (spans.length === 1) return this.pieceBytes(spans[0].piece, spans[0].start, length);
    const out = joinedOf(length).subarray(0, length);
    let written = 0;
    for (const span of spans) written += this.pieceBytes(span.piece, span.start, span.length).copy(out, written);
    return out;
  }

  /** As objectBytes, into `into` (exactly `length` bytes), reading straight into it where the files are not direct. */
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

/**
 * Reads the aligned blocks around `length` bytes at `position` into the aligned buffer and returns
 * the bytes asked for. The last block of the file is read whole: a direct read past the end of the
 * file comes back short, and only there may it.
 */
function readDirect(fd: number, position: number, length: number, size: number): Buffer {
  const start = position - (position % DIRECT_ALIGNMENT);
  const skip = position - start;
  const end = Math.min(roundUp(position + length), roundUp(size));
  const buffer = alignedOf(end - start);
  for (let done = 0; done < skip + length; ) {
    const bytesRead = readSync(fd, buffer, done, end - start - done, start + done);
    // a short read that is not the file's end would leave the next read unaligned
    if (bytesRead === 0 || (bytesRead % DIRECT_ALIGNMENT !== 0 && done + bytesRead < skip + length)) {
      throw new Error(`spool file ended at byte ${start + done + bytesRead}, before ${position + length}`);
    }
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
