/**
 * Deployment: the device profile (devices/jetson), execution-provider resolution against a binding,
 * tegrastats parsing and the status payload.
 */
export * from './errors';
export * from './profile';
export * from './provider-options';
export * from './status';
export * from './tegrastats';
export * from './systemd';
export * from './deployment-check';
export * from './binding-probe';
