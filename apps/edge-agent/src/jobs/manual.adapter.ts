/**
 * The manual adapter: a `manual_procedure` becomes a technician's checklist. The agent reports the job
 * `waiting_manual` and does nothing to the device; the technician confirms (or reports a failure) in the
 * control plane's API, which ends the job there.
 */
import type { SignedWorkOrder } from '@medfleet/contracts';
import type {
  AdapterJob,
  ApplyOutcome,
  DeviceAdapter,
  PrecheckOutcome,
  VerifyOutcome,
} from './device-adapter.js';
import { AdapterError } from './device-adapter.js';

export function manualAdapter(): DeviceAdapter {
  return {
    name: 'manual',
    claims: (order: SignedWorkOrder) => order.action.kind === 'manual_procedure',
    // A technician can find any device; what the agent cannot see is no reason to refuse the checklist.
    knowsDevice: () => false,
    precheck: (): Promise<PrecheckOutcome> => Promise.resolve({ ready: true }),
    apply: ({ order }: AdapterJob): Promise<ApplyOutcome> => {
      if (order.action.kind !== 'manual_procedure') {
        return Promise.reject(
          new AdapterError('ADAPTER_ERROR', 'the manual adapter runs manual procedures only'),
        );
      }
      return Promise.resolve({
        kind: 'awaiting_technician',
        title: order.action.title,
        checklist: [...order.action.steps],
      });
    },
    verify: (): Promise<VerifyOutcome> =>
      Promise.reject(new AdapterError('ADAPTER_ERROR', 'a manual procedure is verified by the technician')),
  };
}
