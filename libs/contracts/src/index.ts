export * from './protocol.js';
export * from './topics.js';
export * from './device.js';
export * from './messages.js';
export * from './enrollment.js';
export * from './agent-config.js';
export * from './work-order.js';
export * from './firmware-version.js';
