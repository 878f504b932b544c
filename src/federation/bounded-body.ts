/**
 * Reading a partner's answer without trusting its size: a hostile or broken
 * partner could otherwise stream an endless body into our memory. The
 * descriptor fetch, the signed v2 client and the v1 transport all read
 * through here.
 */

/** A partner's answers are small JSON documents; anything larger is not read. */
export const MAX_PARTNER_ANSWER_BYTES = 1024 * 1024;

export class ResponseTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`the response is larger than ${limit} bytes`);
    this.name = 'ResponseTooLarge';
  }
}

/** The body as UTF-8 text, or ResponseTooLarge as soon as it passes `limit` bytes (the rest is not read). */
export async function readLimited(res: Response, limit: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await res.body?.cancel();
    throw new ResponseTooLarge(limit);
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new ResponseTooLarge(limit);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks).toString('utf8');
}
