#!/usr/bin/env bash
# Checks a sluice .deb as an operator would get it, without installing it:
#   packaging/check-deb.sh dist/sluice_VERSION_ARCH.deb
# 1. dpkg-deb --info/--contents: the binary, the conffile, the unit, the
#    man pages, the docs, the maintainer scripts;
# 2. systemd-analyze verify accepts the unit (skipped, saying so, when
#    systemd-analyze is not installed);
# 3. the binary from the package, with no Go toolchain on PATH, passes
#    check-config on the packaged configuration (its built-in filters load
#    from the binary), then serves that configuration moved to loopback
#    ports: a message to example.com gets the spam filter's headers, and a
#    second start compiles nothing (the cache in data_dir answers).
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
for f in ./usr/bin/sluice ./etc/sluice/sluice.hcl ./lib/systemd/system/sluice.service \
	./usr/share/man/man8/sluice.8.gz ./usr/share/man/man8/sluice-serve.8.gz \
	./usr/share/man/man8/sluice-check-config.8.gz ./usr/share/doc/sluice/config.md; do
	grep -q " $f\$" <<<"$contents" || fail "$f is not in the package"
done
ok "files"
dpkg-deb --ctrl-tarfile "$deb" | tar -x -C "$tmp" ./conffiles ./postinst ./prerm ./postrm ./control
grep -qx /etc/sluice/sluice.hcl "$tmp/conffiles" || fail "/etc/sluice/sluice.hcl is not a conffile"
grep -q 'adduser --system' "$tmp/postinst" || fail "postinst does not make the sluice user"
grep -q '^Depends:.*adduser' "$tmp/control" || fail "no Depends on adduser"
ok "conffile, maintainer scripts, Depends"

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

"$bin" check-config "$root/etc/sluice/sluice.hcl" >"$tmp/check.out" 2>&1 || { cat "$tmp/check.out" >&2; fail "check-config on the packaged configuration"; }
grep -q 'building built-in filter from source' "$tmp/check.out" && fail "the packaged binary built a filter from source"
ok "check-config $(grep -c 'filter loaded' "$tmp/check.out") built-in filters, from the binary"

# Serve the packaged configuration on loopback ports, data_dir in $tmp.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
smtp_port="$(port)" sub_port="$(port)"
sed -e "s#^data_dir = .*#data_dir = \"$tmp/data\"#" \
	-e "s#address = \":25\"#address = \"127.0.0.1:$smtp_port\"#" \
	-e "s#address = \":587\"#address = \"127.0.0.1:$sub_port\"#" \
	"$root/etc/sluice/sluice.hcl" >"$tmp/sluice.hcl"

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
# The LMTP socket does not exist here: the message stays queued, headers and all.
id="$("$bin" queue -config "$tmp/sluice.hcl" -json list | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')"
"$bin" queue -config "$tmp/sluice.hcl" show "$id" >"$tmp/show.out"
grep -q '^X-Spam-Status: ' "$tmp/show.out" || { cat "$tmp/show.out" >&2; fail "no X-Spam-Status header on the queued message"; }
ok "a message through the packaged configuration got the spam filter's headers"
stop

t0=$(date +%s%N)
start
warm_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
stop
ok "start to listening: ${cold_ms} ms with an empty compilation cache, ${warm_ms} ms with it filled"
echo "check-deb: all checks passed"
