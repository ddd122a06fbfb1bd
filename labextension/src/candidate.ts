/**
 * Selecting an env starts its kernel in the background
 * (`POST kernels/{id}/candidate`), so Apply only swaps it in (issue 20).
 * Best effort: a target that cannot run says so in the comparison and on
 * Apply, not here. Plain DOM-free code: the sidebar and the EnvPicker both
 * pass their own `requestAPI`.
 */
export type Request = (endPoint: string, init: RequestInit) => Promise<unknown>;

/** Pre-start `target` for this kernel (replacing what was pre-started for another). */
export function prestart(request: Request, kernelId: string, target: string): void {
  request(`kernels/${kernelId}/candidate`, {
    method: 'POST', body: JSON.stringify({ target })
  }).catch(() => undefined);
}
