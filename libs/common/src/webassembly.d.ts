// Node has WebAssembly but the ES libs do not type it (lib.dom does, and drags in the DOM). Ferry
// uses one thing from it: shared memory, for page-aligned buffers that worker threads can read.
declare namespace WebAssembly {
  interface MemoryDescriptor {
    initial: number;
    maximum?: number;
    shared?: boolean;
  }
  class Memory {
    constructor(descriptor: MemoryDescriptor);
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
    grow(delta: number): number;
  }
}
