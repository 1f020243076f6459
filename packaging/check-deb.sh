#!/usr/bin/env bash
# Checks a sluice .deb as an operator would get it, without installing it:
#   packaging/check-deb.sh dist/sluice_VERSION_ARCH.deb
# 1. dpkg-deb --info/--contents: the binary, /usr/sbin/sendmail linked to
#    it, newaliases, the conffiles (sluice.hcl world-readable, the secrets
#    it names not), the unit, the man pages, the docs, the maintainer
#    scripts, and the MTA's Provides/Conflicts/Replaces;
# 2. systemd-analyze verify accepts the unit (skipped, saying so, when
#    systemd-analyze is not installed);
# 3. the binary from the package, with no Go toolchain on PATH, passes
#    check-config on the packaged configuration (its built-in filters load
#    from the binary), then serves that configuration moved to loopback
#    ports: a message to example.com gets the spam filter's headers; so does
#    one that the package's sendmail, run as nobody, submits with -t,
#    reading the 0644 configuration and none of the secrets (as nobody it
#    cannot); and a second start compiles nothing (the cache in data_dir
#    answers).
set -euo pipefail

deb=${1:?usage: packaging/check-deb.sh FILE.deb}
fail() { echo "check-deb: FAIL: $*" >&2; exit 1; }
ok() { echo "check-deb: ok: $*"; }

tmp="$(mktemp -d)"
[ -d "$tmp" ] || fail "mktemp"
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# 1. What the package holds.
info="$(dpkg-deb --info "$deb")"
contents="$(dpkg-deb --contents "$deb")"
echo "$info"
echo "$contents"
for f in ./usr/bin/sluice ./usr/bin/newaliases ./etc/sluice/sluice.hcl ./lib/systemd/system/sluice.service \
	./etc/sluice/secrets/smarthost-password ./etc/sluice/secrets/users \
	./usr/share/man/man8/sluice.8.gz ./usr/share/man/man8/sluice-serve.8.gz \
	./usr/share/man/man8/sluice-check-config.8.gz ./usr/share/man/man8/sluice-sendmail.8.gz \
	./usr/share/doc/sluice/config.md; do
	grep -q " $f\$" <<<"$contents" || fail "$f is not in the package"
done
# Policy 11.6: the MTA's /usr/sbin/sendmail (and the traditional /usr/lib one).
grep -q ' \./usr/sbin/sendmail -> \.\./bin/sluice$' <<<"$contents" || fail "/usr/sbin/sendmail is not a link to sluice"
grep -q ' \./usr/lib/sendmail -> \.\./sbin/sendmail$' <<<"$contents" || fail "/usr/lib/sendmail is not a link to /usr/sbin/sendmail"
ok "files, /usr/sbin/sendmail -> ../bin/sluice"
# Modes as unpacked: the configuration for everyone (sendmail reads it),
# its secrets for root until postinst gives them to the sluice group.
mode() { awk -v f="$1" '$NF == f { print $1, $2 }' <<<"$contents"; }
[ "$(mode ./etc/sluice/sluice.hcl)" = "-rw-r--r-- root/root" ] || fail "sluice.hcl is $(mode ./etc/sluice/sluice.hcl), want -rw-r--r-- root/root"
[ "$(mode ./etc/sluice/secrets/)" = "drwxr-x--- root/root" ] || fail "secrets/ is $(mode ./etc/sluice/secrets/), want drwxr-x--- root/root"
for f in ./etc/sluice/secrets/smarthost-password ./etc/sluice/secrets/users; do
	[ "$(mode "$f")" = "-rw-r----- root/root" ] || fail "$f is $(mode "$f"), want -rw-r----- root/root"
done
ok "modes: sluice.hcl 0644, secrets 0750/0640"
dpkg-deb --ctrl-tarfile "$deb" | tar -x -C "$tmp" ./conffiles ./postinst ./prerm ./postrm ./control
for f in /etc/sluice/sluice.hcl /etc/sluice/secrets/smarthost-password /etc/sluice/secrets/users; do
	grep -qx "$f" "$tmp/conffiles" || fail "$f is not a conffile"
