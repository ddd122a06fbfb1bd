/**
 * The env sidebar as a JupyterLab plugin: the panel in the left area, its
 * commands in the palette and its rows' context menu. The panel follows the
 * active notebook, recognised by what it has (no notebook package needed).
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';

import { EnvPanel, INotebookLike, INotebookSource } from './panel';
import { registerEnvCommands } from './panel_commands';

const SIDEBAR_ID = 'kernelswitch-sidebar';

// A switch: two rails and a toggle, in the theme's icon colour.
const switchIcon = new LabIcon({
  name: 'kernelswitch:switch',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M7 6h10a6 6 0 0 1 0 12H7A6 6 0 0 1 7 6zm0 2a4 4 0 0 0 0 8h10a4 4 0 0 0 0-8z"/>' +
    '<circle cx="16.5" cy="12" r="3"/></g></svg>'
});

/** The active notebook from the lab shell; a sidebar taking focus keeps the last one. */
function notebookSource(shell: ILabShell): INotebookSource {
  let last: INotebookLike | null = null;
  const isNotebook = (w: unknown): w is INotebookLike => {
    const any = w as any;
    return !!any?.sessionContext && !!any?.context?.model && /\.ipynb$/.test(any.context.path);
  };
  return {
    current: () => {
      const w = shell.currentWidget;
      if (isNotebook(w)) {
        last = w;
      } else if (last && (last as any).isDisposed) {
        last = null;
      }
      return last;
    },
    changed: shell.currentChanged
  };
}

export const envPlugin: JupyterFrontEndPlugin<void> = {
  id: 'kernelswitch:sidebar',
  description: "Sidebar: compare Python environments and switch the notebook's kernel.",
  autoStart: true,
  optional: [ILayoutRestorer, ILabShell, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    labShell: ILabShell | null,
    palette: ICommandPalette | null
  ) => {
    const panel = new EnvPanel(app.commands, labShell ? notebookSource(labShell) : null);
    panel.id = SIDEBAR_ID;
    panel.title.icon = switchIcon;
    panel.title.caption = 'kernelswitch';
    panel.title.label = '';
    app.shell.add(panel, 'left', { rank: 900 });
    restorer?.add(panel, SIDEBAR_ID);
    registerEnvCommands(app, panel, palette);
    void app.restored.then(() => panel.start());
  }
};
