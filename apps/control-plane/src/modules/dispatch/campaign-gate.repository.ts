/**
 * The SQL of the dispatcher's campaign pass: running campaigns found with the scan flag (ids only), then each
 * locked FOR UPDATE SKIP LOCKED in a transaction scoped to its organization, so two replicas never decide about
 * the same campaign at once (the second skips it until the next tick), and counted by wave from its jobs.
 */
import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { TenantTx } from '../../database/tenant-db.js';
import type { CampaignDefinition } from '../campaigns/campaign.repository.js';
import type { WaveCounts } from './campaign-gate.js';

export interface GateCampaign {
  organizationId: string;
  id: string;
  waves: CampaignDefinition['waves'];
  abortPolicy: CampaignDefinition['abortPolicy'];
  releasedWave: number;
  abortBaseline: { executed: number; failed: number };
}

export type PauseReason = Record<string, unknown> & { code: string; detail: string; at: string };

@Injectable()
export class CampaignGateRepository {
  async runningCampaigns(db: EntityManager): Promise<{ organizationId: string; id: string }[]> {
    await db.query(`SELECT set_config('medfleet.dispatch_scan', 'on', true)`);
    return (await db.query(
      `SELECT organization_id AS "organizationId", id FROM campaigns WHERE state = 'running' ORDER BY id`,
    )) as { organizationId: string; id: string }[];
  }

  /** The campaign if it is still running and no other transaction holds it. */
  async lockRunning(tx: TenantTx, organizationId: string, id: string): Promise<GateCampaign | null> {
    const rows = (await tx.db.query(
      `SELECT organization_id AS "organizationId", id, waves, abort_policy AS "abortPolicy",
              released_wave AS "releasedWave", abort_baseline AS "abortBaseline"
         FROM campaigns WHERE organization_id = $1 AND id = $2 AND state = 'running'
        FOR UPDATE SKIP LOCKED`,
      [organizationId, id],
    )) as GateCampaign[];
    return rows[0] ?? null;
  }

  /** Jobs of the campaign by wave, over the transaction's tenants (the organization's). */
  async waveCounts(tx: TenantTx, campaignId: string): Promise<Map<number, WaveCounts>> {
    const rows = (await tx.db.query(
      `SELECT wave, count(*)::int AS total,
              (count(*) FILTER (WHERE state = 'succeeded'))::int AS succeeded,
              (count(*) FILTER (WHERE state = 'failed'))::int AS failed,
              (count(*) FILTER (WHERE state = 'cancelled'))::int AS cancelled,
              max(finished_at) AS "lastFinished"
         FROM patch_jobs WHERE tenant_id = ANY ($1::uuid[]) AND campaign_id = $2
        GROUP BY wave`,
      [tx.tenantIds, campaignId],
    )) as {
      wave: number;
      total: number;
      succeeded: number;
      failed: number;
      cancelled: number;
      lastFinished: Date | null;
    }[];
    return new Map(
      rows.map((row) => [
        row.wave,
        {
          total: row.total,
          succeeded: row.succeeded,
          failed: row.failed,
          cancelled: row.cancelled,
          lastFinishedMs: row.lastFinished ? row.lastFinished.getTime() : null,
        },
      ]),
    );
  }

  async pause(tx: TenantTx, campaign: GateCampaign, reason: PauseReason): Promise<void> {
    await tx.db.query(
      `UPDATE campaigns SET state = 'paused', pause_reason = $3, updated_at = now()
        WHERE organization_id = $1 AND id = $2`,
      [campaign.organizationId, campaign.id, JSON.stringify(reason)],
    );
  }

  async release(tx: TenantTx, campaign: GateCampaign, wave: number, at: Date): Promise<void> {
    await tx.db.query(
      `UPDATE campaigns SET released_wave = $3, wave_released_at = $4, updated_at = now()
        WHERE organization_id = $1 AND id = $2`,
      [campaign.organizationId, campaign.id, wave, at],
    );
  }

  async complete(tx: TenantTx, campaign: GateCampaign): Promise<void> {
    await tx.db.query(
      `UPDATE campaigns SET state = 'completed', finished_at = now(), updated_at = now()
        WHERE organization_id = $1 AND id = $2`,
      [campaign.organizationId, campaign.id],
    );
  }
}
