'use strict';
/**
 * Streaming MD5 over the multi-buffer compression function: many streams are fed at once, and
 * flush() hashes the queued data of up to 16 streams per pass, one stream per SIMD lane.
 *
 *   const batcher = new Md5Batcher();
 *   const a = batcher.stream(), b = batcher.stream();
 *   batcher.enqueue(a, bytes, () => {});   // `bytes` must stay unchanged until its callback runs
 *   batcher.flush();                       // runs every queued byte, then the callbacks
 *   batcher.digest(a);                     // 16-byte Buffer (flushes first)
 *
 * Plain CommonJS with no dependencies, so a worker thread evaluated from source can require it.
 */
const native = require('./build/Release/md5_mb.node');

const INITIAL = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
const LANES = 16;

class Md5Stream {
  constructor() {
    this.state = Uint32Array.from(INITIAL);
    this.total = 0;
    this.carry = new Uint8Array(64);
    this.carryLength = 0;
    this.finished = false;
  }
}

class Md5Batcher {
  constructor(maxLanes = LANES) {
    this.maxLanes = maxLanes;
    /** @type {{ stream: Md5Stream, data: Uint8Array, start: number, done: () => void }[]} */
    this.queue = [];
    this.states = new Uint32Array(maxLanes * 4);
    this.offsets = new Uint32Array(maxLanes);
    this.one = new Uint32Array(1);
  }

  stream() {
    return new Md5Stream();
  }

  /** Queues `data` for `stream`; `done` runs once it has been hashed (the caller may then reuse it). */
  enqueue(stream, data, done) {
    if (stream.finished) throw new Error('md5-mb: stream already digested');
    stream.total += data.length;
    this.queue.push({ stream, data, start: 0, done });
  }

  /** Hashes everything queued, in order per stream, and runs the callbacks. */
  flush() {
    while (this.queue.length > 0) {
      // one item per stream per pass (a stream's blocks depend on each other), all of one buffer
      const batch = [];
      const rest = [];
      const taken = new Set();
      for (const item of this.queue) {
        if (batch.length < this.maxLanes && !taken.has(item.stream) && (batch.length === 0 || item.data.buffer === batch[0].data.buffer)) {
          taken.add(item.stream);
          batch.push(item);
        } else {
          rest.push(item);
        }
      }
      const lanes = [];
      for (const item of batch) {
        this.absorbCarry(item);
        if (item.data.length - item.start >= 64) lanes.push(item);
      }
      if (lanes.length > 0) {
        let blocks = Infinity;
        for (const item of lanes) blocks = Math.min(blocks, Math.floor((item.data.length - item.start) / 64));
        const data = new Uint8Array(lanes[0].data.buffer);
        lanes.forEach((item, lane) => {
          this.states.set(item.stream.state, lane * 4);
          this.offsets[lane] = item.data.byteOffset + item.start;
        });
        native.lanes(this.states, data, this.offsets, lanes.length, blocks);
        lanes.forEach((item, lane) => {
          item.stream.state.set(this.states.subarray(lane * 4, lane * 4 + 4));
          item.start += blocks * 64;
        });
      }
      const unfinished = [];
      for (const item of batch) {
        const left = item.data.length - item.start;
        if (left >= 64) {
          unfinished.push(item);
        } else {
          item.stream.carry.set(item.data.subarray(item.start), item.stream.carryLength);
          item.stream.carryLength += left;
          item.done();
        }
      }
      this.queue = [...unfinished, ...rest];
    }
  }

  /** The stream's digest (16 bytes); the stream is finished afterwards. */
  digest(stream) {
    this.flush();
    if (stream.finished) throw new Error('md5-mb: stream already digested');
    stream.finished = true;
    const length = stream.carryLength < 56 ? 64 : 128;
    const tail = new Uint8Array(length);
    tail.set(stream.carry.subarray(0, stream.carryLength));
    tail[stream.carryLength] = 0x80;
    const bits = BigInt(stream.total) * 8n;
    new DataView(tail.buffer).setBigUint64(length - 8, bits, true);
    this.compress(stream, tail, 0, length / 64);
    const digest = Buffer.alloc(16);
    for (let i = 0; i < 4; i++) digest.writeUInt32LE(stream.state[i], i * 4);
    return digest;
  }

  /** Completes a partial carry block with the item's first bytes. */
  absorbCarry(item) {
    const stream = item.stream;
    if (stream.carryLength === 0) return;
    const take = Math.min(64 - stream.carryLength, item.data.length - item.start);
    stream.carry.set(item.data.subarray(item.start, item.start + take), stream.carryLength);
    stream.carryLength += take;
    item.start += take;
    if (stream.carryLength === 64) {
      this.compress(stream, stream.carry, 0, 1);
      stream.carryLength = 0;
    }
  }

  compress(stream, bytes, offset, blocks) {
    this.one[0] = bytes.byteOffset + offset;
    native.lanes(stream.state, new Uint8Array(bytes.buffer), this.one, 1, blocks);
  }
}

module.exports = {
  Md5Batcher,
  /** 'avx512' | 'avx2' | 'scalar': what lanes() runs on this CPU. */
  implementation: () => native.implementation(),
  best: () => native.best(),
  /** Tests only: run a lesser implementation ('scalar', 'avx2', 'avx512' or 'auto'). */
  force: (name) => native.force(name),
  lanes: native.lanes,
};
