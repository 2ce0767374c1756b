/**
 * The files the ACME client runs from on the balancer (pure): the settings file, the script that gets or renews the
 * certificate with certbot, the script that installs it for HAProxy, and the systemd service and timer that run it.
 * The scripts are the same on every host; what differs (names, directory, e-mail, window) is in the settings file.
 */
import { plainConfigValues } from '../../src/engine/config-values.ts';
import { HAPROXY_FILES } from '../haproxy/render.ts';

/** Where the ACME pieces live on the balancer. */
export const ACME_FILES = {
  /** What to ask the CA for, as `KEY=value` lines (read by the script, never run). */
  settingsDir: '/etc/provision',
  settings: '/etc/provision/acme.conf',
  /** The extra CA of `ca_file`. */
  extraCa: '/etc/provision/acme-ca.pem',
  script: '/usr/local/sbin/provision-acme',
  deployScript: '/usr/local/sbin/provision-acme-deploy',
  service: 'provision-acme.service',
  timer: 'provision-acme.timer',
  /** The script's own records: the account's e-mail as last registered, and the last failure's reason. */
  stateDir: '/var/lib/provision/acme',
  account: '/var/lib/provision/acme/account',
  lastError: '/var/lib/provision/acme/last-error',
  /** certbot's files for the certificate (its "lineage"), under one fixed name whatever the domains are. */
  renewalConf: '/etc/letsencrypt/renewal/haproxy.conf',
  live: '/etc/letsencrypt/live/haproxy',
  accounts: '/etc/letsencrypt/accounts',
} as const;

/** certbot's name for the certificate: the same whatever the domains, so a new name list replaces it in place. */
export const CERT_NAME = 'haproxy';

/** The loopback port certbot answers HTTP-01 challenges on while it runs; HAProxy's :80 sends the CA's requests there. */
export const ACME_CHALLENGE_PORT = 8402;

/** The packages of the ACME client: certbot (Debian 12: 2.1) and openssl, which the scripts compare certificates with. */
export const ACME_PACKAGES = ['certbot', 'openssl'] as const;

/** What the settings file says. */
export interface AcmeSettings {
  /** The certificate's names, the first one its subject. */
  domains: string[];
  /** The directory URL. */
  server: string;
  email: string;
  /** Seconds before the end at which the certificate is renewed. */
  renewBefore: number;
  /** True when `ca_file` is given (written to ACME_FILES.extraCa). */
  extraCa: boolean;
}

/** certbot's `renew_before_expiry` for a window in seconds: whole days as days, anything else in seconds (as the script writes it). */
export function certbotInterval(seconds: number): string {
  return seconds % 86_400 === 0 ? `${seconds / 86_400} days` : `${seconds} seconds`;
}

/** The settings file: one `KEY=value` per line; the values were validated to hold no space, quote or newline. */
export function renderAcmeSettings(settings: AcmeSettings): string {
  plainConfigValues(ACME_FILES.settings, settings);
  return [
    '# Managed by provision (haproxy.domain and haproxy.tls.acme in the inventory): what provision-acme asks the CA for.',
    `ACME_DOMAINS=${settings.domains.join(',')}`,
    `ACME_SERVER=${settings.server}`,
    `ACME_EMAIL=${settings.email}`,
    `ACME_RENEW_BEFORE_SECONDS=${settings.renewBefore}`,
    ...(settings.extraCa ? [`ACME_CA_FILE=${ACME_FILES.extraCa}`] : []),
    '',
  ].join('\n');
}

/**
 * The script that gets or renews the certificate. It asks the CA only when there is no certificate yet, when the names
 * or the directory changed, when the account's e-mail changed, or when the certificate ends within the window;
 * otherwise `certbot renew` finds nothing due and stops without a request. Whatever certbot did, the deploy script
 * then makes sure HAProxy serves the lineage's certificate (certbot ignores a failing deploy hook).
 */
