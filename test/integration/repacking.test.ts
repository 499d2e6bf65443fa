import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { chunkIdOf, decodeTenantRecord, encodeChunk, readContainer, TENANT_RECORD_BLOB, TenantKeyring } from '@ferry/packing';
import { SealedBox } from '@ferry/common';
import { FlushEventsHandler } from '../../apps/worker/src/repack/flush-events.handler.js';
import { DataSource } from 'typeorm';
import { ChunksRepository, ObjectsRepository, PacksRepository } from '@ferry/catalog';
import { BlobStore } from '@ferry/storage';
import { PrunePacksHandler } from '../../apps/worker/src/repack/prune-packs.handler.js';
import { PackAssembler } from '../../apps/worker/src/repack/pack.assembler.js';
import { ManifestBatcher } from '../../apps/worker/src/repack/manifest.batcher.js';
import { startAzurite, type EmbeddedAzurite } from '../../apps/ferry/src/embedded/azurite.js';
import { CollectGarbageHandler } from '../../apps/worker/src/maintenance/collect-garbage.handler.js';
import { EvictCacheHandler } from '../../apps/worker/src/maintenance/evict-cache.handler.js';
import { downloadBlob, listBlobs } from '../support/faults.js';
import { eventually, FerryUnderTest, s3Failure, type TenantSession } from '../support/ferry.js';
import { BlobServiceClient } from '@azure/storage-blob';

const MiB = 1024 * 1024;
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Pseudo-random bytes from a seed: the same seed gives the same bytes, in any tenant. */
function seeded(seed: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out.writeUInt32LE(state >>> 0, i);
  }
  return out;
}

