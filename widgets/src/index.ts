import type { AnyModel, RenderProps } from '@anywidget/types';

import { renderConsole, ConsoleModel } from './console';
import { renderCreateVM, CreateVMModel } from './create_vm';
import { renderEnvPicker, EnvPickerModel } from './env_picker';
import { renderSerial, SerialModel } from './serial';
import { renderVMManager, VMManagerModel } from './vm_manager';

/**
 * One bundle for every kernelswitch widget: the Python class names its view
 * in the `_view` trait and `render` dispatches on it.
 */
type Renderer = (props: RenderProps<any>) => void | (() => void);

const views: Record<string, Renderer> = {
  'env-picker': (props) => renderEnvPicker(props as RenderProps<EnvPickerModel>),
  console: (props) => renderConsole(props as RenderProps<ConsoleModel>),
  'vm-manager': (props) => renderVMManager(props as RenderProps<VMManagerModel>),
  'create-vm': (props) => renderCreateVM(props as RenderProps<CreateVMModel>),
  serial: (props) => renderSerial(props as RenderProps<SerialModel>)
};

function render(props: RenderProps<{ _view: string }>): void | (() => void) {
  const name = (props.model as AnyModel<{ _view: string }>).get('_view');
  const view = views[name];
  if (!view) {
    props.el.textContent = `kernelswitch: unknown widget view "${name}"; rebuild the front end.`;
    return;
  }
  return view(props);
}

export default { render };
