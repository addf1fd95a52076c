import { Module } from '@nestjs/common';
import { PkiService } from './pki.service.js';

@Module({
  providers: [PkiService],
  exports: [PkiService],
})
export class PkiModule {}
