import type { RenderProps } from '@anywidget/types';

import { startAlign } from '../../labextension/src/align';
import { prestart } from '../../labextension/src/candidate';
import { renderEnvList } from '../../labextension/src/envlist';
import type { IComparison, ISwitchAnswer } from '../../labextension/src/protocol';
import { el, renderFailed, renderSteps, renderSwitched } from '../../labextension/src/steps';
import { APIError, EnvList, EnvRecord, postRaw, requestAPI } from './api';
import css from './env_picker.css';
import { onEvent } from './events';
import shared from '../../labextension/style/envlist.css';

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
  /** The notebook this kernel serves ('' when unknown): recommended envs and its imports. */
  notebook: string;
}

const P = 'ks-picker';

/**
 * The picker in a notebook: the sidebar's list and steps (discover, compare,
 * align, apply) for this widget's own kernel, over REST.
 */
export function renderEnvPicker({ model, el: root, signal }: RenderProps<EnvPickerModel>): () => void {
  root.classList.add(P);
  const style = document.createElement('style');
  style.textContent = `${shared}\n${css}`;
  const header = el('div', `${P}-header`);
  const refresh = el('button', `jp-Button jp-mod-minimal ${P}-refresh`, '↻ Refresh');
  refresh.title = 'Scan again for environments';
  header.append(el('span', `${P}-title`, 'Python environments'), refresh);
  const filter = input(`${P}-filter`, 'Filter environments');
  const body = el('div', `${P}-body`);
  const details = el('div', `${P}-details`);
  details.addEventListener('click', e => e.stopPropagation());
  details.addEventListener('keydown', e => e.stopPropagation());
  const path = input(`${P}-path`, 'Python path…',
    'An interpreter or env folder to compare with');
  const comparePath = el('button', `jp-Button jp-mod-styled jp-mod-accept ${P}-comparePath`,
                         'Compare');
  const rootInput = input(`${P}-root`, 'Folder to scan');
  const scanRoot = el('button', `jp-Button jp-mod-styled jp-mod-accept ${P}-scanRoot`, 'Scan');
  const more = el('div', `${P}-more`);
  more.append(path, comparePath, rootInput, scanRoot);
  const pathAnchor = el('div', `${P}-pathAnchor`);
  const legend = el('p', `${P}-note ${P}-legend`,
    'native: has ipykernel · overlay: no ipykernel, same Python as the server, ' +
    "whose kernel packages it uses · incompatible: needs ipykernel");
  root.append(style, header, filter, body, more, pathAnchor, legend);

  const roots: string[] = [];
  const kid = model.get('kernel_id');
  let currentEnv: EnvRecord | null = null;
  let anchor: 'row' | 'path' = 'row';
  let carry = true;
  let showIncompatible = false;

  const save = (): void => {
    try {
      model.save_changes();
    } catch {
      // after a switch the old kernel's comm is gone; the view keeps working over REST
    }
  };

  /** Put the box under what the user clicked and bring it into view. */
  const place = (scroll = true): void => {
    const sel = model.get('selected');
    const row = anchor === 'row'
      ? [...body.querySelectorAll<HTMLElement>(`.${P}-env`)].find(
        r => r.dataset.prefix === sel && !r.hidden)
      : null;
    if (row) {
      row.after(details);
    } else if (anchor === 'path') {
      pathAnchor.append(details);
    } else {
      details.remove();
      return;
    }
    if (scroll && details.childElementCount) {
      details.scrollIntoView({ block: 'nearest' });
      (row ?? path).scrollIntoView({ block: 'nearest' });
    }
  };

  /** Where the kernel runs: the server's word, or its own sys.prefix after 2 s. */
  const askCurrent = async (reselect: boolean): Promise<void> => {
    let env: EnvRecord | null = null;
    if (kid) {
      const timeout = new Promise<null>(r => setTimeout(() => r(null), 2000));
      const asked = requestAPI<{ env: EnvRecord }>(`kernels/${kid}/env`, { signal })
        .then(b => b.env)
        .catch(() => null);
      env = await Promise.race([asked, timeout]);
    }
    currentEnv = env;
    root.dataset.current = env?.prefix || model.get('own_prefix');
    // who said so: the server, or (no answer within 2 s) the kernel itself
    root.dataset.currentSource = env ? 'server' : 'kernel';
    model.set('current', root.dataset.current);
    if (reselect || !model.get('selected')) {
      model.set('selected', root.dataset.current);
    }
    save();
    draw();
  };

  const compareTo = async (target: string, key: string, log?: HTMLElement): Promise<void> => {
    details.replaceChildren(el('p', `${P}-note ${P}-comparing`, 'Comparing…'));
    place();
    if (!kid) {
      details.replaceChildren(el('p', `${P}-note ${P}-error`, 'This kernel was not started ' +
        'by kernelswitch, so it cannot be switched from here.'));
      return;
    }
    prestart(requestAPI, kid, target); // Apply then only swaps its kernel in
    try {
      const q = new URLSearchParams({ target });
      if (model.get('notebook')) {
        q.set('notebook', model.get('notebook'));
      }
      const c = await requestAPI<IComparison>(`kernels/${kid}/compare?${q}`, { signal });
      if (model.get('selected') !== key) {
        return;
      }
      const alignBox = el('div', `${P}-alignBox`);
      const exe = c.target.executable || target;
      const box = renderSteps({
        prefix: P, comparison: c, carry,
        isCurrent: c.target.prefix === root.dataset.current,
        onCarry: v => (carry = v),
        onAlign: () => void startAlign({
          prefix: P, post: postRaw, target: exe, imports: c.unsatisfied_imports, kernel: kid,
          into: alignBox, done: log => void compareTo(target, key, log)
        }),
        onApply: v => void doSwitch(c.target, v)
      });
      box.querySelector('[data-step="align"]')?.append(alignBox);
      if (log) {
        alignBox.append(log);
      }
      details.replaceChildren(box);
    } catch (error) {
      details.replaceChildren(el('p', `${P}-note ${P}-error`, (error as Error).message));
    }
    place();
  };

  const pick = (target: string, key: string, where: 'row' | 'path'): void => {
    if (where === 'row' && anchor === 'row' && model.get('selected') === key &&
        details.querySelector(`.${P}-comparison`)) {
      details.replaceChildren(); // picked again: fold it
      draw();
      return;
    }
    anchor = where;
    model.set('selected', key);
    save();
    draw();
    void compareTo(target, key);
  };

  const doSwitch = async (env: EnvRecord, carryVars: boolean): Promise<void> => {
    details.replaceChildren(el('p', `${P}-note ${P}-switching`, 'Switching…'));
    root.dataset.switching = 'true';
    let answer: ISwitchAnswer;
    try {
      answer = await requestAPI<ISwitchAnswer>(`kernels/${kid}/env`, {
        method: 'POST',
        body: JSON.stringify({ target: env.executable || env.prefix, carry: carryVars })
      });
    } catch (error) {
      const b = error instanceof APIError ? (error.body as ISwitchAnswer | null) : null;
      answer = b?.error ? b : { ok: false, env, error: { code: 'network', message: String(error) } };
    }
    delete root.dataset.switching;
    details.replaceChildren(answer.ok ? renderSwitched(P, answer, carryVars)
      : renderFailed(P, answer.error?.message ?? ''));
    // the sidebar on this page remembers the env in the notebook and updates the indicator
    window.dispatchEvent(new CustomEvent('kernelswitch:switched', { detail: { kernel_id: kid } }));
    anchor = 'row';
    await askCurrent(true);
    place();
  };

  let seq = 0;
  const load = async (rescan: boolean): Promise<void> => {
    const mine = ++seq;
    if (model.get('status') !== 'ready') {
      model.set('status', 'loading');
    }
    model.set('error', '');
    save();
    try {
      const q = new URLSearchParams();
      if (rescan) {
        q.set('refresh', '1');
      }
      roots.forEach(r => q.append('root', r));
      if (model.get('notebook')) {
        q.set('notebook', model.get('notebook'));
      }
      const list = await requestAPI<EnvList>(`envs?${q}`, { signal });
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
    save();
  };

  const draw = (): void => {
    const status = model.get('status');
    root.dataset.state = status;
    refresh.disabled = status === 'loading';
    details.remove();
    if (status === 'loading') {
      body.replaceChildren(el('p', `${P}-note ${P}-loading`, 'Looking for environments…'));
      return;
    }
    if (status === 'error') {
      body.replaceChildren(el('p', `${P}-note ${P}-error`,
        model.get('error') || 'The request failed.'));
      return;
    }
    const envs = model.get('envs') ?? [];
    if (envs.length === 0) {
      body.replaceChildren(el('p', `${P}-note ${P}-empty`, 'No Python environments found.'));
      return;
    }
    const focused = body.contains(document.activeElement)
      ? (document.activeElement as HTMLElement).dataset.prefix : undefined;
    const current = currentEnv ?? envs.find(e => e.prefix === root.dataset.current) ?? null;
    body.replaceChildren(renderEnvList({
      prefix: P, envs, current, selected: model.get('selected'), filter: filter.value,
      showIncompatible,
      onToggleIncompatible: () => {
        showIncompatible = !showIncompatible;
        draw();
      },
      onPick: env => pick(env.executable || env.prefix, env.prefix, 'row')
    }));
    if (root.dataset.currentSource === 'kernel') {
      body.querySelector(`.${P}-kernelBadge`)?.append(', by its own sys.prefix');
    }
    if (focused) {
      body.querySelector<HTMLElement>(`[data-prefix="${CSS.escape(focused)}"]`)?.focus();
    }
    if (model.get('partial')) {
      body.append(el('p', `${P}-note ${P}-partial`,
        'The scan stopped early: the list may be incomplete.'));
    }
    place(false); // a live refresh must not move what the user looks at
  };

  const pickPath = (): void => {
    const p = path.value.trim();
    if (p) {
      pick(p, p, 'path');
    }
  };
  comparePath.addEventListener('click', pickPath);
  path.addEventListener('keydown', e => e.key === 'Enter' && pickPath());
  const addRoot = (): void => {
    const r = rootInput.value.trim();
    if (r && !roots.includes(r)) {
      roots.push(r);
    }
    void load(false);
  };
  scanRoot.addEventListener('click', addRoot);
  rootInput.addEventListener('keydown', e => e.key === 'Enter' && addRoot());
  filter.addEventListener('input', () => draw());
  const onMessage = (msg: { type?: string; rescan?: boolean }): void => {
    if (msg?.type === 'refresh') {
      void load(msg.rescan ?? true);
    }
  };
  refresh.addEventListener('click', () => void load(true));
  model.on('change:envs', draw);
  model.on('change:status', draw);
  model.on('msg:custom', onMessage);
  draw();
  void load(false).then(() => askCurrent(false));
  const stopLive = liveList(() => {
    if (model.get('status') === 'ready') {
      void load(false);
    }
  });

  return () => {
    seq++;
    stopLive();
    model.off('change:envs', draw);
    model.off('change:status', draw);
    model.off('msg:custom', onMessage);
  };
}

/** The list is live: the events websocket says when envs come or go (no polling). */
function liveList(changed: () => void): () => void {
  let version: number | null = null;
  // a change is news even before any snapshot said which version the list had
  const seen = (v: unknown, change: boolean): void => {
    if (typeof v !== 'number') {
      return;
    }
    if ((change || version !== null) && v !== version) {
      changed();
    }
    version = v;
  };
  const stops = [
    onEvent('envs', msg => seen(msg.version, true)),
    onEvent('snapshot', msg => seen(msg.envs_version, false))
  ];
  return () => stops.forEach(stop => stop());
}

function input(className: string, placeholder: string, label = placeholder): HTMLInputElement {
  const node = document.createElement('input');
  node.className = `jp-mod-styled ${className}`;
  node.placeholder = placeholder;
  node.title = label;
  node.setAttribute('aria-label', label);
  return node;
}
