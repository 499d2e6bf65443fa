import type { Logger } from './logger.js';

/**
 * Runs `work` every `intervalMs`, never two at once (a tick that finds the last run still going is
 * skipped), logging a failure instead of letting it escape. The timer does not keep the process
 * alive; `stop()` clears it and waits for a run in progress.
 */
export class Periodic {
  private readonly timer: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    intervalMs: number,
    private readonly work: () => Promise<unknown>,
    private readonly logger: Logger,
    private readonly what: string,
  ) {
    this.timer = setInterval(() => void this.run(), intervalMs);
    this.timer.unref();
  }

  /** One run now, or the one already in progress. */
  run(): Promise<void> {
    return (this.running ??= this.work()
      .then(() => undefined)
      .catch((error: unknown) => this.logger.warn({ err: error }, `${this.what} failed`))
      .finally(() => (this.running = undefined)));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
