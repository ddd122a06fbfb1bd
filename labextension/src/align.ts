/**
 * Align, the third step: install into the target what the notebook imports
 * and the target lacks. The exact command is shown first (`POST envs/align`
 * without confirm); it runs only when the user presses Run, its output streams
 * in (NDJSON lines), and the caller then compares again.
 *
 * Plain DOM, no JupyterLab imports: the EnvPicker widget uses it too. The
 * caller passes how to POST (the sidebar through ServerConnection, the widget
 * through fetch with the page's token).
 */
import { APIError, IAlignPlan, IAlignResult, readJSON } from './protocol';
import { el } from './steps';

/** POST `endPoint` under kernelswitch/api with a JSON body; the raw response. */
export type Post = (endPoint: string, body: unknown, accept?: string) => Promise<Response>;

export interface IAlignOptions {
  prefix: string;
  post: Post;
  target: string;
  imports: string[];
  /** Copy distributions and versions from this kernel's env (default: the server's). */
  kernel?: string;
  /** Where the plan, the confirmation and the output are drawn. */
  into: HTMLElement;
  /** Called after a run (whatever its outcome) to compare again; `log` is what it printed. */
  done(log: HTMLElement): void;
}

function request(o: IAlignOptions): Record<string, unknown> {
  return o.kernel ? { target: o.target, imports: o.imports, kernel: o.kernel }
    : { target: o.target, imports: o.imports };
}

/** Show the plan in `into`, with Run and Cancel. */
export async function startAlign(o: IAlignOptions): Promise<void> {
  const p = o.prefix;
  o.into.replaceChildren(el('p', 'ks-Steps-line', 'Working out what to install…'));
  let plan: IAlignPlan;
  try {
    plan = await readJSON<IAlignPlan>(
      await o.post('envs/align', { ...request(o), confirm: false })
    );
  } catch (error) {
    o.into.replaceChildren(el('p', `ks-Steps-line ks-mod-warn ${p}-alignError`,
      (error as Error).message));
    return;
  }
  const box = el('div', `ks-Align ${p}-alignPlan`);
  const what = plan.installs.map(i => i.version ? `${i.distribution}==${i.version}`
    : i.distribution);
  if (what.length) {
    box.append(el('p', 'ks-Steps-line', `Installs ${what.join(', ')} with ${plan.tool}:`));
    box.append(el('pre', `ks-Align-command ${p}-alignCommand`, plan.command_text));
  }
  if (plan.unmapped.length) {
    box.append(el('p', `ks-Steps-line ks-mod-warn ${p}-unmapped`,
      `No package known to provide: ${plan.unmapped.join(', ')}.`));
  }
  if (plan.hint) {
    box.append(el('p', 'ks-Steps-line', plan.hint));
  }
  const buttons = el('div', 'ks-Align-buttons');
  const cancel = el('button', 'jp-Button jp-mod-styled jp-mod-reject', 'Cancel');
  cancel.addEventListener('click', () => o.into.replaceChildren());
  const run = el('button', `jp-Button jp-mod-styled jp-mod-accept ${p}-alignRun`, 'Run');
  run.disabled = !plan.command.length;
  run.addEventListener('click', () => void runAlign(o, box));
  buttons.append(cancel, run);
  box.append(buttons);
  o.into.replaceChildren(box);
  box.scrollIntoView({ block: 'nearest' });
}

async function runAlign(o: IAlignOptions, box: HTMLElement): Promise<void> {
  const p = o.prefix;
  box.querySelector('.ks-Align-buttons')?.remove();
  const status = el('p', `ks-Steps-line ${p}-aligning`, 'Installing…');
  const out = el('pre', `ks-Align-output ${p}-alignOutput`);
  box.append(status, out);
  let result: IAlignResult | null = null;
  try {
    const response = await o.post(
      'envs/align', { ...request(o), confirm: true },
      'application/x-ndjson'
    );
    if (!response.ok || !response.body) {
      await readJSON(response); // throws the server's message
    }
    result = await readLines(response, line => {
      out.textContent = (out.textContent + line).slice(-6000);
      out.scrollTop = out.scrollHeight;
    });
  } catch (error) {
    status.textContent = `The install failed: ${(error as Error).message}`;
    status.classList.add('ks-mod-warn', `${p}-alignFailed`);
    return;
  }
  if (!result || result.returncode !== 0) {
    status.textContent = `The install failed (exit code ${result?.returncode ?? '?'}).`;
    status.classList.add('ks-mod-warn', `${p}-alignFailed`);
    box.append(out);
    return;
  } else {
    const names = result.installed.map(i => typeof i === 'string' ? i : i.distribution);
    status.textContent = names.length ? `Installed ${names.join(', ')}.`
      : 'Nothing was installed.';
    status.classList.add(`${p}-alignDone`);
  }
  // the run's status and output stay, folded, under the new comparison
  const log = el('details', `ks-Align-log ${p}-alignLog`);
  const summary = el('summary', '', status.textContent ?? '');
  log.append(summary, out);
  o.done(log);
}

/** Read NDJSON: output lines as they come, and the final result. */
async function readLines(
  response: Response, onText: (text: string) => void
): Promise<IAlignResult | null> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let result: IAlignResult | null = null;
  const take = (line: string): void => {
    if (!line.trim()) {
      return;
    }
    const msg = JSON.parse(line) as { type: string; text?: string } & IAlignResult;
    if (msg.type === 'output') {
      onText(msg.text ?? '');
    } else if (msg.type === 'result' || (!msg.type && 'returncode' in msg)) {
      result = msg;
    } else if (msg.type === 'error') {
      throw new APIError(500, 'align_failed', (msg as { message?: string }).message ?? line);
    }
  };
  for (;;) {
    const { done, value } = await reader.read();
    buffer += decoder.decode(value ?? new Uint8Array(), { stream: !done });
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    lines.forEach(take);
    if (done) {
      take(buffer);
      return result;
    }
  }
}
