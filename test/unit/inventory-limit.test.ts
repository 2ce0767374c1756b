import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { InputError } from '../../src/errors.ts';
import { loadInventory } from '../../src/inventory/load.ts';
import { selectHosts, splitPattern } from '../../src/inventory/limit.ts';
import type { Inventory } from '../../src/inventory/types.ts';
import { FIXTURES, testVars } from './inventory-helpers.ts';

describe('selectHosts (--limit)', () => {
  let inventory: Inventory<unknown>;
  before(async () => {
    inventory = await loadInventory(join(FIXTURES, 'limit.yaml'), { vars: testVars });
  });
  const names = (pattern: string | undefined) => selectHosts(inventory, pattern).map((host) => host.name);
  const ALL = ['bastion', 'web1.example.com', 'web2.example.com', 'web3.example.com', 'db1.example.com', 'db2.example.com'];

  test('no pattern or an empty one selects every host', () => {
    assert.deepEqual(names(undefined), ALL);
    assert.deepEqual(names(''), ALL);
    assert.deepEqual(names('all'), ALL);
  });

  test('a host name', () => {
    assert.deepEqual(names('db2.example.com'), ['db2.example.com']);
  });

  test('a group name', () => {
    assert.deepEqual(names('db'), ['db1.example.com', 'db2.example.com']);
    assert.deepEqual(names('ungrouped'), ['bastion']);
  });

  test('globs over host and group names', () => {
    assert.deepEqual(names('web[12]*'), ['web1.example.com', 'web2.example.com']);
    assert.deepEqual(names('*.example.com'), ALL.slice(1));
    assert.deepEqual(names('d?'), ['db1.example.com', 'db2.example.com']); // the group db
  });

  test('a ~regex, anchored at the start like Ansible', () => {
    assert.deepEqual(names('~web[23]'), ['web2.example.com', 'web3.example.com']);
    assert.throws(() => names('~example'), InputError);
  });

  test('a comma or colon list is a union, in inventory order', () => {
    assert.deepEqual(names('db2.example.com,web'), ['web1.example.com', 'web2.example.com', 'web3.example.com', 'db2.example.com']);
    assert.deepEqual(names('bastion:db1.example.com'), ['bastion', 'db1.example.com']);
  });

  test('!x excludes', () => {
    assert.deepEqual(names('web,!web2.example.com'), ['web1.example.com', 'web3.example.com']);
    assert.deepEqual(names('!prod'), ['bastion', 'web2.example.com', 'web3.example.com', 'db2.example.com']);
  });

  test('&x intersects, before exclusions apply', () => {
    assert.deepEqual(names('web,db,&prod'), ['web1.example.com', 'db1.example.com']);
    assert.deepEqual(names('web:&prod:!db'), ['web1.example.com']);
    assert.deepEqual(names('&prod,!web'), ['db1.example.com']);
  });

  test('a name that matches nothing is an error naming it', () => {
    assert.throws(() => names('web,nosuchhost'), (error: unknown) => error instanceof InputError && error.message === "--limit matches no host: 'nosuchhost'");
  });

  test('a pattern that selects nothing is an error', () => {
    assert.throws(() => names('db,&web'), (error: unknown) => error instanceof InputError && /selects no host/.test(error.message));
  });

  test('IPv6 addresses are not split on colons', () => {
    assert.deepEqual(splitPattern('2001:db8::1'), ['2001:db8::1']);
    assert.deepEqual(splitPattern('a:b, c'), ['a:b', 'c']);
    assert.deepEqual(splitPattern('a:!b'), ['a', '!b']);
  });
});