done
grep -q 'adduser --system' "$tmp/postinst" || fail "postinst does not make the sluice user"
grep -q 'chgrp sluice' "$tmp/postinst" || fail "postinst does not give the secrets to the sluice group"
grep -Eq '^[^#]*(chmod|chown|chgrp)[^#]*sluice\.hcl' "$tmp/postinst" && fail "postinst changes sluice.hcl (it must stay world-readable)"
grep -q '^Depends:.*adduser' "$tmp/control" || fail "no Depends on adduser"
for field in Provides Conflicts Replaces; do
	grep -qx "$field: mail-transport-agent" "$tmp/control" || fail "no $field: mail-transport-agent (policy 7.6.2, 11.6)"
done
ok "conffiles, maintainer scripts, Depends, Provides/Conflicts/Replaces mail-transport-agent"

root="$tmp/root"
dpkg-deb -x "$deb" "$root"
unit="$root/lib/systemd/system/sluice.service"
for want in 'User=sluice' 'ProtectSystem=strict' 'ReadWritePaths=/var/lib/sluice' 'NoNewPrivileges=yes' \
	'CapabilityBoundingSet=CAP_NET_BIND_SERVICE' 'AmbientCapabilities=CAP_NET_BIND_SERVICE' \
	'ExecReload=/bin/kill -HUP $MAINPID'; do
	grep -qxF "$want" "$unit" || fail "the unit lacks $want"
done
ok "unit settings"

# 2. systemd's own reading of the unit. Its commands must exist, so the
# copy verified runs the package's binary; its man page is the package's.
if command -v systemd-analyze >/dev/null; then
	sed "s#/usr/bin/sluice#$root/usr/bin/sluice#g" "$unit" >"$tmp/sluice.service"
	if ! out="$(MANPATH="$root/usr/share/man" systemd-analyze verify "$tmp/sluice.service" 2>&1)"; then
		echo "$out" >&2
		fail "systemd-analyze verify"
	fi
	[ -z "$out" ] || { echo "$out" >&2; fail "systemd-analyze verify warned"; }
	ok "systemd-analyze verify"
else
	echo "check-deb: SKIP: systemd-analyze is not installed; the unit was not verified"
fi

# 3. The packaged binary and configuration, no Go toolchain on PATH.
bin="$root/usr/bin/sluice"
# The system's directories only: Go lives elsewhere (/usr/local/go, ~/go).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$tmp/home" XDG_CACHE_HOME="$tmp/cache"
if command -v go >/dev/null; then fail "go is on PATH ($(command -v go)): the check needs a machine without it there"; fi

# The packaged configuration with its /etc/sluice paths (the secrets) in
# the extracted tree.
sed "s#/etc/sluice/#$root/etc/sluice/#g" "$root/etc/sluice/sluice.hcl" >"$tmp/packaged.hcl"
"$bin" check-config "$tmp/packaged.hcl" >"$tmp/check.out" 2>&1 || { cat "$tmp/check.out" >&2; fail "check-config on the packaged configuration"; }
grep -q 'building built-in filter from source' "$tmp/check.out" && fail "the packaged binary built a filter from source"
grep -q 'warning:' "$tmp/check.out" && { cat "$tmp/check.out" >&2; fail "check-config warned about the packaged configuration"; }
ok "check-config $(grep -c 'filter loaded' "$tmp/check.out") built-in filters, from the binary, no warning"

# Serve the packaged configuration on loopback ports, data_dir in $tmp.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
smtp_port="$(port)" sub_port="$(port)"
sed -e "s#^data_dir = .*#data_dir = \"$tmp/data\"#" \
	-e "s#address = \":25\"#address = \"127.0.0.1:$smtp_port\"#" \
	-e "s#address = \":587\"#address = \"127.0.0.1:$sub_port\"#" \
	"$tmp/packaged.hcl" >"$tmp/sluice.hcl"
chmod 0644 "$tmp/sluice.hcl"

