/** The only SQL of ingest: idempotent commit of agent messages, device upserts, contiguous acks. */
import { Injectable } from '@nestjs/common';
import type { DeviceReport, HealthBody, RejectReason } from '@medfleet/contracts';
import type { EntityManager } from 'typeorm';
import type { TenantTx } from '../../database/tenant-db.js';

export interface LockedAgent {
  siteId: string;
  ackedSeq: number;
  revoked: boolean;
}

export interface DeadLetterRecord {
  claimedTenantId: string | null;
  claimedAgentId: string | null;
  seq: number | null;
  topic: string;
  /** A wire refusal, or one of a valid message naming what is not the agent's (`UNKNOWN_JOB`, …). */
  reason: RejectReason | 'UNKNOWN_JOB' | 'JOB_AGENT_MISMATCH';
  detail: string;
  payload: Uint8Array;
}

const EXCERPT_BYTES = 4096;

/**
 * A device's reported facts change only for an observation at least as new as the one stored: a snapshot
 * committed late (a retransmission after a lost message, a replayed backlog) never puts an older firmware
 * version or address back over a newer one.
 */
const LATEST_OBSERVATION_WINS = [
  'ip',
  'vlan',
  'category',
  'vendor',
  'model',
  'serial',
  'firmware_version',
  'os',
  'hostname',
  'reporting_agent_id',
]
  .map(
    (column) =>
      `${column} = CASE WHEN EXCLUDED.last_seen_at >= devices.last_seen_at THEN EXCLUDED.${column} ELSE devices.${column} END`,
  )
  .join(',\n         ');

@Injectable()
export class IngestRepository {
  /** Locks the agent's row for the rest of the transaction, so one agent's messages commit one at a time. */
  async lockAgent(tx: TenantTx, tenantId: string, agentId: string): Promise<LockedAgent | null> {
    const rows = (await tx.db.query(
      `SELECT site_id, acked_seq, revoked_at IS NOT NULL AS revoked
         FROM agents WHERE tenant_id = $1 AND id = $2 AND tenant_id = ANY($3::uuid[]) FOR UPDATE`,
      [tenantId, agentId, tx.tenantIds],
    )) as { site_id: string; acked_seq: string; revoked: boolean }[];
    const row = rows[0];
    return row ? { siteId: row.site_id, ackedSeq: Number(row.acked_seq), revoked: row.revoked } : null;
  }

  /** Records the message; false when this (agent, seq) was committed before (a replay). */
  async recordMessage(
    tx: TenantTx,
    key: { tenantId: string; agentId: string; seq: number },
    stream: string,
    outcome: 'applied' | 'dead_lettered',
    sentAt: string | null,
  ): Promise<boolean> {
    const rows = (await tx.db.query(
      `INSERT INTO ingested_messages (tenant_id, agent_id, seq, stream, outcome, sent_at)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING seq`,
      [key.tenantId, key.agentId, key.seq, stream, outcome, sentAt],
    )) as unknown[];
    return rows.length === 1;
  }

  async upsertDevices(
    tx: TenantTx,
    owner: { tenantId: string; siteId: string; agentId: string },
    devices: DeviceReport[],
  ): Promise<number> {
    if (devices.length === 0) return 0;
    // One row per MAC: a snapshot that names a MAC twice keeps its last report.
    const unique = [...new Map(devices.map((device) => [device.mac, device])).values()];
    await tx.db.query(
      `INSERT INTO devices (tenant_id, site_id, mac, ip, vlan, category, vendor, model, serial, firmware_version,
                            os, hostname, first_seen_at, last_seen_at, reporting_agent_id)
       SELECT $1, $2, d.mac::macaddr, d.ip::inet, d.vlan, d.category, d.vendor, d.model, d.serial, d."firmwareVersion",
              d.os, d.hostname, d."observedAt", d."observedAt", $3
         FROM jsonb_to_recordset($4::jsonb) AS d(mac text, ip text, vlan integer, category text, vendor text,
              model text, serial text, "firmwareVersion" text, os text, hostname text, "observedAt" timestamptz)
       ON CONFLICT (tenant_id, site_id, mac) DO UPDATE SET ${LATEST_OBSERVATION_WINS},
         first_seen_at = LEAST(devices.first_seen_at, EXCLUDED.first_seen_at),
         last_seen_at = GREATEST(devices.last_seen_at, EXCLUDED.last_seen_at),
         updated_at = now()`,
      [owner.tenantId, owner.siteId, owner.agentId, JSON.stringify(unique)],
    );
    return unique.length;
  }

