/**
 * Which notebook the env sidebar serves and where its kernel runs. Follows
 * the active notebook, its kernel changes, and switches made elsewhere
 * (`%pyenv switch` in a cell, the EnvPicker widget on the page), asking the
 * server only when something may have moved: after a cell ends, never on a
 * timer. Split out of the panel so the panel only draws.
 */
import { announceEnv } from './indicator';
import { IKernelEnv, kernelEnv, settledEnv } from './kernelenv';
import {
  beforeSave, INotebookLike, INotebookSource, missingSavedEnv, rememberEnv
} from './notebook';

/** What the follower tells the panel. */
export interface IKernelFollowerHost {
  /** Another notebook became active (the list's "Recommended" depends on it). */
  notebookChanged(): void;
  /**
   * The kernel's env was read again. `env` is null with `why` when there is
   * no notebook or kernel; `keepDetails` keeps an open comparison or result.
   */
  kernelRead(env: IKernelEnv | null, keepDetails: boolean, why?: string): void;
  /** A visible notice (the notebook's saved env is gone). */
  notice(text: string): void;
  /** A switch from the sidebar is under way: do not follow the kernel meanwhile. */
  switching(): boolean;
}

export class KernelFollower {
  constructor(source: INotebookSource | null, host: IKernelFollowerHost) {
    this._source = source;
    this._host = host;
    source?.changed.connect(this.watch, this);
    // a switch made by the EnvPicker widget on this page
    window.addEventListener('kernelswitch:switched', this._onPageSwitch);
  }

  dispose(): void {
    window.removeEventListener('kernelswitch:switched', this._onPageSwitch);
    this._source?.changed.disconnect(this.watch, this);
  }

  get notebook(): INotebookLike | null {
    return this._notebook;
  }

  /** Where the kernel runs, as last read (null: unknown or no kernel). */
  get current(): IKernelEnv | null {
    return this._current;
  }

  /** The active notebook's kernel id, if it has one. */
  get kernelId(): string | null {
    return this._notebook?.sessionContext.session?.kernel?.id ?? null;
  }

  /** Follow the active notebook (no-op when it did not change). */
  watch(): void {
    const nb = this._source?.current() ?? null;
    if (nb === this._notebook) {
      return;
    }
    this._notebook?.sessionContext.kernelChanged.disconnect(this._onKernel, this);
    this._notebook?.sessionContext.statusChanged.disconnect(this._onStatus, this);
    this._notebook = nb;
    nb?.sessionContext.kernelChanged.connect(this._onKernel, this);
    nb?.sessionContext.statusChanged.connect(this._onStatus, this);
    if (nb) { // a save of this notebook first catches up with a switch made elsewhere
      beforeSave(nb, () => (nb === this._notebook ? this.follow() : Promise.resolve()));
    }
    if (nb && !nb.sessionContext.isReady) {
      void nb.sessionContext.ready.then(() => this.read());
    }
    this._host.notebookChanged();
    void this.read();
  }

  /** Ask the kernel where it runs, tell the host, show it in the kernel indicator. */
  async read(keepDetails = false): Promise<void> {
    const nb = this._notebook;
    const kernel = nb?.sessionContext.session?.kernel ?? null;
    if (!nb || !kernel) {
      this._current = null;
      this._host.kernelRead(null, keepDetails,
        nb ? 'The notebook has no kernel.' : 'No notebook is active.');
      return;
    }
    const env = await kernelEnv(kernel);
    if (nb !== this._notebook) {
      return;
    }
    this._current = env;
    this._host.kernelRead(env, keepDetails);
    await announceEnv(nb.sessionContext, nb.context.model, env);
    if (env && env.kind !== '?' && !this._checked.has(nb)) {
      this._checked.add(nb);
      const text = missingSavedEnv(nb, env);
      if (text) {
        this._host.notice(text);
      }
    }
  }

  /**
   * A switch made elsewhere (`%pyenv switch`, the picker): remember it in the
   * notebook and read the kernel's env again.
   */
  async follow(): Promise<void> {
    const nb = this._notebook;
    const kernel = nb?.sessionContext.session?.kernel;
    const known = this._current;
    if (!nb || !kernel || !known || known.kind === '?' || this._host.switching()) {
      return;
    }
    const env = await settledEnv(kernel.id);
    if (!env || nb !== this._notebook || env.prefix === this._current?.prefix) {
      return;
    }
    rememberEnv(nb, env);
    await this.read();
  }

  private _onKernel(_: unknown, change: { oldValue: unknown; newValue: unknown }): void {
    if (change.oldValue !== change.newValue) { // not our own indicator refresh
      void this.read();
    }
  }

  /** A cell ended: `%pyenv switch` may have moved the kernel (asked, not polled). */
  private _onStatus(_: unknown, status: string): void {
    if (status === 'idle' && !this._host.switching()) {
      clearTimeout(this._idleTimer);
      this._idleTimer = window.setTimeout(() => void this.follow(), 200);
    }
  }

  private _onPageSwitch = (event: Event): void => {
    const id = (event as CustomEvent<{ kernel_id: string }>).detail?.kernel_id;
    if (id && id === this.kernelId) {
      void this.follow();
    }
  };

  private _source: INotebookSource | null;
  private _host: IKernelFollowerHost;
  private _notebook: INotebookLike | null = null;
  private _current: IKernelEnv | null = null;
  private _checked = new WeakSet<INotebookLike>();
  private _idleTimer = 0;
}
