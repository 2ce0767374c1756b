import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { MAX_VERIFIED_ROUNDS, newSalt, parseCryptHash, sha512Crypt, tokenDigest, userPasswordHash, verifySha512Crypt } from '../../tasks/haproxy/auth.ts';

test('SHA-512 crypt matches the test vectors of its specification', () => {
  assert.equal(sha512Crypt('Hello world!', 'saltstring'), '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1');
  // The salt is cut at 16 characters, and custom rounds are written into the hash.
  assert.equal(
    sha512Crypt('Hello world!', 'saltstringsaltstring', 10000),
    '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.',
  );
});

test('SHA-512 crypt agrees with openssl passwd -6 and glibc on long passwords (more than one 64-byte block)', () => {
  // openssl passwd -6 -salt abc "$(printf 'x%.0s' $(seq 200))" and Python's crypt.crypt print this.
  assert.equal(sha512Crypt('x'.repeat(200), 'abc'), '$6$abc$9bIqFS3gcEah7ONB5aYjFczb7Fkaut01.W86FsbxH3PnKOS.T6QNYs7qzjm/MziNMzBBXqOaoSNUc4PtFnUj0.');
  // printf '%s' 's3cret pass' | openssl passwd -6 -stdin, on a Debian 12 host.
  assert.ok(verifySha512Crypt('s3cret pass', '$6$bHhZzGcAFqyNHApF$ZNc6k9QbV/t006XZJTSzFcAKq.nwF1/YbJaWWiaTXyrbeU8dncGQccOPdzMIV/.XFofsjtgWWRBGzlSQ86Hai/'));
});

test('a hash verifies only its own password, and anything that is not a $6$ hash verifies nothing', () => {
  const hash = sha512Crypt('correct horse battery', 'someSalt');
  assert.ok(verifySha512Crypt('correct horse battery', hash));
  assert.equal(verifySha512Crypt('correct horse batterY', hash), false);
  assert.equal(verifySha512Crypt('correct horse battery', hash.replace('$6$', '$5$')), false);
  assert.equal(verifySha512Crypt('x', ''), false);
  assert.deepEqual(parseCryptHash(hash), { salt: 'someSalt' });
  assert.deepEqual(parseCryptHash(sha512Crypt('p', 'salt', 6000)), { salt: 'salt', rounds: 6000 });
});

test('new salts are 16 characters of the crypt alphabet, and differ', () => {
  const salts = Array.from({ length: 20 }, () => newSalt());
  for (const salt of salts) assert.match(salt, /^[./0-9A-Za-z]{16}$/);
  assert.equal(new Set(salts).size, salts.length);
});

test('the hash on the host is kept while it verifies; a new password gets a new hash, the same for the rest of the run', () => {
  const current = sha512Crypt('old password here', 'kept');
  assert.deepEqual(userPasswordHash('b1', 'alice', 'old password here', current), { hash: current, reused: true });
  const changed = userPasswordHash('b1', 'alice', 'new password here', current);
  assert.equal(changed.reused, false);
  assert.ok(verifySha512Crypt('new password here', changed.hash));
  assert.equal(userPasswordHash('b1', 'alice', 'new password here', current).hash, changed.hash, 'the apply re-plans with the dry run salt');
  assert.notEqual(userPasswordHash('b2', 'alice', 'new password here', undefined).hash, changed.hash, 'each host gets its own salt');
});

test('a token is stored as the lowercase hex SHA-256 HAProxy computes with sha2(256),hex,lower', () => {
  const token = 'f'.repeat(40);
  assert.equal(tokenDigest(token), createHash('sha256').update(token).digest('hex'));
  assert.match(tokenDigest(token), /^[0-9a-f]{64}$/);
});

test('a hash on the host that asks for more rounds than provision hashes with is replaced, never checked', { timeout: 20_000 }, () => {
  // A correct hash, but 5001 rounds: past the ceiling it counts as changed (a new hash with the usual rounds).
  const heavier = sha512Crypt('alice password 1', 'saltsalt', MAX_VERIFIED_ROUNDS + 1);
  assert.equal(verifySha512Crypt('alice password 1', heavier), false);
  const replaced = userPasswordHash('b1', 'heavy', 'alice password 1', heavier);
  assert.equal(replaced.reused, false);
  assert.equal(parseCryptHash(replaced.hash)?.rounds, undefined, 'the new hash has the default rounds');
  // Planted by whoever controls the balancer: checking it would take the controller hours. It is refused at once.
  const planted = `$6$rounds=999999999$plantedsalt$${'a'.repeat(86)}`;
  assert.equal(verifySha512Crypt('alice password 1', planted), false);
  assert.equal(userPasswordHash('b1', 'planted', 'alice password 1', planted).reused, false);
  // At the ceiling, a correct hash is still kept.
  assert.ok(verifySha512Crypt('alice password 1', sha512Crypt('alice password 1', 'saltsalt', MAX_VERIFIED_ROUNDS)));
});