start() {
	: >"$tmp/serve.log"
	"$bin" serve -config "$tmp/sluice.hcl" 2>"$tmp/serve.log" &
	pid=$!
	for _ in $(seq 1 600); do
		grep -q 'sluice starting' "$tmp/serve.log" && return 0
		kill -0 "$pid" 2>/dev/null || { cat "$tmp/serve.log" >&2; fail "serve exited"; }
		sleep 0.1
	done
	cat "$tmp/serve.log" >&2
	fail "serve did not start in 60s"
}
stop() { kill -TERM "$pid"; wait "$pid" || true; pid=; }

t0=$(date +%s%N)
start
cold_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
python3 - "$smtp_port" <<'PY' || fail "sending a message"
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.test") as s:
    s.sendmail("sender@client.test", ["postmaster@example.com"],
               b"From: sender@client.test\r\nTo: postmaster@example.com\r\nSubject: check\r\n\r\nHello.\r\n")
PY

# A local program's mail: the package's /usr/sbin/sendmail run as nobody,
# who may read the 0644 configuration but neither the secrets it names
# nor anything else of root's in $tmp (0711: names known, no listing).
chmod 0711 "$tmp"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups env -i PATH="$PATH" SLUICE_CONFIG="$tmp/sluice.hcl" "$@"; }
as_nobody cat "$root/etc/sluice/secrets/smarthost-password" >/dev/null 2>&1 && fail "nobody can read the packaged secrets"
sendmail="$root/usr/sbin/sendmail"
printf 'To: postmaster\nSubject: from sendmail\n\nSent by a local program.\n' >"$tmp/local.msg"
code=0; as_nobody "$sendmail" -t <"$tmp/local.msg" 2>"$tmp/sendmail.err" || code=$?
[ "$code" = 0 ] || { cat "$tmp/sendmail.err" >&2; fail "sendmail -t as nobody exited $code"; }
ok "sendmail -t as nobody, reading the 0644 configuration and no secret"
# The configuration unreadable: sendmail says so, exit 78 (EX_CONFIG).
chmod 0640 "$tmp/sluice.hcl"
code=0; as_nobody "$sendmail" -t <"$tmp/local.msg" 2>"$tmp/sendmail.err" || code=$?
chmod 0644 "$tmp/sluice.hcl"
[ "$code" = 78 ] || { cat "$tmp/sendmail.err" >&2; fail "sendmail with an unreadable configuration exited $code, want 78"; }
ok "sendmail with an unreadable configuration exits 78"

# The LMTP socket does not exist here: the messages stay queued, headers and all.
"$bin" queue -config "$tmp/sluice.hcl" -json list >"$tmp/list.json"
for from in sender@client.test nobody@example.com; do
	id="$(python3 - "$tmp/list.json" "$from" <<'PY'
import json, sys
msgs = [m for m in json.load(open(sys.argv[1])) if m["from"] == sys.argv[2]]
rcpts = [r["addr"] for m in msgs for r in m["recipients"]]
if len(msgs) != 1 or rcpts != ["postmaster@example.com"]:
    sys.exit("from %s: want one message to postmaster@example.com, got %r" % (sys.argv[2], rcpts))
print(msgs[0]["id"])
PY
)" || fail "the queue does not hold the message from $from"
	"$bin" queue -config "$tmp/sluice.hcl" show "$id" >"$tmp/show.out"
	grep -q '^X-Spam-Status: ' "$tmp/show.out" || { cat "$tmp/show.out" >&2; fail "no X-Spam-Status header on the message from $from"; }
done
grep -q '^Subject: from sendmail' "$tmp/show.out" || { cat "$tmp/show.out" >&2; fail "the message from sendmail is not the one sent"; }
ok "the messages by SMTP and by sendmail (from nobody@example.com) got the spam filter's headers"
stop

t0=$(date +%s%N)
start
warm_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
stop
ok "start to listening: ${cold_ms} ms with an empty compilation cache, ${warm_ms} ms with it filled"
echo "check-deb: all checks passed"
