/**
 * The env sidebar's actions as JupyterLab commands: JupyterLab's unit of
 * action, so the command palette ("Python environments"), the context menu
 * of an env row, key bindings and the sidebar's own buttons all run the same
 * code. A command acting on one env takes `{prefix}`; without it, it acts on
 * the row under the context menu, else the row with the keyboard, else
 * (Align, Apply) the comparison on show. Shift+F10 on a row opens its menu.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import type { ICommandPalette } from '@jupyterlab/apputils';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import type { IEnvRecord } from './api';
import type { EnvPanel } from './panel';
import { envLabel } from './protocol';

export const CommandIDs = {
  compare: 'kernelswitch:env-compare',
  align: 'kernelswitch:env-align',
  apply: 'kernelswitch:env-apply',
  closeComparison: 'kernelswitch:env-close-comparison',
  installIpykernel: 'kernelswitch:env-install-ipykernel',
  newEnv: 'kernelswitch:env-new',
  refresh: 'kernelswitch:refresh-envs',
  revealCurrent: 'kernelswitch:env-reveal-current'
} as const;

/** The palette's category for these commands. */
export const CATEGORY = 'Python environments';

/** Class of an env row in the sidebar (P-env, spelled out: no runtime import cycle). */
const ROW = 'ks-EnvPanel-env';

type Args = ReadonlyPartialJSONObject;

export function registerEnvCommands(
  app: JupyterFrontEnd, panel: EnvPanel, palette: ICommandPalette | null
): void {
  const { commands } = app;
  const show = (): void => app.shell.activateById(panel.id);
  // The row a context menu opened on, while that menu is up and while its
  // item runs (app.contextMenuHitTest would keep answering with the last
  // right-click long after, e.g. for the palette). Window capture: before
  // JupyterLab's own listener builds the menu and asks isVisible.
  let menuRow: string | null = null;
  window.addEventListener('contextmenu', event => {
    menuRow = (event.target as Element | null)?.closest<HTMLElement>(`.${ROW}`)
      ?.dataset.prefix ?? null;
  }, true);
  app.contextMenu.menu.aboutToClose.connect(() => {
    setTimeout(() => (menuRow = null)); // the chosen item runs right after the close
  });
  /** The env a command acts on: argument, right-clicked row, focused row. */
  const rowEnv = (args: Args): IEnvRecord | null => {
    const prefix = typeof args.prefix === 'string' ? args.prefix
      : menuRow ?? panel.focusedPrefix();
    return prefix ? panel.envFor(prefix) : null;
  };
  const applyTarget = (args: Args): IEnvRecord | null =>
    rowEnv(args) ?? panel.compare.open?.comparison.target ?? null;
  const alignable = (args: Args): boolean => {
    const open = panel.compare.open;
    const env = rowEnv(args);
    return !!open?.comparison.unsatisfied_imports.length && (!env || env.prefix === open.key);
  };

  commands.addCommand(CommandIDs.compare, {
    label: args => (rowEnv(args) || args.path ? "Compare with the Kernel's Environment"
      : "Compare an Environment with the Kernel's"),
    caption: "What changes for the notebook in that environment (opens under its row)",
    execute: args => {
      show();
      if (typeof args.path === 'string') {
        return panel.compare.select(args.path, 'path');
      }
      const env = rowEnv(args);
      const prefix = env?.prefix ?? (typeof args.prefix === 'string' ? args.prefix : null);
      if (prefix) {
        return panel.compare.select(env?.executable || prefix, 'row', prefix);
      }
      panel.focusFilter(); // nothing picked: the user picks, as in a quick pick
    }
  });
  commands.addCommand(CommandIDs.align, {
    label: 'Align: Install What the Notebook Imports…',
    caption: 'Show the command that installs the missing imports, then run it on confirmation',
    isEnabled: alignable,
    isVisible: alignable,
    execute: () => {
      show();
      panel.compare.align();
    }
  });
  commands.addCommand(CommandIDs.apply, {
    label: args => {
      const env = applyTarget(args);
      return env ? `Switch Kernel to ${envLabel(env)}` : 'Switch Kernel to the Compared Environment';
    },
    caption: "Switch the notebook's kernel to this environment (carrying the variables)",
    isEnabled: args => {
      const env = applyTarget(args);
      return !!env && !!panel.kernel.kernelId && !panel.compare.switching &&
        env.mode !== 'incompatible' && !env.error && env.prefix !== panel.kernel.current?.prefix;
    },
    execute: args => {
      show();
      const carry = typeof args.carry === 'boolean' ? args.carry : panel.compare.carry;
      return panel.compare.apply(rowEnv(args) ?? undefined, carry);
    }
  });
  commands.addCommand(CommandIDs.closeComparison, {
    label: 'Close the Comparison',
    isEnabled: () => panel.hasDetails(),
    execute: () => panel.compare.close()
  });
  commands.addCommand(CommandIDs.installIpykernel, {
    label: 'Install ipykernel…',
    caption: 'Show the command that installs ipykernel into this environment, then run it',
    isVisible: args => {
      const env = rowEnv(args);
      return !!env && env.mode === 'incompatible' && !env.error && !!env.executable;
    },
    execute: args => {
      const env = rowEnv(args);
      return env ? panel.compare.install(env) : undefined;
    }
  });
  commands.addCommand(CommandIDs.newEnv, {
    label: 'New Environment…',
    caption: 'Make a new virtual environment (ipykernel included) and compare with it',
    execute: () => {
      show();
      return panel.newEnv();
    }
  });
  commands.addCommand(CommandIDs.refresh, {
    label: 'Refresh Environments',
    caption: 'Scan again for Python environments',
    execute: () => panel.refresh(true)
  });
  commands.addCommand(CommandIDs.revealCurrent, {
    label: "Reveal the Kernel's Environment",
    caption: "Show the environment the notebook's kernel runs in",
    isEnabled: () => !!panel.kernel.current,
    execute: () => {
      show();
      panel.revealCurrent();
    }
  });

  // Keys where a JupyterLab list has them: Accel+Enter runs, Escape closes. Enter
  // and Space on a row (compare) are the list's own (envlist.ts), as in the picker.
  const keys: [string, string, string][] = [
    [CommandIDs.apply, 'Accel Enter', `.${ROW}`],
    [CommandIDs.apply, 'Accel Enter', '.ks-EnvPanel-details'],
    [CommandIDs.closeComparison, 'Escape', '.ks-EnvPanel']
  ];
  for (const [command, key, selector] of keys) {
    commands.addKeyBinding({ command, keys: [key], selector });
  }

  const menu: (string | null)[] = [
    CommandIDs.compare, CommandIDs.align, CommandIDs.apply, CommandIDs.installIpykernel, null,
    CommandIDs.revealCurrent, CommandIDs.newEnv, CommandIDs.refresh
  ];
  menu.forEach((command, rank) => app.contextMenu.addItem(
    command ? { command, selector: `.${ROW}`, rank } : { type: 'separator', selector: `.${ROW}`, rank }
  ));

  for (const command of [
    CommandIDs.compare, CommandIDs.align, CommandIDs.apply, CommandIDs.newEnv,
    CommandIDs.refresh, CommandIDs.revealCurrent
  ]) {
    palette?.addItem({ command, category: CATEGORY });
  }
}
