/**
 * `node.*`: which IOTA node software runs on a node host, where its config file is, and the remote proof-of-work
 * policy. Every key has a documented default; `config_path` and `service` default per flavor.
 */
import { z } from 'zod';
import { defineNamespace, type VarsOf } from '../../src/engine/role.ts';
import { yamlBoolean } from '../../src/inventory/connection.ts';

/** The node software a host runs; it decides the config format, its keys and the API routes. */
export const NODE_FLAVORS = ['hornet-2', 'hornet-1', 'bee'] as const;

/** One of NODE_FLAVORS. */
export type NodeFlavor = (typeof NODE_FLAVORS)[number];

/** What differs between flavors, apart from the config keys (tasks/node/config.ts has those). */
export interface FlavorLayout {
  /** Where the node's packaging or docs put the config file. */
  configPath: string;
  /** The systemd unit that runs the node. */
  service: string;
  /** The route that answers node info, with the `features` list. */
  infoRoute: string;
  /** The route that accepts a new block (Hornet 2) or message (Chrysalis nodes). */
  submitRoute: string;
}

/**
 * Per flavor. Hornet's Debian package keeps its config in /var/lib/hornet/config.json and runs `hornet.service`.
 * Bee has no package: it reads `config.toml` from its working directory, so the default follows Hornet's layout.
 */
export const FLAVOR_LAYOUT: Record<NodeFlavor, FlavorLayout> = {
  'hornet-2': { configPath: '/var/lib/hornet/config.json', service: 'hornet', infoRoute: '/api/core/v2/info', submitRoute: '/api/core/v2/blocks' },
  'hornet-1': { configPath: '/var/lib/hornet/config.json', service: 'hornet', infoRoute: '/api/v1/info', submitRoute: '/api/v1/messages' },
  bee: { configPath: '/var/lib/bee/config.toml', service: 'bee', infoRoute: '/api/v1/info', submitRoute: '/api/v1/messages' },
};

const PORT_HINT = 'expected a port number from 1 to 65535';
const port = z.number({ error: PORT_HINT }).int(PORT_HINT).min(1, PORT_HINT).max(65535, PORT_HINT);
const count = (what: string, min: number) =>
  z.number({ error: `expected ${what}` }).int(`expected ${what}`).min(min, `expected ${what}`);

/** `node.pow.*`: when the node does proof of work for its API clients, and with how many workers. */
export const nodePowVars = z
  .object({
    enabled: yamlBoolean.optional().describe('Force remote PoW on (true) or off (false). Default: decided from the usable CPUs and `min_cpus`.'),
    workers: count('a whole number of workers, at least 1', 1).optional().describe('Force the worker count. Default: usable CPUs − `reserve_cpus`, at least 1.'),
    min_cpus: count('a whole number of CPUs, at least 1', 1).default(2).describe('Enable remote PoW only when the node can use at least this many CPUs. Default 2.'),
    reserve_cpus: count('a whole number of CPUs, 0 or more', 0).default(1).describe("CPUs left to the node's other work when counting workers. Default 1."),
  })
  .strict();

/** `node.ports.*`: the node's peer-to-peer ports, which the firewall opens. */
export const nodePortVars = z
  .object({
    gossip: port.default(15600).describe('Gossip between peers, TCP. Default 15600.'),
    autopeering: port.default(14626).describe('Autopeering (peer discovery), UDP. Default 14626.'),
  })
  .strict();

const absolutePath = z.string({ error: 'expected an absolute path' }).regex(/^\/\S*[^/\s]$/, 'expected an absolute path to a file, e.g. /var/lib/hornet/config.json');
// Never a leading dash: the name is an operand of systemctl, which would take it for an option.
const unitName = z.string({ error: 'expected a systemd unit name' }).regex(/^[A-Za-z0-9:_.@][A-Za-z0-9:_.@-]*$/, 'expected a systemd unit name such as hornet (letters, digits, : _ . @ -; not starting with -)');

/** The `node` namespace; `config_path` and `service` come out filled in from the flavor when not given. */
export const nodeVars = z
  .object({
    flavor: z.enum(NODE_FLAVORS, { error: `expected one of ${NODE_FLAVORS.join(', ')}` }).default('hornet-2').describe('`hornet-2` (Stardust), `hornet-1` (Chrysalis) or `bee`. Default hornet-2.'),
    config_path: absolutePath.optional().describe("The node's config file. Default: /var/lib/hornet/config.json (Hornet), /var/lib/bee/config.toml (Bee)."),
    service: unitName.optional().describe("The node's systemd unit. Default: hornet or bee."),
    api_port: port.default(14265).describe("The node's REST API port, on which the node answers locally. Default 14265."),
    ports: nodePortVars.prefault({}),
    pow: nodePowVars.prefault({}),
  })
  .strict()
  .transform((vars) => ({
    ...vars,
    config_path: vars.config_path ?? FLAVOR_LAYOUT[vars.flavor].configPath,
    service: vars.service ?? FLAVOR_LAYOUT[vars.flavor].service,
  }))
  .prefault({});

/** The validated `node` namespace. */
export type NodeVars = z.output<typeof nodeVars>;

/** The validated `node.pow` namespace. */
export type NodePowVars = NodeVars['pow'];

/** The `node` namespace: the node software, its config file and the remote-PoW policy. */
export const nodeNamespace = defineNamespace('node', nodeVars);

/** The host variables the node role reads. */
export type NodeHostVars = VarsOf<typeof nodeNamespace>;
