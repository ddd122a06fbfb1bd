import { CommandRegistry } from '@lumino/commands';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { Widget } from '@lumino/widgets';

import { APIError, IEnvList, IEnvRecord, requestAPI } from './api';
import { renderEnvList } from './envlist';
import { IKernelEnv } from './kernelenv';
import { LiveList } from './live';
import { INotebookLike, INotebookSource } from './notebook';
import { openNewEnv } from './newenv';
import { CommandIDs } from './panel_commands';
import { CompareBox } from './panel_compare';
import { buildPanel, IPanelDom, P } from './panel_dom';
import { KernelFollower } from './panel_kernel';
import { envLabel } from './protocol';
import { el } from './steps';

export type { INotebookLike, INotebookSource };

type State =
  | { kind: 'loading' }
  | { kind: 'error'; message: string }
  | { kind: 'ready'; list: IEnvList };

/**
 * Sidebar: discover – compare – align – apply. Lists the environments the
 * server found (the kernel's first, then those recommended for the notebook,
 * then by kind), opens a comparison under the env the user picks, installs
 * what the notebook lacks there on request, and switches on an explicit Apply.
 * Every action is a command (panel_commands.ts): the buttons, rows and keys
 * here execute them.
 */
export class EnvPanel extends Widget {
  constructor(commands: CommandRegistry, source: INotebookSource | null = null) {
    super();
    this._commands = commands;
    this.addClass(P);
    const dom = buildPanel(this.node);
    this._dom = dom;
    const run = (id: string) => () => this.execute(id);
    dom.refresh.addEventListener('click', run(CommandIDs.refresh));
    dom.newEnv.addEventListener('click', run(CommandIDs.newEnv));
    dom.filter.addEventListener('input', () => this.renderList());
    dom.filter.addEventListener('keydown', e => {
      if (e.key === 'ArrowDown') { // from the filter into the list, as in a picker
        e.preventDefault();
        this._rows()[0]?.focus();
      }
    });
    const pick = (): void => {
      const path = dom.path.value.trim();
      if (path) {
        this.execute(CommandIDs.compare, { path });
      }
    };
    dom.usePath.addEventListener('click', pick);
    dom.path.addEventListener('keydown', e => e.key === 'Enter' && pick());
    const scan = (): void => {
      const dir = dom.root.value.trim();
      if (dir && !this._roots.includes(dir)) {
        this._roots.push(dir);
      }
      void this.refresh(false);
    };
    dom.addRoot.addEventListener('click', scan);
    dom.root.addEventListener('keydown', e => e.key === 'Enter' && scan());
    this._kernel = new KernelFollower(source, {
      notebookChanged: () => {
        dom.notice.replaceChildren();
        void this.refresh(false); // "Recommended" depends on the notebook
      },
      kernelRead: (env, keep, why) => this._kernelRead(env, keep, why),
      notice: text => dom.notice.replaceChildren(el('p', `${P}-note ks-mod-warn ${P}-missing`, text)),
      switching: () => this.compare.switching
    });
    this.compare = new CompareBox({
      dom, node: this.node, kernel: this._kernel,
      renderList: () => this.renderList(),
      refreshList: () => this.refresh(false),
      execute: (id, args) => this.execute(id, args)
    });
    this._live = new LiveList(() => {
      if (this._state.kind === 'ready') {
        void this.refresh(false);
      }
    });
  }

  /** The compare / align / apply box. */
  readonly compare: CompareBox;

  /** Where the active notebook's kernel runs, and that notebook. */
  get kernel(): KernelFollower {
    return this._kernel;
  }

  dispose(): void {
    this._live.dispose();
    this._kernel.dispose();
    super.dispose();
  }

  /** Run one of the panel's commands (buttons and rows act through them). */
  execute(id: string, args: ReadonlyPartialJSONObject = {}): void {
    void this._commands.execute(id, args);
  }

  /** The env listed (or the kernel's) with this prefix. */
  envFor(prefix: string): IEnvRecord | null {
    const listed = this._state.kind === 'ready'
      ? this._state.list.envs.find(e => e.prefix === prefix) : undefined;
    const current = this._kernel.current;
    return listed ?? (current?.prefix === prefix ? current : null);
  }

  /** The prefix of the row with the keyboard, if any. */
  focusedPrefix(): string | null {
    const active = document.activeElement as HTMLElement | null;
    return active && this._dom.body.contains(active) ? active.dataset.prefix ?? null : null;
  }

  /** Load the list; `rescan` asks the server to scan again instead of using its cache. */
  async refresh(rescan = false): Promise<void> {
    const seq = ++this._seq;
    if (this._state.kind !== 'ready') {
      this._render({ kind: 'loading' });
    }
    this._dom.refresh.disabled = true;
    let state: State;
    try {
      const q = new URLSearchParams();
      if (rescan) {
        q.set('refresh', '1');
      }
      this._roots.forEach(r => q.append('root', r));
      const path = this._kernel.notebook?.context.path;
      if (path) {
        q.set('notebook', path);
      }
      const list = await requestAPI<IEnvList & { roots?: string[] }>(`envs?${q}`);
      state = { kind: 'ready', list };
      this._dom.scanned.textContent = list.roots ? `Scanned: ${list.roots.join(', ')}` : '';
    } catch (error) {
      const message = error instanceof APIError ? error.message : String(error);
      if (error instanceof APIError && error.code === 'env_root_not_found') {
        this._roots = this._roots.filter(r => !message.includes(r));
      }
      state = { kind: 'error', message };
    }
    if (seq === this._seq) {
      this._render(state);
    }
  }

