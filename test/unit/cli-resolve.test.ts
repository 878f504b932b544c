import { pick } from '../../src/cli/resolve';
import { CliError } from '../../src/cli/exit-codes';

/** How CLI commands find a thing by id or name (src/cli/resolve.ts). */

interface Req {
  id: string;
  name: string;
  state: 'pending' | 'declined';
}

const reqs: Req[] = [
  { id: 'r1', name: 'berlin', state: 'declined' },
  { id: 'r2', name: 'berlin', state: 'pending' },
  { id: 'r3', name: 'hamburg', state: 'pending' },
  { id: 'r4', name: 'hamburg', state: 'pending' },
  { id: 'hamburg', name: 'oddly-named', state: 'declined' },
];
const notFound = { code: 'FED_UNKNOWN_REQUEST' as const, what: 'request', list: 'requests list' };
const find = (ref: string) =>
  pick(
    reqs,
    ref,
    (r) => [r.name],
    notFound,
    (r) => r.state === 'pending',
  );
const failure = (ref: string): CliError => {
  try {
    find(ref);
  } catch (e) {
    if (e instanceof CliError) return e;
    throw e;
  }
  throw new Error(`${ref} was found`);
};

describe('pick', () => {
  it('takes the id first, then the one name, then the preferred one of several', () => {
    expect(find('r1').id).toBe('r1');
    expect(find('hamburg').id).toBe('hamburg'); // an id wins over two names
    expect(find('berlin').id).toBe('r2'); // the pending one of a pending and a declined
  });

  it('refuses a name two preferred things share, listing their ids', () => {
    const twoPending = [...reqs.filter((r) => r.id !== 'hamburg')];
    let error: unknown = null;
    try {
      pick(
        twoPending,
        'hamburg',
        (r) => [r.name],
        notFound,
        (r) => r.state === 'pending',
      );
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CliError);
    expect(error).toMatchObject({
      code: 'CLI_AMBIGUOUS_NAME',
      exitCode: 1,
      message: "CLI_AMBIGUOUS_NAME: 2 requests are named 'hamburg'; give the id: r3, r4",
    });
  });

  it('names the catalogue code and the list command when nothing matches', () => {
    expect(failure('munich')).toMatchObject({
      code: 'FED_UNKNOWN_REQUEST',
      exitCode: 1,
      message: `FED_UNKNOWN_REQUEST: no request with id or name 'munich' (see "uuru-fed requests list")`,
    });
  });
});
