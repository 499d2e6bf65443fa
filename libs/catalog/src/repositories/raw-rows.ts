import type { DataSource, ValueTransformer } from 'typeorm';

/**
 * Rows of an entity read with plain SQL, mapped by the entity's own column metadata (names and
 * transformers), so the SQL stays short and the mapping cannot drift from the entity. For hot reads:
 * TypeORM's findOneBy builds its query anew on every call, which measured about a seventh of a
 * gateway's CPU when serving small GETs from packs.
 */
export class RawRows<T> {
  /** `alias.column, …` for a SELECT list. */
  readonly columns: string;
  private readonly fields: { property: string; column: string; transformers: ValueTransformer[] }[];

  /**
   * @param prefix when the entity's columns share a row with other tables' (a join), each is
   *   selected as `<prefix><column>` and read back under that name
   */
  constructor(
    db: DataSource,
    private readonly entity: new () => T,
    alias: string,
    private readonly prefix = '',
  ) {
    this.fields = db.getMetadata(entity).columns.map((column) => ({
      property: column.propertyName,
      column: column.databaseName,
      transformers: column.transformer === undefined ? [] : [column.transformer].flat(),
    }));
    this.columns = this.fields.map((field) => `${alias}."${field.column}"${prefix ? ` AS "${prefix}${field.column}"` : ''}`).join(', ');
  }

  map(row: Record<string, unknown>): T {
    const out = new this.entity() as Record<string, unknown>;
    for (const { property, column, transformers } of this.fields) {
      // transformers apply in reverse order when reading, as TypeORM applies them
      out[property] = transformers.reduceRight((value, transformer) => transformer.from(value) as unknown, row[this.prefix + column]);
    }
    return out as T;
  }
}
