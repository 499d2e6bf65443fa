import { readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';

const MiB = 1024 * 1024;

/** One timed run of one workload in one round. */
export interface Sample {
  bytes: number;
  seconds: number;
  latencies: number[];
  /** The gateway's peak RSS during this run (its high-water mark is reset before each run). */
  gatewayPeakRss?: number;
  /** CPU seconds each role spent during the run. */
  cpu?: Record<string, number>;
}

/** A workload's row: its group ('(a)', '(b)', …) pairs it with that group's baselines. */
export interface Row {
  group: string;
  name: string;
  /** 'disk' and 'memory' are the direct-to-Azurite baselines of the group; Ferry rows have none. */
  baseline?: 'disk' | 'memory';
  samples: Sample[];
}

export const mbps = (sample: Sample) => sample.bytes / 1e6 / sample.seconds;

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/** "median (min–max)" of a list, or the one value when there is one. */
function spread(values: number[], digits: number, unit = ''): string {
  if (values.length === 0) return '–';
  const f = (value: number) => `${value.toFixed(digits)}${unit}`;
  if (values.length === 1) return f(values[0]);
  return `${f(median(values))} (${f(Math.min(...values))}–${f(Math.max(...values))})`;
}

/**
 * A Ferry row's ratio to a baseline, paired round by round (both ran minutes apart on the same
 * machine), so drift between rounds does not masquerade as a difference.
 */
function ratios(row: Row, baseline: Row | undefined): number[] {
  if (!baseline || row.baseline) return [];
  return row.samples.map((sample, round) => mbps(sample) / mbps(baseline.samples[round])).filter(Number.isFinite);
}

export function report(rows: Row[], rounds: number, notes: string[]): string {
  const baselineOf = (row: Row, kind: 'disk' | 'memory') => rows.find((other) => other.group === row.group && other.baseline === kind);
  const table = [
    `| workload | MB/s | vs Azurite on disk | vs Azurite in memory | p50 ms | p99 ms | gateway peak RSS |`,
    `|---|---|---|---|---|---|---|`,
    ...rows.map((row) => {
      const latencies = row.samples.flatMap((sample) => sample.latencies);
      const rss = row.samples.map((sample) => sample.gatewayPeakRss).filter((value): value is number => value !== undefined);
      return [
        row.name,
        spread(row.samples.map(mbps), 1),
        spread(ratios(row, baselineOf(row, 'disk')), 2, '×'),
        spread(ratios(row, baselineOf(row, 'memory')), 2, '×'),
        latencies.length > 0 ? percentile(latencies, 50).toFixed(1) : '–',
        latencies.length > 0 ? percentile(latencies, 99).toFixed(1) : '–',
        rss.length > 0 ? `${(Math.max(...rss) / MiB).toFixed(0)} MiB` : '–',
      ].join(' | ').replace(/^/, '| ').concat(' |');
    }),
  ];
  const roles = [...new Set(rows.flatMap((row) => row.samples.flatMap((sample) => Object.keys(sample.cpu ?? {}))))];
  const cpuTable = [
    `| workload | ${roles.join(' | ')} | all |`,
    `|---|${roles.map(() => '---|').join('')}---|`,
    ...rows
      .filter((row) => row.samples.some((sample) => sample.cpu))
      .map((row) => {
        const perGiB = (pick: (cpu: Record<string, number>) => number) =>
          spread(row.samples.map((sample) => pick(sample.cpu ?? {}) / (sample.bytes / 1024 ** 3)), 2);
        const cells = roles.map((role) => perGiB((cpu) => cpu[role] ?? 0));
        return `| ${row.name} | ${cells.join(' | ')} | ${perGiB((cpu) => Object.values(cpu).reduce((a, b) => a + b, 0))} |`;
      }),
  ];
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB, Node ${process.version}`;
  return [
    `## Ingest — ${new Date().toISOString()}`,
    '',
    `Machine: ${machine}. ${rounds} round${rounds === 1 ? '' : 's'}: MB/s and ratios are the median (min–max) over the rounds,`,
    'each ratio taken against the baseline of the same round; latencies are pooled over the rounds; RSS is the highest peak.',
    '',
    ...table,
    '',
    'CPU seconds per GiB, by process (2 cores give 2 CPU-seconds per second of wall time):',
    '',
    ...cpuTable,
    '',
    ...notes.map((note) => `- ${note}`),
    '',
  ].join('\n');
}

/** Replaces the previous run's section (everything from its heading on), keeping the notes above it. */
export async function recordResults(path: string, section: string): Promise<void> {
  const current = await readFile(path, 'utf8').catch(() => '# Benchmarks\n');
  const previous = current.indexOf('\n## Ingest — ');
  const kept = (previous === -1 ? current : current.slice(0, previous)).trimEnd();
  await writeFile(path, `${kept}\n\n${section}`);
}
