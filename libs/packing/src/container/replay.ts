import type { CatalogEvent, ObjectPutEvent } from '../pack/pack-format.js';

export interface ReplayedCatalog {
  /** Buckets that exist after every event, by name. */
  buckets: string[];
  /** The surviving version of each (bucket, key, version), its latest put. */
  objects: ObjectPutEvent[];
  /** The highest event number seen: new events must number above it. */
  lastSeq: number;
}

/**
 * Replays a container's catalog events (docs/format.md) into the catalog they describe. Events are
 * applied in `seq` order; an object id named by a delete stays deleted whatever the order (ids are
 * never reused), and of several puts of one key and version the latest wins (the earlier ones were
 * replaced). A bucket named by a surviving object exists even if its create event was never written.
 */
export function replayEvents(events: Iterable<CatalogEvent>): ReplayedCatalog {
  const ordered = [...events].sort((a, b) => a.seq - b.seq);
  const deleted = new Set<string>();
  for (const event of ordered) if (event.type === 'object.delete') deleted.add(event.objectId);
  const buckets = new Set<string>();
  const latest = new Map<string, ObjectPutEvent>();
  let lastSeq = 0;
  for (const event of ordered) {
    lastSeq = Math.max(lastSeq, event.seq);
    switch (event.type) {
      case 'bucket.create':
        buckets.add(event.bucket);
        break;
      case 'bucket.delete':
        buckets.delete(event.bucket);
        break;
      case 'object.put':
        if (!deleted.has(event.objectId)) latest.set(JSON.stringify([event.bucket, event.key, event.versionId]), event);
        break;
      case 'object.delete':
        break;
    }
  }
  const objects = [...latest.values()];
  for (const object of objects) buckets.add(object.bucket);
  return { buckets: [...buckets].sort(), objects, lastSeq };
}
