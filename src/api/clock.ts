// The one way every module reads the time: a Clock passed in, so that tests can set it and every
// decision made in one reconcile sees the same instant.

export type Clock = () => Date;

export const systemClock: Clock = () => new Date();
