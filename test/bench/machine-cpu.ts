import { readFile } from 'node:fs/promises';

/** Linux reports CPU time in clock ticks of 1/100 s (USER_HZ). */
const TICK_SECONDS = 0.01;

/**
 * The whole machine's CPU seconds so far, all cores together: busy (every process, kernel included),
 * waiting for I/O with nothing else to run, stolen by the hypervisor, and all of them with idle.
 */
export interface MachineCpu {
  busy: number;
  iowait: number;
  steal: number;
  total: number;
}

export async function machineCpu(): Promise<MachineCpu> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0];
  // cpu user nice system idle iowait irq softirq steal …
  const [user, nice, system, idle, iowait, irq, softirq, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = user + nice + system + irq + softirq;
  return { busy: busy * TICK_SECONDS, iowait: iowait * TICK_SECONDS, steal: steal * TICK_SECONDS, total: (busy + idle + iowait + steal) * TICK_SECONDS };
}

/**
 * Waits until the machine has been nearly idle (under `cores` busy) for a window, or gives up after
 * `maxMs`: on a VM that others share, a round should not start in the middle of their test run.
 * Returns the seconds waited and whether it got quiet.
 */
export async function waitForQuiet(cores = 0.3, windowMs = 2000, maxMs = 180_000): Promise<{ waited: number; quiet: boolean }> {
  const start = Date.now();
  for (;;) {
    const before = await machineCpu();
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const after = await machineCpu();
    const busy = (after.busy - before.busy) / (windowMs / 1000);
    if (busy < cores) return { waited: (Date.now() - start) / 1000, quiet: true };
    if (Date.now() - start > maxMs) return { waited: (Date.now() - start) / 1000, quiet: false };
  }
}
