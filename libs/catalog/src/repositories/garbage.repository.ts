import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { GarbageEntity } from '../entities/garbage.entity.js';

@Injectable()
export class GarbageRepository {
  constructor(private readonly db: DataSource) {}

  /** Operator-level: the oldest pending removals across tenants. */
  next(limit: number): Promise<GarbageEntity[]> {
    return this.db.getRepository(GarbageEntity).find({ order: { id: 'ASC' }, take: limit });
  }

  async done(id: string): Promise<void> {
    await this.db.getRepository(GarbageEntity).delete({ id });
  }
}
