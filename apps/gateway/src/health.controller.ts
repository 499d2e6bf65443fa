import { Controller, Get } from '@nestjs/common';
import { DataSource } from 'typeorm';

@Controller('healthz')
export class HealthController {
  constructor(private readonly db: DataSource) {}

  /** Ready when the catalog answers: without it nothing can be acknowledged. */
  @Get()
  async health() {
    await this.db.query('SELECT 1');
    return { status: 'ok' };
  }
}
