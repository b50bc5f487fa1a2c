/**
 * Watching a promise without awaiting it, for tests that check that a start is still pending
 * (waiting out an outage) before they end the outage.
 */

/** What {@link watchSettlement} reports. */
export interface Settlement<T> {
  /** `pending` until the promise settles. */
  readonly state: 'pending' | 'resolved' | 'rejected';
  /** The rejection reason, once rejected. */
  readonly error: unknown;
  /** The value, or null when the promise rejected (then see {@link error}). */
  readonly result: Promise<T | null>;
}

/** Watches `promise`; `onResolved` sees the value first (e.g. to register it for clean-up). */
export function watchSettlement<T>(promise: Promise<T>, onResolved: (value: T) => void = () => undefined): Settlement<T> {
  let state: Settlement<T>['state'] = 'pending';
  let error: unknown;
  const result = promise.then(
    (value) => {
      state = 'resolved';
      onResolved(value);
      return value;
    },
    (err: unknown) => {
      state = 'rejected';
      error = err;
      return null;
    },
  );
  return {
    get state() {
      return state;
    },
    get error() {
      return error;
    },
    result,
  };
}
