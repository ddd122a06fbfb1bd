import type { RenderProps } from '@anywidget/types';

import { envSummary } from '../../labextension/src/protocol';
import { APIError, EnvList, EnvRecord, requestAPI } from './api';
import css from './env_picker.css';

/** Traits of `kernelswitch.widgets.EnvPicker` that the front end reads or writes. */
export interface EnvPickerModel {
  envs: EnvRecord[];
  partial: boolean;
  selected: string;
  status: 'loading' | 'ready' | 'error';
  error: string;
}

export function renderEnvPicker({ model, el, signal }: RenderProps<EnvPickerModel>): () => void {
  el.classList.add('ks-picker');
  const style = document.createElement('style');
  style.textContent = css;
  const header = document.createElement('div');
  header.className = 'ks-picker-header';
  const title = document.createElement('span');
  title.className = 'ks-picker-title';
  title.textContent = 'Python environments';
  const refresh = document.createElement('button');
  refresh.className = 'ks-picker-refresh';
  refresh.textContent = 'Refresh';
  refresh.title = 'Scan again for environments';
  header.append(title, refresh);
  const body = document.createElement('div');
  body.className = 'ks-picker-body';
  el.append(style, header, body);

  let seq = 0;
  const load = async (rescan: boolean): Promise<void> => {
    const mine = ++seq;
    model.set('status', 'loading');
    model.set('error', '');
    model.save_changes();
    try {
      const list = await requestAPI<EnvList>(rescan ? 'envs?refresh=1' : 'envs', { signal });
      if (mine !== seq) {
        return;
      }
      model.set('envs', list.envs);
      model.set('partial', list.partial);
      model.set('status', 'ready');
    } catch (error) {
      if (mine !== seq || signal.aborted) {
        return;
      }
      model.set('error', error instanceof APIError ? error.message : String(error));
      model.set('status', 'error');
    }
    model.save_changes();
  };

  const draw = (): void => {
    const status = model.get('status');
    el.dataset.state = status;
    refresh.disabled = status === 'loading';
    body.replaceChildren();
    if (status === 'loading') {
      body.append(note('ks-picker-loading', 'Looking for environments…'));
      return;
    }
    if (status === 'error') {
      body.append(note('ks-picker-error', model.get('error') || 'The request failed.'));
      return;
    }
    const envs = model.get('envs') ?? [];
    if (envs.length === 0) {
      body.append(note('ks-picker-empty', 'No Python environments found.'));
      return;
    }
    const selected = model.get('selected');
    const list = document.createElement('ul');
    list.className = 'ks-picker-list';
    list.setAttribute('role', 'listbox');
    for (const env of envs) {
      list.append(envRow(env, env.prefix === selected, () => {
        model.set('selected', env.prefix);
        model.save_changes();
      }));
    }
    body.append(list);
    if (model.get('partial')) {
      body.append(note('ks-picker-partial', 'The scan stopped early: the list may be incomplete.'));
    }
  };

  const onMessage = (msg: { type?: string; rescan?: boolean }): void => {
    if (msg?.type === 'refresh') {
      void load(msg.rescan ?? true);
    }
  };
  refresh.addEventListener('click', () => void load(true));
  model.on('change:envs', draw);
  model.on('change:status', draw);
  model.on('change:selected', draw);
  model.on('change:error', draw);
  model.on('msg:custom', onMessage);
  draw();
  void load(false);

  return () => {
    seq++;
    model.off('change:envs', draw);
    model.off('change:status', draw);
    model.off('change:selected', draw);
    model.off('change:error', draw);
    model.off('msg:custom', onMessage);
  };
}

function note(className: string, text: string): HTMLElement {
  const p = document.createElement('p');
  p.className = `ks-picker-note ${className}`;
  p.textContent = text;
  return p;
}

function envRow(env: EnvRecord, selected: boolean, onPick: () => void): HTMLLIElement {
  const li = document.createElement('li');
  li.className = 'ks-picker-env';
  li.setAttribute('role', 'option');
  li.setAttribute('aria-selected', String(selected));
  li.tabIndex = 0;
  li.title = env.executable || env.prefix;
  li.dataset.prefix = env.prefix;
  if (selected) {
    li.classList.add('ks-selected');
  }
  const name = document.createElement('span');
  name.className = 'ks-picker-envName';
  name.textContent = env.name || env.prefix;
  const meta = document.createElement('span');
  meta.className = 'ks-picker-envMeta';
  meta.textContent = env.error ? `${envSummary(env)} · ${env.error}` : envSummary(env);
  if (env.error) {
    li.classList.add('ks-error');
  }
  li.append(name, meta);
  li.addEventListener('click', onPick);
  li.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      onPick();
    }
  });
  return li;
}
