/**
 * The env list of the sidebar and the EnvPicker widget, laid out as VS Code's
 * interpreter picker: the kernel's env first, then "Recommended" (envs in the
 * notebook's folder or project), then the usable envs grouped by kind, and the
 * incompatible ones collapsed at the end under a count. Two lines per env.
 *
 * Plain DOM, no JupyterLab imports: the widget bundle uses it too. Each
 * element carries a shared `ks-EnvList-*` class (styled once, in
 * style/envlist.css) and the caller's own prefix (`ks-EnvPanel`, `ks-picker`),
 * which the tests and older selectors use.
 */
import { envLabel, envSummary, IEnvRecord } from './protocol';

export interface IEnvListOptions {
  /** Class prefix of the caller: rows are `${prefix}-env`. */
  prefix: string;
  envs: IEnvRecord[];
  /** Where the kernel runs (listed first, even when outside the scanned folders). */
  current: IEnvRecord | null;
  /** Prefix of the env whose comparison is open. */
  selected: string | null;
  filter: string;
  /** The incompatible group is open. */
  showIncompatible: boolean;
  onToggleIncompatible(): void;
  onPick(env: IEnvRecord): void;
  /** Offered on incompatible envs that only lack ipykernel. */
  onInstall?(env: IEnvRecord): void;
}

const KIND_TITLES: Record<string, string> = {
  venv: 'Virtual environments',
  virtualenv: 'Virtual environments',
  virtualenvwrapper: 'Virtual environments',
  uv: 'uv',
  poetry: 'Poetry',
  pipenv: 'Pipenv',
  hatch: 'Hatch',
  conda: 'Conda',
  pyenv: 'pyenv',
  'pyenv-virtualenv': 'pyenv',
  system: 'System'
};

interface IGroup {
  key: string;
  title: string;
  envs: IEnvRecord[];
}

/** The groups in display order (exported for the tests' eyes and the picker). */
export function groupEnvs(envs: IEnvRecord[], current: IEnvRecord | null): IGroup[] {
  const cur = current && current.kind !== '?' ? current : null;
  const rest = envs.filter(e => e.prefix !== cur?.prefix);
  const currentRec = cur ? (envs.find(e => e.prefix === cur.prefix) ?? cur) : null;
  const groups: IGroup[] = [];
  if (currentRec) {
    groups.push({ key: 'current', title: 'Current', envs: [currentRec] });
  }
  const usable = rest.filter(e => e.mode !== 'incompatible' && !e.error);
  const recommended = usable.filter(e => e.recommended);
  if (recommended.length) {
    groups.push({ key: 'recommended', title: 'Recommended', envs: recommended });
  }
  const byKind = new Map<string, IEnvRecord[]>();
  for (const env of usable.filter(e => !e.recommended)) {
    const title = KIND_TITLES[env.kind] ?? env.kind;
    byKind.set(title, [...(byKind.get(title) ?? []), env]);
  }
  for (const [title, list] of byKind) {
    list.sort((a, b) => envLabel(a).localeCompare(envLabel(b)));
    groups.push({ key: `kind:${title}`, title, envs: list });
  }
  const bad = rest.filter(e => e.mode === 'incompatible' || e.error);
  if (bad.length) {
    groups.push({ key: 'incompatible', title: `Incompatible (${bad.length})`, envs: bad });
  }
  return groups;
}

function matches(env: IEnvRecord, words: string[]): boolean {
  const text = [envLabel(env), env.name, env.kind, env.version ?? '', env.prefix, env.mode ?? '']
    .join(' ')
    .toLowerCase();
  return words.every(w => text.includes(w));
}

/** The list as one listbox of groups; arrow keys move between rows, Enter picks. */
export function renderEnvList(o: IEnvListOptions): HTMLElement {
  const box = document.createElement('div');
  box.className = `ks-EnvList ${o.prefix}-list`;
  box.setAttribute('role', 'listbox');
  box.setAttribute('aria-label', 'Python environments');
  const words = o.filter.trim().toLowerCase().split(/\s+/).filter(Boolean);
  let first: HTMLElement | null = null;
  let chosen: HTMLElement | null = null;
  for (const group of groupEnvs(o.envs, o.current)) {
    const section = document.createElement('div');
    section.className = `ks-EnvList-group ${o.prefix}-group`;
    section.dataset.group = group.key;
    section.setAttribute('role', 'group');
    const heading = document.createElement('div');
    heading.className = 'ks-EnvList-groupTitle';
    heading.id = `ks-group-${o.prefix}-${group.key.replace(/\W/g, '_')}`;
    section.setAttribute('aria-labelledby', heading.id);
    const folded = group.key === 'incompatible' && !o.showIncompatible && !words.length;
    if (group.key === 'incompatible') {
      const toggle = document.createElement('button');
      toggle.className = `ks-EnvList-toggle ${o.prefix}-incompatibleToggle`;
      toggle.setAttribute('aria-expanded', String(!folded));
      toggle.textContent = `${folded ? '▸' : '▾'} ${group.title}`;
      toggle.title = 'Environments that cannot run a kernel as they are';
      toggle.addEventListener('click', () => o.onToggleIncompatible());
      heading.append(toggle);
    } else {
      heading.textContent = group.title;
    }
    section.append(heading);
    const list = document.createElement('ul');
    list.className = 'ks-EnvList-rows';
    list.hidden = folded;
    let shown = 0;
    for (const env of group.envs) {
      const row = envRow(o, env, group.key);
      row.hidden = !matches(env, words);
      shown += row.hidden ? 0 : 1;
      if (!row.hidden && !folded) {
        first = first ?? row;
        chosen = env.prefix === o.selected ? row : chosen;
      }
      list.append(row);
    }
    section.hidden = shown === 0;
    section.append(list);
    box.append(section);
  }
  const stop = chosen ?? first;
  if (stop) {
    stop.tabIndex = 0; // one tab stop; arrows move within (roving tabindex)
  }
  box.addEventListener('keydown', event => onKey(event, box, o));
  return box;
}

