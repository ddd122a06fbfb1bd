/**
 * The sidebar's compare / align / apply box: opened under the env row the
 * user picked (or under the path field), pre-starting that env's kernel so
 * Apply only swaps it in, and showing what a switch did afterwards. The
 * panel's commands drive it; its buttons execute those commands, so the
 * palette, the row's context menu, the keyboard and a click do one thing.
 */
import { Notification } from '@jupyterlab/apputils';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { startAlign } from './align';
import { IEnvRecord, postRaw, requestAPI } from './api';
import { prestart } from './candidate';
import { installIpykernel } from './install';
import { compareWith, IComparison, switchKernel } from './kernelenv';
import { rememberEnv, savedEnv } from './notebook';
import { CommandIDs } from './panel_commands';
import { IPanelDom, P } from './panel_dom';
import { KernelFollower } from './panel_kernel';
import { envLabel } from './protocol';
import { el, renderFailed, renderSteps, renderSwitched } from './steps';

/** What the box needs of the panel around it. */
export interface ICompareHost {
  dom: IPanelDom;
  node: HTMLElement;
  kernel: KernelFollower;
  renderList(): void;
  refreshList(): Promise<void>;
  /** Run one of the panel's commands (the box's buttons go through them). */
  execute(id: string, args?: ReadonlyPartialJSONObject): void;
}

/** The comparison on show. */
interface IOpen {
  comparison: IComparison;
  /** What was asked for: an interpreter or env folder. */
  target: string;
  key: string;
  kernelId: string;
  alignBox: HTMLElement;
}

export class CompareBox {
  constructor(host: ICompareHost) {
    this._host = host;
  }

  /** Prefix of the env whose row the box opens under (or a typed path). */
  selected: string | null = null;
  /** The "Carry variables" box, kept across comparisons (on by default). */
  carry = true;

  /** The comparison on show, if any. */
  get open(): IOpen | null {
    return this._open && this._host.dom.details.contains(this._open.alignBox) ? this._open : null;
  }

  get switching(): boolean {
    return !!this._host.node.dataset.switching;
  }

  /** Open (or close, picked again) the comparison with `target`, under `anchor`. */
  async select(target: string, anchor: 'row' | 'path' = 'row', key = target): Promise<void> {
    if (anchor === 'row' && this._anchor === 'row' && this.selected === key && this.open) {
      this.close();
      return;
    }
    this.selected = key;
    this._anchor = anchor;
    this._host.renderList();
    this._host.dom.details.replaceChildren(el('p', `${P}-note ${P}-comparing`, 'Comparing…'));
    this.place();
    await this._compare(target, key);
  }

  /** Fold the box away; the keyboard goes back to the row it was under. */
  close(): void {
    const key = this.selected;
    this._open = null;
    this._host.dom.details.replaceChildren();
    this._host.renderList();
    const row = [...this._host.dom.body.querySelectorAll<HTMLElement>(`.${P}-env`)].find(
      r => r.dataset.prefix === key);
    row?.focus();
  }

  /** The kernel's env was read again: it becomes the selection. */
  kernelRead(prefix: string | null, keepDetails: boolean): void {
    this.selected = prefix;
    if (!keepDetails) {
      this._open = null;
      this._host.dom.details.replaceChildren();
    }
  }

  /** Show the Align plan of the open comparison (installs only after Run). */
  align(): void {
    const open = this.open;
    if (!open || !open.comparison.unsatisfied_imports.length) {
      return;
    }
    void startAlign({
      prefix: P, post: postRaw, kernel: open.kernelId, into: open.alignBox,
      target: open.comparison.target.executable || open.target,
      imports: open.comparison.unsatisfied_imports,
      done: log => void this._compare(open.target, open.key, log)
    });
  }