export function renderAcmeScript(): string {
  return `#!/bin/sh
# Managed by provision: gets or renews HAProxy's certificate with certbot and installs it for HAProxy.
# The CA's HTTP-01 request reaches certbot through HAProxy's port 80 (/.well-known/acme-challenge/ -> 127.0.0.1:${ACME_CHALLENGE_PORT}).
# Run by ${ACME_FILES.timer} and by provision (systemctl start ${ACME_FILES.service}); settings in ${ACME_FILES.settings}.
set -u
settings=${ACME_FILES.settings}
state=${ACME_FILES.stateDir}
conf=${ACME_FILES.renewalConf}
live=${ACME_FILES.live}
log=/var/log/letsencrypt/letsencrypt.log

# The settings are read as text, never run.
setting() { sed -n "s/^$1=//p" "$settings" 2>/dev/null | tail -n 1; }
domains=$(setting ACME_DOMAINS | tr ',' ' ')
server=$(setting ACME_SERVER)
email=$(setting ACME_EMAIL)
renew_seconds=$(setting ACME_RENEW_BEFORE_SECONDS)
extra_ca=$(setting ACME_CA_FILE)

umask 077
mkdir -p "$state"
rm -f ${ACME_FILES.lastError}
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT

# The reason for a failure, in the CA's (or the network's) own words, to the journal and for provision to show.
fail() {
  {
    grep -E '^ *(Domain|Type|Detail): |^Failed to renew certificate |^Some challenges have failed|^[A-Za-z_.]*(Error|Exception): ' "$work/out" 2>/dev/null |
      grep -v "^AttributeError: can't set attribute"
    # certbot 2.1 on Python 3.11 prints an ACME error as "AttributeError: can't set attribute" (fixed in certbot 2.2):
    # the CA's words are in this run's part of its log.
    tail -c +"$((mark + 1))" "$log" 2>/dev/null | grep -m1 '^acme\\.messages\\.Error: '
  } | sed 's/^ *//' | awk '!seen[$0]++' >"$work/why"
  [ -s "$work/why" ] || { [ -n "$1" ] && echo "$1" >"$work/why"; } || tail -n 3 "$work/out" >"$work/why"
  cp "$work/why" ${ACME_FILES.lastError}
  sed 's/^/provision-acme: error: /' "$work/why" >&2
  exit 1
}

# certbot, its output to the journal and kept for fail().
mark=0
run_certbot() {
  mark=$(stat -c %s "$log" 2>/dev/null || echo 0)
  certbot "$@" >"$work/out" 2>&1
  status=$?
  cat "$work/out"
  return $status
}

[ -n "$domains" ] && [ -n "$server" ] && [ -n "$email" ] && [ "$renew_seconds" -gt 0 ] 2>/dev/null || fail "$settings is missing or incomplete"
# As certbot writes it in the renewal file: whole days as days.
if [ $((renew_seconds % 86400)) -eq 0 ]; then renew_before="$((renew_seconds / 86400)) days"; else renew_before="$renew_seconds seconds"; fi

# An extra CA for the directory's TLS: certbot trusts exactly this bundle then, so the system's CAs go in it too.
if [ -n "$extra_ca" ]; then
  cat /etc/ssl/certs/ca-certificates.crt "$extra_ca" >"$work/ca-bundle.pem" || fail "cannot read $extra_ca"
  export REQUESTS_CA_BUNDLE="$work/ca-bundle.pem"
fi

# The account: registered once per directory; its e-mail updated when the inventory's changes.
if ls "${ACME_FILES.accounts}/\${server#https://}"/*/regr.json >/dev/null 2>&1; then
  if [ "$(cat ${ACME_FILES.account} 2>/dev/null)" != "$server $email" ]; then
    run_certbot update_account --non-interactive --server "$server" --email "$email" --no-eff-email || fail ''
    echo "$server $email" >${ACME_FILES.account}
  fi
else
  run_certbot register --non-interactive --agree-tos --no-eff-email --server "$server" --email "$email" || fail ''
  echo "$server $email" >${ACME_FILES.account}
fi

sorted() { tr ', ' '\\n\\n' | sed -e 's/^ *//' -e 's/^DNS://' | grep -v '^$' | sort -u | tr '\\n' ' '; }
current_names() { openssl x509 -in "$live/cert.pem" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | sorted; }
# certbot keeps renew_before_expiry only in the certificate's renewal file; it has no command-line flag.
set_renew_before() {
  [ -f "$conf" ] || return 0
  grep -qx "renew_before_expiry = $renew_before" "$conf" ||
    sed -i -e "1i renew_before_expiry = $renew_before" -e '/^#\\{0,1\\} *renew_before_expiry *=/d' "$conf"
}

if [ ! -f "$conf" ] || ! grep -qxF "server = $server" "$conf" || [ "$(current_names)" != "$(echo "$domains" | sorted)" ]; then
  # A new certificate: none yet, or for other names or from another directory.
  set --
  for domain in $domains; do set -- "$@" --domain "$domain"; done
  run_certbot certonly --non-interactive --agree-tos --force-renewal --server "$server" \\
    --standalone --http-01-address 127.0.0.1 --http-01-port ${ACME_CHALLENGE_PORT} \\
    --cert-name ${CERT_NAME} "$@" --key-type ecdsa --elliptic-curve secp256r1 \\
    --deploy-hook ${ACME_FILES.deployScript}
  certbot_status=$?
  set_renew_before
else
  # The same certificate: renewed only when it ends within the window (else no request at all).
  set_renew_before
  run_certbot renew --non-interactive --no-random-sleep-on-renew --cert-name ${CERT_NAME}
  certbot_status=$?
fi
# certbot keeps a copy of every key and request it made; those of past months serve nothing.
find /etc/letsencrypt/keys /etc/letsencrypt/csr -type f -mtime +30 -delete 2>/dev/null

# A failing deploy hook does not fail certbot: install here as well (a no-op when HAProxy already serves it).
if [ -f "$live/fullchain.pem" ]; then
  RENEWED_LINEAGE=$live ${ACME_FILES.deployScript} >"$work/deploy" 2>&1 || { cat "$work/deploy"; cp "$work/deploy" "$work/out"; fail ''; }
  cat "$work/deploy"
fi
[ "$certbot_status" -eq 0 ] || fail ''
`;
}

