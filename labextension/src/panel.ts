import { Notification } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { startAlign } from './align';
import { APIError, IEnvList, IEnvRecord, postRaw, requestAPI } from './api';
import { renderEnvList } from './envlist';
import { announceEnv } from './indicator';
import { installIpykernel } from './install';
import { compareWith, IKernelEnv, kernelEnv, settledEnv, switchKernel } from './kernelenv';
import { LiveList } from './live';
import {
  beforeSave, INotebookLike, INotebookSource, missingSavedEnv, rememberEnv, savedEnv
} from './notebook';
import { envLabel } from './protocol';
import { buildPanel, IPanelDom, P } from './panel_dom';
import { prestart } from './candidate';
import { openNewEnv } from './newenv';
import { el, renderFailed, renderSteps, renderSwitched } from './steps';

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
 */
export class EnvPanel extends Widget {
  constructor(source: INotebookSource | null = null) {
    super();
    this._source = source;
    this.addClass(P);
    const dom = buildPanel(this.node);
    this._dom = dom;
    dom.refresh.addEventListener('click', () => void this.refresh(true));
    dom.filter.addEventListener('input', () => this._renderList());
    const pick = (): void => {
      const path = dom.path.value.trim();
      if (path) {
        void this._select(path, 'path');
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
    // "New environment…": first in the lower grid, its form right under it
    const newEnv = el('button', `jp-Button jp-mod-styled ${P}-newEnv`, 'New environment…');
    const newEnvBox = el('div', `${P}-newEnvBox`);
    dom.path.before(newEnv, newEnvBox);
    newEnv.addEventListener('click', () => void this._newEnv(newEnvBox));
    dom.root.addEventListener('keydown', e => e.key === 'Enter' && scan());
    this._live = new LiveList(() => {
      if (this._state.kind === 'ready') {
        void this.refresh(false);
      }
    });
    source?.changed.connect(() => this._watchNotebook(), this);
    // a switch made by the EnvPicker widget on this page
    window.addEventListener('kernelswitch:switched', this._onPageSwitch);
  }

  dispose(): void {
    this._live.dispose();
    window.removeEventListener('kernelswitch:switched', this._onPageSwitch);
    super.dispose();
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
      const path = this._notebook?.context.path;
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

  /** The env the active notebook's kernel runs in, asked again (the comparison closes). */
  async refreshKernel(keepDetails = false): Promise<void> {
    const nb = this._notebook;
    const kernel = nb?.sessionContext.session?.kernel ?? null;
    if (!nb || !kernel) {
      this._current = null;
      this._renderKernel(nb ? 'The notebook has no kernel.' : 'No notebook is active.');
      return;
    }
    const env = await kernelEnv(kernel);
    if (nb !== this._notebook) {
      return;
    }
    this._current = env;
    this._selected = env?.prefix ?? null;
    if (!keepDetails) {
      this._dom.details.replaceChildren();
    }
    this._renderKernel();
    this._renderList();
    await announceEnv(nb.sessionContext, nb.context.model, env);
    if (env && env.kind !== '?' && !this._checked.has(nb)) {
      this._checked.add(nb);
      const text = missingSavedEnv(nb, env);
      if (text) {
        this._dom.notice.replaceChildren(el('p', `${P}-note ks-mod-warn ${P}-missing`, text));
      }
    }
  }

  /** Load the list and follow the active notebook's kernel, shown or not. */
  start(): void {
    if (!this._loaded) {
      this._loaded = true;
      void this.refresh();
      this._watchNotebook();
      this._live.start();
    }
  }

  protected onAfterAttach(): void {
    this.start();
  }

  private _watchNotebook(): void {
    const nb = this._source?.current() ?? null;
    if (nb === this._notebook) {
      return;
    }
    this._notebook?.sessionContext.kernelChanged.disconnect(this._onKernel, this);
    this._notebook?.sessionContext.statusChanged.disconnect(this._onStatus, this);
    this._notebook = nb;
    this._dom.notice.replaceChildren();
    nb?.sessionContext.kernelChanged.connect(this._onKernel, this);
    nb?.sessionContext.statusChanged.connect(this._onStatus, this);
    if (nb) { // a save of this notebook first catches up with a switch made elsewhere
      beforeSave(nb, () => (nb === this._notebook ? this._followKernel() : Promise.resolve()));
    }
    if (nb && !nb.sessionContext.isReady) {
      void nb.sessionContext.ready.then(() => this.refreshKernel());
    }
    void this.refreshKernel();
    void this.refresh(false); // "Recommended" depends on the notebook
  }

  private _onKernel(_: unknown, change: { oldValue: unknown; newValue: unknown }): void {
    if (change.oldValue !== change.newValue) { // not our own indicator refresh
      void this.refreshKernel();
    }
  }

  /** A cell ended: `%pyenv switch` may have moved the kernel (asked, not polled). */
  private _onStatus(_: unknown, status: string): void {
    if (status === 'idle' && !this.node.dataset.switching) {
      clearTimeout(this._idleTimer);
      this._idleTimer = window.setTimeout(() => void this._followKernel(), 200);
    }
  }

  private _onPageSwitch = (event: Event): void => {
    const id = (event as CustomEvent<{ kernel_id: string }>).detail?.kernel_id;
    if (id && id === this._notebook?.sessionContext.session?.kernel?.id) {
      void this._followKernel();
    }
  };

  /** Open (or close, picked again) the comparison with `target`, under `anchor`. */
  private async _select(
    target: string, anchor: 'row' | 'path' = 'row', key = target
  ): Promise<void> {
    if (anchor === 'row' && this._anchor === 'row' && this._selected === key &&
        this._dom.details.querySelector(`.${P}-comparison`)) {
      this._dom.details.replaceChildren(); // picked again: fold it
      this._renderList();
      return;
    }
    this._selected = key;
    this._anchor = anchor;
    this._renderList();
    this._dom.details.replaceChildren(el('p', `${P}-note ${P}-comparing`, 'Comparing…'));
    this._place();
    await this._compare(target, key);
  }

  private async _compare(target: string, key: string, log?: HTMLElement): Promise<void> {
    const nb = this._notebook;
    const kernel = nb?.sessionContext.session?.kernel;
    if (!nb || !kernel) {
      this._dom.details.replaceChildren(el('p', `${P}-note ${P}-error`,
        'Open a notebook to switch its kernel.'));
      return;
    }
    prestart(requestAPI, kernel.id, target); // Apply then only swaps its kernel in
    try {
      const comp = await compareWith(kernel.id, target, nb.context.path);
      if (this._selected !== key) {
        return;
      }
      const exe = comp.target.executable || target;
      const alignBox = el('div', `${P}-alignBox`);
      const box = renderSteps({
        prefix: P,
        comparison: comp,
        isCurrent: comp.target.prefix === this._current?.prefix,
        carry: this._carry,
        onCarry: carry => (this._carry = carry),
        onAlign: () => void startAlign({
          prefix: P, post: postRaw, target: exe, imports: comp.unsatisfied_imports, kernel: kernel.id,
          into: alignBox, done: log => void this._compare(target, key, log)
        }),
        onApply: carry => void this._apply(comp.target, carry)
      });
      box.querySelector('[data-step="align"]')?.append(alignBox);
      if (log) {
        alignBox.append(log);
      }
      this._dom.details.replaceChildren(box);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this._dom.details.replaceChildren(el('p', `${P}-note ${P}-error`, message));
    }
    this._place();
  }

  private async _apply(target: IEnvRecord, carry: boolean): Promise<void> {
    const nb = this._notebook;
    const kernel = nb?.sessionContext.session?.kernel;
    if (!nb || !kernel) {
      return;
    }
    const before = savedEnv(nb);
    rememberEnv(nb, target); // in the model before the answer: Ctrl+S keeps the choice
    this.node.dataset.switching = 'true';
    this._dom.details.replaceChildren(el('p', `${P}-note ${P}-switching`,
      `Switching to ${envLabel(target)}…`));
    const answer = await switchKernel(kernel.id, target.executable || target.prefix, carry);
    delete this.node.dataset.switching;
    if (answer.ok) {
      rememberEnv(nb, answer.env);
      this._dom.notice.replaceChildren();
      this._dom.details.replaceChildren(renderSwitched(P, answer, carry));
    } else {
      rememberEnv(nb, before);
      const message = answer.error?.message ?? 'the switch failed';
      Notification.warning(`Switch failed; the kernel keeps running. ${message}`, {
        autoClose: 8000
      });
      this._dom.details.replaceChildren(renderFailed(P, message));
    }
    this._anchor = 'row';
    await this.refreshKernel(true);
    this._place();
  }

  /** The new-env form; once made, the env is listed and selected (its kernel pre-starts). */
  private async _newEnv(box: HTMLElement): Promise<void> {
    const nb = this._notebook;
    const path = nb?.context.path ?? '';
    await openNewEnv({
      into: box,
      kernel: nb?.sessionContext.session?.kernel?.id ?? null,
      folder: path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '',
      made: env => void this.refresh(false).then(
        () => this._select(env.executable || env.prefix, 'row', env.prefix))
    });
  }

  /** Install ipykernel into an env after the user confirmed the exact command. */
  private async _install(env: IEnvRecord): Promise<void> {
    this._selected = env.prefix;
    this._anchor = 'row';
    this._renderList();
    if (await installIpykernel(env.executable, this._dom.details)) {
      await this.refresh(false);
    }
    this._place();
  }

  /**
   * A switch made elsewhere (`%pyenv switch`, the picker): show it, remember
   * it in the notebook, refresh the kernel info the front end shows.
   */
  private async _followKernel(): Promise<void> {
    const nb = this._notebook;
    const kernel = nb?.sessionContext.session?.kernel;
    const known = this._current;
    if (!nb || !kernel || !known || known.kind === '?' || this.node.dataset.switching) {
      return;
    }
    const env = await settledEnv(kernel.id);
    if (!env || nb !== this._notebook || env.prefix === this._current?.prefix) {
      return;
    }
    rememberEnv(nb, env);
    await this.refreshKernel();
  }

  /** Put the comparison under what the user clicked, and bring it into view. */
  private _place(scroll = true): void {
    const row = this._anchor === 'row' && this._selected
      ? [...this._dom.body.querySelectorAll<HTMLElement>(`.${P}-env`)].find(
        r => r.dataset.prefix === this._selected && !r.hidden)
      : null;
    if (row) {
      row.after(this._dom.details);
    } else if (this._anchor === 'path') {
      this._dom.pathAnchor.append(this._dom.details);
    } else {
      this._dom.details.remove();
      return;
    }
    if (scroll && this._dom.details.childElementCount) {
      this._dom.details.scrollIntoView({ block: 'nearest' });
      (row ?? this._dom.path).scrollIntoView({ block: 'nearest' });
    }
  }

  private _renderKernel(text?: string): void {
    const env = this._current;
    this._dom.kernelLine.textContent =
      text ??
      (env
        ? `${this._notebook?.context.path ?? 'kernel'} runs in ${envLabel(env)}` +
          (env.kind === '?'
            ? " (the kernel's own sys.prefix: the server did not answer in time)"
            : env.mode ? ` (${env.mode})` : '')
        : 'Where the kernel runs is unknown.');
    this.node.dataset.current = env?.prefix ?? '';
    this.node.dataset.currentSource = env ? (env.kind === '?' ? 'kernel' : 'server') : '';
  }

  private _render(state: State): void {
    this._state = state;
    this._dom.refresh.disabled = state.kind === 'loading';
    this.node.dataset.state = state.kind;
    this._renderList();
  }

  private _renderList(): void {
    const state = this._state;
    this._dom.details.remove();
    if (state.kind === 'loading') {
      this._dom.body.replaceChildren(el('p', `${P}-note ${P}-loading`, 'Looking for environments…'));
    } else if (state.kind === 'error') {
      this._dom.body.replaceChildren(el('p', `${P}-note ${P}-error`, state.message));
    } else if (state.list.envs.length === 0 && !this._current) {
      this._dom.body.replaceChildren(el('p', `${P}-note ${P}-empty`, 'No Python environments found.'));
    } else {
      const focused = this._dom.body.contains(document.activeElement)
        ? (document.activeElement as HTMLElement).dataset.prefix : undefined;
      this._dom.body.replaceChildren(renderEnvList({
        prefix: P,
        envs: state.list.envs,
        current: this._current,
        selected: this._selected,
        filter: this._dom.filter.value,
        showIncompatible: this._showIncompatible,
        onToggleIncompatible: () => {
          this._showIncompatible = !this._showIncompatible;
          this._renderList();
        },
        onPick: env => void this._select(env.executable || env.prefix, 'row', env.prefix),
        onInstall: env => void this._install(env)
      }));
      if (focused) { // keep the keyboard where it was across a redraw
        this._dom.body.querySelector<HTMLElement>(`[data-prefix="${CSS.escape(focused)}"]`)?.focus();
      }
      if (state.list.partial) {
        this._dom.body.append(el('p', `${P}-note ${P}-partial`,
          'The scan stopped early: the list may be incomplete.'));
      }
    }
    this._place(false); // a live refresh must not move what the user looks at
  }

  private _source: INotebookSource | null;
  private _dom: IPanelDom;
  private _notebook: INotebookLike | null = null;
  private _current: IKernelEnv | null = null;
  private _selected: string | null = null;
  private _anchor: 'row' | 'path' = 'row';
  private _carry = true;
  private _showIncompatible = false;
  private _checked = new WeakSet<INotebookLike>();
  private _state: State = { kind: 'loading' };
  private _roots: string[] = [];
  private _live: LiveList;
  private _idleTimer = 0;
  private _loaded = false;
  private _seq = 0;
}
