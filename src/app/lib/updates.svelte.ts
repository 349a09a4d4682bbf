// The service worker's life as the page sees it (vite-plugin-pwa's prompt flow): registration, update checks, and
// a new version waiting to take over. The page decides when to switch (UpdatePrompt), so a
// new deployment never serves its scripts into a page built from the old HTML.
/// <reference types="vite-plugin-pwa/vanillajs" />
import { registerSW } from 'virtual:pwa-register';

/** How often an open page asks the server whether a new version was deployed (also on return to the tab). */
const UPDATE_CHECK_MS = 60 * 60 * 1000;

export class AppUpdates {
  /** A new version is installed and waiting; reloading switches to it. */
  needRefresh = $state(false);
  /** Set while the waiting version is being activated (the page reloads when it takes control). */
  switching = $state(false);
  /** Another tab switched to the new version: this one still runs the old one until it reloads. */
  takenOverElsewhere = $state(false);

  private updateSW: ((reload?: boolean) => Promise<void>) | null = null;
  private registration: ServiceWorkerRegistration | null = null;
  private stopChecks: (() => void) | null = null;

  start(): void {
    if (!('serviceWorker' in navigator) || this.updateSW) return;
    this.updateSW = registerSW({
      immediate: true,
      onNeedRefresh: () => { this.needRefresh = true; },
      // vite-plugin-pwa reloads only when this page was already controlled at its start; we reload in every case.
      onNeedReload: () => this.reloadOnce(),
      onRegisteredSW: (_url, registration) => {
        if (!registration) return;
        this.registration = registration;
        this.watchForUpdates();
      },
      // The page works without a service worker (online only); nothing to ask of the person.
      onRegisterError: (e: unknown) => console.warn('Service worker registration failed; the playground will not open offline.', e),
    });
  }

  /** Asks the server for a new service worker now (a no-op offline). */
  async checkNow(): Promise<void> {
    if (!this.registration || !navigator.onLine) return;
    try { await this.registration.update(); } catch { /* offline or server down: the next check tries again */ }
  }

  /** Activates the waiting version; the page reloads when it takes control. */
  async reload(): Promise<void> {
    if (this.takenOverElsewhere) { this.reloadOnce(); return; }
    this.switching = true;
    await this.updateSW?.(true);
  }

  dismiss(): void {
    this.needRefresh = false;
  }

  dispose(): void {
    this.stopChecks?.();
  }

  private reloaded = false;
  private reloadOnce(): void {
    if (this.reloaded) return;
    this.reloaded = true;
    window.location.reload();
  }

  private watchForUpdates(): void {
    if (this.stopChecks) return;
    // The new worker took control of this page: after our own Reload, load the page from it; after another tab's,
    // say so (this tab keeps running the version it loaded until the person reloads it).
    const onControllerChange = () => {
      if (this.switching) this.reloadOnce();
      else if (this.needRefresh) this.takenOverElsewhere = true;
    };
    navigator.serviceWorker.addEventListener('controllerchange', onControllerChange);
    const onVisible = () => {
      if (document.visibilityState !== 'visible') return;
      // After "Later", a version still waiting is offered again when the person comes back to the tab.
      if (this.registration?.waiting && !this.needRefresh) this.needRefresh = true;
      void this.checkNow();
    };
    const timer = setInterval(() => void this.checkNow(), UPDATE_CHECK_MS);
    document.addEventListener('visibilitychange', onVisible);
    window.addEventListener('online', onVisible);
    this.stopChecks = () => {
      navigator.serviceWorker.removeEventListener('controllerchange', onControllerChange);
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisible);
      window.removeEventListener('online', onVisible);
    };
  }
}
