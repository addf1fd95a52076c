import { Column, Entity, PrimaryColumn } from 'typeorm';

/** An enrolled edge agent at one site. */
@Entity({ name: 'agents' })
export class AgentEntity {
  @PrimaryColumn({ name: 'tenant_id', type: 'uuid' })
  tenantId!: string;

  @PrimaryColumn('uuid')
  id!: string;

  @Column({ name: 'site_id', type: 'uuid' })
  siteId!: string;

  @Column({ name: 'enrollment_token_id', type: 'uuid', nullable: true })
  enrollmentTokenId!: string | null;

  @Column('text')
  hostname!: string;

  @Column({ name: 'agent_version', type: 'text' })
  agentVersion!: string;

  @Column('text')
  os!: string;

  @Column('text')
  arch!: string;

  @Column('text')
  serial!: string;

  @Column({ name: 'mac_addresses', type: 'text', array: true })
  macAddresses!: string[];

  @Column({ name: 'inventory_interval_sec', type: 'integer' })
  inventoryIntervalSec!: number;

  @Column({ name: 'health_interval_sec', type: 'integer' })
  healthIntervalSec!: number;

  @Column({
    name: 'acked_seq',
    type: 'bigint',
    transformer: { to: (v: number) => v, from: (v: string) => Number(v) },
  })
  ackedSeq!: number;

  @Column({
    name: 'messages_applied',
    type: 'bigint',
    transformer: { to: (v: number) => v, from: (v: string) => Number(v) },
  })
  messagesApplied!: number;

  @Column({ name: 'last_seen_at', type: 'timestamptz', nullable: true })
  lastSeenAt!: Date | null;

  /** The latest health report the agent sent (see `healthBodySchema`), and when it was committed. */
  @Column({ name: 'last_health', type: 'jsonb', nullable: true })
  lastHealth!: Record<string, unknown> | null;

  @Column({ name: 'last_health_at', type: 'timestamptz', nullable: true })
  lastHealthAt!: Date | null;

  /** The config version the control plane wants on the agent; 0 is the one it enrolled with. */
  @Column({ name: 'desired_config_version', type: 'integer', default: 0 })
  desiredConfigVersion!: number;

  /** The config version the agent last reported applied. */
  @Column({ name: 'applied_config_version', type: 'integer', default: 0 })
  appliedConfigVersion!: number;

  @Column({ name: 'enrolled_at', type: 'timestamptz' })
  enrolledAt!: Date;

  /** 'pending' while an enrollment that needs approval waits for a technician; 'rejected' if refused. */
  @Column({ name: 'approval_state', type: 'text', default: 'approved' })
  approvalState!: 'pending' | 'approved' | 'rejected';

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;
}
