import t from 'tap';
import { crossSiteReason, isCrossSite, isSameOrigin, needsSameOriginCheck } from '../../../src/pipeline/authorize/csrf.js';
import type { RequestFacts } from '../../../src/pipeline/types.js';

function facts(headers: Record<string, string | string[]>): RequestFacts {
  return { method: 'POST', scheme: 'https', authority: 'app.example.com', hostname: 'app.example.com', path: '/', query: '', headers, rawHeaders: [], peer: '10.0.0.1', peerTrusted: false, clientIp: '10.0.0.1' };
}
const origins = ['https://app.example.com', 'https://other.example.com:8443'];

t.test('safe methods are not checked; every other method is (WebDAV included)', async (t) => {
  for (const m of ['GET', 'HEAD', 'OPTIONS', 'TRACE']) t.equal(needsSameOriginCheck(m), false, m);
  for (const m of ['POST', 'PUT', 'PATCH', 'DELETE', 'PROPFIND', 'MKCOL', 'get']) t.equal(needsSameOriginCheck(m), true, m);
});

t.test('Sec-Fetch-Site decides when present', async (t) => {
  t.equal(isSameOrigin(facts({ 'sec-fetch-site': 'same-origin' }), origins), true);
  t.equal(isSameOrigin(facts({ 'sec-fetch-site': 'none' }), origins), true, 'typed URL or bookmark');
  t.equal(isSameOrigin(facts({ 'sec-fetch-site': 'same-site' }), origins), false, 'a sibling sub-domain is another origin');
  t.equal(isSameOrigin(facts({ 'sec-fetch-site': 'cross-site' }), origins), false);
  t.equal(isSameOrigin(facts({ 'sec-fetch-site': 'cross-site', origin: 'https://app.example.com' }), origins), false, 'Origin cannot overrule it');
  t.equal(isSameOrigin(facts({ 'sec-fetch-site': ['same-origin', 'same-origin'] }), origins), false, 'repeated header: not provable');
});

t.test('without Sec-Fetch-Site, Origin must be a publicUrl origin', async (t) => {
  t.equal(isSameOrigin(facts({ origin: 'https://app.example.com' }), origins), true);
  t.equal(isSameOrigin(facts({ origin: 'https://APP.example.com' }), origins), true, 'case-insensitive');
  t.equal(isSameOrigin(facts({ origin: 'https://other.example.com:8443' }), origins), true);
  t.equal(isSameOrigin(facts({ origin: 'https://other.example.com' }), origins), false, 'port matters');
  t.equal(isSameOrigin(facts({ origin: 'http://app.example.com' }), origins), false, 'scheme matters');
  t.equal(isSameOrigin(facts({ origin: 'https://app.example.com.evil.net' }), origins), false);
  t.equal(isSameOrigin(facts({ origin: 'null' }), origins), false, 'sandboxed or privacy-redirected');
  t.equal(isSameOrigin(facts({}), origins), false, 'neither header: refused');
  t.equal(isSameOrigin(facts({ origin: 'https://app.example.com' }), []), true, 'no publicUrl: the origin the request was sent to');
  t.equal(isSameOrigin(facts({ origin: 'https://evil.example' }), []), false);
});

t.test('isCrossSite: only explicit cross-site signals (forms carry their own token)', async (t) => {
  t.equal(isCrossSite(facts({}), origins), false);
  t.equal(isCrossSite(facts({ 'sec-fetch-site': 'same-origin' }), origins), false);
  t.equal(isCrossSite(facts({ 'sec-fetch-site': 'none' }), origins), false);
  t.equal(isCrossSite(facts({ 'sec-fetch-site': 'same-site' }), origins), true);
  t.equal(isCrossSite(facts({ 'sec-fetch-site': 'cross-site' }), origins), true);
  t.equal(isCrossSite(facts({ origin: 'https://app.example.com' }), origins), false);
  t.equal(isCrossSite(facts({ origin: 'https://evil.example' }), origins), true);
  t.equal(isCrossSite(facts({ origin: 'null' }), origins), true);
  t.equal(isCrossSite(facts({ origin: 'https://app.example.com' }), []), false);
});

t.test('crossSiteReason names why (the sign-in form logs it)', async (t) => {
  t.equal(crossSiteReason(facts({ 'sec-fetch-site': 'cross-site' }), origins), 'csrf-cross-site');
  t.equal(crossSiteReason(facts({ 'sec-fetch-site': ['same-origin', 'cross-site'] }), origins), 'csrf-cross-site', 'a repeated header is not trusted');
  t.equal(crossSiteReason(facts({ origin: 'https://evil.example' }), origins), 'csrf-foreign-origin');
  t.equal(crossSiteReason(facts({ origin: ['https://app.example.com', 'https://evil.example'] }), origins), 'csrf-foreign-origin');
  t.equal(crossSiteReason(facts({ 'sec-fetch-site': 'same-origin', origin: 'https://app.example.com' }), origins), undefined);
});
