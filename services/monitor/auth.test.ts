import { describe, expect, it } from 'vitest';
import { isAuthorized, presentedSecret } from './auth.ts';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('monitor authorization', () => {
  it('accepts the token as a bearer token or as the password of basic credentials', () => {
    expect(isAuthorized('Bearer s3cret-token', 's3cret-token')).toBe(true);
    expect(isAuthorized('bearer s3cret-token', 's3cret-token')).toBe(true);
    expect(isAuthorized(basic('prometheus', 's3cret-token'), 's3cret-token')).toBe(true);
    expect(isAuthorized(basic('', 's3cret-token'), 's3cret-token')).toBe(true);
    // A password may hold a colon: only the first one separates the user.
    expect(isAuthorized(basic('me', 'a:b'), 'a:b')).toBe(true);
  });

  it('refuses a missing header, another scheme, another token or a token given as the user name', () => {
    expect(isAuthorized(undefined, 's3cret-token')).toBe(false);
    expect(isAuthorized('', 's3cret-token')).toBe(false);
    expect(isAuthorized('Bearer s3cret-tokem', 's3cret-token')).toBe(false);
    expect(isAuthorized('Bearer s3cret-token-and-more', 's3cret-token')).toBe(false);
    expect(isAuthorized('Token s3cret-token', 's3cret-token')).toBe(false);
    expect(isAuthorized(basic('s3cret-token', 'wrong'), 's3cret-token')).toBe(false);
    expect(isAuthorized(`Basic ${Buffer.from('no-colon').toString('base64')}`, 'no-colon')).toBe(false);
    expect(isAuthorized('Bearer', 's3cret-token')).toBe(false);
  });

  it('reads the secret of each scheme', () => {
    expect(presentedSecret('Bearer abc')).toBe('abc');
    expect(presentedSecret(basic('u', 'p w'))).toBe('p w');
    expect(presentedSecret('Digest x')).toBeUndefined();
  });
});