describe('repacking: dedup, compression and encryption into packs', () => {
  let ferry: FerryUnderTest;
  let db: DataSource;
  let azurite: EmbeddedAzurite;
  let azuriteDir: string;
  let alice: TenantSession;
  let bob: TenantSession;

  const container = (tenant: TenantSession) => `${ferry.config.containerPrefix}${tenant.id}`;
  const get = async (s3: S3Client, bucket: string, key: string, range?: string): Promise<Buffer> => {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
    return Buffer.from(await response.Body!.transformToByteArray());
  };
  const settle = async (tenant: TenantSession) => {
    const stored = await eventually(async () => {
      const [row] = (await db.query(`SELECT count(*)::int AS staged FROM objects WHERE tenant_id = $1 AND state = 'staged'`, [tenant.id])) as {
        staged: number;
      }[];
      return row.staged === 0;
    }, 60_000, 100);
    expect(stored).toBe(true);
    // the recovery cache emptied (FERRY_CACHE_HOURS=0): every read below comes from the packs
    await ferry.worker!.get(EvictCacheHandler).handle();
  };
  const chunkIds = async (tenant: TenantSession): Promise<string[]> =>
    ((await db.query(`SELECT encode(id, 'hex') AS id FROM chunks WHERE tenant_id = $1`, [tenant.id])) as { id: string }[]).map((row) => row.id);

  beforeAll(async () => {
    azuriteDir = join(await import('node:os').then((os) => os.tmpdir()), `ferry-azurite-${randomBytes(4).toString('hex')}`);
    azurite = await startAzurite({ location: azuriteDir, quiet: true });
    ferry = await FerryUnderTest.start({
      env: { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString, FERRY_CACHE_HOURS: '0', FERRY_CHUNK_GRACE_MS: '0', FERRY_PACK_LINGER_MS: '50' },
    });
    db = new DataSource({ type: 'postgres', url: ferry.config.databaseUrl.reveal() });
    await db.initialize();
    alice = await ferry.tenant('alice');
    bob = await ferry.tenant('bob');
    await alice.s3.send(new CreateBucketCommand({ Bucket: 'backups' }));
    await bob.s3.send(new CreateBucketCommand({ Bucket: 'backups' }));
  });

  // a test that stops the worker and fails before starting it again must not take the next ones with it
  afterEach(async () => {
    if (!ferry.worker) await ferry.startWorker();
  });

  afterAll(async () => {
    await db?.destroy();
    await ferry?.stop();
    await azurite?.stop();
    await rm(azuriteDir, { recursive: true, force: true });
  });

  it('stores one copy of each chunk per tenant, and an edited copy costs only the chunks around the edit', async () => {
    const first = seeded(1, 24 * MiB);
    const edited = Buffer.concat([first.subarray(0, 11 * MiB), Buffer.from('an insertion in the middle'), first.subarray(11 * MiB)]);
    await alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'full-1.img', Body: first }));
    await settle(alice);
    const afterFirst = await chunkIds(alice);
    expect(afterFirst.length).toBeGreaterThanOrEqual(6);
    await alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'full-1-again.img', Body: first }));
    await alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'full-2.img', Body: edited }));
    await settle(alice);
    const afterAll = await chunkIds(alice);
    // the identical copy adds nothing; the edit adds the one or two chunks it touched
    expect(afterAll.length - afterFirst.length).toBeGreaterThanOrEqual(1);
    expect(afterAll.length - afterFirst.length).toBeLessThanOrEqual(3);
    expect(sha(await get(alice.s3, 'backups', 'full-1.img'))).toBe(sha(first));
    expect(sha(await get(alice.s3, 'backups', 'full-1-again.img'))).toBe(sha(first));
    expect(sha(await get(alice.s3, 'backups', 'full-2.img'))).toBe(sha(edited));
    // ranges across chunk boundaries, from the packs
    const range = await get(alice.s3, 'backups', 'full-2.img', `bytes=${5 * MiB - 7}-${13 * MiB + 3}`);
    expect(range.equals(edited.subarray(5 * MiB - 7, 13 * MiB + 4))).toBe(true);
    const usage = (await ferry.admin('GET', `/admin/v1/tenants/${alice.id}/usage`)).body;
    expect(usage.logicalBytes).toBe(2 * first.length + edited.length);
    expect(usage.pendingBytes).toBe(0);
    expect(usage.storedBytes).toBeLessThan(first.length * 1.25);
    expect(usage.dedupRatio).toBeGreaterThan(2.5);
  });

  it('lays out each object’s frames together in a pack, though objects are repacked at once', async () => {
    await ferry.stopWorker();
    const bodies = [0, 1, 2, 3, 4, 5].map((i) => seeded(60 + i, 17 * MiB));
    await Promise.all(bodies.map((body, i) => alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: `together-${i}.bin`, Body: body }))));
    await ferry.startWorker();
    await settle(alice);
    const rows = (await db.query(
      `SELECT o.key, c.pack_id, c.frame_offset, c.frame_length FROM object_chunks m JOIN objects o ON o.id = m.object_id
         JOIN chunks c ON c.tenant_id = m.tenant_id AND c.id = m.chunk_id
        WHERE o.tenant_id = $1 AND o.key LIKE 'together-%' ORDER BY o.key, m.seq`,
      [alice.id],
    )) as { key: string; pack_id: string; frame_offset: string; frame_length: number }[];
    // within each pack, an object's frames follow one another without another object's in between
    const runs = new Map<string, { end: number; runs: number }>();
    for (const row of rows) {
      const at = `${row.key}/${row.pack_id}`;
      const run = runs.get(at);
      if (!run || run.end !== Number(row.frame_offset)) runs.set(at, { end: 0, runs: (run?.runs ?? 0) + 1 });
      runs.get(at)!.end = Number(row.frame_offset) + row.frame_length;
    }
    expect(rows.length).toBeGreaterThanOrEqual(6 * 8);
    expect([...runs.values()].map((run) => run.runs)).toEqual([...runs.values()].map(() => 1));
    for (const [i, body] of bodies.entries()) expect((await get(alice.s3, 'backups', `together-${i}.bin`)).equals(body)).toBe(true);
  });

  it('lays out the objects of a pack in upload order, not in the order the worker finished them', async () => {
    await ferry.stopWorker();
    // a large object first, then small ones: the small ones are cut and encoded long before the
    // large one's frames are, so they reach the open pack first
    const large = seeded(80, 24 * MiB);
    const small = [0, 1, 2, 3, 4, 5].map((i) => seeded(81 + i, 64 * 1024));
    await alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'ordered-0-large.bin', Body: large }));
    for (const [i, body] of small.entries()) {
      // upload times a few milliseconds apart (the worker orders by the millisecond)
      await new Promise((resolve) => setTimeout(resolve, 5));
      await alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: `ordered-${i + 1}-small.bin`, Body: body }));
    }
    // packs that linger long enough for all of them to share one
    const linger = ferry.config.packing.lingerMs;
    ferry.config.packing.lingerMs = 3000;
    try {
      await ferry.startWorker();
      await settle(alice);
    } finally {
      ferry.config.packing.lingerMs = linger;
    }
    const rows = (await db.query(
      `SELECT o.key, c.pack_id, min(c.frame_offset)::bigint AS first FROM object_chunks m JOIN objects o ON o.id = m.object_id
         JOIN chunks c ON c.tenant_id = m.tenant_id AND c.id = m.chunk_id
        WHERE o.tenant_id = $1 AND o.key LIKE 'ordered-%' GROUP BY o.key, c.pack_id ORDER BY c.pack_id, first`,
      [alice.id],
    )) as { key: string; pack_id: string; first: string }[];
    expect(new Set(rows.map((row) => row.pack_id)).size).toBe(1);
    expect(rows.map((row) => row.key)).toEqual(['ordered-0-large.bin', ...small.map((_, i) => `ordered-${i + 1}-small.bin`)]);
    expect((await get(alice.s3, 'backups', 'ordered-0-large.bin')).equals(large)).toBe(true);
    for (const [i, body] of small.entries()) expect((await get(alice.s3, 'backups', `ordered-${i + 1}-small.bin`)).equals(body)).toBe(true);
  });

  it('seals a pack once half the job slots wait for it, without the linger, and the next jobs fill a new one meanwhile', async () => {
    // driven straight through the worker's assembler, so which job waits when is fixed, not raced
    const grace = await ferry.tenant('grace');
    const keys = await ferry.worker!.get(TenantKeyring).forTenant(grace.id);
    const target = { tenantId: grace.id, container: container(grace), keys };
    const assembler = ferry.worker!.get(PackAssembler);
    const job = (seed: number) => {
      const plain = seeded(seed, 64 * 1024);
      const frame = encodeChunk(keys.current.key, chunkIdOf(keys.chunkIdKey, plain), plain);
      return assembler.append(target, `seal-${seed}`, new Date(), [frame]);
    };
    const { concurrency } = ferry.config.forward;
    const linger = ferry.config.packing.lingerMs;
    // four job slots, and packs that would otherwise wait a minute for more
    ferry.config.forward.concurrency = 4;
    ferry.config.packing.lingerMs = 60_000;
    try {
      const first = job(1);
      const firstWaits = assembler.awaitPacks(first);
      // one slot of four waits: the pack stays open, and the next job joins it
      const second = job(2);
      expect(second).toEqual(first);
      const secondWaits = assembler.awaitPacks(second);
      // two of four wait: sealed, and the next job starts another pack while it uploads
      const third = job(3);
      expect(third[0]).not.toBe(first[0]);
      await Promise.all([firstWaits, secondWaits]);
      const fourth = job(4);
      expect(fourth).toEqual(third);
      await Promise.all([assembler.awaitPacks(third), assembler.awaitPacks(fourth)]);
    } finally {
      ferry.config.forward.concurrency = concurrency;
      ferry.config.packing.lingerMs = linger;
    }
    const packs = (await db.query(`SELECT chunk_count, state FROM packs WHERE tenant_id = $1`, [grace.id])) as { chunk_count: number; state: string }[];
    expect(packs).toEqual([
      { chunk_count: 2, state: 'stored' },
      { chunk_count: 2, state: 'stored' },
    ]);
    expect((await listBlobs(ferry.config, container(grace))).filter((blob) => blob.name.startsWith('packs/'))).toHaveLength(2);
  });

  it('keeps tenants apart: the same bytes get other chunk ids and land in the other container', async () => {
    const first = seeded(1, 24 * MiB);
    await bob.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'same-bytes.img', Body: first }));
    await settle(bob);
    const bobs = new Set(await chunkIds(bob));
    expect(bobs.size).toBeGreaterThanOrEqual(6);
    expect((await chunkIds(alice)).filter((id) => bobs.has(id))).toEqual([]);
    const bobBlobs = (await listBlobs(ferry.config, container(bob))).map((blob) => blob.name);
    const bobPacks = (await db.query(`SELECT id FROM packs WHERE tenant_id = $1`, [bob.id])) as { id: string }[];
    expect(bobBlobs.sort()).toEqual(['ferry/keyring', ...bobPacks.map((pack) => `packs/${pack.id}`)].sort());
    // nothing of bob's is in alice's container
    const aliceBlobs = (await listBlobs(ferry.config, container(alice))).map((blob) => blob.name);
    expect(aliceBlobs.filter((name) => bobBlobs.includes(name) && name !== 'ferry/keyring')).toEqual([]);
    expect(sha(await get(bob.s3, 'backups', 'same-bytes.img'))).toBe(sha(first));
    // bob cannot read alice's object through his own bucket of the same name
    expect((await s3Failure(bob.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'full-1.img' })))).name).toBe('NoSuchKey');
  });

  it('compresses what compresses and leaves no plaintext anywhere in Azurite storage', async () => {
    const marker = `FERRY-PLAINTEXT-MARKER-${randomBytes(8).toString('hex')}`;
    const text = Buffer.from(`${marker} compressible backup text\n`.repeat(200_000));
    const mixed = Buffer.concat([seeded(7, 3 * MiB), Buffer.from(marker), seeded(8, 3 * MiB)]);
    await alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: `${marker}/text.log`, Body: text, Metadata: { note: marker } }));
    await alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'mixed.bin', Body: mixed }));
    await settle(alice);
    expect((await get(alice.s3, 'backups', `${marker}/text.log`)).equals(text)).toBe(true);
    expect((await get(alice.s3, 'backups', 'mixed.bin')).equals(mixed)).toBe(true);
    const frames = (await db.query(
      `SELECT sum(c.frame_length)::bigint AS stored, sum(c.plain_length)::bigint AS plain FROM object_chunks m
         JOIN objects o ON o.id = m.object_id JOIN chunks c ON c.tenant_id = m.tenant_id AND c.id = m.chunk_id
        WHERE o.tenant_id = $1 AND o.key = $2`,
      [alice.id, `${marker}/text.log`],
    )) as { stored: string; plain: string }[];
    expect(Number(frames[0].stored)).toBeLessThan(Number(frames[0].plain) / 20);
    const needle = Buffer.from(marker);
    const hits: string[] = [];
    for (const file of await filesUnder(azuriteDir)) if ((await readFile(file)).includes(needle)) hits.push(file);
    expect(hits).toEqual([]);
  });

  it('fails a read of a tampered pack, and never returns other bytes', async () => {
    const body = seeded(21, 6 * MiB);
    await alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'tamper.bin', Body: body }));
    await settle(alice);
    const [place] = (await db.query(
      `SELECT c.pack_id, c.frame_offset, c.frame_length FROM object_chunks m JOIN objects o ON o.id = m.object_id
         JOIN chunks c ON c.tenant_id = m.tenant_id AND c.id = m.chunk_id
        WHERE o.tenant_id = $1 AND o.key = 'tamper.bin' ORDER BY m.seq LIMIT 1`,
      [alice.id],
    )) as { pack_id: string; frame_offset: string; frame_length: number }[];
    const blobName = `packs/${place.pack_id}`;
    const original = await downloadBlob(ferry.config, container(alice), blobName);
    const damaged = Buffer.from(original);
    damaged[Number(place.frame_offset) + Math.floor(place.frame_length / 2)] ^= 0x01;
    const blob = BlobServiceClient.fromConnectionString(ferry.config.azureConnectionString.reveal())
      .getContainerClient(container(alice))
      .getBlockBlobClient(blobName);
    await blob.upload(damaged, damaged.length);
    const failure = await s3Failure(get(alice.s3, 'backups', 'tamper.bin'));
    expect(failure.status).toBe(500);
    expect(failure.name).toBe('InternalError');
    await blob.upload(original, original.length);
    expect((await get(alice.s3, 'backups', 'tamper.bin')).equals(body)).toBe(true);
  });

  it('copies by manifest: no new chunk or pack, and the copy outlives its source', async () => {
    const body = seeded(31, 5 * MiB);
    await alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'copy-source.bin', Body: body }));
    await settle(alice);
    // packs of chunks: the delete below leaves an event that the worker's flush job (every 2 s)
    // may write in a pack of events only, at any moment
    const dataPacks = `SELECT count(*)::int AS n FROM packs WHERE tenant_id = $1 AND chunk_count > 0`;
    const packsBefore = (await db.query(dataPacks, [alice.id])) as { n: number }[];
    const chunksBefore = (await chunkIds(alice)).length;
    const copied = await alice.s3.send(new CopyObjectCommand({ Bucket: 'backups', Key: 'copy-target.bin', CopySource: 'backups/copy-source.bin' }));
    expect(copied.CopyObjectResult?.ETag).toBe(`"${createHash('md5').update(body).digest('hex')}"`);
    const [target] = (await db.query(`SELECT state, packed, spool FROM objects WHERE tenant_id = $1 AND key = 'copy-target.bin'`, [alice.id])) as {
      state: string;
      packed: boolean;
      spool: unknown;
    }[];
    expect(target).toEqual({ state: 'stored', packed: true, spool: null });
    await alice.s3.send(new DeleteObjectCommand({ Bucket: 'backups', Key: 'copy-source.bin' }));
    await ferry.worker!.get(CollectGarbageHandler).handle();
    expect((await get(alice.s3, 'backups', 'copy-target.bin')).equals(body)).toBe(true);
    const packsAfter = (await db.query(dataPacks, [alice.id])) as { n: number }[];
    expect(packsAfter[0].n).toBe(packsBefore[0].n);
    expect((await chunkIds(alice)).length).toBe(chunksBefore);
  });

  it('UploadPartCopy copies manifests: a copied multipart object is stored at once, with no new chunk', async () => {
    const source = seeded(101, 12 * MiB);
    await alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'mp-src.bin', Body: source }));
    await settle(alice);
    const chunksBefore = (await chunkIds(alice)).length;
    const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
    const copyUpload = async (key: string, ranges: [number, number][], extra?: (uploadId: string) => Promise<{ PartNumber: number; ETag: string }[]>) => {
      const { UploadId } = await alice.s3.send(new CreateMultipartUploadCommand({ Bucket: 'backups', Key: key }));
      const parts: { PartNumber: number; ETag: string }[] = [];
      for (const [i, [start, end]] of ranges.entries()) {
        const copied = await alice.s3.send(
          new UploadPartCopyCommand({ Bucket: 'backups', Key: key, UploadId, PartNumber: i + 1, CopySource: 'backups/mp-src.bin', CopySourceRange: `bytes=${start}-${end}` }),
        );
        expect(copied.CopyPartResult?.ETag).toBe(`"${md5(source.subarray(start, end + 1))}"`);
        parts.push({ PartNumber: i + 1, ETag: copied.CopyPartResult!.ETag! });
      }
      if (extra) parts.push(...(await extra(UploadId!)));
      return { UploadId: UploadId!, parts };
    };
    // a range cut mid-chunk on both ends, twice: the object is made of slices of the source's chunks
    const ranges: [number, number][] = [
      [3 * MiB + 17, 8 * MiB + 16],
      [1234, 3 * MiB + 5678],
    ];
    const { UploadId, parts } = await copyUpload('mp-copy.bin', ranges);
    await alice.s3.send(new CompleteMultipartUploadCommand({ Bucket: 'backups', Key: 'mp-copy.bin', UploadId, MultipartUpload: { Parts: parts } }));
    const expected = Buffer.concat(ranges.map(([start, end]) => source.subarray(start, end + 1)));
    const [row] = (await db.query(`SELECT state, packed, spool FROM objects WHERE tenant_id = $1 AND key = 'mp-copy.bin'`, [alice.id])) as {
      state: string;
      packed: boolean;
      spool: unknown;
    }[];
    expect(row).toEqual({ state: 'stored', packed: true, spool: null });
    expect((await chunkIds(alice)).length).toBe(chunksBefore);
    expect(sha(await get(alice.s3, 'backups', 'mp-copy.bin'))).toBe(sha(expected));
    const across = await get(alice.s3, 'backups', 'mp-copy.bin', `bytes=${5 * MiB - 3}-${5 * MiB + 100}`);
    expect(across.equals(expected.subarray(5 * MiB - 3, 5 * MiB + 101))).toBe(true);

    // mixed: one uploaded part and one copied part complete through the spool, same bytes either way
    const own = seeded(102, 5 * MiB);
    const mixed = await copyUpload('mp-mixed.bin', [[0, 5 * MiB - 1]], async (uploadId) => {
      const uploaded = await alice.s3.send(new UploadPartCommand({ Bucket: 'backups', Key: 'mp-mixed.bin', UploadId: uploadId, PartNumber: 2, Body: own }));
      return [{ PartNumber: 2, ETag: uploaded.ETag! }];
    });
    await alice.s3.send(new CompleteMultipartUploadCommand({ Bucket: 'backups', Key: 'mp-mixed.bin', UploadId: mixed.UploadId, MultipartUpload: { Parts: mixed.parts } }));
    await settle(alice);
    expect(sha(await get(alice.s3, 'backups', 'mp-mixed.bin'))).toBe(sha(Buffer.concat([source.subarray(0, 5 * MiB), own])));

    // an aborted upload gives its copied parts' references back; the copies outlive their source
    const refs = async () => ((await db.query(`SELECT sum(refs)::int AS n FROM chunks WHERE tenant_id = $1`, [alice.id])) as { n: number }[])[0].n;
    const before = await refs();
    const aborted = await copyUpload('mp-aborted.bin', [[0, MiB]]);
    expect(await refs()).toBeGreaterThan(before);
    await alice.s3.send(new AbortMultipartUploadCommand({ Bucket: 'backups', Key: 'mp-aborted.bin', UploadId: aborted.UploadId }));
    expect(await refs()).toBe(before);
    await alice.s3.send(new DeleteObjectCommand({ Bucket: 'backups', Key: 'mp-src.bin' }));
    await ferry.worker!.get(CollectGarbageHandler).handle();
    expect(sha(await get(alice.s3, 'backups', 'mp-copy.bin'))).toBe(sha(expected));
  });

  it('collects the chunks and packs of deleted objects, and a chunk collected while an ingest deduplicated against it is stored again', async () => {
    const body = seeded(41, 7 * MiB);
    await bob.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'short-lived.bin', Body: body }));
    await settle(bob);
    const ids = await chunkIds(bob);
    await bob.s3.send(new DeleteObjectCommand({ Bucket: 'backups', Key: 'short-lived.bin' }));
    await bob.s3.send(new DeleteObjectCommand({ Bucket: 'backups', Key: 'same-bytes.img' }));
    // the same bytes again, racing the collector (grace 0) that removes their unreferenced chunks
    const racing = bob.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'reborn.bin', Body: body }));
    const collector = ferry.worker!.get(CollectGarbageHandler);
    const collecting = (async () => {
      for (let i = 0; i < 40; i++) await collector.handle();
    })();
    await Promise.all([racing, collecting]);
    await settle(bob);
    expect((await get(bob.s3, 'backups', 'reborn.bin')).equals(body)).toBe(true);
    await bob.s3.send(new DeleteObjectCommand({ Bucket: 'backups', Key: 'reborn.bin' }));
    await collector.handle();
    expect(await chunkIds(bob)).toEqual([]);
    expect(ids.length).toBeGreaterThan(0);
    // what remains are packs that only carry catalog events (puts and deletes a rebuild must see);
    // the delete events go out in a pack of their own, which may still be uploading: its row is
    // written first, so the blobs and the rows are compared until they agree (or the wait ends)
    let remaining: string[] = [];
    let packs: { id: string; event_count: number; chunks: number }[] = [];
    const expected = () => ['ferry/keyring', ...packs.map((pack) => `packs/${pack.id}`)].sort();
    await eventually(async () => {
      remaining = (await listBlobs(ferry.config, container(bob))).map((blob) => blob.name).sort();
      packs = (await db.query(
        `SELECT p.id, p.event_count, (SELECT count(*)::int FROM chunks c WHERE c.pack_id = p.id) AS chunks FROM packs p WHERE p.tenant_id = $1`,
        [bob.id],
      )) as { id: string; event_count: number; chunks: number }[];
      return remaining.join() === expected().join();
    }, 10_000);
    expect(remaining).toEqual(expected());
    expect(packs.every((pack) => pack.chunks === 0 && pack.event_count > 0)).toBe(true);
  });

  it('an ingest that deduplicated against a chunk the collector then removed stores it again (deterministic order)', async () => {
    const body = seeded(61, 3 * MiB);
    await bob.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'first.bin', Body: body }));
    await settle(bob);
    const manifest = (await db.query(
      `SELECT m.chunk_id, m."offset", m.length FROM object_chunks m JOIN objects o ON o.id = m.object_id
        WHERE o.tenant_id = $1 AND o.key = 'first.bin' ORDER BY m.seq`,
      [bob.id],
    )) as { chunk_id: Buffer; offset: string; length: number }[];
    const cut = manifest.map((row) => ({ id: row.chunk_id, offset: Number(row.offset), length: row.length }));
    // stopped first: the worker's own collector (every 5 s, grace 0 here) must not take the chunks
    // before step 1 finds them stored
    await ferry.stopWorker();
    await bob.s3.send(new DeleteObjectCommand({ Bucket: 'backups', Key: 'first.bin' }));
    await bob.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'second.bin', Body: body }));
    const [second] = (await db.query(`SELECT id FROM objects WHERE tenant_id = $1 AND key = 'second.bin'`, [bob.id])) as { id: string }[];
    const chunks = ferry.gateway.app.get(ChunksRepository);
    // 1. the ingest finds every chunk stored already: nothing to claim, nothing to store
    expect((await chunks.claim(bob.id, second.id, cut)).claimed.size).toBe(0);
    // 2. the collector removes them: unreferenced, grace 0
    expect(await chunks.collectChunks(0, 1000)).toBe(cut.length);
    // 3. the manifest cannot name them: the object stays staged, nothing is lost
    expect(await chunks.commitManifest(bob.id, second.id, cut)).toBe('chunk-gone');
    const [row] = (await db.query(
      `SELECT state, (SELECT count(*)::int FROM object_chunks WHERE object_id = $1) AS manifest FROM objects WHERE id = $1`,
      [second.id],
    )) as { state: string; manifest: number }[];
    expect(row).toEqual({ state: 'staged', manifest: 0 });
    // 4. the job, run again, claims and stores the chunks anew
    await ferry.startWorker();
    await settle(bob);
    expect((await get(bob.s3, 'backups', 'second.bin')).equals(body)).toBe(true);
    await bob.s3.send(new DeleteObjectCommand({ Bucket: 'backups', Key: 'second.bin' }));
  });

  it('the collector passes over a chunk a manifest commit holds instead of waiting for it, and takes it on a later run', async () => {
    const body = seeded(63, 3 * MiB);
    await bob.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'held.bin', Body: body }));
    await settle(bob);
    const ids = ((await db.query(
      `SELECT m.chunk_id FROM object_chunks m JOIN objects o ON o.id = m.object_id WHERE o.tenant_id = $1 AND o.key = 'held.bin' ORDER BY m.chunk_id`,
      [bob.id],
    )) as { chunk_id: Buffer }[]).map((row) => row.chunk_id);
    expect(ids.length).toBeGreaterThan(1);
    // no collector of the worker's own meanwhile: only the calls below collect
    await ferry.stopWorker();
    await bob.s3.send(new DeleteObjectCommand({ Bucket: 'backups', Key: 'held.bin' }));
    const present = async () =>
      ((await db.query(`SELECT id FROM chunks WHERE tenant_id = $1 AND id = ANY($2::bytea[]) ORDER BY id`, [bob.id, ids])) as { id: Buffer }[]).map(
        (row) => row.id.toString('hex'),
      );
    expect(await present()).toHaveLength(ids.length);
    // another session holds the first chunk's row as commit_manifests locks it, mid-transaction
    const holder = db.createQueryRunner();
    await holder.connect();
    try {
      await holder.startTransaction();
      await holder.query(`SELECT 1 FROM chunks WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE`, [bob.id, ids[0]]);
      const chunks = ferry.gateway.app.get(ChunksRepository);
      const collected = await Promise.race([
        chunks.collectChunks(0, 1000),
        new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 5_000)),
      ]);
      expect(collected).not.toBe('waited');
      expect(await present()).toEqual([ids[0].toString('hex')]);
      await holder.commitTransaction();
      expect(await chunks.collectChunks(0, 1000)).toBeGreaterThanOrEqual(1);
      expect(await present()).toEqual([]);
    } finally {
      if (holder.isTransactionActive) await holder.rollbackTransaction();
      await holder.release();
    }
  });

  it('commits a batch of manifests in one statement, each object with its own outcome, and the chunk-gone one writes nothing', async () => {
    const body = seeded(62, 2 * MiB);
    await bob.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'batch-source.bin', Body: body }));
    await settle(bob);
    const [source] = (await db.query(`SELECT id FROM objects WHERE tenant_id = $1 AND key = 'batch-source.bin'`, [bob.id])) as { id: string }[];
    const cut = ((await db.query(`SELECT chunk_id, "offset", length FROM object_chunks WHERE object_id = $1 ORDER BY seq`, [source.id])) as {
      chunk_id: Buffer;
      offset: string;
      length: number;
    }[]).map((row) => ({ id: row.chunk_id, offset: Number(row.offset), length: row.length }));
    const refs = async () =>
      ((await db.query(`SELECT refs FROM chunks WHERE tenant_id = $1 AND id = ANY($2::bytea[]) ORDER BY id`, [bob.id, cut.map((c) => c.id)])) as { refs: number }[]).map(
        (row) => row.refs,
      );
    const refsBefore = await refs();
    await ferry.stopWorker();
    for (const key of ['batch-1.bin', 'batch-2.bin', 'batch-3.bin']) await bob.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: key, Body: body }));
    const ids = ((await db.query(`SELECT key, id FROM objects WHERE tenant_id = $1 AND key LIKE 'batch-_.bin' ORDER BY key`, [bob.id])) as { id: string }[]).map(
      (row) => row.id,
    );
    await bob.s3.send(new DeleteObjectCommand({ Bucket: 'backups', Key: 'batch-2.bin' }));
    // batch-3 names one chunk no row knows (as if the collector had just removed it)
    const gone = { id: randomBytes(32), offset: 2 * MiB, length: 1 };
    const chunks = ferry.gateway.app.get(ChunksRepository);
    expect(
      await chunks.commitManifests(bob.id, [
        { objectId: ids[0], chunks: cut },
        { objectId: ids[1], chunks: cut },
        { objectId: ids[2], chunks: [...cut, gone] },
      ]),
    ).toEqual(['stored', 'object-gone', 'chunk-gone']);
    const rows = (await db.query(
      `SELECT o.key, o.state, (SELECT count(*)::int FROM object_chunks m WHERE m.object_id = o.id) AS manifest FROM objects o
        WHERE o.tenant_id = $1 AND o.key LIKE 'batch-_.bin' ORDER BY o.key`,
      [bob.id],
    )) as { key: string; state: string; manifest: number }[];
    expect(rows).toEqual([
      { key: 'batch-1.bin', state: 'stored', manifest: cut.length },
      { key: 'batch-3.bin', state: 'staged', manifest: 0 },
    ]);
    // only batch-1's manifest raised the counts
    expect(await refs()).toEqual(refsBefore.map((n) => n + 1));
    // the worker, back, stores batch-3 through its own job, and batch-1 is left as it is
    await ferry.startWorker();
    await settle(bob);
    for (const key of ['batch-1.bin', 'batch-3.bin']) expect((await get(bob.s3, 'backups', key)).equals(body)).toBe(true);
    for (const key of ['batch-source.bin', 'batch-1.bin', 'batch-3.bin']) await bob.s3.send(new DeleteObjectCommand({ Bucket: 'backups', Key: key }));
  });

  it('batches the manifests asked for in one turn of the event loop, and gives each caller its own outcome', async () => {
    const chunks = ferry.worker!.get(ChunksRepository);
    const batcher = new ManifestBatcher(chunks);
    const calls = vi.spyOn(chunks, 'commitManifests');
    try {
      const missing = ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002'];
      // objects that are not staged (none with these ids): both come back 'object-gone', from one call
      expect(await Promise.all(missing.map((id) => batcher.commit(bob.id, id, [])))).toEqual(['object-gone', 'object-gone']);
      expect(calls).toHaveBeenCalledTimes(1);
      expect(calls.mock.calls[0][1].map((manifest) => manifest.objectId)).toEqual(missing);
    } finally {
      calls.mockRestore();
    }
  });

  it('rotates the data key: new packs use the new key, old packs stay readable', async () => {
    const before = seeded(51, 2 * MiB);
    await alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'before-rotation.bin', Body: before }));
    await settle(alice);
    const rotated = await ferry.admin('POST', `/admin/v1/tenants/${alice.id}/keys/rotate`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.dataKeyNumber).toBe(2);
    ferry.worker!.get(TenantKeyring).forget(alice.id);
    const after = seeded(52, 2 * MiB);
    await alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'after-rotation.bin', Body: after }));
    await settle(alice);
    const keys = (await db.query(
      `SELECT o.key, array_agg(DISTINCT p.key_number) AS numbers FROM objects o JOIN object_chunks m ON m.object_id = o.id
         JOIN chunks c ON c.tenant_id = m.tenant_id AND c.id = m.chunk_id JOIN packs p ON p.id = c.pack_id
        WHERE o.tenant_id = $1 AND o.key IN ('before-rotation.bin', 'after-rotation.bin') GROUP BY o.key ORDER BY o.key`,
      [alice.id],
    )) as { key: string; numbers: number[] }[];
    expect(keys).toEqual([
      { key: 'after-rotation.bin', numbers: [2] },
      { key: 'before-rotation.bin', numbers: [1] },
    ]);
    expect((await get(alice.s3, 'backups', 'before-rotation.bin')).equals(before)).toBe(true);
    expect((await get(alice.s3, 'backups', 'after-rotation.bin')).equals(after)).toBe(true);
  });
  it('rebuilds a lost tenant catalog from its container alone, byte for byte', async () => {
    const carol = await ferry.tenant('carol');
    await carol.s3.send(new CreateBucketCommand({ Bucket: 'data' }));
    await carol.s3.send(new CreateBucketCommand({ Bucket: 'empty' }));
    const bodies = new Map<string, Buffer>([
      ['a.bin', seeded(71, 3 * MiB)],
      ['b.txt', Buffer.from('first version\n'.repeat(1000))],
      ['big.bin', seeded(72, 12 * MiB)],
      ['doomed.bin', seeded(73, MiB)],
    ]);
    for (const [key, body] of bodies) {
      if (key === 'big.bin') {
        await new Upload({ client: carol.s3, params: { Bucket: 'data', Key: key, Body: body, ContentType: 'application/x-test' }, partSize: 5 * MiB }).done();
      } else {
        await carol.s3.send(new PutObjectCommand({ Bucket: 'data', Key: key, Body: body, Metadata: { origin: key } }));
      }
    }
    await settle(carol);
    await carol.s3.send(new CopyObjectCommand({ Bucket: 'data', Key: 'c.bin', CopySource: 'data/a.bin' }));
    bodies.set('c.bin', bodies.get('a.bin')!);
    // a part copy cut inside chunks: its manifest entries start mid-chunk, and must survive a rebuild
    const sliced = await carol.s3.send(new CreateMultipartUploadCommand({ Bucket: 'data', Key: 'sliced.bin' }));
    const part = await carol.s3.send(
      new UploadPartCopyCommand({ Bucket: 'data', Key: 'sliced.bin', UploadId: sliced.UploadId, PartNumber: 1, CopySource: 'data/a.bin', CopySourceRange: 'bytes=1000-2000999' }),
    );
    await carol.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'data',
        Key: 'sliced.bin',
        UploadId: sliced.UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.CopyPartResult!.ETag }] },
      }),
    );
    bodies.set('sliced.bin', bodies.get('a.bin')!.subarray(1000, 2001000));
    bodies.set('b.txt', Buffer.from('second version\n'.repeat(1000)));
    await carol.s3.send(new PutObjectCommand({ Bucket: 'data', Key: 'b.txt', Body: bodies.get('b.txt'), Metadata: { origin: 'b.txt' } }));
    await carol.s3.send(new DeleteObjectCommand({ Bucket: 'data', Key: 'doomed.bin' }));
    bodies.delete('doomed.bin');
    await settle(carol);
    await ferry.worker!.get(FlushEventsHandler).handle();
    const heads = async () =>
      Object.fromEntries(
        await Promise.all(
          [...bodies.keys()].sort().map(async (key) => {
            const head = await carol.s3.send(new HeadObjectCommand({ Bucket: 'data', Key: key }));
            return [key, { etag: head.ETag, size: head.ContentLength, type: head.ContentType, metadata: head.Metadata }] as const;
          }),
        ),
      );
    const before = await heads();
    const [pending] = (await db.query(`SELECT count(*)::int AS n FROM catalog_events WHERE tenant_id = $1`, [carol.id])) as { n: number }[];
    expect(pending.n).toBe(0);

    // Postgres "loses" the tenant's catalog: rows gone, without their triggers writing anything
    await ferry.stopWorker();
    await loseCatalog(db, carol.id);
    ferry.gateway.app.get(TenantKeyring).forget(carol.id);
    expect((await s3Failure(carol.s3.send(new HeadBucketCommand({ Bucket: 'data' })))).status).toBe(404);

    const rebuilt = await ferry.admin('POST', `/admin/v1/tenants/${carol.id}/catalog/rebuild`);
    expect(rebuilt.status).toBe(200);
    expect(rebuilt.body, JSON.stringify(rebuilt.body)).toMatchObject({ buckets: 2, objects: 5, incomplete: [], unreadablePacks: [] });
    expect(await heads()).toEqual(before);
    for (const [key, body] of bodies) expect(sha(await get(carol.s3, 'data', key)), key).toBe(sha(body));
    expect((await s3Failure(carol.s3.send(new GetObjectCommand({ Bucket: 'data', Key: 'doomed.bin' })))).name).toBe('NoSuchKey');
    await carol.s3.send(new HeadBucketCommand({ Bucket: 'empty' }));
    // a rebuild fills an empty catalog only
    expect((await ferry.admin('POST', `/admin/v1/tenants/${carol.id}/catalog/rebuild`)).status).toBe(409);
    // and the rebuilt catalog works on: new writes dedup against the restored chunks
    await ferry.startWorker();
    // (no new chunk id: the collector, with a grace of 0, may meanwhile forget restored chunks that
    // nothing references, such as doomed.bin's, so the count alone could fall)
    const chunksBefore = new Set(await chunkIds(carol));
    await carol.s3.send(new PutObjectCommand({ Bucket: 'data', Key: 'again.bin', Body: bodies.get('a.bin') }));
    await settle(carol);
    expect((await chunkIds(carol)).filter((id) => !chunksBefore.has(id))).toEqual([]);
    expect(sha(await get(carol.s3, 'data', 'again.bin'))).toBe(sha(bodies.get('a.bin')!));
  });

  it('brings back a tenant whose row and access keys were lost too, from its container’s record', async () => {
    const dave = await ferry.tenant('dave', 123 * MiB);
    await dave.s3.send(new CreateBucketCommand({ Bucket: 'kept' }));
    const body = seeded(81, 2 * MiB);
    await dave.s3.send(new PutObjectCommand({ Bucket: 'kept', Key: 'k.bin', Body: body }));
    // the operator's later changes reach the record too: a second key, a lease, the first key revoked
    const second = await ferry.admin('POST', `/admin/v1/tenants/${dave.id}/keys`, { description: 'backup server 2' });
    expect(second.status).toBe(201);
    await ferry.admin('PATCH', `/admin/v1/tenants/${dave.id}`, { leaseExpiresAt: '2030-01-01T00:00:00Z' });
    await ferry.admin('DELETE', `/admin/v1/tenants/${dave.id}/keys/${dave.accessKeyId}`);
    await settle(dave);
    await ferry.worker!.get(FlushEventsHandler).handle();
    const container = `${ferry.config.containerPrefix}${dave.id}`;
    const record = async () => (await listBlobs(ferry.config, container, { withTenantRecord: true })).find((blob) => blob.name === TENANT_RECORD_BLOB);
    // the last change's record is written (jobs run in order per worker; wait for the revocation's)
    const sealed = async () => ferry.worker!.get(BlobStore).readSmall(container, TENANT_RECORD_BLOB);
    const box = new SealedBox(ferry.config.masterKey.id, ferry.config.masterKey.key.reveal());
    expect(
      await eventually(async () => (await record()) !== undefined && decodeTenantRecord(box, dave.id, (await sealed())!).accessKeys.some((key) => key.status === 'revoked')),
    ).toBe(true);
    // nothing in it is readable without the master key
    expect((await sealed())!.includes(Buffer.from('dave'))).toBe(false);

    // Postgres loses the tenant entirely: its row, keys and catalog
    await ferry.stopWorker();
    await db.transaction(async (tx) => {
      await tx.query(`SET LOCAL session_replication_role = replica`);
      for (const table of ['object_chunks', 'objects', 'buckets', 'chunks', 'packs', 'tenant_keys', 'catalog_events', 'access_keys', 'tenant_usage', 'tenants']) {
        await tx.query(`DELETE FROM ${table} WHERE ${table === 'tenants' ? 'id' : 'tenant_id'} = $1`, [dave.id]);
      }
    });
    ferry.gateway.app.get(TenantKeyring).forget(dave.id);
    expect((await ferry.admin('GET', `/admin/v1/tenants/${dave.id}`)).status).toBe(404);

    const rebuilt = await ferry.admin('POST', `/admin/v1/tenants/${dave.id}/catalog/rebuild`);
    expect(rebuilt.status, JSON.stringify(rebuilt.body)).toBe(200);
    expect(rebuilt.body).toMatchObject({ tenantRestored: true, buckets: 1, objects: 1, incomplete: [] });
    const restored = (await ferry.admin('GET', `/admin/v1/tenants/${dave.id}`)).body;
    expect(restored).toMatchObject({ id: dave.id, name: 'dave', quotaBytes: 123 * MiB, leaseExpiresAt: '2030-01-01T00:00:00.000Z', logicalBytes: 2 * MiB });
    // the second key works unchanged, the revoked one stays revoked
    const client = ferry.client(second.body.accessKeyId, second.body.secretAccessKey);
    expect(sha(await get(client, 'kept', 'k.bin'))).toBe(sha(body));
    expect(await s3Failure(dave.s3.send(new GetObjectCommand({ Bucket: 'kept', Key: 'k.bin' })))).toEqual({ name: 'InvalidAccessKeyId', status: 403 });
    // a tenant that never existed has no record to come back from
    expect((await ferry.admin('POST', `/admin/v1/tenants/00000000-0000-4000-8000-000000000000/catalog/rebuild`)).status).toBe(404);
    await ferry.startWorker();
  });
});


