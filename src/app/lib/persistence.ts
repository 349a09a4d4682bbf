// Asking the browser to keep this site's storage (navigator.storage.persist()). It lives on the page because the
// Storage Standard exposes persist() to windows only: in Chromium's dedicated workers navigator.storage has
// persisted() and estimate() but no persist(). It touches no IndexedDB; the worker still owns every read and write.

/** True when the browser granted (or had granted) persistent storage; false when it declined or cannot. */
export async function requestPersistence(): Promise<boolean> {
  const storage = typeof navigator !== 'undefined' ? navigator.storage : undefined;
  if (!storage?.persist) return false;
  if (storage.persisted && (await storage.persisted())) return true;
  return storage.persist();
}
