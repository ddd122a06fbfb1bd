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
  /** The kernel's id on the server ('' when it was not started by kernelswitch). */
  kernel_id: string;
  /** The kernel's own sys.prefix: where it runs if the server does not answer. */
  own_prefix: string;
  /** Prefix of the env the kernel runs in (filled by the front end). */
  current: string;
}

type Rec = EnvRecord & { reason?: string };

interface Comparison {
  target: Rec;
  mode: string;
  reason: string;
  version: { from: string | null; to: string | null; change: string; direction: string };
  missing_packages: Record<string, string>;
  provided_by_mode?: string[];
  unsatisfied_imports: string[];
}

interface SwitchAnswer {
  ok: boolean;
  env: Rec;
  error: { code: string; message: string } | null;
}

const LEGEND =
  'native: has ipykernel · overlay: no ipykernel, same Python as the server (its kernel ' +
  "packages are added after the env's own) · incompatible: needs ipykernel installed";

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
  const filter = document.createElement('input');
  filter.className = 'ks-picker-filter';
  filter.placeholder = 'Filter by name, kind, version or path';
  const legend = note('ks-picker-legend', LEGEND);
  const body = document.createElement('div');
  body.className = 'ks-picker-body';
  const details = document.createElement('div');
  details.className = 'ks-picker-details';
  // a path (interpreter or env folder) to compare with, and a folder to scan too
  const pathRow = document.createElement('div');
  pathRow.className = 'ks-picker-row';
  const path = document.createElement('input');
  path.className = 'ks-picker-path';
  path.placeholder = 'Interpreter or env folder…';
  const comparePath = document.createElement('button');
  comparePath.className = 'ks-picker-comparePath';
  comparePath.textContent = 'Compare';
  const root = document.createElement('input');
  root.className = 'ks-picker-root';
  root.placeholder = 'Also scan folder…';
  const scanRoot = document.createElement('button');
  scanRoot.className = 'ks-picker-scanRoot';
  scanRoot.textContent = 'Scan';
  pathRow.append(path, comparePath, root, scanRoot);
  const roots: string[] = [];
  el.append(style, header, filter, pathRow, legend, body, details);
  const pickPath = (): void => {
    const p = path.value.trim();
    if (p) {
      model.set('selected', p);
      save();
      draw();
      void compareTo({ kind: '?', name: p, prefix: p, executable: p, version: null,
                       version_source: null, has_ipykernel: null, mode: null, error: null });
    }
  };
  comparePath.addEventListener('click', pickPath);
  path.addEventListener('keydown', e => e.key === 'Enter' && pickPath());
  const addRoot = (): void => {
    const r = root.value.trim();
    if (r && !roots.includes(r)) {
      roots.push(r);
    }
    void load(false);
  };
  scanRoot.addEventListener('click', addRoot);
  root.addEventListener('keydown', e => e.key === 'Enter' && addRoot());
  filter.addEventListener('input', () => draw());
  const kid = model.get('kernel_id');

  /** Where the kernel runs: the server's word, or its own sys.prefix after 2 s. */
  const askCurrent = async (reselect: boolean): Promise<void> => {
    let prefix = '';
    if (kid) {
      const timeout = new Promise<null>(r => setTimeout(() => r(null), 2000));
      const asked = requestAPI<{ env: Rec }>(`kernels/${kid}/env`, { signal })
        .then(b => b.env.prefix)
        .catch(() => null);
      prefix = (await Promise.race([asked, timeout])) ?? '';
    }
    el.dataset.current = prefix || model.get('own_prefix');
    // who said so: the server, or (no answer within 2 s) the kernel itself
    el.dataset.currentSource = prefix ? 'server' : 'kernel';
    model.set('current', el.dataset.current);
    if (reselect || !model.get('selected')) {
      model.set('selected', el.dataset.current);
    }
    save();
    draw();
  };

  const save = (): void => {
    try {
      model.save_changes();
    } catch {
      // after a switch the old kernel's comm is gone; the view keeps working over REST
    }
  };

  const compareTo = async (env: Rec): Promise<void> => {
    details.replaceChildren(note('ks-picker-comparing', 'Comparing…'));
    if (!kid) {
      details.replaceChildren(note('ks-picker-error', 'This kernel was not started by ' +
        'kernelswitch, so it cannot be switched from here.'));
      return;
    }
    try {
      const q = new URLSearchParams({ target: env.executable || env.prefix });
      const c = await requestAPI<Comparison>(`kernels/${kid}/compare?${q}`, { signal });
      if (model.get('selected') !== env.prefix) {
        return;
      }
      const lines: string[] = [];
      if (c.unsatisfied_imports.length) {
        lines.push(`Breaks the notebook: cannot import ${c.unsatisfied_imports.join(', ')}`);
      }
      lines.push(`${c.mode}: ${c.reason}`);
      lines.push(`Python ${c.version.from ?? '?'} → ${c.version.to ?? '?'} (${c.version.change})`);
      const provided = new Set(c.provided_by_mode ?? []);
      const missing = Object.keys(c.missing_packages).filter(n => !provided.has(n)).sort();
      lines.push(missing.length
        ? `Missing ${missing.length} package(s): ${missing.slice(0, 8).join(', ')}` +
          (missing.length > 8 ? ` and ${missing.length - 8} more` : '')
        : 'No package of the current env is missing');
      const apply = document.createElement('button');
      apply.className = 'ks-picker-apply';
      apply.textContent = `Apply: switch the kernel to ${env.name}`;
      apply.disabled = c.mode === 'incompatible' || env.prefix === el.dataset.current;
      apply.addEventListener('click', () => void doSwitch(env));
      details.replaceChildren(...lines.map(l => note('ks-picker-line', l)), apply);
    } catch (error) {
      details.replaceChildren(note('ks-picker-error', String((error as Error).message ?? error)));
    }
  };

  const doSwitch = async (env: Rec): Promise<void> => {
    details.replaceChildren(note('ks-picker-switching', 'Switching…'));
    el.dataset.switching = 'true';
    let answer: SwitchAnswer;
    try {
      answer = await requestAPI<SwitchAnswer>(`kernels/${kid}/env`, {
        method: 'POST', body: JSON.stringify({ target: env.executable || env.prefix })
      });
    } catch (error) {
      const body = error instanceof APIError ? (error.body as SwitchAnswer | null) : null;
      answer = body?.error ? body : {
        ok: false, env: env, error: { code: 'network', message: String(error) }
      };
    }
    delete el.dataset.switching;
    if (answer.ok) {
      details.replaceChildren(note('ks-picker-done',
        `Switched to ${answer.env.name} (${answer.env.mode}); the next cell runs there.`));
    } else {
      // one warning, and the selection goes back to where the kernel really runs
      details.replaceChildren(note('ks-picker-warning',
        `Switch failed; the kernel keeps running. ${answer.error?.message ?? ''}`));
    }
    const keep = [...details.childNodes];
    await askCurrent(true);
    details.replaceChildren(...keep);
  };

  let seq = 0;
  const load = async (rescan: boolean): Promise<void> => {
    const mine = ++seq;
    model.set('status', 'loading');
    model.set('error', '');
    model.save_changes();
    try {
      const q = new URLSearchParams();
      if (rescan) {
        q.set('refresh', '1');
      }
      roots.forEach(r => q.append('root', r));
      const query = q.toString();
      const list = await requestAPI<EnvList>(query ? `envs?${query}` : 'envs', { signal });
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
      const message = error instanceof APIError ? error.message : String(error);
      if (error instanceof APIError && error.code === 'env_root_not_found') {
        roots.splice(0, roots.length, ...roots.filter(r => !message.includes(r)));
      }
      model.set('error', message);
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
    const current = el.dataset.current ?? '';
    const words = filter.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const list = document.createElement('ul');
    list.className = 'ks-picker-list';
    list.setAttribute('role', 'listbox');
    for (const env of envs as Rec[]) {
      const row = envRow(env, env.prefix === selected, () => {
        model.set('selected', env.prefix);
        save();
        draw();
        void compareTo(env);
      });
      const text = `${env.name} ${env.kind} ${env.version ?? ''} ${env.prefix}`.toLowerCase();
      row.hidden = words.some(w => !text.includes(w));
      if (env.prefix === current) {
        row.classList.add('ks-current');
        const own = el.dataset.currentSource === 'kernel' ? ', by its own sys.prefix' : '';
        row.querySelector('.ks-picker-envName')?.append(` (kernel runs here${own})`);
      }
      if (env.mode === 'incompatible') {
        row.classList.add('ks-incompatible');
        if (env.reason) {
          row.title = `${row.title}\n${env.reason}`;
        }
      }
      list.append(row);
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
  void load(false).then(() => askCurrent(false));
  // the list is live: the server bumps a generation when envs come or go
  let generation: number | null = null;
  const poll = async (): Promise<void> => {
    if (signal.aborted) {
      return;
    }
    try {
      const g = (await requestAPI<{ generation: number }>('envs/generation', { signal }))
        .generation;
      if (generation !== null && g !== generation && model.get('status') === 'ready') {
        await load(false);
      }
      generation = g;
    } catch {
      // server away or view gone: the next tick tries again
    }
    setTimeout(() => void poll(), 1000);
  };
  void poll();

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
