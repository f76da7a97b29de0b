/**
 * What the `causeway` CLI needs that the database cannot hold: the projections' code. With it
 * `causeway projections rebuild order-read-model --config examples/orders/causeway.config.ts`
 * replays the log into the order read model (add `--blue-green` after bumping its version).
 */
import { orderReadModel } from './read-model.js';

export default [orderReadModel];
