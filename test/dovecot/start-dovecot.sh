#!/usr/bin/env bash
# Start a throwaway Dovecot (IMAP + IMAPS + LMTP) for tests, entirely inside DIR.
# Adapted from shared/reference/dovecot-test (adds DOVECOT_EXTRA_CONF).
#
#   start-dovecot.sh DIR [N_USERS] [PORT]
#
# DIR      work dir (created if missing). Keep the path short: Dovecot puts unix
#          sockets in DIR/run and a socket path must stay < 108 bytes.
# N_USERS  number of test users user1..userN (default 3). Password of every user
#          is $DOVECOT_TEST_PASSWORD (default "secret").
# PORT     plaintext IMAP port on 127.0.0.1 (default: a free port picked at random).
#          IMAPS (self-signed cert) listens on PORT+1, LMTP on PORT+2.
#
# Env:     DOVECOT_TEST_PASSWORD  password for all users (default: secret)
#          DOVECOT_MAX_CONNS      per-user+IP connection limit and process limits (default 1000)
#          DOVECOT_EXTRA_CONF     extra lines appended to the generated dovecot.conf
#                                 (e.g. an imap_capability without IDLE)
#          DOVECOT_FOREGROUND=1   exec `dovecot -F` (stays in the foreground; for a test
#                                 harness that spawns it as a child process). Otherwise
#                                 dovecot daemonizes and this script waits until it listens.
#
# Prints shell-style KEY=VALUE lines (also saved in DIR/env):
#   IMAP_HOST IMAP_PORT IMAPS_PORT LMTP_PORT DOVECOT_PID DOVECOT_CONF DOVECOT_DIR
#   DOVECOT_USERS DOVECOT_PASSWORD DOVECOT_LOG DOVECOT_CA
# Stop it with: stop-dovecot.sh DIR
#
# Needs the Debian packages dovecot-imapd and dovecot-lmtpd (and openssl):
#   apt-get install -y dovecot-imapd dovecot-lmtpd openssl
# Nothing under /etc is read or changed; the packaged system instance is not used.
set -euo pipefail

DIR=${1:?usage: start-dovecot.sh DIR [N_USERS] [PORT]}
NUSERS=${2:-3}
PORT=${3:-}
PASS=${DOVECOT_TEST_PASSWORD:-secret}
MAXC=${DOVECOT_MAX_CONNS:-1000}

