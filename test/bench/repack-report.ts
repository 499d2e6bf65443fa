import { cpus, totalmem } from 'node:os';
import { mbps, percentile, type Sample } from './bench-report.js';
import { blobWrites, type ContainerCounts } from './blob-request-log.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** What one drain (or one direct upload) did in Blob: its requests, and the bytes it added to the container. */
export interface BlobActivity {
  counts: ContainerCounts;
  addedBytes: number;
}

/** A drain's (or a direct upload's) Blob activity, for so many logical bytes. */
export interface RequestCount extends BlobActivity {
  round: number;
  /** `ferry-big`, `ferry-small`, `ferry-backup-1`, …, `direct-small`, or a restore's reads: `read-ferry-big`, `read-direct-small`, … */
  what: string;
  logicalBytes: number;
}

/** The usage API's answer (GET /admin/v1/tenants/{id}/usage). */
export interface Usage {
  logicalBytes: number;
  storedBytes: number;
  pendingBytes: number;
  dedupRatio: number | null;
  compressionRatio: number | null;
}

export interface BackupResult {
  round: number;
  first: Usage;
  second: Usage;
}

export interface RepackResults {
  rounds: number;
  /** Throughput rows by id, one sample per round. */
  samples: Record<string, Sample[]>;
  requests: RequestCount[];
  backups: BackupResult[];
  /** Seconds from spawning a worker to its "worker ready", for every drain. */
  workerReady: number[];
  /** The same, by drain row id (`drain-big`, `drain-small`), one per round. */
  readyByDrain: Record<string, number[]>;
  /** How long each round waited for the machine to be quiet before it started, and whether it got so. */
  quietWaits: { waited: number; quiet: boolean }[];
  dataset: {
    big: { count: number; size: number };
    small: { count: number; size: number };
    tree: { files: number; bytes: number; changedFiles: number; secondBytes: number; minSize: number; maxSize: number };
  };
}

interface RowSpec {
  id: string;
  name: string;
  /** The row this one is compared with, round by round. */
  baseline?: string;
}

