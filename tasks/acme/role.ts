/**
 * The acme role: the balancer's certificate from an ACME CA, got and renewed on the host. A role of its own, after
 * the balancer's: the CA's challenge reaches the client through HAProxy's port 80, so HAProxy must already run the
 * config that routes it (the balancer role's reload handler runs at the end of its play, before this one starts);
 * and a CA that refuses or does not answer fails this role's task alone, after every balancer task has run.
 */
import { defineRole } from '../../src/engine/role.ts';
import { haproxyNamespace } from '../haproxy/vars.ts';
import { acmeTasks } from './tasks.ts';

/** The balancer's trusted certificate (haproxy.tls.acme): certbot, its timer, and the certificate when it is due. */
export const acmeRole = defineRole({
  name: 'acme',
  title: 'A trusted certificate (ACME)',
  summary:
    'With haproxy.tls.acme: a certificate from Let’s Encrypt (or another ACME CA) for haproxy.domain, proven through HAProxy’s port 80 (HTTP-01), got and renewed on the balancer by certbot from a timer twice a day, and installed for HAProxy with a reload.',
  hosts: 'balancers',
  uses: [haproxyNamespace],
  tags: ['haproxy', 'tls'],
  tasks: (host) => acmeTasks(host),
});
