import type { ApiRoute } from './route-table';

/**
 * The admin API's schemas, run once right after start on an empty input.
 *
 * zod compiles an object schema's parser the first time it parses with it, so
 * the first call of a route paid for its params, body and answer schemas
 * (the first accept after start: some 5 ms of the admin route's part, the
 * peer view the largest). Here every route's schemas parse `{}` once, one
 * route per turn of the event loop so that a request arriving meanwhile
 * waits for one route at most. Nothing is read or written, no request is
 * made and nothing is logged: an empty input is refused by most schemas,
 * which is all this is for (their compiled parser is kept either way).
 */
export function warmUpAdminSchemas(routes: readonly ApiRoute[]): Promise<number> {
  return new Promise((resolve) => {
    let i = 0;
    const step = () => {
      if (i >= routes.length) {
        resolve(i);
        return;
      }
      const r = routes[i++];
      for (const schema of [r.params, r.query, r.body, r.success.schema]) schema?.safeParse({});
      setImmediate(step);
    };
    setImmediate(step);
  });
}
