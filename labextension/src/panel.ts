import { refreshIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { APIError, IEnvList, IEnvRecord, requestAPI } from './api';
import { envSummary } from './protocol';

type State =
  | { kind: 'loading' }
  | { kind: 'error'; message: string }
  | { kind: 'ready'; list: IEnvList };

/** Sidebar listing the Python environments the server discovered. */
export class EnvPanel extends Widget {
  constructor() {
    super();
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
    this._body = document.createElement('div');
    this._body.className = 'ks-EnvPanel-body';
    this.node.append(header, this._body);
  }

  /** Load the list; `rescan` asks the server to scan again instead of using its cache. */
  async refresh(rescan = false): Promise<void> {
    const seq = ++this._seq;
    this._render({ kind: 'loading' });
    let state: State;
    try {
      const list = await requestAPI<IEnvList>(rescan ? 'envs?refresh=1' : 'envs');
      state = { kind: 'ready', list };
    } catch (error) {
      const message = error instanceof APIError ? error.message : String(error);
      state = { kind: 'error', message };
    }
    if (seq === this._seq) {
      this._render(state);
    }
  }

  protected onAfterAttach(): void {
    if (!this._loaded) {
      this._loaded = true;
      void this.refresh();
    }
  }

  private _render(state: State): void {
    this._refreshButton.disabled = state.kind === 'loading';
    this.node.dataset.state = state.kind;
    this._body.replaceChildren();
    if (state.kind === 'loading') {
      this._body.append(note('ks-EnvPanel-loading', 'Looking for environments…'));
    } else if (state.kind === 'error') {
      this._body.append(note('ks-EnvPanel-error', state.message));
    } else if (state.list.envs.length === 0) {
      this._body.append(note('ks-EnvPanel-empty', 'No Python environments found.'));
    } else {
      const list = document.createElement('ul');
      list.className = 'ks-EnvPanel-list';
      list.append(...state.list.envs.map(envItem));
      this._body.append(list);
      if (state.list.partial) {
        this._body.append(
          note('ks-EnvPanel-partial', 'The scan stopped early: the list may be incomplete.')
        );
      }
    }
  }

  private _body: HTMLDivElement;
  private _refreshButton: HTMLButtonElement;
  private _loaded = false;
  private _seq = 0;
}

function note(className: string, text: string): HTMLElement {
  const p = document.createElement('p');
  p.className = `ks-EnvPanel-note ${className}`;
  p.textContent = text;
  return p;
}

function envItem(env: IEnvRecord): HTMLLIElement {
  const li = document.createElement('li');
  li.className = 'ks-EnvPanel-env';
  li.title = env.executable || env.prefix;
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
  }
  return li;
}