/**
 * The deploy script: certbot's chain and key become HAProxy's one PEM (chain, then key; 0600, written beside it and
 * renamed into place), then HAProxy reloads (open connections finish on the old workers). Nothing happens when HAProxy
 * already has this certificate, and nothing is installed whose key does not match (a reload would refuse the pair).
 */
export function renderDeployScript(): string {
  const target = HAPROXY_FILES.certificate;
  return `#!/bin/sh
# Managed by provision: installs certbot's certificate for HAProxy (${target}) and reloads HAProxy.
# certbot runs it with RENEWED_LINEAGE=${ACME_FILES.live}; ${ACME_FILES.script} runs it after every certbot run.
set -eu
live=\${RENEWED_LINEAGE:-${ACME_FILES.live}}
target=${target}
fingerprint() { openssl x509 -noout -fingerprint -sha256 -in "$1" 2>/dev/null || true; }
[ "$(fingerprint "$live/fullchain.pem")" = "$(fingerprint "$target")" ] && exit 0
[ "$(openssl x509 -noout -pubkey -in "$live/fullchain.pem" | sha256sum)" = "$(openssl pkey -pubout -in "$live/privkey.pem" | sha256sum)" ] ||
  { echo "provision-acme-deploy: the key in $live does not belong to its certificate; HAProxy keeps the current one" >&2; exit 1; }
umask 077
tmp=$(mktemp ${HAPROXY_FILES.certificateDir}/.site.pem.XXXXXX)
trap 'rm -f "$tmp"' EXIT
cat "$live/fullchain.pem" "$live/privkey.pem" >"$tmp"
chmod 0600 "$tmp"
mv -f "$tmp" "$target"
trap - EXIT
echo "provision-acme-deploy: HAProxy now serves $(openssl x509 -noout -serial -enddate -in "$target" | tr '\\n' ' ')"
if systemctl is-active --quiet haproxy; then systemctl reload haproxy; fi
`;
}

/** The oneshot service the timer and provision start; two runs never overlap (systemd starts one at a time). */
export function renderAcmeService(): string {
  return `# Managed by provision (haproxy.tls.acme).
[Unit]
Description=Get or renew HAProxy's certificate (ACME)
Wants=network-online.target
After=network-online.target haproxy.service

[Service]
Type=oneshot
ExecStart=${ACME_FILES.script}
# certbot waits up to 45 s per request; a oneshot has no start timeout by default
TimeoutStartSec=15min
PrivateTmp=true
`;
}

/** The timer: twice a day at a random time of the 12 hours after, and at boot for a run missed while the host was down. */
export function renderAcmeTimer(): string {
  return `# Managed by provision (haproxy.tls.acme).
[Unit]
Description=Get or renew HAProxy's certificate twice a day

[Timer]
OnCalendar=*-*-* 00,12:00:00
RandomizedDelaySec=12h
Persistent=true

[Install]
WantedBy=timers.target
`;
}
