import { envPlugin } from './panel_plugin';
import { vmPlugin } from './vm_plugin';

export { requestAPI, APIError } from './api';
export type { IEnvList, IEnvRecord } from './api';

export default [envPlugin, vmPlugin];