function rowSpecs(results: RepackResults): RowSpec[] {
  const { big, small, tree } = results.dataset;
  const bigSet = `${big.count} × ${big.size / MiB} MiB log-like`;
  const smallSet = `${small.count.toLocaleString('en')} × ${small.size / MiB} MiB log-like`;
  return [
    { id: 'drain-big', name: `drain (spool → Blob), ${bigSet}`, baseline: 'direct-big' },
    { id: 'drain-small', name: `drain (spool → Blob), ${smallSet}`, baseline: 'direct-small' },
    { id: 'service-big', name: `drain by a worker in service (queue resumed), ${bigSet}`, baseline: 'direct-big' },
    { id: 'service-small', name: `drain by a worker in service (queue resumed), ${smallSet}`, baseline: 'direct-small' },
    { id: 'direct-big', name: `direct upload to Azurite, ${bigSet}, 4 at a time` },
    { id: 'direct-small', name: `direct upload to Azurite, ${smallSet}, 32 at a time` },
    { id: 'warm-big', name: `warm restore (spool cache), ${bigSet}, 8 at a time, plain HTTP client`, baseline: 'get-big' },
    { id: 'get-big', name: `direct GET from Azurite (SAS), ${bigSet}, plain HTTP client, after the warm pass` },
    { id: 'warm-small', name: `warm restore (spool cache), ${smallSet}, 8 at a time, plain HTTP client`, baseline: 'get-small' },
    { id: 'get-small', name: `direct GET from Azurite (SAS), ${smallSet}, plain HTTP client, after the warm pass` },
    { id: 'cold-big', name: `cold restore (packs in Blob), ${bigSet}, 8 at a time, plain HTTP client`, baseline: 'get-cold-big' },
    { id: 'get-cold-big', name: `direct GET from Azurite (SAS), ${bigSet}, plain HTTP client, after the cold pass` },
    { id: 'cold-small', name: `cold restore (packs in Blob), ${smallSet}, 8 at a time, plain HTTP client`, baseline: 'get-cold-small' },
    { id: 'get-cold-small', name: `direct GET from Azurite (SAS), ${smallSet}, plain HTTP client, after the cold pass` },
    { id: 'warm-sdk-big', name: `warm restore, ${bigSet}, @aws-sdk/client-s3 (no response checksum)`, baseline: 'get-sdk-big' },
    { id: 'warm-sdk-small', name: `warm restore, ${smallSet}, @aws-sdk/client-s3 (no response checksum)`, baseline: 'get-sdk-small' },
    { id: 'cold-sdk-big', name: `cold restore, ${bigSet}, @aws-sdk/client-s3 (no response checksum)`, baseline: 'get-sdk-big' },
    { id: 'cold-sdk-small', name: `cold restore, ${smallSet}, @aws-sdk/client-s3 (no response checksum)`, baseline: 'get-sdk-small' },
    { id: 'cold-crc-big', name: `cold restore, ${bigSet}, @aws-sdk/client-s3 checking CRC32 (its default)`, baseline: 'get-sdk-big' },
    { id: 'cold-crc-small', name: `cold restore, ${smallSet}, @aws-sdk/client-s3 checking CRC32 (its default)`, baseline: 'get-sdk-small' },
    { id: 'get-sdk-big', name: `direct GET from Azurite, ${bigSet}, @azure/storage-blob` },
    { id: 'get-sdk-small', name: `direct GET from Azurite, ${smallSet}, @azure/storage-blob` },
    { id: 'upload-backup-1', name: `backup 1 acknowledged by the gateway (${tree.files} files, incompressible), 8 at a time` },
    { id: 'drain-backup-1', name: 'drain of backup 1 (all new, incompressible)' },
    { id: 'upload-backup-2', name: `backup 2 acknowledged by the gateway (${tree.changedFiles} of ${tree.files} files changed)` },
    { id: 'drain-backup-2', name: 'drain of backup 2 (95 % of the files unchanged)' },
  ];
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/** "median (min–max)" of a list, or the one value when there is one. */
export function spread(values: number[], digits: number, unit = ''): string {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return '–';
  const f = (value: number) => `${value.toFixed(digits)}${unit}`;
  if (finite.length === 1) return f(finite[0]);
  return `${f(median(finite))} (${f(Math.min(...finite))}–${f(Math.max(...finite))})`;
}

/** A row's ratio to its baseline, paired round by round. */
function ratios(results: RepackResults, spec: RowSpec): number[] {
  const samples = results.samples[spec.id] ?? [];
  const baseline = spec.baseline ? results.samples[spec.baseline] ?? [] : [];
  return samples.map((sample, round) => (baseline[round] ? mbps(sample) / mbps(baseline[round]) : Number.NaN));
}

const writesPerGiB = (count: RequestCount) => blobWrites(count.counts) / (count.logicalBytes / GiB);
const getsPerGiB = (count: RequestCount) => (count.counts.requests.get ?? 0) / (count.logicalBytes / GiB);
/** A restore's reads (`read-…`), as against a drain's or an upload's writes. */
const isRead = (count: RequestCount) => count.what.startsWith('read-');
const requestsOf = (results: RepackResults, what: string) => results.requests.filter((count) => count.what === what);
const backupGrowth = (backup: BackupResult) => (backup.second.storedBytes - backup.first.storedBytes) / backup.first.storedBytes;

/** "met in k of n rounds" for a per-round figure and its test. */
function verdict(values: number[], meets: (value: number) => boolean): string {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return '–';
  const met = finite.filter(meets).length;
  const atMedian = meets(median(finite)) ? '**yes**' : '**no**';
  return `${atMedian} (${met} of ${finite.length} rounds)`;
}

function targetTable(results: RepackResults): string[] {
  const mb = (id: string) => (results.samples[id] ?? []).map(mbps);
  const spec = (id: string) => rowSpecs(results).find((row) => row.id === id)!;
  const lines = [
    '| figure | Ferry | baseline, same run | Ferry ÷ baseline | target | met at the median |',
    '|---|---|---|---|---|---|',
  ];
  for (const [set, label] of [['big', '64 MiB objects'], ['small', '1 MiB objects']] as const) {
    lines.push(
      `| drain MB/s (spool → Blob), ${label} | ${spread(mb(`drain-${set}`), 1)} | ${spread(mb(`direct-${set}`), 1)} (direct upload) | ${spread(ratios(results, spec(`drain-${set}`)), 2, '×')} | ≥ 200 MB/s | ${verdict(mb(`drain-${set}`), (value) => value >= 200)} |`,
    );
    // A worker in service is already up when a backlog forms; this row leaves its start-up out
    const ready = results.readyByDrain[`drain-${set}`] ?? [];
    const running = (results.samples[`drain-${set}`] ?? []).map((sample, round) => sample.bytes / 1e6 / (sample.seconds - (ready[round] ?? Number.NaN)));
    const direct = mb(`direct-${set}`);
    lines.push(
      `| drain MB/s once the worker is ready (its start-up left out), ${label} | ${spread(running, 1)} | ${spread(direct, 1)} (direct upload) | ${spread(running.map((value, round) => value / direct[round]), 2, '×')} | ≥ 200 MB/s | ${verdict(running, (value) => value >= 200)} |`,
    );
    lines.push(
      `| drain MB/s by a worker in service (its queue resumed), ${label} | ${spread(mb(`service-${set}`), 1)} | ${spread(direct, 1)} (direct upload) | ${spread(ratios(results, spec(`service-${set}`)), 2, '×')} | ≥ 200 MB/s | ${verdict(mb(`service-${set}`), (value) => value >= 200)} |`,
    );
  }
  const ferryWrites = requestsOf(results, 'ferry-small').map(writesPerGiB);
  const directWrites = requestsOf(results, 'direct-small').map(writesPerGiB);
  lines.push(
    `| Blob write requests per GiB, 1 MiB objects | ${spread(ferryWrites, 1)} | ${spread(directWrites, 0)} (direct upload, counted) | ${spread(ferryWrites.map((value, i) => value / directWrites[i]), 3, '×')} | ≤ 40 | ${verdict(ferryWrites, (value) => value <= 40)} |`,
  );
  const growth = results.backups.map((backup) => backupGrowth(backup) * 100);
  lines.push(
    `| stored bytes of a 2nd full backup (5 % of files changed), vs the 1st | ${spread(growth, 2, ' %')} | 100 % | – | ≤ 8 % | ${verdict(growth, (value) => value <= 8)} |`,
  );
  // Judged on the passes where one plain HTTP client reads both servers; the SDK passes (S3 SDK
  // against the Azure SDK, each client's own cost on the same cores) are given beside them.
  for (const [kind, target, min] of [['cold', '≥ 0.8×', 0.8], ['warm', '≥ 2×', 2]] as const) {
    for (const [set, label] of [['big', '64 MiB objects'], ['small', '1 MiB objects']] as const) {
      for (const [id, client] of [[`${kind}-${set}`, 'the same plain HTTP client'], [`${kind}-sdk-${set}`, 'S3 SDK against Azure SDK']] as const) {
        const row = spec(id);
        const ratio = ratios(results, row);
        lines.push(
          `| ${kind} restore MB/s, ${label}, ${client} | ${spread(mb(id), 1)} | ${spread(mb(row.baseline!), 1)} (direct GET) | ${spread(ratio, 2, '×')} | ${target} | ${verdict(ratio, (value) => value >= min)} |`,
        );
      }
    }
  }
  return lines;
}

function throughputTable(results: RepackResults): string[] {
  return [
    '| workload | MB/s | vs its baseline | p50 ms | p99 ms |',
    '|---|---|---|---|---|',
    ...rowSpecs(results)
      .filter((spec) => results.samples[spec.id]?.length)
      .map((spec) => {
        const samples = results.samples[spec.id];
        const latencies = samples.flatMap((sample) => sample.latencies);
        return `| ${spec.name} | ${spread(samples.map(mbps), 1)} | ${spec.baseline ? spread(ratios(results, spec), 2, '×') : '–'} | ${latencies.length ? percentile(latencies, 50).toFixed(1) : '–'} | ${latencies.length ? percentile(latencies, 99).toFixed(1) : '–'} |`;
      }),
  ];
}

/** Not a process of the bench: the rest of the machine, and time stolen by the hypervisor. */
const OUTSIDE = ['other', 'steal'];

function cpuTable(results: RepackResults): string[] {
  const specs = rowSpecs(results).filter((spec) => results.samples[spec.id]?.some((sample) => sample.cpu));
  const roles = [...new Set(specs.flatMap((spec) => results.samples[spec.id].flatMap((sample) => Object.keys(sample.cpu ?? {}))))].filter(
    (role) => !OUTSIDE.includes(role),
  );
  return [
    `| workload | ${roles.join(' | ')} | all of these | rest of the machine | stolen |`,
    `|---|${roles.map(() => '---|').join('')}---|---|---|`,
    ...specs.map((spec) => {
      const perGiB = (pick: (cpu: Record<string, number>) => number) =>
        spread(results.samples[spec.id].map((sample) => pick(sample.cpu ?? {}) / (sample.bytes / GiB)), 2);
      const all = perGiB((cpu) => roles.reduce((sum, role) => sum + (cpu[role] ?? 0), 0));
      return `| ${spec.name} | ${roles.map((role) => perGiB((cpu) => cpu[role] ?? 0)).join(' | ')} | ${all} | ${perGiB((cpu) => cpu.other ?? 0)} | ${perGiB((cpu) => cpu.steal ?? 0)} |`;
    }),
  ];
}

const REQUEST_ROWS: [string, string][] = [
  ['ferry-big', 'Ferry worker, drain of the 64 MiB objects'],
  ['ferry-small', 'Ferry worker, drain of the 1 MiB objects'],
  ['ferry-backup-1', 'Ferry worker, drain of backup 1'],
  ['ferry-backup-2', 'Ferry worker, drain of backup 2'],
  ['direct-small', 'direct upload, 1 MiB objects (uploadData)'],
];

function requestTable(results: RepackResults): string[] {
  const perGiB = (counts: RequestCount[], pick: (count: RequestCount) => number) => spread(counts.map((count) => pick(count) / (count.logicalBytes / GiB)), 1);
  return [
    '| writer | Blob writes per GiB | Put Blob | Put Block | Put Block List | other requests | bytes added to the container per logical byte |',
    '|---|---|---|---|---|---|---|',
    ...REQUEST_ROWS.filter(([what]) => requestsOf(results, what).length).map(([what, name]) => {
      const counts = requestsOf(results, what);
      const kind = (key: keyof ContainerCounts['requests']) => perGiB(counts, (count) => count.counts.requests[key] ?? 0);
      const other = perGiB(counts, (count) =>
        Object.entries(count.counts.requests)
          .filter(([key]) => !['putBlob', 'putBlock', 'putBlockList', 'copyBlob'].includes(key))
          .reduce((sum, [, value]) => sum + value, 0),
      );
      return `| ${name} | ${perGiB(counts, (count) => blobWrites(count.counts))} | ${kind('putBlob')} | ${kind('putBlock')} | ${kind('putBlockList')} | ${other} | ${spread(counts.map((count) => count.addedBytes / count.logicalBytes), 3)} |`;
    }),
  ];
}

const READ_ROWS: [string, string][] = [
  ['read-ferry-big', 'Ferry gateway, cold restore of the 64 MiB objects (pack ranges)'],
  ['read-direct-big', 'direct GET of the 64 MiB objects'],
  ['read-ferry-small', 'Ferry gateway, cold restore of the 1 MiB objects (pack ranges)'],
  ['read-direct-small', 'direct GET of the 1 MiB objects'],
];

/** Blob reads per GiB restored, by the plain client's cold passes and their direct GETs. */
function readTable(results: RepackResults): string[] {
  return [
    '| reader | Blob GET requests per GiB restored |',
    '|---|---|',
    ...READ_ROWS.filter(([what]) => requestsOf(results, what).length).map(([what, name]) => `| ${name} | ${spread(requestsOf(results, what).map(getsPerGiB), 1)} |`),
  ];
}

function backupTable(results: RepackResults): string[] {
  const { tree } = results.dataset;
  const values = (pick: (backup: BackupResult) => number | null) => results.backups.map((backup) => pick(backup) ?? Number.NaN);
  return [
    '| | median (min–max) |',
    '|---|---|',
    `| logical bytes of one full backup | ${(tree.bytes / MiB).toFixed(1)} MiB in ${tree.files} files (${(tree.minSize / 1024).toFixed(0)} KiB – ${(tree.maxSize / MiB).toFixed(1)} MiB) |`,
    `| stored after backup 1 (MiB) | ${spread(values((backup) => backup.first.storedBytes / MiB), 1)} |`,
    `| stored after backup 1 ÷ its logical bytes | ${spread(values((backup) => backup.first.storedBytes / backup.first.logicalBytes), 4)} |`,
    `| stored bytes added by backup 2 (MiB) | ${spread(values((backup) => (backup.second.storedBytes - backup.first.storedBytes) / MiB), 1)} |`,
    `| added by backup 2 ÷ stored by backup 1 | ${spread(values((backup) => backupGrowth(backup) * 100), 2, ' %')} |`,
    `| dedupRatio after backup 1 / after backup 2 | ${spread(values((backup) => backup.first.dedupRatio), 3)} / ${spread(values((backup) => backup.second.dedupRatio), 3)} |`,
    `| compressionRatio after backup 1 / after backup 2 | ${spread(values((backup) => backup.first.compressionRatio), 3)} / ${spread(values((backup) => backup.second.compressionRatio), 3)} |`,
  ];
}

export function repackReport(results: RepackResults): string {
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / GiB).toFixed(0)} GiB, Node ${process.version}`;
  const { tree } = results.dataset;
  return [
    `## Repackaging engine — ${new Date().toISOString()}`,
    '',
    `Machine: ${machine}. ${results.rounds} round${results.rounds === 1 ? '' : 's'}: every figure is the median (min–max) over the rounds;`,
    'each ratio is taken against the baseline of the same round; latencies are pooled over the rounds.',
    '',
    ...targetTable(results),
    '',
    'Every workload:',
    '',
    ...throughputTable(results),
    '',
    `Worker start-up (spawn to "worker ready"), included in every drain time: ${spread(results.workerReady, 2, ' s')}.`,
    '',
    `Rounds waited for a quiet machine (under 0.3 cores busy for 2 s) before starting: ${results.quietWaits.map((wait) => `${wait.waited.toFixed(0)} s${wait.quiet ? '' : ' (never quiet)'}`).join(', ')}.`,
    '',
    'CPU seconds per GiB, by process (2 cores give 2 CPU-seconds per second of wall time); "rest of the machine" is',
    'CPU spent meanwhile by processes outside the bench (a shared VM), "stolen" the hypervisor\'s steal time:',
    '',
    ...cpuTable(results),
    '',
    "Requests to Blob, counted from Azurite's access log, per GiB of logical bytes:",
    '',
    ...requestTable(results),
    '',
    ...(results.requests.some(isRead)
      ? ["Blob reads of the restores with the plain client, counted from Azurite's access log (Blob bills reads per request too):", '', ...readTable(results), '']
      : []),
    `Second full backup (${tree.changedFiles} of ${tree.files} files changed: 4 KiB overwritten in each, 16 bytes inserted in half of them):`,
    '',
    ...backupTable(results),
    '',
  ].join('\n');
}

