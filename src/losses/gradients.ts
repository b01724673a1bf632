/** Kept for the losses' own imports: the registration lives with the runtime. */
export { ensureGradients } from '../runtime/gradients.js';
