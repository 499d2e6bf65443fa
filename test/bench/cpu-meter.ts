import { readdir, readFile } from 'node:fs/promises';

/** Linux reports process CPU time in clock ticks of 1/100 s (USER_HZ) on every common platform. */
const TICK_SECONDS = 0.01;

/** Role name → the processes that play it, looked up afresh at each snapshot. */
export type CpuRoles = Record<string, number[]>;
export type CpuSeconds = Record<string, number>;

/** utime + stime of one process, all its threads included (the gateway's hash workers are threads). */
async function processSeconds(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // the command name may hold spaces: the fields that follow start after its closing parenthesis
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_SECONDS;
  } catch {
    return 0; // gone: a process that exits takes its time with it
  }
}

/** Every process whose command name is `name` (Postgres runs a backend per connection). */
export async function pidsNamed(name: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === name) pids.push(Number(entry));
  }
  return pids;
}

/** Each role's processes at one moment, with the CPU seconds each had spent by then. */
export type CpuSnapshot = Record<string, Map<number, number>>;

/**
 * CPU seconds spent by each role (a named set of processes) between two snapshots: where a
 * workload's CPU goes, which on a shared 2-core VM moves far less from run to run than MB/s does.
 * Counted process by process, since a role's processes come and go meanwhile: Postgres backends
 * start with a new worker's connections and end when a pool closes idle ones. A process that
 * appears counts from zero. One that ends takes its time with it, which then shows as the rest
 * of the machine's. Summing the role first would let such an exit cancel the others' work out.
 */
export class CpuMeter {
  constructor(private readonly roles: () => Promise<CpuRoles>) {}

  async snapshot(): Promise<CpuSnapshot> {
    const result: CpuSnapshot = {};
    for (const [role, pids] of Object.entries(await this.roles())) {
      const seconds = await Promise.all(pids.map(processSeconds));
      result[role] = new Map(pids.map((pid, i) => [pid, seconds[i]]));
    }
    return result;
  }

  static between(before: CpuSnapshot, after: CpuSnapshot): CpuSeconds {
    const spent: CpuSeconds = {};
    for (const [role, pids] of Object.entries(after)) {
      let sum = 0;
      for (const [pid, seconds] of pids) sum += Math.max(0, seconds - (before[role]?.get(pid) ?? 0));
      spent[role] = sum;
    }
    return spent;
  }
}
