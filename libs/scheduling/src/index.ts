// @medfleet/scheduling: maintenance-window math and the patch planner. Pure functions over plain data, shared by
// the control plane (planning, calendars, dispatch) and the edge agent (refusing out-of-window work).
export * from './scheduling.error.js';
export * from './time.js';
export * from './zone-clock.js';
export * from './maintenance-policy.js';
export * from './blackout.js';
export * from './maintenance-window.js';
export * from './patch-plan.types.js';
export * from './patch-planner.js';
export * from './job-rollover.js';
export * from './plan-rows.js';
