/**
 * The comparison box that opens under the env the user picked: the steps
 * compare, align and apply (discover being the list above), and what a switch
 * did afterwards. One vocabulary with the server's answers: packages an
 * overlay env gets from the server are "from the server", modules a switch
 * imports again in the new kernel are "re-imported".
 *
 * Plain DOM, no JupyterLab imports: the EnvPicker widget uses it too.
 */
import { envLabel, IComparison, IEnvRecord, ISwitchAnswer } from './protocol';

export interface IStepsOptions {
  /** Class prefix of the caller (`ks-EnvPanel`, `ks-picker`). */
  prefix: string;
  comparison: IComparison;
  /** The target is where the kernel already runs. */
  isCurrent: boolean;
  /** The state of the "Carry variables" box (on by default). */
  carry: boolean;
  onCarry(carry: boolean): void;
  onAlign(): void;
  onApply(carry: boolean): void;
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K, className: string, text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

function listed(names: string[], max = 6): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

/** Packages an overlay env gets from the server (the older name too). */
export function fromServer(c: IComparison): string[] {
  return c.from_server ? Object.keys(c.from_server) : (c.provided_by_mode ?? []);
}

/** What the comparison says, one short line each. */
export function comparisonLines(c: IComparison): string[] {
  const lines: string[] = [];
  if (c.mode === 'native') {
    lines.push('native: has ipykernel and runs its own kernel');
  } else if (c.mode === 'overlay') {
    lines.push("overlay: its own packages first, the kernel's packages from the server");
  } else {
    lines.push('incompatible: cannot run a kernel until ipykernel is installed in it');
  }
  const v = c.version;
  const change = v.direction === 'none' ? v.change : `${v.change} ${v.direction}`;
  lines.push(v.from && v.from === v.to ? `Python ${v.to}, as now`
    : `Python ${v.from ?? '?'} → ${v.to ?? '?'} (${change})`);
  const server = new Set(fromServer(c));
  const missing = Object.keys(c.missing_packages).filter(n => !server.has(n)).sort();
  lines.push(missing.length
    ? `Not in ${envLabel(c.target)}: ${missing.length} package(s) of the current env: ` +
      listed(missing)
    : 'Every package of the current env is there');
  if (server.size) {
    lines.push(`From the server: ${server.size} package(s) (${listed([...server], 3)})`);
  }
  if (c.imports_from_server?.length) {
    lines.push(`The notebook imports ${listed(c.imports_from_server)} from the server`);
  }
  return lines;
}

function step(p: string, n: number, name: string, title: string): HTMLElement {
  const section = el('section', `ks-Steps-step ${p}-step`);
  section.dataset.step = name;
  const h = el('h3', 'ks-Steps-title');
  h.append(el('span', 'ks-Steps-number', String(n)), title);
  section.append(h);
  return section;
}

/** Compare, align and apply for one target, as sections of one box. */
export function renderSteps(o: IStepsOptions): HTMLElement {
  const p = o.prefix;
  const c = o.comparison;
  const box = el('div', `ks-Steps ${p}-comparison`);
  const compare = step(p, 2, 'compare', 'Compare');
  compare.append(...comparisonLines(c).map(line => el('p', `ks-Steps-line ${p}-line`, line)));

  const align = step(p, 3, 'align', 'Align');
  if (c.unsatisfied_imports.length) {
    align.append(el('p', `ks-Steps-line ks-mod-warn ${p}-missingImports`,
      `The notebook imports ${listed(c.unsatisfied_imports)}, missing in ${envLabel(c.target)}.`));
    const button = el('button', `jp-Button jp-mod-styled jp-mod-accept ${p}-align`, 'Align…');
    button.title = 'Show the command that installs them, then run it if you confirm';
    button.addEventListener('click', () => o.onAlign());
    align.append(button);
  } else {
    align.append(el('p', `ks-Steps-line ${p}-aligned`,
      c.notebook ? "Nothing to install: the notebook's imports are all there."
        : 'Nothing to install.'));
  }

  const apply = step(p, 4, 'apply', 'Apply');
  const row = el('div', `ks-Steps-applyRow ${p}-actions`);
  row.setAttribute('role', 'group');
  row.setAttribute('aria-label', 'Apply');
  const label = el('label', `ks-Steps-carry ${p}-carry`);
  const box2 = document.createElement('input');
  box2.type = 'checkbox';
  box2.checked = o.carry;
  box2.className = `${p}-carryBox`;
  box2.addEventListener('change', () => o.onCarry(box2.checked));
  label.append(box2, ' Carry variables');
  label.title = 'Take the notebook’s variables along to the new kernel';
  const button = el('button', `jp-Button jp-mod-styled jp-mod-accept ${p}-apply`, 'Apply');
  button.title = `Switch the notebook's kernel to ${envLabel(c.target)}`;
  button.setAttribute('aria-label', button.title);
  button.disabled = c.mode === 'incompatible' || o.isCurrent;
  button.addEventListener('click', () => o.onApply(box2.checked));
  row.append(label, button);
  apply.append(el('p', 'ks-Steps-line', o.isCurrent
    ? 'The kernel already runs here.'
    : c.mode === 'incompatible' ? 'Install ipykernel in it first (its row offers it).'
      : `Switch the kernel to ${envLabel(c.target)}; the next cell runs there.`));
  // the box's last child, sticky: Apply and its checkbox stay in sight however
  // long the box above grows (an Align plan and its output at 250 px)
  box.append(compare, align, apply, row);
  return box;
}

/** What a switch did: where the kernel runs now and what became of the variables. */
export function renderSwitched(p: string, answer: ISwitchAnswer, carried: boolean): HTMLElement {
  const box = el('div', `ks-Steps ${p}-result`);
  box.append(el('p', `ks-Steps-line ${p}-done`,
    `Now running in ${envLabel(answer.env)} (${answer.env.mode ?? '?'}).`));
  const carry = answer.carry ?? {
    carried: answer.carried ?? [],
    reimported: [],
    not_carried: Object.entries(answer.not_carried ?? {}).map(([name, reason]) => ({
      name, reason
    }))
  };
  if (!carried) {
    box.append(el('p', `ks-Steps-line ${p}-carried`, 'Variables were not carried (unticked).'));
    return box;
  }
  const line = (cls: string, head: string, names: string[]): void => {
    if (names.length) {
      box.append(el('p', `ks-Steps-line ${p}-${cls}`, `${head}: ${listed(names, 12)}`));
    }
  };
  line('carried', 'Carried', carry.carried);
  line('reimported', 'Re-imported', carry.reimported);
  if (carry.not_carried.length) {
    const ul = el('ul', `ks-Steps-notCarried ${p}-notCarried`);
    ul.setAttribute('aria-label', 'Not carried');
    for (const { name, reason } of carry.not_carried) {
      const li = el('li', '');
      li.append(el('code', '', name), ` — ${reason}`);
      ul.append(li);
    }
    box.append(el('p', `ks-Steps-line ${p}-notCarriedTitle`, 'Not carried:'), ul);
  }
  if (!carry.carried.length && !carry.reimported.length && !carry.not_carried.length) {
    box.append(el('p', `ks-Steps-line ${p}-carried`, 'There were no variables to carry.'));
  }
  return box;
}

/** The failure of a switch: the kernel keeps running where it was. */
export function renderFailed(p: string, message: string): HTMLElement {
  return el('p', `ks-Steps-line ks-mod-warn ${p}-warning`,
    `Switch failed; the kernel keeps running where it was. ${message}`);
}

export type { IEnvRecord };
