/**
 * Files in a directory a service user owns (a node's config under /var/lib/hornet): a compromised node process that
 * swaps the temp file, or the file itself, for a link, in a tight loop, must never get root to chown, overwrite or read
 * another file. The races are run for real, against the engine's own scripts and through the CLI.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { writeFileScript } from '../../src/engine/write-script.ts';
import { installStandInNode } from '../../src/lab/node-service.ts';
import { pathStatesCommand } from '../../tasks/core/files.facts.ts';
import { startTestHosts, type TestHosts } from '../support/containers.ts';
import { parseRun, runCli } from '../support/cli.ts';

const CONFIG = '/var/lib/hornet/config.json';
const PLAYBOOK = 'test/fixtures/playbooks/node-pow.ts';
const SECRET = '/root/secret';

/**
 * As the node's user: for at most `seconds`, replace every temp file of the config's writes with a link to root's
 * secret, as fast as a shell can. Started in the background; the pid file lets the test stop it.
 */
function racer(seconds: number): string {
  const loop = `while :; do for f in ${CONFIG}.provision-*; do [ -e "$f" ] && ln -sf ${SECRET} "$f" 2>/dev/null; done; done`;
  return `setpriv --reuid=hornet --regid=hornet --clear-groups timeout ${seconds} sh -c '${loop}' >/dev/null 2>&1 & echo $! > /run/racer.pid`;
}

/** Stops the racer by its pid (timeout passes the signal on to the loop). */
const stopRacer = 'kill "$(cat /run/racer.pid)" 2>/dev/null; true';

/** Root's secret as `owner mode content`, read through docker exec. */
async function secretState(lab: TestHosts): Promise<string> {
  return (await lab.exec('node1', ['sh', '-c', `stat -c '%U %a' ${SECRET}; cat ${SECRET}`])).stdout;
}

