/**
 * The admin API's schemas run once at start (src/http/admin/warm-up.ts): every
 * schema of every route parses once, one route per turn of the event loop, so
 * a request arriving meanwhile waits for one route at most.
 */
import { z } from 'zod';
import { defineRoute, type ApiRoute } from '../../src/http/admin/route-table';
import { warmUpAdminSchemas } from '../../src/http/admin/warm-up';

function route(path: string, seen: string[]): ApiRoute {
  const watched = (what: string) => {
    const schema = z.object({ x: z.string() });
    const parse = schema.safeParse.bind(schema);
    schema.safeParse = (input: unknown) => {
      seen.push(`${path} ${what}`);
      return parse(input);
    };
    return schema;
  };
  return defineRoute({
    method: 'post',
    path,
    summary: path,
    tag: 'peers',
    params: watched('params'),
    query: watched('query'),
    body: watched('body'),
    success: { status: 200, schema: watched('answer'), description: path },
    handle: () => Promise.resolve({ body: { x: '' } }),
  });
}

describe('admin schema warm-up', () => {
  it("parses each route's schemas once, one route per turn, yielding to other work in between", async () => {
    const seen: string[] = [];
    const routes = [route('/a', seen), route('/b', seen)];
    const warmed = warmUpAdminSchemas(routes);
    // Other work queued now (a request) gets its turn after the first route, before the second.
    setImmediate(() => seen.push('other work'));
    expect(await warmed).toBe(2);
    expect(seen).toEqual([
      '/a params',
      '/a query',
      '/a body',
      '/a answer',
      'other work',
      '/b params',
      '/b query',
      '/b body',
      '/b answer',
    ]);
  });
});
