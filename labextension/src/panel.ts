import { ISessionContext, Notification } from '@jupyterlab/apputils';
import { refreshIcon } from '@jupyterlab/ui-components';
import { ISignal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { APIError, IEnvList, IEnvRecord, requestAPI } from './api';
import {
  comparisonLines,
  compareWith,
  IKernelEnv,
  kernelEnv,
  switchKernel
} from './kernelenv';
import { installIpykernel } from './install';
import { envSummary } from './protocol';

type State =
  | { kind: 'loading' }
  | { kind: 'error'; message: string }
  | { kind: 'ready'; list: IEnvList };

/** What the panel needs of a notebook panel (duck-typed: no notebook package needed). */
export interface INotebookLike {
  sessionContext: ISessionContext;
  context: { path: string; model: { setMetadata(key: string, value: unknown): void } };
}

/** The active notebook, and a signal when it changes. */
export interface INotebookSource {
  current(): INotebookLike | null;
  changed: ISignal<unknown, unknown>;
}

/** How often the panel asks whether environments came or went. */
const POLL_MS = 1000;

const LEGEND =
  'native: has ipykernel, runs its own kernel · overlay: no ipykernel but the ' +
  "server's Python version: the server's kernel packages are added after the env's own · " +
  'incompatible: needs ipykernel installed (its row says how)';

/**
 * Sidebar: discover – compare – apply. Lists the environments the server
 * found, marks the one the active notebook's kernel runs in, shows what
 * selecting another would change, and switches on an explicit Apply.
 */
export class EnvPanel extends Widget {
  constructor(source: INotebookSource | null = null) {
    super();
    this._source = source;
    this.addClass('ks-EnvPanel');
    const header = document.createElement('div');
    header.className = 'ks-EnvPanel-header';
    const title = document.createElement('h2');
    title.className = 'ks-EnvPanel-title';
    title.textContent = 'Python environments';
    this._refreshButton = document.createElement('button');
    this._refreshButton.className = 'jp-Button ks-EnvPanel-refresh';
    this._refreshButton.title = 'Scan again for environments';
    this._refreshButton.setAttribute('aria-label', 'Refresh environments');
    refreshIcon.element({ container: this._refreshButton, tag: 'span' });
    this._refreshButton.addEventListener('click', () => void this.refresh(true));
    header.append(title, this._refreshButton);

    this._kernelLine = document.createElement('div');
    this._kernelLine.className = 'ks-EnvPanel-kernel';
    this._filter = input('ks-EnvPanel-filter', 'Filter by name, kind, version or path');
    this._filter.addEventListener('input', () => this._renderList());
    const pathRow = document.createElement('div');
    pathRow.className = 'ks-EnvPanel-pathRow';
    this._path = input('ks-EnvPanel-path', 'Interpreter or env folder…');
    const usePath = document.createElement('button');
    usePath.className = 'jp-Button ks-EnvPanel-usePath';
    usePath.textContent = 'Compare';
    const pick = () => {
      if (this._path.value.trim()) {
        void this._select(this._path.value.trim());
      }
    };
    usePath.addEventListener('click', pick);
    this._path.addEventListener('keydown', e => e.key === 'Enter' && pick());
    pathRow.append(this._path, usePath);
    const rootRow = document.createElement('div');
    rootRow.className = 'ks-EnvPanel-pathRow';
    this._root = input('ks-EnvPanel-root', 'Also scan folder…');
    const addRoot = document.createElement('button');
    addRoot.className = 'jp-Button ks-EnvPanel-addRoot';
    addRoot.textContent = 'Scan';
    const scan = () => {
      const dir = this._root.value.trim();
      if (dir && !this._roots.includes(dir)) {
        this._roots.push(dir);
      }
      void this.refresh(false);
    };
    addRoot.addEventListener('click', scan);
    this._root.addEventListener('keydown', e => e.key === 'Enter' && scan());
    rootRow.append(this._root, addRoot);
    this._scanned = note('ks-EnvPanel-scanned', '');
    const legend = note('ks-EnvPanel-legend', LEGEND);
    this._body = document.createElement('div');
    this._body.className = 'ks-EnvPanel-body';
    this._details = document.createElement('div');
    this._details.className = 'ks-EnvPanel-details';
    this.node.append(header, this._kernelLine, this._filter, pathRow, rootRow, legend,
                     this._body, this._scanned, this._details);
    source?.changed.connect(() => this._watchNotebook(), this);
  }

  /** Load the list; `rescan` asks the server to scan again instead of using its cache. */
  async refresh(rescan = false): Promise<void> {
    const seq = ++this._seq;
    this._render({ kind: 'loading' });
    let state: State;
    try {
      const q = new URLSearchParams();
      if (rescan) {
        q.set('refresh', '1');
      }
      this._roots.forEach(r => q.append('root', r));
      const query = q.toString();
      const list = await requestAPI<IEnvList & { roots?: string[] }>(
        query ? `envs?${query}` : 'envs'
      );
      state = { kind: 'ready', list };
      this._scanned.textContent = list.roots ? `Scanned: ${list.roots.join(', ')}` : '';
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

  /** The list is live: the server bumps a generation when envs come or go. */
  private async _poll(): Promise<void> {
    if (this.isDisposed) {
      return;
    }
    try {
      const { generation } = await requestAPI<{ generation: number }>('envs/generation');
      if (this._generation !== null && generation !== this._generation &&
          this._state.kind === 'ready') {
        await this.refresh(false);
      }
      this._generation = generation;
    } catch {
      // the server is away; try again at the next tick
    }
    await this._followKernel();
    setTimeout(() => void this._poll(), POLL_MS);
  }

  /** The env the active notebook's kernel runs in, asked again. */
  async refreshKernel(): Promise<void> {
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
    this._renderKernel();
    this._renderList();
    this._details.replaceChildren();
  }

  /**
   * Load the list and follow the active notebook's kernel, whether or not the
   * panel is shown: a switch made by `%pyenv switch` or the picker is then
   * remembered in the notebook too.
   */
  start(): void {
    if (!this._loaded) {
      this._loaded = true;
      void this.refresh();
      this._watchNotebook();
      void this._poll();
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
    this._notebook = nb;
    nb?.sessionContext.kernelChanged.connect(this._onKernel, this);
    if (nb && !nb.sessionContext.isReady) {
      void nb.sessionContext.ready.then(() => this.refreshKernel());
    }
    void this.refreshKernel();
  }

  private _onKernel(): void {
    void this.refreshKernel();
  }

  private async _select(target: string): Promise<void> {
    const nb = this._notebook;
    const kernel = nb?.sessionContext.session?.kernel;
    this._selected = target;
    this._renderList();
    this._details.replaceChildren(note('ks-EnvPanel-comparing', 'Comparing…'));
    if (!nb || !kernel) {
      this._details.replaceChildren(note('ks-EnvPanel-error', 'Open a notebook to switch its kernel.'));
      return;
    }
    try {
      const comp = await compareWith(kernel.id, target, nb.context.path);
      if (this._selected !== target) {
        return;
      }
      const box = document.createElement('div');
      box.className = 'ks-EnvPanel-comparison';
      box.append(...comparisonLines(comp).map(line => note('ks-EnvPanel-line', line)));
      const apply = document.createElement('button');
      apply.className = 'jp-Button jp-mod-accept ks-EnvPanel-apply';
      apply.textContent = `Apply: switch the kernel to ${comp.target.name}`;
      apply.disabled = comp.mode === 'incompatible' || comp.target.prefix === this._current?.prefix;
      apply.addEventListener('click', () => void this._apply(comp.target.executable || target));
      this._details.replaceChildren(box, apply);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this._details.replaceChildren(note('ks-EnvPanel-error', message));
    }
  }

  private async _apply(target: string): Promise<void> {
    const nb = this._notebook;
    const kernel = nb?.sessionContext.session?.kernel;
    if (!nb || !kernel) {
      return;
    }
    this.node.dataset.switching = 'true';
    this._details.replaceChildren(note('ks-EnvPanel-switching', 'Switching…'));
    const answer = await switchKernel(kernel.id, target);
    delete this.node.dataset.switching;
    if (answer.ok) {
      const env = answer.env;
      this._remember(nb, env);
      await kernel.requestKernelInfo(); // the front end shows the new Python
      this._details.replaceChildren(
        note('ks-EnvPanel-done', `Switched to ${env.name} (${env.mode}); the next cell runs there.`)
      );
    } else {
      // one warning per failed switch, and the selection goes back to the truth
      const message = answer.error?.message ?? 'the switch failed';
      Notification.warning(`Switch failed; the kernel keeps running. ${message}`, {
        autoClose: 8000
      });
      this._details.replaceChildren(note('ks-EnvPanel-warning', message));
    }
    await this.refreshKernelKeepDetails();
  }

  /** Install ipykernel into an env after the user confirmed the exact command. */
  private async _install(target: string): Promise<void> {
    if (await installIpykernel(target, this._details)) {
      await this.refresh(false);
    }
  }

  /**
   * A switch made elsewhere (`%pyenv switch`, the picker, REST): show it,
   * remember it in the notebook and refresh the kernel info the front end shows.
   */
  private async _followKernel(): Promise<void> {
    const nb = this._notebook;
    const kernel = nb?.sessionContext.session?.kernel;
    const known = this._current;
    if (!nb || !kernel || !known || known.kind === '?' || this.node.dataset.switching) {
      return;
    }
    let env: IKernelEnv;
    try {
      env = (await requestAPI<{ env: IKernelEnv & { switching?: boolean } }>(
        `kernels/${kernel.id}/env`)).env;
    } catch {
      return;
    }
    if (nb !== this._notebook || env.prefix === known.prefix ||
        (env as { switching?: boolean }).switching) {
      return;
    }
    this._remember(nb, env);
    this._current = env;
    this._selected = env.prefix;
    this._renderKernel();
    this._renderList();
    await kernel.requestKernelInfo();
  }

  private _remember(nb: INotebookLike, env: IKernelEnv): void {
    nb.context.model.setMetadata('kernelswitch', {
      env: { prefix: env.prefix, executable: env.executable, name: env.name, version: env.version }
    });
  }

  private async refreshKernelKeepDetails(): Promise<void> {
    const details = [...this._details.childNodes];
    await this.refreshKernel();
    this._details.replaceChildren(...details);
  }

  private _renderKernel(text?: string): void {
    const env = this._current;
    this._kernelLine.textContent =
      text ??
      (env
        ? `${this._notebook?.context.path ?? 'kernel'} runs in ${env.name}` +
          (env.kind === '?'
            ? " (the kernel's own sys.prefix: the server did not answer in time)"
            : env.mode ? ` (${env.mode})` : '')
        : 'Where the kernel runs is unknown.');
    this.node.dataset.current = env?.prefix ?? '';
    this.node.dataset.currentSource = env ? (env.kind === '?' ? 'kernel' : 'server') : '';
  }

  private _render(state: State): void {
    this._state = state;
    this._refreshButton.disabled = state.kind === 'loading';
    this.node.dataset.state = state.kind;
    this._renderList();
  }

  private _renderList(): void {
    const state = this._state;
    this._body.replaceChildren();
    if (state.kind === 'loading') {
      this._body.append(note('ks-EnvPanel-loading', 'Looking for environments…'));
    } else if (state.kind === 'error') {
      this._body.append(note('ks-EnvPanel-error', state.message));
    } else if (state.list.envs.length === 0) {
      this._body.append(note('ks-EnvPanel-empty', 'No Python environments found.'));
    } else {
      const words = this._filter.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      const list = document.createElement('ul');
      list.className = 'ks-EnvPanel-list';
      const envs: IEnvRecord[] = [...state.list.envs];
      const cur = this._current;
      const outside = !!cur && cur.kind !== '?' && !envs.some(e => e.prefix === cur.prefix);
      if (outside && cur) {
        envs.unshift(cur); // the kernel's env, even outside the scanned folders
      }
      for (const env of envs) {
        const li = envItem(env);
        if (outside && env === cur) {
          li.className = li.className.replace('ks-EnvPanel-env', 'ks-EnvPanel-kernelEnv');
        }
        const text = `${env.name} ${env.kind} ${env.version ?? ''} ${env.prefix}`.toLowerCase();
        if (words.some(w => !text.includes(w))) {
          li.hidden = true;
        }
        if (env.prefix === this._current?.prefix) {
          li.classList.add('ks-mod-current');
          li.querySelector('.ks-EnvPanel-envName')?.append(' (kernel runs here)');
        }
        if (env.prefix === this._selected) {
          li.classList.add('ks-mod-selected');
        }
        li.addEventListener('click', () => void this._select(env.executable || env.prefix));
        if (env.mode === 'incompatible' && !env.error && env.executable) {
          const offer = document.createElement('button');
          offer.className = 'jp-Button ks-EnvPanel-install';
          offer.textContent = 'Install ipykernel…';
          offer.addEventListener('click', ev => {
            ev.stopPropagation();
            void this._install(env.executable);
          });
          li.append(offer);
        }
        list.append(li);
      }
      this._body.append(list);
      if (state.list.partial) {
        this._body.append(
          note('ks-EnvPanel-partial', 'The scan stopped early: the list may be incomplete.')
        );
      }
    }
  }

  private _source: INotebookSource | null;
  private _notebook: INotebookLike | null = null;
  private _current: IKernelEnv | null = null;
  private _selected: string | null = null;
  private _state: State = { kind: 'loading' };
  private _body: HTMLDivElement;
  private _details: HTMLDivElement;
  private _kernelLine: HTMLDivElement;
  private _filter: HTMLInputElement;
  private _path: HTMLInputElement;
  private _root: HTMLInputElement;
  private _roots: string[] = [];
  private _scanned: HTMLElement;
  private _generation: number | null = null;
  private _refreshButton: HTMLButtonElement;
  private _loaded = false;
  private _seq = 0;
}

function input(className: string, placeholder: string): HTMLInputElement {
  const el = document.createElement('input');
  el.className = `jp-mod-styled ${className}`;
  el.placeholder = placeholder;
  el.setAttribute('aria-label', placeholder);
  return el;
}

function note(className: string, text: string): HTMLElement {
  const p = document.createElement('p');
  p.className = `ks-EnvPanel-note ${className}`;
  p.textContent = text;
  return p;
}

function envItem(env: IEnvRecord & { reason?: string }): HTMLLIElement {
  const li = document.createElement('li');
  li.className = 'ks-EnvPanel-env';
  li.title = env.reason ? `${env.executable || env.prefix}\n${env.reason}` : env.executable || env.prefix;
  li.dataset.prefix = env.prefix;
  const name = document.createElement('span');
  name.className = 'ks-EnvPanel-envName';
  name.textContent = env.name || env.prefix;
  const meta = document.createElement('span');
  meta.className = 'ks-EnvPanel-envMeta';
  meta.textContent = envSummary(env);
  li.append(name, meta);
  if (env.error) {
    li.classList.add('ks-mod-error');
    li.append(note('ks-EnvPanel-envError', env.error));
  } else if (env.mode) {
    li.classList.add(`ks-mod-${env.mode}`);
    if (env.mode === 'incompatible' && env.reason) {
      li.append(note('ks-EnvPanel-envReason', env.reason));
    }
  }
  return li;
}