/** One round's figures, for the log while the bench runs. */
export function roundTable(results: RepackResults, round: number): string {
  const index = round - 1;
  const rows = rowSpecs(results)
    .filter((spec) => results.samples[spec.id]?.[index])
    .map((spec) => {
      const ratio = spec.baseline ? ratios(results, spec)[index] : Number.NaN;
      const sample = results.samples[spec.id][index];
      const outside = ((sample.cpu?.other ?? 0) / sample.seconds).toFixed(2);
      return `| ${spec.name} | ${mbps(sample).toFixed(1)} | ${Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '–'} | ${sample.seconds.toFixed(1)} s | ${outside} |`;
    });
  const ofRound = results.requests.filter((count) => count.round === round);
  const requests = ofRound
    .filter((count) => !isRead(count))
    .map((count) => `${count.what} ${writesPerGiB(count).toFixed(1)}`)
    .join(', ');
  const reads = ofRound
    .filter(isRead)
    .map((count) => `${count.what.slice('read-'.length)} ${getsPerGiB(count).toFixed(1)}`)
    .join(', ');
  const backup = results.backups.find((candidate) => candidate.round === round);
  return [
    `### Round ${round}`,
    '| workload | MB/s | vs baseline | time | cores busy outside the bench |',
    '|---|---|---|---|---|',
    ...rows,
    `Blob writes per GiB: ${requests}`,
    reads ? `Blob GETs per GiB restored cold (plain client): ${reads}` : '',
    backup
      ? `Backups: first stored ${(backup.first.storedBytes / MiB).toFixed(1)} MiB, second added ${((backup.second.storedBytes - backup.first.storedBytes) / MiB).toFixed(1)} MiB = ${(backupGrowth(backup) * 100).toFixed(2)} %; dedupRatio ${backup.second.dedupRatio}, compressionRatio ${backup.second.compressionRatio}`
      : '',
  ].join('\n');
}
