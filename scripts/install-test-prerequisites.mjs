#!/usr/bin/env node
// Runs before `npm test`: the tests start their own Dovecot IMAP server and their own proxy servers
// (tinyproxy, danted: TELEGRAM_PROXY), so these must be installed. As root they are installed from
// Debian packages when missing; otherwise this says what to install.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const packages = ['dovecot-imapd', 'dovecot-lmtpd', 'openssl', 'tinyproxy', 'dante-server'];
const have = (command) => {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const installed = () =>
  (have('dovecot') || existsSync('/usr/sbin/dovecot')) &&
  have('doveadm') &&
  have('openssl') &&
  (have('tinyproxy') || existsSync('/usr/bin/tinyproxy')) &&
  (have('danted') || existsSync('/usr/sbin/danted'));

if (!installed()) {
  if (process.getuid?.() === 0 && have('apt-get')) {
    console.log(`installing the test IMAP and proxy servers: apt-get install ${packages.join(' ')}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'inherit', env });
  } else {
    console.error(
      `The tests need Dovecot (a real IMAP server), tinyproxy and danted (real proxy servers), which they start by themselves. Install them first:\n` +
        `  sudo apt-get install -y ${packages.join(' ')}\n` +
        'then run npm test again.',
    );
    process.exit(1);
  }
}
