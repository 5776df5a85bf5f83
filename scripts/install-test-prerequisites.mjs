#!/usr/bin/env node
// Runs before `npm test`: the tests start their own Dovecot IMAP server, their own proxy servers
// (tinyproxy, danted: TELEGRAM_PROXY) and their own throwaway PostgreSQL clusters (DATABASE_URL, from
// Debian's binaries in /usr/lib/postgresql/<version>/bin), so these must be installed. As root they are
// installed from Debian packages when missing; otherwise this says what to install.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const packages = ['dovecot-imapd', 'dovecot-lmtpd', 'openssl', 'tinyproxy', 'dante-server', 'postgresql'];
const have = (command) => {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
// the system cluster the package may create and start does not matter: the tests run their own
const havePostgres = () =>
  existsSync('/usr/lib/postgresql') &&
  readdirSync('/usr/lib/postgresql').some((version) =>
    existsSync(`/usr/lib/postgresql/${version}/bin/initdb`),
  );
const installed = () =>
  (have('dovecot') || existsSync('/usr/sbin/dovecot')) &&
  have('doveadm') &&
  have('openssl') &&
  (have('tinyproxy') || existsSync('/usr/bin/tinyproxy')) &&
  (have('danted') || existsSync('/usr/sbin/danted')) &&
  havePostgres();

if (!installed()) {
  if (process.getuid?.() === 0 && have('apt-get')) {
    console.log(
      `installing the test IMAP, proxy and PostgreSQL servers: apt-get install ${packages.join(' ')}`,
    );
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'inherit', env });
  } else {
    console.error(
      `The tests need Dovecot (a real IMAP server), tinyproxy and danted (real proxy servers) and PostgreSQL, which they start by themselves. Install them first:\n` +
        `  sudo apt-get install -y ${packages.join(' ')}\n` +
        'then run npm test again.',
    );
    process.exit(1);
  }
}
