import { open } from 'node:fs/promises';

/**
 * Coalesces directory fsyncs (group commit). A caller needs *a* sync of the directory that starts
 * after its file was created: if one is already running, the caller waits for the next one, which
 * then serves everyone who arrived meanwhile. Thirty concurrent uploads cost two or three syncs of
 * their directory instead of thirty.
 */
export class DirectorySync {
  private readonly states = new Map<string, { running?: Promise<void>; next?: Promise<void> }>();

  sync(dir: string): Promise<void> {
    const state = this.states.get(dir) ?? {};
    this.states.set(dir, state);
    if (!state.running) {
      state.running = this.run(dir, state);
      return state.running;
    }
    // the running sync may have started before this caller's file existed: join the next one
    state.next ??= state.running.catch(() => undefined).then(() => {
      state.next = undefined;
      state.running = this.run(dir, state);
      return state.running;
    });
    return state.next;
  }

  private async run(dir: string, state: { running?: Promise<void>; next?: Promise<void> }): Promise<void> {
    try {
      const handle = await open(dir, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    } finally {
      if (!state.next) {
        state.running = undefined;
        this.states.delete(dir);
      }
    }
  }
}
