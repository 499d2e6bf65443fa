/** One stream's running MD5 (opaque). */
export interface Md5Stream {
  readonly total: number;
}

export class Md5Batcher {
  constructor(maxLanes?: number);
  stream(): Md5Stream;
  enqueue(stream: Md5Stream, data: Uint8Array, done: () => void): void;
  flush(): void;
  digest(stream: Md5Stream): Buffer;
}

export type Md5Implementation = 'avx512' | 'avx2' | 'scalar';
export function implementation(): Md5Implementation;
export function best(): Md5Implementation;
export function force(name: Md5Implementation | 'auto'): void;
export function lanes(states: Uint32Array, data: Uint8Array, offsets: Uint32Array, count: number, blocks: number): void;
