/**
 * The env list is live: the server bumps a generation number when envs come
 * or go under the scanned folders (or an interpreter vanishes), and the
 * sidebar reads the list again then.
 */
import { requestAPI } from './api';

const POLL_MS = 1000;

export class LiveList {
  constructor(private readonly _changed: () => void) {}

  start(): void {
    void this._poll();
  }

  dispose(): void {
    this._disposed = true;
  }

  private async _poll(): Promise<void> {
    if (this._disposed) {
      return;
    }
    try {
      const { generation } = await requestAPI<{ generation: number }>('envs/generation');
      if (this._generation !== null && generation !== this._generation) {
        this._changed();
      }
      this._generation = generation;
    } catch {
      // the server is away; try again at the next tick
    }
    window.setTimeout(() => void this._poll(), POLL_MS);
  }

  private _generation: number | null = null;
  private _disposed = false;
}
