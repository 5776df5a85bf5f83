/**
 * The leader's Bot API client: asks, right before each request (an album's, a fallback's, a probe's),
 * whether this instance still leads. One whose lease ran out while it awaited something (a frozen
 * process, a database gone silent) sends nothing more.
 */
import type { Api } from 'grammy';
import { FencedError } from '../store/sql-database.js';

/**
 * Installs the check on `api` (a grammY transformer) and returns it. A refused request throws
 * {@link FencedError} with the term's `generation`: the dispatcher stops for good on it and the
 * leadership steps down, so a new term starts a new dispatcher (with generation 0, a lease renewed
 * just after would have left a leader whose dispatcher had stopped).
 */
export function leaderOnlyApi(api: Api, isLeader: () => boolean, generation: number): Api {
  api.config.use((previous, method, payload, signal) => {
    if (!isLeader()) throw new FencedError(generation);
    return previous(method, payload, signal);
  });
  return api;
}
