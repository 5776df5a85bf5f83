import { execFileSync } from 'node:child_process';

/** Fails the run early, with the fix, when the tests' real IMAP server is not installed. */
export default function checkPrerequisites(): void {
  try {
    execFileSync('sh', ['-c', 'command -v dovecot || test -x /usr/sbin/dovecot'], { stdio: 'ignore' });
    execFileSync('sh', ['-c', 'command -v doveadm'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      'The tests need a real Dovecot IMAP server. Install it with: ' +
        'sudo apt-get install -y dovecot-imapd dovecot-lmtpd openssl (npm test does this by itself when run as root).',
    );
  }
}