  /** Switch the notebook's kernel to `target` (default: the open comparison's). */
  async apply(target?: IEnvRecord, carry = this.carry): Promise<void> {
    const nb = this._host.kernel.notebook;
    const kernel = nb?.sessionContext.session?.kernel;
    const env = target ?? this.open?.comparison.target;
    if (!nb || !kernel || !env || this.switching) {
      return;
    }
    const dom = this._host.dom;
    if (target && target.prefix !== this.selected) { // from a row's menu: the result goes there
      this.selected = target.prefix;
      this._anchor = 'row';
      this._host.renderList();
    }
    const before = savedEnv(nb);
    rememberEnv(nb, env); // in the model before the answer: Ctrl+S keeps the choice
    this._host.node.dataset.switching = 'true';
    this._open = null;
    dom.details.replaceChildren(el('p', `${P}-note ${P}-switching`,
      `Switching to ${envLabel(env)}…`));
    this.place();
    const answer = await switchKernel(kernel.id, env.executable || env.prefix, carry);
    delete this._host.node.dataset.switching;
    if (answer.ok) {
      rememberEnv(nb, answer.env);
      dom.notice.replaceChildren();
      dom.details.replaceChildren(renderSwitched(P, answer, carry));
    } else {
      rememberEnv(nb, before);
      const message = answer.error?.message ?? 'the switch failed';
      Notification.warning(`Switch failed; the kernel keeps running. ${message}`, {
        autoClose: 8000
      });
      dom.details.replaceChildren(renderFailed(P, message));
    }
    this._anchor = 'row';
    await this._host.kernel.read(true);
    this.place();
  }

  /** Install ipykernel into an env after the user confirmed the exact command. */
  async install(env: IEnvRecord): Promise<void> {
    this.selected = env.prefix;
    this._anchor = 'row';
    this._open = null;
    this._host.renderList();
    if (await installIpykernel(env.executable, this._host.dom.details)) {
      await this._host.refreshList();
    }
    this.place();
  }

  /** Put the box under what the user picked; `scroll` brings it into view. */
  place(scroll = true): void {
    const dom = this._host.dom;
    const row = this._anchor === 'row' && this.selected
      ? [...dom.body.querySelectorAll<HTMLElement>(`.${P}-env`)].find(
        r => r.dataset.prefix === this.selected && !r.hidden)
      : null;
    if (row) {
      row.after(dom.details);
    } else if (this._anchor === 'path') {
      dom.pathAnchor.append(dom.details);
    } else {
      dom.details.remove();
      return;
    }
    if (scroll && dom.details.childElementCount) {
      dom.details.scrollIntoView({ block: 'nearest' });
      (row ?? dom.path).scrollIntoView({ block: 'nearest' });
    }
  }

  private async _compare(target: string, key: string, log?: HTMLElement): Promise<void> {
    const dom = this._host.dom;
    const follower = this._host.kernel;
    const nb = follower.notebook;
    const kernel = nb?.sessionContext.session?.kernel;
    if (!nb || !kernel) {
      dom.details.replaceChildren(el('p', `${P}-note ${P}-error`,
        'Open a notebook to switch its kernel.'));
      return;
    }
    prestart(requestAPI, kernel.id, target); // Apply then only swaps its kernel in
    try {
      const comparison = await compareWith(kernel.id, target, nb.context.path);
      if (this.selected !== key) {
        return;
      }
      const alignBox = el('div', `${P}-alignBox`);
      const box = renderSteps({
        prefix: P,
        comparison,
        isCurrent: comparison.target.prefix === follower.current?.prefix,
        carry: this.carry,
        onCarry: carry => (this.carry = carry),
        onAlign: () => this._host.execute(CommandIDs.align),
        onApply: carry => this._host.execute(CommandIDs.apply, { carry })
      });
      box.querySelector('[data-step="align"]')?.append(alignBox);
      if (log) {
        alignBox.append(log);
      }
      dom.details.replaceChildren(box);
      this._open = { comparison, target, key, kernelId: kernel.id, alignBox };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      dom.details.replaceChildren(el('p', `${P}-note ${P}-error`, message));
    }
    this.place();
  }

  private _host: ICompareHost;
  private _anchor: 'row' | 'path' = 'row';
  private _open: IOpen | null = null;
}
