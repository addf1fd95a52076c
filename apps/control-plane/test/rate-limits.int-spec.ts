// Guessing enrollment tokens is slowed down per client address, over the real gRPC wire.
import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollmentClient } from './support/grpc-client.js';
import { createTenantSession, type TenantSession } from './support/tenant-session.js';
import { startTestControlPlane, type TestControlPlane } from './support/test-env.js';

let cp: TestControlPlane;
let session: TenantSession;

beforeAll(async () => {
  cp = await startTestControlPlane({ ENROLL_RATE_LIMIT_PER_MINUTE: '3' });
  session = await createTenantSession(cp);
});

afterAll(async () => {
  await cp?.stop();
});

describe('enrollment rate limit', () => {
  it('refuses the attempt after the burst with RESOURCE_EXHAUSTED, even for a valid token', async () => {
    const client = enrollmentClient(cp.grpcAddress);
    try {
      const guess = () =>
        client.enroll({ token: `mfe_${session.tenant.id}_${randomUUID().replaceAll('-', '')}` });
      for (let i = 0; i < 3; i++) {
        await expect(guess()).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
      }
      await expect(guess()).rejects.toMatchObject({
        code: status.RESOURCE_EXHAUSTED,
        details: expect.stringMatching(/^RATE_LIMITED: .* retry in \d+ s$/),
      });
      const token = await session.createToken();
      await expect(client.enroll({ token })).rejects.toMatchObject({ code: status.RESOURCE_EXHAUSTED });
      const tokens = await session.api.get(`/enrollment-tokens?siteId=${session.site.id}`);
      expect(tokens.body.items.every((t: { uses: number }) => t.uses === 0)).toBe(true);
    } finally {
      client.close();
    }
  });
});
