/** The runtime's tfjs plus the gradient registrations training needs (see gradients.ts). */
import './gradients.js';
export { tf } from '../runtime/backend.js';