  /** Load the list and follow the active notebook's kernel, shown or not. */
  start(): void {
    if (!this._loaded) {
      this._loaded = true;
      void this.refresh();
      this._kernel.watch();
      this._live.start();
    }
  }

  /** The "New environment…" form (toggled); once made, the env is listed and compared. */
  async newEnv(): Promise<void> {
    const path = this._kernel.notebook?.context.path ?? '';
    await openNewEnv({
      into: this._dom.newEnvBox,
      kernel: this._kernel.kernelId,
      folder: path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '',
      made: env => void this.refresh(false).then(
        () => this.compare.select(env.executable || env.prefix, 'row', env.prefix))
    });
    this._dom.newEnvBox.scrollIntoView({ block: 'nearest' });
  }

  /** Show the kernel's env: its row in view with the keyboard on it. */
  revealCurrent(): void {
    const prefix = this._kernel.current?.prefix;
    const find = (): HTMLElement | undefined =>
      [...this._dom.body.querySelectorAll<HTMLElement>(`.${P}-env`)].find(
        r => r.dataset.prefix === prefix && !r.hidden);
    if (prefix && !find()) { // filtered away: the filter gives way
      this._dom.filter.value = '';
      this.renderList();
    }
    requestAnimationFrame(() => { // after the palette hands focus back
      const row = find();
      row?.scrollIntoView({ block: 'nearest' });
      row?.focus();
    });
  }

  /** The keyboard in the filter, to type a name or arrow down into the list. */
  focusFilter(): void {
    requestAnimationFrame(() => this._dom.filter.focus()); // after the palette hands focus back
  }

  /** A comparison, a switch's result or an install is on show. */
  hasDetails(): boolean {
    return this._dom.details.childElementCount > 0;
  }

  protected onAfterAttach(): void {
    this.start();
  }

  /** The env rows on show, in order. */
  private _rows(): HTMLElement[] {
    return [...this._dom.body.querySelectorAll<HTMLElement>(`.${P}-env`)].filter(
      r => r.offsetParent !== null);
  }

  private _kernelRead(env: IKernelEnv | null, keepDetails: boolean, why?: string): void {
    this.compare.kernelRead(env?.prefix ?? null, keepDetails);
    const path = this._kernel.notebook?.context.path ?? 'kernel';
    this._dom.kernelLine.textContent =
      why ??
      (env
        ? `${path} runs in ${envLabel(env)}` +
          (env.kind === '?'
            ? " (the kernel's own sys.prefix: the server did not answer in time)"
            : env.mode ? ` (${env.mode})` : '')
        : 'Where the kernel runs is unknown.');
    this.node.dataset.current = env?.prefix ?? '';
    this.node.dataset.currentSource = env ? (env.kind === '?' ? 'kernel' : 'server') : '';
    this.renderList();
  }

  private _render(state: State): void {
    this._state = state;
    this._dom.refresh.disabled = state.kind === 'loading';
    this.node.dataset.state = state.kind;
    this.renderList();
  }

  /** Draw the list again; the open box keeps its place, the keyboard its row. */
  renderList(): void {
    const state = this._state;
    const body = this._dom.body;
    this._dom.details.remove();
    if (state.kind === 'loading') {
      body.replaceChildren(el('p', `${P}-note ${P}-loading`, 'Looking for environments…'));
    } else if (state.kind === 'error') {
      body.replaceChildren(el('p', `${P}-note ${P}-error`, state.message));
    } else if (state.list.envs.length === 0 && !this._kernel.current) {
      body.replaceChildren(el('p', `${P}-note ${P}-empty`, 'No Python environments found.'));
    } else {
      const focused = this.focusedPrefix();
      body.replaceChildren(renderEnvList({
        prefix: P,
        envs: state.list.envs,
        current: this._kernel.current,
        selected: this.compare.selected,
        filter: this._dom.filter.value,
        showIncompatible: this._showIncompatible,
        onToggleIncompatible: () => {
          this._showIncompatible = !this._showIncompatible;
          this.renderList();
        },
        onPick: env => this.execute(CommandIDs.compare, { prefix: env.prefix }),
        onInstall: env => this.execute(CommandIDs.installIpykernel, { prefix: env.prefix })
      }));
      if (focused) { // keep the keyboard where it was across a redraw
        body.querySelector<HTMLElement>(`[data-prefix="${CSS.escape(focused)}"]`)?.focus();
      }
      if (state.list.partial) {
        body.append(el('p', `${P}-note ${P}-partial`,
          'The scan stopped early: the list may be incomplete.'));
      }
    }
    this.compare.place(false); // a live refresh must not move what the user looks at
  }

  private _commands: CommandRegistry;
  private _dom: IPanelDom;
  private _kernel: KernelFollower;
  private _showIncompatible = false;
  private _state: State = { kind: 'loading' };
  private _roots: string[] = [];
  private _live: LiveList;
  private _loaded = false;
  private _seq = 0;
}
