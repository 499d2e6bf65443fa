import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DataSource } from 'typeorm';
import { PacksRepository } from '@ferry/catalog';
import { PackedReader } from '../../apps/gateway/src/read/packed-reader.js';
import { CollectGarbageHandler } from '../../apps/worker/src/maintenance/collect-garbage.handler.js';
import { PrunePacksHandler } from '../../apps/worker/src/repack/prune-packs.handler.js';
import { eventually, FerryUnderTest, type TenantSession } from '../support/ferry.js';
import { listBlobs, spoolFiles } from '../support/faults.js';

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

/** Writers racing on one key: exactly one version survives, whole, and nothing of the others leaks. */
describe('concurrent writers of one key', () => {
  let ferry: FerryUnderTest;
  let t: TenantSession;

  beforeAll(async () => {
    // no grace period: the collector forgets the replaced versions' chunks as soon as nothing names
    // them; and prune rewrites any pack holding a dead frame of one (a pack holding only a live
    // ~100 kB frame is ~99 % live, one sharing it with a dead frame of the same size ~50 %)
    ferry = await FerryUnderTest.start({ env: { FERRY_CHUNK_GRACE_MS: '0', FERRY_PACK_PRUNE_BELOW: '0.9' } });
    t = await ferry.tenant('racer');
    await t.s3.send(new CreateBucketCommand({ Bucket: 'race' }));
  });

  afterAll(async () => {
    await ferry?.stop();
  });

  it('keeps one whole version and collects every replaced one', async () => {
    // enough writers that some lose the single-statement race twice and take the transactional path
    const bodies = Array.from({ length: 40 }, (_, index) => randomBytes(100_000 + index));
    const results = await Promise.all(bodies.map((Body) => t.s3.send(new PutObjectCommand({ Bucket: 'race', Key: 'contested', Body }))));
    expect(results.map((result) => result.ETag)).toEqual(bodies.map((body) => `"${md5(body)}"`));

    const db = ferry.gateway.app.get(DataSource);
    const rows = (await db.query(`SELECT id, etag, size FROM objects WHERE tenant_id = $1 AND key = 'contested'`, [t.id])) as { id: string; etag: string; size: string }[];
    expect(rows).toHaveLength(1);
    const [row] = rows;
    const got = await t.s3.send(new GetObjectCommand({ Bucket: 'race', Key: 'contested' }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    expect(md5(bytes)).toBe(row.etag);
    expect(bodies.some((body) => body.equals(bytes))).toBe(true);

    // every replaced version's bytes are collected: only the survivor's chunks remain, in packs of
    // the tenant's container, and after prune no pack holds another version's frames
    const container = `${ferry.config.containerPrefix}${t.id}`;
    const settled = await eventually(async () => {
      const [pending] = (await db.query(`SELECT count(*)::int AS n FROM garbage WHERE tenant_id = $1`, [t.id])) as { n: number }[];
      const [staged] = (await db.query(`SELECT count(*)::int AS n FROM objects WHERE tenant_id = $1 AND state = 'staged'`, [t.id])) as { n: number }[];
      return pending.n === 0 && staged.n === 0;
    }, 60_000, 200);
    expect(settled).toBe(true);
    const collector = ferry.worker!.get(CollectGarbageHandler);
    const survivorChunks = async () =>
      ((await db.query(`SELECT encode(chunk_id, 'hex') AS id FROM object_chunks WHERE object_id = $1 ORDER BY seq`, [row.id])) as { id: string }[]).map(
        (entry) => entry.id,
      );
    type Pack = { id: string; state: string; size: string; chunk_count: number; event_count: number };
    let state: { manifest: string[]; chunks: { id: string; pack_id: string | null }[]; packs: Pack[]; blobs: string[]; garbage: number } | undefined;
    const snapshot = async () => {
      const [garbage] = (await db.query(`SELECT count(*)::int AS n FROM garbage WHERE tenant_id = $1`, [t.id])) as { n: number }[];
      state = {
        manifest: await survivorChunks(),
        chunks: (await db.query(`SELECT encode(id, 'hex') AS id, pack_id FROM chunks WHERE tenant_id = $1`, [t.id])) as { id: string; pack_id: string | null }[],
        packs: (await db.query(`SELECT id, state, size, chunk_count, event_count FROM packs WHERE tenant_id = $1`, [t.id])) as Pack[],
        blobs: (await listBlobs(ferry.config, container)).map((blob) => blob.name),
        garbage: garbage.n,
      };
      return state;
    };
    // the container holds the keyring and the catalog's packs, nothing else
    const containerMatches = (s: NonNullable<typeof state>) =>
      JSON.stringify([...s.blobs].sort()) === JSON.stringify(['ferry/keyring', ...s.packs.map((pack) => `packs/${pack.id}`)].sort());
    // 1. the collector (grace 0): only the survivor's chunks are left, each in a stored pack; every other
    //    pack is kept only for the catalog events it carries (those are never simply deleted)
    const collected = await eventually(async () => {
      await collector.handle();
      const s = await snapshot();
      const holding = new Set(s.chunks.map((chunk) => chunk.pack_id));
      return (
        s.garbage === 0 &&
        s.manifest.length > 0 &&
        s.chunks.length === new Set(s.manifest).size &&
        s.chunks.every((chunk) => s.manifest.includes(chunk.id) && chunk.pack_id !== null) &&
        s.packs.every((pack) => pack.state === 'stored' && (holding.has(pack.id) || pack.event_count > 0)) &&
        containerMatches(s)
      );
    }, 30_000, 250);
    expect(collected, JSON.stringify(state, null, 1)).toBe(true);
    // 2. prune rewrites the packs the replaced versions' frames made sparse, and their blobs go: what
    //    is left in Blob is the survivor's frame and a little encrypted event data, no other version
    const prune = ferry.worker!.get(PrunePacksHandler);
    const packs = ferry.worker!.get(PacksRepository);
    const pruned = await eventually(async () => {
      await prune.handle();
      await packs.collectEmptyPacks(0, 500, 0);
      await collector.handle();
      const s = await snapshot();
      const total = s.packs.reduce((sum, pack) => sum + Number(pack.size), 0);
      return s.garbage === 0 && s.packs.every((pack) => pack.state === 'stored') && containerMatches(s) && total < bytes.length + 64 * 1024;
    }, 30_000, 250);
    expect(pruned, JSON.stringify(state, null, 1)).toBe(true);
    expect(state!.chunks.map((chunk) => chunk.id).sort()).toEqual([...new Set(state!.manifest)].sort());
    // what is left in the packs is the survivor, whole
    expect(Number(row.size)).toBe(bytes.length);
    const packed = await ferry.gateway.app.get(PackedReader).open(t.id, container, row.id, bytes.length, { start: 0, end: bytes.length - 1 });
    const fromPacks: Buffer[] = [];
    for await (const piece of packed) fromPacks.push(piece as Buffer);
    expect(Buffer.concat(fromPacks).equals(bytes)).toBe(true);
    const usage = (await ferry.admin('GET', `/admin/v1/tenants/${t.id}/usage`)).body;
    expect(usage).toMatchObject({ logicalBytes: bytes.length, objects: 1, pendingBytes: 0 });
    const files = (await spoolFiles(ferry.config.spoolDir)).filter((file) => file.startsWith(`${t.id}/`));
    expect(files.length).toBeLessThanOrEqual(1);
  }, 120_000);

  it('stores 48 objects sharing chunks in different orders at once without a deadlock between their manifests', async () => {
    // every manifest names the same chunks: their reference counts and foreign-key checks meet on
    // the same rows, which once deadlocked (each deadlock a retried repack)
    await t.s3.send(new CreateBucketCommand({ Bucket: 'copies' }));
    const db = ferry.gateway.app.get(DataSource);
    const deadlocks = async () => {
      // statistics reach pg_stat_database within a second of a transaction ending
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const [row] = (await db.query(`SELECT deadlocks::int AS n FROM pg_stat_database WHERE datname = current_database()`)) as { n: number }[];
      return row.n;
    };
    const before = await deadlocks();
    // each object is the same six 1 MiB segments in its own order: content-defined chunks repeat
    // across objects, but every manifest names them in a different order
    const segments = Array.from({ length: 6 }, () => randomBytes(1024 * 1024));
    const shuffled = (seed: number) => [...segments].sort((a, b) => ((a[seed] ^ seed) - (b[seed] ^ seed)) || a.compare(b));
    await Promise.all(
      Array.from({ length: 48 }, (_, index) => t.s3.send(new PutObjectCommand({ Bucket: 'copies', Key: `copy-${index}`, Body: Buffer.concat(shuffled(index)) }))),
    );
    const stored = await eventually(async () => {
      const [staged] = (await db.query(`SELECT count(*)::int AS n FROM objects WHERE tenant_id = $1 AND state = 'staged'`, [t.id])) as { n: number }[];
      return staged.n === 0;
    }, 60_000, 200);
    expect(stored).toBe(true);
    const [refs] = (await db.query(
      `SELECT min(c.refs)::int AS low, max(c.refs)::int AS high, count(*)::int AS chunks
         FROM chunks c WHERE c.tenant_id = $1 AND c.id IN (SELECT chunk_id FROM object_chunks m JOIN objects o ON o.id = m.object_id WHERE o.key LIKE 'copy-%')`,
      [t.id],
    )) as { low: number; high: number; chunks: number }[];
    expect(refs.chunks).toBeGreaterThan(6);
    expect(refs.high).toBeGreaterThan(8);
    expect(await deadlocks()).toBe(before);
  }, 120_000);
});
