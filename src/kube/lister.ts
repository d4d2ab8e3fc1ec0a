// Read access to caches: what reconciles read instead of calling the API server.

/** Read access to an informer cache (or several merged). */
export interface Lister<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
}

/** A cache started on first use: undefined until it has synced. */
export interface OnDemandLister<T> {
  ready(): Lister<T> | undefined;
}
