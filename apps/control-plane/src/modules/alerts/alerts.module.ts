import { Module } from '@nestjs/common';
import { AgentSilenceSweeper } from './agent-silence.sweeper.js';
import { AlertController } from './alert.controller.js';
import { AlertRepository } from './alert.repository.js';

@Module({
  controllers: [AlertController],
  providers: [AlertRepository, AgentSilenceSweeper],
  exports: [AgentSilenceSweeper],
})
export class AlertsModule {}