  /** Marks seqs the agent declared lost as skipped (never over a committed one); returns how many. */
  async skipSeqs(
    tx: TenantTx,
    tenantId: string,
    agentId: string,
    ranges: { fromSeq: number; toSeq: number }[],
  ): Promise<number> {
    const rows = (await tx.db.query(
      `INSERT INTO ingested_messages (tenant_id, agent_id, seq, stream, outcome)
       SELECT $1, $2, s, 'unknown', 'skipped'
         FROM jsonb_to_recordset($3::jsonb) AS r("fromSeq" bigint, "toSeq" bigint),
              generate_series(r."fromSeq", r."toSeq") AS s
       ON CONFLICT DO NOTHING RETURNING seq`,
      [tenantId, agentId, JSON.stringify(ranges)],
    )) as unknown[];
    return rows.length;
  }

  async saveEvent(
    tx: TenantTx,
    key: { tenantId: string; agentId: string; seq: number },
    type: string,
    occurredAt: string,
    body: unknown,
  ): Promise<void> {
    await tx.db.query(
      `INSERT INTO agent_events (tenant_id, agent_id, seq, type, occurred_at, body) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT DO NOTHING`,
      [key.tenantId, key.agentId, key.seq, type, occurredAt, JSON.stringify(body)],
    );
  }

  /** Keeps the newest health report by seq: a replayed older one does not overwrite it. */
  async saveHealth(
    tx: TenantTx,
    tenantId: string,
    agentId: string,
    seq: number,
    health: HealthBody,
  ): Promise<void> {
    await tx.db.query(
      `UPDATE agents SET last_health = $3, last_health_at = now()
        WHERE tenant_id = $1 AND id = $2
          AND NOT EXISTS (SELECT 1 FROM ingested_messages m
                           WHERE m.tenant_id = $1 AND m.agent_id = $2 AND m.stream = 'health' AND m.seq > $4)`,
      [tenantId, agentId, JSON.stringify(health), seq],
    );
  }

  /** Closes the agent's open silence alerts (it spoke again); returns what was closed. */
  async resolveSilenceAlerts(
    tx: TenantTx,
    tenantId: string,
    agentId: string,
  ): Promise<{ id: string; openedAt: Date }[]> {
    const result = (await tx.db.query(
      `UPDATE agent_alerts SET resolved_at = now()
        WHERE tenant_id = $1 AND agent_id = $2 AND resolved_at IS NULL
        RETURNING id, opened_at`,
      [tenantId, agentId],
    )) as [{ id: string; opened_at: Date }[], number] | { id: string; opened_at: Date }[];
    const rows = (Array.isArray(result[0]) ? result[0] : result) as { id: string; opened_at: Date }[];
    return rows.map((row) => ({ id: row.id, openedAt: row.opened_at }));
  }

  /**
   * Advances the agent's acked seq over every contiguous committed message and marks it seen; returns
   * the new acked seq and the next downlink seq for the ack envelope.
   */
  async advanceAck(
    tx: TenantTx,
    tenantId: string,
    agentId: string,
    from: number,
    applied: number,
  ): Promise<{ ackedSeq: number; downlinkSeq: number }> {
    const rows = (await tx.db.query(
      `WITH RECURSIVE run(seq) AS (
          SELECT $3::bigint
          UNION ALL
          SELECT m.seq FROM run JOIN ingested_messages m
              ON m.tenant_id = $1 AND m.agent_id = $2 AND m.seq = run.seq + 1
       )
       UPDATE agents SET acked_seq = (SELECT max(seq) FROM run), downlink_seq = downlink_seq + 1,
              messages_applied = messages_applied + $4, last_seen_at = now()
        WHERE tenant_id = $1 AND id = $2
       RETURNING acked_seq, downlink_seq`,
      [tenantId, agentId, from, applied],
    )) as
      [{ acked_seq: string; downlink_seq: string }[], number] | { acked_seq: string; downlink_seq: string }[];
    const row = (Array.isArray(rows[0]) ? rows[0][0] : rows[0]) as {
      acked_seq: string;
      downlink_seq: string;
    };
    return { ackedSeq: Number(row.acked_seq), downlinkSeq: Number(row.downlink_seq) };
  }

  async deadLetter(db: EntityManager, record: DeadLetterRecord): Promise<void> {
    await db.query(
      `INSERT INTO dead_letters (claimed_tenant_id, claimed_agent_id, seq, topic, reason, detail, payload_size, payload_excerpt)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        record.claimedTenantId,
        record.claimedAgentId,
        record.seq,
        record.topic.slice(0, 512),
        record.reason,
        record.detail.slice(0, 1000),
        record.payload.byteLength,
        Buffer.from(record.payload.subarray(0, EXCERPT_BYTES)),
      ],
    );
  }
}