DOVECOT=$(command -v dovecot || echo /usr/sbin/dovecot)
[ -x "$DOVECOT" ] || { echo "dovecot not installed (apt-get install -y dovecot-imapd dovecot-lmtpd)" >&2; exit 1; }

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
if [ ${#DIR} -gt 70 ]; then
  echo "DIR path too long for dovecot unix sockets: $DIR" >&2; exit 1
fi
if [ -f "$DIR/run/master.pid" ] && kill -0 "$(cat "$DIR/run/master.pid")" 2>/dev/null; then
  echo "dovecot already running for $DIR (pid $(cat "$DIR/run/master.pid"))" >&2; exit 1
fi

port_free() { ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
if [ -z "$PORT" ] || [ "$PORT" = 0 ]; then
  for _ in $(seq 1 200); do
    # below the kernel's ephemeral range (32768+), so no outgoing socket holds it
    p=$(( 20000 + RANDOM % 12000 ))
    if port_free "$p" && port_free $((p+1)) && port_free $((p+2)); then PORT=$p; break; fi
  done
  [ -n "$PORT" ] || { echo "no free port found" >&2; exit 1; }
fi
IMAPS_PORT=$((PORT+1))
LMTP_PORT=$((PORT+2))

mkdir -p "$DIR/run" "$DIR/state" "$DIR/mail" "$DIR/ssl"
touch "$DIR/dovecot.log"   # appended to across restarts of the same DIR

# --- who runs what -----------------------------------------------------------
if [ "$(id -u)" = 0 ]; then
  # Root: normal privilege separation. Login processes run as dovenull, internal
  # processes as dovecot (both created by the Debian package). Each mail user gets
  # its own numeric uid ($DOVECOT_UID_BASE + i, no /etc/passwd entry needed): every
  # IDLE-ing imap process holds one inotify instance and Linux allows only
  # fs.inotify.max_user_instances (default 128) per uid, so with one shared uid the
  # 129th IDLE connection silently falls back to polling.
  INTERNAL_USER=$(id -u dovecot >/dev/null 2>&1 && echo dovecot || echo nobody)
  INTERNAL_GROUP=$(getent group dovecot >/dev/null && echo dovecot || echo nogroup)
  LOGIN_USER=$(id -u dovenull >/dev/null 2>&1 && echo dovenull || echo nobody)
  UID_BASE=${DOVECOT_UID_BASE:-20000}
  MAIL_GID=$(getent group nogroup | cut -d: -f3)
  LOGIN_CHROOT=login
  # the auth process (user $INTERNAL_USER) must be able to reach DIR/users
  chmod 755 "$DIR"
else
  # Rootless: every process runs as the invoking user; no chroot possible.
  # All IDLE connections then share this uid's inotify budget (see above); beyond
  # it Dovecot polls every mailbox_idle_check_interval (set to 1 s below).
  INTERNAL_USER=$(id -un); INTERNAL_GROUP=$(id -gn); LOGIN_USER=$(id -un)
  UID_BASE=
  LOGIN_CHROOT=
fi

# --- users (passwd-file, plaintext passwords) ---------------------------------
: > "$DIR/users"
USERS=""
for i in $(seq 1 "$NUSERS"); do
  # passwd-file: user:password:uid:gid:gecos:home:shell:extra_fields
  mkdir -p "$DIR/mail/user$i"
  if [ -n "$UID_BASE" ]; then
    echo "user$i:{PLAIN}$PASS:$((UID_BASE + i)):$MAIL_GID::$DIR/mail/user$i::" >> "$DIR/users"
    chown -R "$((UID_BASE + i)):$MAIL_GID" "$DIR/mail/user$i"
  else
    echo "user$i:{PLAIN}$PASS::::$DIR/mail/user$i::" >> "$DIR/users"
  fi
  USERS="$USERS user$i"
done
chmod 644 "$DIR/users"

# --- self-signed cert for IMAPS / STARTTLS ------------------------------------
if [ ! -s "$DIR/ssl/cert.pem" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
    -keyout "$DIR/ssl/key.pem" -out "$DIR/ssl/cert.pem" \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1
  chmod 600 "$DIR/ssl/key.pem"
fi

# --- config -------------------------------------------------------------------
cat > "$DIR/dovecot.conf" <<EOF
# Throwaway test instance; generated by start-dovecot.sh. Self-contained: no !include.
instance_name = dovecot-test-$PORT
base_dir = $DIR/run
state_dir = $DIR/state
protocols = imap lmtp
listen = 127.0.0.1
log_path = $DIR/dovecot.log
info_log_path = $DIR/dovecot.log
debug_log_path = $DIR/dovecot.log
log_timestamp = "%Y-%m-%d %H:%M:%S "
auth_verbose = yes
# process titles like "imap [user1 127.0.0.1 IDLE]" (handy to find/kill one session)
verbose_proctitle = yes

default_internal_user = $INTERNAL_USER
default_internal_group = $INTERNAL_GROUP
default_login_user = $LOGIN_USER
first_valid_uid = 1
first_valid_gid = 1

ssl = yes
ssl_cert = <$DIR/ssl/cert.pem
ssl_key = <$DIR/ssl/key.pem
# allow LOGIN/AUTHENTICATE PLAIN without TLS (tests talk to 127.0.0.1)
disable_plaintext_auth = no
auth_mechanisms = plain login

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $DIR/users
}
userdb {
  driver = passwd-file
  args = username_format=%n $DIR/users
  # uid/gid/home come from the users file
}
mail_location = maildir:~/Maildir
# mailboxes a mail client expects; INBOX is implicit
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \\Sent
    auto = create
  }
  mailbox Trash {
    special_use = \\Trash
    auto = create
  }
}

# IDLE: sends "* OK Still here" every interval while idling (default 2 mins)
imap_idle_notify_interval = 2 mins
# Changes are pushed via inotify (~0.5 s); without an inotify instance Dovecot
# re-checks the mailbox this often (default 30 secs)
mailbox_idle_check_interval = 1 secs
mail_max_userip_connections = $MAXC

default_process_limit = $MAXC
default_client_limit = $((MAXC * 4))
service anvil {
  client_limit = $((MAXC * 4 + 100))
  chroot = $( [ -n "$LOGIN_CHROOT" ] && echo empty )
}
service auth {
  client_limit = $((MAXC * 4 + 100))
}
service imap-login {
  chroot = $LOGIN_CHROOT
  inet_listener imap {
    address = 127.0.0.1
    port = $PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
  # one login process per connection (high-security mode); a TLS connection keeps
  # its login process for its whole life as the TLS proxy, so this caps IMAPS conns
  process_limit = $MAXC
}
service imap {
  process_limit = $MAXC
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
  unix_listener lmtp {
    mode = 0666
  }
}
lmtp_save_to_detail_mailbox = no
# no chroots in rootless mode
service ipc {
  chroot = $( [ -n "$LOGIN_CHROOT" ] && echo empty )
}
service old-stats {
  chroot = $( [ -n "$LOGIN_CHROOT" ] && echo empty )
}
EOF

if [ -n "${DOVECOT_EXTRA_CONF:-}" ]; then
  printf '%s\n' "$DOVECOT_EXTRA_CONF" >> "$DIR/dovecot.conf"
fi

# validate before starting
if ! doveconf -c "$DIR/dovecot.conf" -n > "$DIR/doveconf-n.txt" 2> "$DIR/doveconf.err"; then
  cat "$DIR/doveconf.err" >&2; exit 1
fi

cat > "$DIR/env" <<EOF
IMAP_HOST=127.0.0.1
IMAP_PORT=$PORT
IMAPS_PORT=$IMAPS_PORT
LMTP_PORT=$LMTP_PORT
LMTP_SOCKET=$DIR/run/lmtp
DOVECOT_CONF=$DIR/dovecot.conf
DOVECOT_DIR=$DIR
DOVECOT_USERS="${USERS# }"
DOVECOT_PASSWORD=$PASS
DOVECOT_LOG=$DIR/dovecot.log
DOVECOT_CA=$DIR/ssl/cert.pem
EOF

if [ "${DOVECOT_FOREGROUND:-}" = 1 ]; then
  cat "$DIR/env" >&2
  exec "$DOVECOT" -F -c "$DIR/dovecot.conf"
fi

# daemonizes; master pid in $DIR/run/master.pid. Its stdio must not stay attached to
# the caller's pipes (a Node execFileSync() would otherwise wait for EOF forever).
"$DOVECOT" -c "$DIR/dovecot.conf" </dev/null >>"$DIR/dovecot.stderr" 2>&1

# wait until IMAP answers (up to ~10 s)
for _ in $(seq 1 100); do
  if ! ss -Htln "sport = :$PORT" | grep -q .; then sleep 0.1; continue; fi
  if [ -s "$DIR/run/master.pid" ]; then break; fi
  sleep 0.1
done
if ! ss -Htln "sport = :$PORT" | grep -q .; then
  echo "dovecot did not start; log:" >&2; tail -20 "$DIR/dovecot.log" "$DIR/dovecot.stderr" >&2; exit 1
fi
echo "DOVECOT_PID=$(cat "$DIR/run/master.pid")" >> "$DIR/env"
cat "$DIR/env"
