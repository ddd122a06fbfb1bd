/**
 * The env list is live: the server pushes `{"type": "envs", "version"}` on
 * the events websocket when envs come or go under the scanned folders (or an
 * interpreter vanishes), and a fresh snapshot (with `envs_version`) after
 * every reconnect; the sidebar reads the list again then. Nothing polls.
 */
import { onEvent } from './events';

export class LiveList {
  constructor(private readonly _changed: () => void) {}

  start(): void {
    if (this._stops.length) {
      return;
    }
    // a change is news even before any snapshot said which version the list had
    const seen = (version: unknown, change: boolean): void => {
      if (typeof version !== 'number') {
        return;
      }
      if ((change || this._version !== null) && version !== this._version) {
        this._changed();
      }
      this._version = version;
    };
    this._stops.push(
      onEvent('envs', msg => seen(msg.version, true)),
      onEvent('snapshot', msg => seen(msg.envs_version, false))
    );
  }

  dispose(): void {
    this._stops.forEach(stop => stop());
    this._stops = [];
  }

  private _version: number | null = null;
  private _stops: (() => void)[] = [];
}