describe('reads and writes in a directory a service user owns', () => {
  let lab: TestHosts;
  let inventory: string;
  before(async () => {
    lab = await startTestHosts([{ name: 'node1', group: 'nodes', cpusetCpus: '0' }]);
    await installStandInNode((command) => lab.exec('node1', command));
    // The node's files belong to its own user, as Hornet's package has them; root keeps a secret of its own.
    const setup = await lab.exec('node1', ['sh', '-c', `set -e
useradd --system --no-create-home hornet
chown -R hornet:hornet /var/lib/hornet && chmod 0750 /var/lib/hornet && chmod 0640 ${CONFIG}
printf 'root only\\n' > ${SECRET} && chmod 0600 ${SECRET}`]);
    assert.equal(setup.exitCode, 0, setup.stderr);
    const document = parse(readFileSync(lab.inventoryFile, 'utf8'));
    document.all.children.nodes.hosts.node1.node = { pow: { enabled: true } };
    inventory = lab.inventoryFile.replace(/inventory\.yaml$/, 'pow.yaml');
    writeFileSync(inventory, stringify(document));
  });
  after(async () => lab?.stop());

  test('a racing swap of the temp file for a link never reaches root\'s file: 150 writes of the engine\'s write step', async () => {
    const before = await secretState(lab);
    const script = writeFileScript({ kind: 'write-file', path: CONFIG, content: '', mode: '0640', owner: 'hornet', group: 'hornet' }).text;
    // Each write gets new content on stdin; whether it lands or the swap makes it fail, root's file must stay as it was.
    const writes = `printf '%s' "$1" > /run/write.sh
${racer(90)}
i=0; failed=0
while [ "$i" -lt 150 ]; do
  i=$((i + 1))
  printf '{"n": %d}\\n' "$i" | timeout 10 sh /run/write.sh 2>/dev/null || failed=$((failed + 1))
  # A swap can leave the racer's link in the config's place (the write, as hornet, renamed it there): start afresh.
  if [ -L ${CONFIG} ]; then rm -f ${CONFIG}; printf '{}\\n' > ${CONFIG}; chown hornet:hornet ${CONFIG}; fi
done
${stopRacer}
echo "$failed"`;
    const result = await lab.exec('node1', ['timeout', '120', 'sh', '-c', writes, 'writes', script]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(await secretState(lab), before, 'root\'s secret keeps its owner, mode and content');
    assert.equal(before, 'root 600\nroot only\n');
    // The swaps made some writes fail (they ran as hornet, who may not write root's file); without a racer, one lands.
    const clean = await lab.exec('node1', ['sh', '-c', `rm -f ${CONFIG}.provision-*; printf '{}\\n' | sh /run/write.sh && stat -c '%U:%G %a' ${CONFIG}`]);
    console.error(`${result.stdout.trim()} of 150 writes failed under the racer`);
    assert.equal(clean.stdout, 'hornet:hornet 640\n', clean.stderr);
  });

  test('a racing swap of the config for a link to a root file never has root read that file: 300 reads of the files fact', async () => {
    // Root's file is JSON of the config's very size, so that a read through the link would pass for the config.
    const setup = `printf '{"pow": false, "n": 12345}\\n' > /run/real.json && chown hornet:hornet /run/real.json
printf '{"key": "root-only-value"}\\n' > /root/key.json && chmod 600 /root/key.json
cp /run/real.json ${CONFIG} && chown hornet:hornet ${CONFIG} && chmod 0640 ${CONFIG}
[ "$(stat -c %s /root/key.json)" = "$(stat -c %s ${CONFIG})" ]`;
    assert.equal((await lab.exec('node1', ['sh', '-c', setup])).exitCode, 0);
    const swap = `cd /var/lib/hornet; while :; do ln -sf /root/key.json swap && mv -f swap config.json; cp /run/real.json swap2 && mv -f swap2 config.json; done`;
    const reads = `printf '%s' "$1" > /run/read.sh
setpriv --reuid=hornet --regid=hornet --clear-groups timeout 60 sh -c '${swap}' >/dev/null 2>&1 & racer=$!
i=0; leaked=0
while [ "$i" -lt 300 ]; do i=$((i + 1)); sh /run/read.sh 2>/dev/null | tail -n 1 | base64 -d 2>/dev/null | grep -q root-only-value && leaked=$((leaked + 1)); done
kill "$racer" 2>/dev/null; wait
echo "$leaked"`;
    const result = await lab.exec('node1', ['timeout', '120', 'sh', '-c', reads, 'reads', pathStatesCommand(['/etc/hostname', CONFIG]).text]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stdout.trim(), '0', 'reads that returned root\'s file');
    await lab.exec('node1', ['sh', '-c', `rm -f /var/lib/hornet/swap /var/lib/hornet/swap2; cp /run/real.json ${CONFIG}; chown hornet:hornet ${CONFIG}; chmod 0640 ${CONFIG}`]);
  });

  test('through the CLI: the node user forces a write by editing its PoW setting, and races it; the run stays in its lane', async () => {
    // The node's user turns PoW off in its own file, so that the next run writes it.
    await lab.exec('node1', ['sh', '-c', `printf '{"restAPI": {"pow": {"enabled": false, "workerCount": 1}}}\\n' > ${CONFIG}; chown hornet:hornet ${CONFIG}; chmod 0640 ${CONFIG}`]);
    const before = await secretState(lab);
    await lab.exec('node1', ['sh', '-c', racer(60)]);
    try {
      for (let attempt = 0; attempt < 3; attempt++) await runCli(['apply', inventory, '--yes', '--playbook', PLAYBOOK]);
    } finally {
      await lab.exec('node1', ['sh', '-c', stopRacer]);
    }
    assert.equal(await secretState(lab), before);
    await lab.exec('node1', ['sh', '-c', `rm -f ${CONFIG}.provision-*; [ -L ${CONFIG} ] && rm -f ${CONFIG}; [ -e ${CONFIG} ] || { printf '{"restAPI": {"pow": {"enabled": false}}}\\n' > ${CONFIG}; chown hornet:hornet ${CONFIG}; }; true`]);
    // Undisturbed, the write lands as hornet's, mode kept, and a second run changes nothing.
    const applied = await runCli(['apply', inventory, '--yes', '--json', '--playbook', PLAYBOOK]);
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    const owner = await lab.exec('node1', ['sh', '-c', `stat -c '%U:%G' ${CONFIG}; cat ${CONFIG}`]);
    assert.match(owner.stdout, /^hornet:hornet\n[\s\S]*"enabled": true/);
    const again = parseRun(await runCli(['apply', inventory, '--yes', '--json', '--playbook', PLAYBOOK]));
    assert.equal(again.summary.changed, 0);
  });

  test('a link planted where the config was is refused, in the dry run and the apply, and what it leads to is untouched', async () => {
    await lab.exec('node1', ['sh', '-c', `setpriv --reuid=hornet --regid=hornet --clear-groups sh -c 'cp ${CONFIG} /var/lib/hornet/real.json; ln -sf /var/lib/hornet/real.json ${CONFIG}.new && mv -f ${CONFIG}.new ${CONFIG}'`]);
    const dry = await runCli(['apply', inventory, '--dry-run', '--playbook', PLAYBOOK]);
    assert.equal(dry.code, 1, dry.stdout);
    assert.match(dry.stdout, /the node config \/var\/lib\/hornet\/config\.json is a link, not a file/);
    const before = await secretState(lab);
    const applied = await runCli(['apply', inventory, '--yes', '--playbook', PLAYBOOK]);
    assert.equal(applied.code, 1);
    assert.equal(await secretState(lab), before);
  });
});
