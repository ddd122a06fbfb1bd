/**
 * The env sidebar's fixed parts, built once: header with refresh, the four
 * steps, the kernel line, notices, the filter, the list's place, and
 * "New environment…" with the "compare a path / scan a folder" fields in one
 * grid (inputs and buttons line up). JupyterLab's own input and button classes throughout.
 */
import { refreshIcon } from '@jupyterlab/ui-components';

import { el } from './steps';

export const P = 'ks-EnvPanel';

export interface IPanelDom {
  refresh: HTMLButtonElement;
  newEnv: HTMLButtonElement;
  /** Where the "New environment…" form opens, right under its button. */
  newEnvBox: HTMLDivElement;
  kernelLine: HTMLDivElement;
  notice: HTMLDivElement;
  filter: HTMLInputElement;
  body: HTMLDivElement;
  details: HTMLDivElement;
  path: HTMLInputElement;
  usePath: HTMLButtonElement;
  root: HTMLInputElement;
  addRoot: HTMLButtonElement;
  pathAnchor: HTMLDivElement;
  scanned: HTMLParagraphElement;
}

export function input(className: string, placeholder: string, label = placeholder):
  HTMLInputElement {
  const node = document.createElement('input');
  node.className = `jp-mod-styled ${className}`;
  node.placeholder = placeholder;
  node.title = label;
  node.setAttribute('aria-label', label);
  return node;
}

/** Build the parts into `node`; the caller wires them. */
export function buildPanel(node: HTMLElement): IPanelDom {
  const header = el('div', `${P}-header`);
  const refresh = el('button', `jp-Button jp-mod-minimal ${P}-refresh`);
  refresh.title = 'Scan again for environments';
  refresh.setAttribute('aria-label', 'Refresh environments');
  refreshIcon.element({ container: refresh, tag: 'span' });
  header.append(el('h2', `${P}-title`, 'Python environments'), refresh);
  const steps = el('ol', `${P}-steps`);
  steps.setAttribute('aria-label', 'Steps');
  for (const s of ['Discover', 'Compare', 'Align', 'Apply']) {
    steps.append(el('li', '', s));
  }
  const details = el('div', `${P}-details`);
  details.setAttribute('role', 'region');
  details.setAttribute('aria-label', 'Compare, align, apply');
  // what happens inside the box stays there (the row and the list react to clicks and keys)
  details.addEventListener('click', e => e.stopPropagation());
  details.addEventListener('keydown', e => e.stopPropagation());
  const dom: IPanelDom = {
    refresh,
    newEnv: el('button', `jp-Button jp-mod-styled ${P}-newEnv`, 'New environment…'),
    newEnvBox: el('div', `${P}-newEnvBox`),
    kernelLine: el('div', `${P}-kernel`),
    notice: el('div', `${P}-notices`),
    filter: input(`${P}-filter`, 'Filter environments'),
    body: el('div', `${P}-body`),
    details,
    path: input(`${P}-path`, 'Python path…', 'An interpreter or env folder to compare with'),
    usePath: el('button', `jp-Button jp-mod-styled jp-mod-accept ${P}-usePath`, 'Compare'),
    root: input(`${P}-root`, 'Folder to scan', 'A folder to scan for environments too'),
    addRoot: el('button', `jp-Button jp-mod-styled jp-mod-accept ${P}-addRoot`, 'Scan'),
    pathAnchor: el('div', `${P}-pathAnchor`),
    scanned: el('p', `${P}-note ${P}-scanned`)
  };
  const more = el('div', `${P}-more`);
  // "New environment…" first in the lower grid, its form right under it
  more.append(dom.newEnv, dom.newEnvBox, dom.path, dom.usePath, dom.root, dom.addRoot);
  node.append(header, steps, dom.kernelLine, dom.notice, dom.filter, dom.body, more,
              dom.pathAnchor, dom.scanned);
  return dom;
}
