// Test helpers: hand-made JWS tokens (any header, any bytes) signed with node:crypto, so
// malformed and hostile tokens can be built exactly; jose signs the ordinary ones.
import { constants, createHmac, KeyObject, sign } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import type { RequestFacts } from '../../../src/pipeline/types.js';

export const b64u = (data: string | Buffer): string => Buffer.from(data).toString('base64url');
export const json = (value: unknown): string => b64u(JSON.stringify(value));

const HASH: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };

/** The JOSE signature of `input` with `alg` (node:crypto), to build tokens by hand. */
export function signInput(alg: string, key: KeyObject | Buffer, input: string): Buffer {
  const hash = HASH[alg.slice(2)];
  const data = Buffer.from(input, 'latin1');
  if (alg.startsWith('HS')) return createHmac(hash!, key).update(data).digest();
  if (alg.startsWith('RS')) return sign(hash!, data, key as KeyObject);
  if (alg.startsWith('PS')) {
    return sign(hash!, data, { key: key as KeyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  }
  if (alg.startsWith('ES')) return sign(hash!, data, { key: key as KeyObject, dsaEncoding: 'ieee-p1363' });
  return sign(null, data, key as KeyObject);
}

/**
 * A compact JWS. `header`/`payload` are objects (JSON-encoded) or raw strings used as the
 * exact JSON text (duplicate members, odd spacing); the signature covers what is sent.
 */
export function handToken(alg: string, key: KeyObject | Buffer, header: object | string, payload: object | string): string {
  const h = typeof header === 'string' ? b64u(header) : json(header);
  const p = typeof payload === 'string' ? b64u(payload) : json(payload);
  const input = `${h}.${p}`;
  return `${input}.${b64u(signInput(alg, key, input))}`;
}

export interface TestKey {
  alg: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  jwk: JWK;
}

export async function makeKey(alg: string, kid?: string, opts: { crv?: string; modulusLength?: number } = {}): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...opts });
  const jwk = await exportJWK(publicKey);
  if (kid !== undefined) jwk.kid = kid;
  // jose hands out WebCrypto CryptoKeys; node:crypto's KeyObjects are what gatehouse uses.
  return { alg, privateKey: KeyObject.from(privateKey), publicKey: KeyObject.from(publicKey), jwk };
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** A jose-signed JWT with the given claims, exp 5 min ahead unless given. */
export async function joseToken(
  key: { alg: string; privateKey: KeyObject | Uint8Array; kid?: string },
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  const jwt = new SignJWT({ exp: nowSeconds() + 300, ...claims }).setProtectedHeader({
    alg: key.alg,
    ...(key.kid === undefined ? {} : { kid: key.kid }),
    ...header,
  });
  return jwt.sign(key.privateKey);
}

export function facts(authorization?: string | string[]): RequestFacts {
  return {
    method: 'GET',
    scheme: 'https',
    authority: 'api.example.com',
    hostname: 'api.example.com',
    path: '/',
    query: '',
    headers: authorization === undefined ? {} : { authorization },
    rawHeaders: [],
    peer: '203.0.113.5',
    peerTrusted: false,
    clientIp: '203.0.113.5',
  };
}

export const bearer = (token: string): RequestFacts => facts(`Bearer ${token}`);
