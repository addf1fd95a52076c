import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A device on a clinic's network, as its site's agent last reported it. */
@Entity({ name: 'devices' })
export class DeviceEntity {
  @PrimaryColumn({ name: 'tenant_id', type: 'uuid' })
  tenantId!: string;

  @PrimaryColumn('uuid')
  id!: string;

  @Column({ name: 'site_id', type: 'uuid' })
  siteId!: string;

  @Column('macaddr')
  mac!: string;

  @Column({ type: 'inet', nullable: true })
  ip!: string | null;

  @Column({ type: 'integer', nullable: true })
  vlan!: number | null;

  @Column('text')
  category!: string;

  @Column({ type: 'text', nullable: true })
  vendor!: string | null;

  @Column({ type: 'text', nullable: true })
  model!: string | null;

  @Column({ type: 'text', nullable: true })
  serial!: string | null;

  @Column({ name: 'firmware_version', type: 'text', nullable: true })
  firmwareVersion!: string | null;

  @Column({ type: 'text', nullable: true })
  os!: string | null;

  @Column({ type: 'text', nullable: true })
  hostname!: string | null;

  @Column({ name: 'first_seen_at', type: 'timestamptz' })
  firstSeenAt!: Date;

  @Column({ name: 'last_seen_at', type: 'timestamptz' })
  lastSeenAt!: Date;

  @Column({ name: 'reporting_agent_id', type: 'uuid' })
  reportingAgentId!: string;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