function onKey(event: KeyboardEvent, box: HTMLElement, o: IEnvListOptions): void {
  if (event.ctrlKey || event.metaKey || event.altKey || event.shiftKey) {
    return; // Accel+Enter and the like are the app's key bindings (switch, in the sidebar)
  }
  const rows = [...box.querySelectorAll<HTMLElement>('[role="option"]')].filter(
    r => r.offsetParent !== null
  );
  const at = rows.indexOf(document.activeElement as HTMLElement);
  let next = -1;
  if (event.key === 'ArrowDown') {
    next = Math.min(rows.length - 1, at + 1);
  } else if (event.key === 'ArrowUp') {
    next = Math.max(0, at - 1);
  } else if (event.key === 'Home') {
    next = 0;
  } else if (event.key === 'End') {
    next = rows.length - 1;
  } else if ((event.key === 'Enter' || event.key === ' ') && at >= 0) {
    event.preventDefault();
    const env = o.envs.find(e => e.prefix === rows[at].dataset.prefix) ??
      (o.current?.prefix === rows[at].dataset.prefix ? o.current : null);
    if (env) {
      o.onPick(env);
    }
    return;
  }
  if (next >= 0 && rows[next]) {
    event.preventDefault();
    rows.forEach(r => (r.tabIndex = -1));
    rows[next].tabIndex = 0;
    rows[next].focus();
  }
}

function envRow(o: IEnvListOptions, env: IEnvRecord, group: string): HTMLLIElement {
  const p = o.prefix;
  const li = document.createElement('li');
  li.className = `ks-EnvList-row ${p}-env`;
  li.setAttribute('role', 'option');
  li.tabIndex = -1;
  li.dataset.prefix = env.prefix;
  const selected = env.prefix === o.selected;
  li.setAttribute('aria-selected', String(selected));
  // the server's reason may end with the command that fixes it: the row offers the fix instead
  const why = (env.error ?? env.reason ?? '').replace(/;?\s*run `[^`]*`\.?$/, '');
  li.title = [env.executable || env.prefix, why].filter(Boolean).join('\n');
  const line1 = document.createElement('div');
  line1.className = 'ks-EnvList-line1';
  const name = document.createElement('span');
  name.className = `ks-EnvList-name ${p}-envName`;
  name.textContent = envLabel(env);
  line1.append(name);
  const badge = (text: string, cls: string, title: string): void => {
    const b = document.createElement('span');
    b.className = `ks-EnvList-badge ${cls}`;
    b.textContent = text;
    b.title = title;
    line1.append(b);
  };
  if (group === 'current') {
    li.classList.add('ks-mod-current');
    badge('kernel', `${p}-kernelBadge`, 'The kernel runs here');
  }
  if (env.server) {
    li.classList.add('ks-mod-server');
    badge('server', `${p}-serverBadge`, "The Jupyter server's own environment");
  }
  const meta = document.createElement('div');
  meta.className = `ks-EnvList-meta ${p}-envMeta`;
  meta.textContent = envSummary(env);
  li.append(line1, meta);
  li.setAttribute('aria-label', `${envLabel(env)}, ${envSummary(env)}`);
  if (selected) {
    li.classList.add('ks-mod-selected');
  }
  if (env.error) {
    li.classList.add('ks-mod-error');
    const err = document.createElement('div');
    err.className = `ks-EnvList-reason ${p}-envError`;
    err.textContent = env.error;
    li.append(err);
  } else if (env.mode) {
    li.classList.add(`ks-mod-${env.mode}`);
  }
  li.addEventListener('click', () => o.onPick(env));
  if (env.mode === 'incompatible' && !env.error && env.executable && o.onInstall) {
    // a link-sized offer on the name's line: the row stays two lines
    const offer = document.createElement('button');
    offer.className = `ks-EnvList-install ${p}-install`;
    offer.textContent = 'Install ipykernel…';
    offer.title = 'Show the command that installs ipykernel here, then run it if you confirm';
    offer.addEventListener('click', ev => {
      ev.stopPropagation();
      o.onInstall?.(env);
    });
    line1.append(offer);
  }
  return li;
}
