import { Controller, Get } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** `GET /healthz`: ready when the catalog answers, since without it nothing can be served or acknowledged. */
@Controller('healthz')
export class CatalogHealthController {
  constructor(private readonly db: DataSource) {}

  @Get()
  async health() {
    await this.db.query('SELECT 1');
    return { status: 'ok' };
  }
}
