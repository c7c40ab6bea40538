import t from 'tap';
import { isLoopbackHost } from '../../src/loopback.js';

t.test('loopback hosts, as URL.hostname gives them', async (t) => {
  for (const h of ['localhost', '127.0.0.1', '127.8.9.10', '[::1]', '::1']) t.equal(isLoopbackHost(h), true, h);
  for (const h of ['localhost.example.com', '128.0.0.1', '10.0.0.1', '[::2]', '[::ffff:127.0.0.1]', 'example.com', '0.0.0.0']) t.equal(isLoopbackHost(h), false, h);
});