describe('verify and prune', () => {
  let ferry: FerryUnderTest;
  let db: DataSource;
  let erin: TenantSession;
  const container = () => `${ferry.config.containerPrefix}${erin.id}`;
  const get = async (key: string): Promise<Buffer> => {
    const response = await erin.s3.send(new GetObjectCommand({ Bucket: 'vault', Key: key }));
    return Buffer.from(await response.Body!.transformToByteArray());
  };
  const stored = async (tenantId = erin.id) =>
    expect(
      await eventually(async () => {
        const [row] = (await db.query(`SELECT count(*)::int AS n FROM objects WHERE tenant_id = $1 AND state = 'staged'`, [tenantId])) as { n: number }[];
        return row.n === 0;
      }, 60_000, 100),
    ).toBe(true);
  const placesOf = async (key: string) =>
    (await db.query(
      `SELECT c.pack_id, c.frame_offset, c.frame_length FROM object_chunks m JOIN objects o ON o.id = m.object_id
         JOIN chunks c ON c.tenant_id = m.tenant_id AND c.id = m.chunk_id WHERE o.tenant_id = $1 AND o.key = $2 ORDER BY m.seq`,
      [erin.id, key],
    )) as { pack_id: string; frame_offset: string; frame_length: number }[];
  const evict = async (key: string) => {
    const [row] = (await db.query(`SELECT id FROM objects WHERE tenant_id = $1 AND key = $2`, [erin.id, key])) as { id: string }[];
    expect(await ferry.gateway.app.get(ObjectsRepository).dropSpool(erin.id, row.id)).toBe(true);
  };

  beforeAll(async () => {
    // the recovery cache keeps its default 48 h here: verify repairs from it
    ferry = await FerryUnderTest.start({ env: { FERRY_CHUNK_GRACE_MS: '0', FERRY_PACK_LINGER_MS: '400' } });
    db = new DataSource({ type: 'postgres', url: ferry.config.databaseUrl.reveal() });
    await db.initialize();
    erin = await ferry.tenant('erin');
    await erin.s3.send(new CreateBucketCommand({ Bucket: 'vault' }));
  });

  afterAll(async () => {
    await db?.destroy();
    await ferry?.stop();
  });

  it('verify reports damage per object and repairs what the local cache still holds', async () => {
    const cached = seeded(81, 3 * MiB);
    const gone = seeded(82, 3 * MiB);
    await erin.s3.send(new PutObjectCommand({ Bucket: 'vault', Key: 'cached.bin', Body: cached }));
    await erin.s3.send(new PutObjectCommand({ Bucket: 'vault', Key: 'gone.bin', Body: gone }));
    await stored();
    await evict('gone.bin');
    const blobs = BlobServiceClient.fromConnectionString(ferry.config.azureConnectionString.reveal()).getContainerClient(container());
    const damage = async (place: { pack_id: string; frame_offset: string; frame_length: number }) => {
      const blob = blobs.getBlockBlobClient(`packs/${place.pack_id}`);
      const bytes = await downloadBlob(ferry.config, container(), `packs/${place.pack_id}`);
      bytes[Number(place.frame_offset) + 100] ^= 0xff;
      await blob.upload(bytes, bytes.length);
    };
    await damage((await placesOf('cached.bin'))[1]);
    await damage((await placesOf('gone.bin'))[0]);

    const started = await ferry.admin('POST', `/admin/v1/tenants/${erin.id}/verify`);
    expect(started.status).toBe(202);
    let run: any;
    expect(
      await eventually(async () => {
        run = (await ferry.admin('GET', `/admin/v1/tenants/${erin.id}/verify/${started.body.runId}`)).body;
        return run.state === 'done' || run.state === 'failed';
      }, 60_000, 200),
    ).toBe(true);
    expect(run.state).toBe('done');
    const damaged = (run.report.damaged as { objects: string[]; repaired: boolean }[]).map((d) => ({ objects: d.objects, repaired: d.repaired }));
    expect(damaged.sort((a, b) => a.objects[0].localeCompare(b.objects[0]))).toEqual([
      { objects: ['vault/cached.bin'], repaired: true },
      { objects: ['vault/gone.bin'], repaired: false },
    ]);
    expect(run.report.damagedIndexes).toEqual([]);
    // from the packs now: the repaired object reads whole, the other fails rather than lie
    await evict('cached.bin');
    expect((await get('cached.bin')).equals(cached)).toBe(true);
    expect((await s3Failure(get('gone.bin'))).status).toBe(500);
    const again = await ferry.admin('POST', `/admin/v1/tenants/${erin.id}/verify`);
    expect(await eventually(async () => (await ferry.admin('GET', `/admin/v1/tenants/${erin.id}/verify/${again.body.runId}`)).body.state === 'done', 60_000, 200)).toBe(true);
    const second = (await ferry.admin('GET', `/admin/v1/tenants/${erin.id}/verify/${again.body.runId}`)).body.report;
    expect(second.damaged.map((d: { objects: string[] }) => d.objects)).toEqual([['vault/gone.bin']]);
    await erin.s3.send(new DeleteObjectCommand({ Bucket: 'vault', Key: 'gone.bin' }));
    await erin.s3.send(new DeleteObjectCommand({ Bucket: 'vault', Key: 'cached.bin' }));
  });

  it('prune rewrites a mostly dead pack: live frames and events move, the old pack goes', async () => {
    await ferry.stopWorker();
    const bodies = [83, 84, 85, 86].map((seed) => seeded(seed, 2 * MiB));
    for (const [i, body] of bodies.entries()) await erin.s3.send(new PutObjectCommand({ Bucket: 'vault', Key: `p${i}.bin`, Body: body }));
    await ferry.startWorker();
    await stored();
    const packs = new Set((await Promise.all(bodies.map((_, i) => placesOf(`p${i}.bin`)))).flat().map((place) => place.pack_id));
    expect(packs.size).toBe(1);
    const [oldPack] = [...packs];
    for (const i of [0, 1, 2]) await erin.s3.send(new DeleteObjectCommand({ Bucket: 'vault', Key: `p${i}.bin` }));
    await ferry.worker!.get(CollectGarbageHandler).handle();
    await ferry.worker!.get(PrunePacksHandler).handle();
    const moved = await placesOf('p3.bin');
    expect(moved.every((place) => place.pack_id !== oldPack)).toBe(true);
    const [old] = (await db.query(`SELECT state FROM packs WHERE id = $1`, [oldPack])) as { state: string }[];
    expect(old.state).toBe('retired');
    await ferry.gateway.app.get(PacksRepository).collectEmptyPacks(0, 100, 0);
    await ferry.worker!.get(CollectGarbageHandler).handle();
    const names = (await listBlobs(ferry.config, container())).map((blob) => blob.name);
    expect(names).not.toContain(`packs/${oldPack}`);
    await evict('p3.bin');
    expect((await get('p3.bin')).equals(bodies[3])).toBe(true);
    // the old pack's put events survive in the new one: the container still describes p3.bin
    const box = new SealedBox(ferry.config.masterKey.id, ferry.config.masterKey.key.reveal());
    const snapshot = await readContainer(ferry.gateway.app.get(BlobStore), box, erin.id, container());
    const puts = snapshot.events.filter((event) => event.type === 'object.put').map((event) => (event as { key: string }).key);
    expect(puts).toContain('p3.bin');
  });

  it('never collects a pack that carries catalog events: prune moves them on, and event packs are merged', async () => {
    const flush = () => ferry.worker!.get(FlushEventsHandler).handle();
    const box = new SealedBox(ferry.config.masterKey.id, ferry.config.masterKey.key.reveal());
    const containerEvents = async () => (await readContainer(ferry.gateway.app.get(BlobStore), box, erin.id, container())).events;
    await erin.s3.send(new PutObjectCommand({ Bucket: 'vault', Key: 'short.bin', Body: seeded(91, MiB) }));
    await stored();
    const [pack] = (await placesOf('short.bin')).map((place) => place.pack_id);
    await erin.s3.send(new DeleteObjectCommand({ Bucket: 'vault', Key: 'short.bin' }));
    await flush();
    // its only chunk is dead (grace 0), but the pack carries short.bin's put event
    await ferry.worker!.get(CollectGarbageHandler).handle();
    const [kept] = (await db.query(`SELECT state, event_count FROM packs WHERE id = $1`, [pack])) as { state: string; event_count: number }[];
    expect(kept.state).toBe('stored');
    expect(kept.event_count).toBeGreaterThan(0);
    await ferry.worker!.get(PrunePacksHandler).handle();
    const [retired] = (await db.query(`SELECT state FROM packs WHERE id = $1`, [pack])) as { state: string }[];
    expect(retired.state).toBe('retired');
    // eight buckets, each flushed on its own: eight packs of events only, merged into one by prune
    for (let i = 0; i < 8; i++) {
      await erin.s3.send(new CreateBucketCommand({ Bucket: `shelf-${i}` }));
      await flush();
    }
    const eventOnly = async () =>
      ((await db.query(`SELECT count(*)::int AS n FROM packs WHERE tenant_id = $1 AND state = 'stored' AND chunk_count = 0`, [erin.id])) as { n: number }[])[0].n;
    expect(await eventOnly()).toBeGreaterThanOrEqual(8);
    await ferry.worker!.get(PrunePacksHandler).handle();
    expect(await eventOnly()).toBe(1);
    await ferry.gateway.app.get(PacksRepository).collectEmptyPacks(0, 100, 0);
    await ferry.worker!.get(CollectGarbageHandler).handle();
    const events = await containerEvents();
    const buckets = events.filter((event) => event.type === 'bucket.create').map((event) => event.bucket);
    for (let i = 0; i < 8; i++) expect(buckets).toContain(`shelf-${i}`);
    // short.bin is gone from the catalog: its put went with the pack that carried it, its delete stays
    const shortEvents = events.filter((event) => 'key' in event && event.key === 'short.bin').map((event) => event.type);
    expect(shortEvents).toEqual(['object.delete']);
  });

  it('compacts the container: puts of deleted objects leave it, and a rebuild from it holds exactly what is left', async () => {
    const frank = await ferry.tenant('frank');
    const frankContainer = `${ferry.config.containerPrefix}${frank.id}`;
    const box = new SealedBox(ferry.config.masterKey.id, ferry.config.masterKey.key.reveal());
    const containerEvents = async () => (await readContainer(ferry.gateway.app.get(BlobStore), box, frank.id, frankContainer)).events;
    await frank.s3.send(new CreateBucketCommand({ Bucket: 'keep' }));
    // six objects in one pack, with their put events
    await ferry.stopWorker();
    const bodies = [0, 1, 2, 3, 4, 5].map((i) => seeded(120 + i, MiB));
    for (const [i, body] of bodies.entries()) await frank.s3.send(new PutObjectCommand({ Bucket: 'keep', Key: `k${i}.bin`, Body: body }));
    await ferry.startWorker();
    await stored(frank.id);
    for (const i of [0, 1, 2, 3]) await frank.s3.send(new DeleteObjectCommand({ Bucket: 'keep', Key: `k${i}.bin` }));
    await ferry.worker!.get(FlushEventsHandler).handle();
    await ferry.worker!.get(CollectGarbageHandler).handle();
    await ferry.worker!.get(PrunePacksHandler).handle();
    await ferry.gateway.app.get(PacksRepository).collectEmptyPacks(0, 100, 0);
    await ferry.worker!.get(CollectGarbageHandler).handle();
    const events = await containerEvents();
    const keysOf = (type: string) => events.flatMap((event) => (event.type === type && 'key' in event ? [event.key] : [])).sort();
    expect(keysOf('object.put')).toEqual(['k4.bin', 'k5.bin']);
    expect(keysOf('object.delete')).toEqual(['k0.bin', 'k1.bin', 'k2.bin', 'k3.bin']);

    // the catalog is lost; the container alone brings back the two objects left, byte for byte
    await ferry.stopWorker();
    await loseCatalog(db, frank.id);
    ferry.gateway.app.get(TenantKeyring).forget(frank.id);
    const rebuilt = await ferry.admin('POST', `/admin/v1/tenants/${frank.id}/catalog/rebuild`);
    expect(rebuilt.status).toBe(200);
    expect(rebuilt.body, JSON.stringify(rebuilt.body)).toMatchObject({ buckets: 1, objects: 2, incomplete: [], unreadablePacks: [] });
    await ferry.startWorker();
    for (const i of [4, 5]) {
      const response = await frank.s3.send(new GetObjectCommand({ Bucket: 'keep', Key: `k${i}.bin` }));
      expect(Buffer.from(await response.Body!.transformToByteArray()).equals(bodies[i])).toBe(true);
    }
    expect((await s3Failure(frank.s3.send(new GetObjectCommand({ Bucket: 'keep', Key: 'k0.bin' })))).name).toBe('NoSuchKey');
  });
});

/** Postgres "loses" a tenant's catalog: its rows go, without their triggers writing anything. */
async function loseCatalog(db: DataSource, tenantId: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(`SET LOCAL session_replication_role = replica`);
    for (const table of ['object_chunks', 'objects', 'multipart_uploads', 'buckets', 'chunks', 'packs', 'tenant_keys', 'catalog_events']) {
      await tx.query(`DELETE FROM ${table} WHERE tenant_id = $1`, [tenantId]);
    }
  });
}

async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await filesUnder(path)));
    else if (entry.isFile()) found.push(path);
  }
  return found;
}
