#!/usr/bin/env bash
# fresh-check.sh: the README's two commands, word for word, on a fresh Debian 12.
#
#   tools/fresh-check.sh          (make fresh-check)        run the check
#   tools/fresh-check.sh --clean  (make fresh-check-clean)  drop the cached root
#
# What it does, as root on a Debian machine with debootstrap:
#  1. A pristine Debian 12 (bookworm) root: `debootstrap --variant=minbase`
#     with `make` added (what the README asks for before its two commands),
#     from the mirror this machine's apt sources name. It is cached as a
#     tarball under $FRESH_CACHE (default /var/cache/vclip-fresh), keyed by
#     suite, mirror, variant, added packages and architecture; every run
#     unpacks a new copy, so every run starts from the same clean root.
#  2. The machine's network set-up (not the project's) is copied in:
#     /etc/resolv.conf, /etc/pip.conf, apt's proxy settings, the CA bundle
#     (over the root's /etc/ssl/certs/ca-certificates.crt and, one file per
#     certificate, as local CAs under /usr/local/share/ca-certificates/host-ca/,
#     which survive the bundle being regenerated when ca-certificates is
#     installed inside), and the
#     PIP_*, SSL_CERT_*, *_proxy variables pass through. apt sources in the
#     root: the host's mirrors for bookworm, bookworm-updates and
#     bookworm-security. policy-rc.d keeps services from starting.
#  3. A clean clone of the committed $FRESH_REF (default HEAD; never the
#     working tree's uncommitted changes) goes to /root/vclip in the root.
#  4. /proc, /sys and /dev are mounted; they (and every other mount under the
#     run directory) are unmounted on every exit path, and mounts left by a
#     killed earlier run are found and unmounted before anything is removed.
#  5. The commands of the README's "Set-up and the two commands" block that
#     start with `make` (read from the clone's README, so they are the ones
#     the checked commit documents) run in order in /root/vclip, as root, with
#     a clean environment and no terminal input. Any non-zero exit fails the
#     check. So does any line starting with "SKIP" (a reference the tests
#     could not get: on a machine that reached the mirror and PyPI it means
#     the set-up is broken), unless FRESH_ALLOW_SKIP=1.
#
# Settings (environment):
#   FRESH_REF=REF        commit to check (default HEAD)
#   FRESH_JOBS=N         MAKEFLAGS=-jN inside the root (default 2; 1 = no -j)
#   FRESH_APT_CACHE=0|1  keep downloaded .deb files in $FRESH_CACHE/apt between
#                        runs (default 1; the root still installs every package)
#   FRESH_ALLOW_SKIP=1   report SKIP lines but do not fail on them
#   FRESH_KEEP=1         keep the run's root after a pass (it is always kept
#                        after a failure, for inspection, until the next run)
#   FRESH_CACHE=DIR      cache and run directory (default /var/cache/vclip-fresh)
#   FRESH_SUITE=NAME     Debian suite (default bookworm)
set -euo pipefail

SUITE=${FRESH_SUITE:-bookworm}
CACHE=${FRESH_CACHE:-/var/cache/vclip-fresh}
REF=${FRESH_REF:-HEAD}
JOBS=${FRESH_JOBS:-2}
APT_CACHE=${FRESH_APT_CACHE:-1}
VARIANT=minbase
INCLUDE=make          # the README's prerequisite; the source arrives as a clone
RUN=$CACHE/run
ROOT=$RUN/root
SRC_IN_ROOT=/root/vclip
REPO=$(cd "$(dirname "$0")/.." && pwd)

say() { printf 'fresh-check: %s\n' "$*"; }
die() { printf 'fresh-check: error: %s\n' "$*" >&2; exit 1; }

# Mount points at or below $1, deepest first (from /proc/self/mountinfo; the
# path field escapes spaces as \040, which our paths never contain).
mounts_under() {
    awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}
unmount_under() {
    local m left pass
    # Several passes: a path can hold stacked mounts (an rbind of /dev
    # shows /dev/pts twice), and a busy one falls back to a lazy unmount.
    for pass in 1 2 3 4; do
        left=$(mounts_under "$1")
        [ -n "$left" ] || break
        for m in $left; do
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        done
    done
    left=$(mounts_under "$1")
    [ -z "$left" ] || { printf 'fresh-check: error: still mounted: %s\n' $left >&2; return 1; }
}
# Removes a directory tree only when nothing is mounted in it, and never
# crosses into another file system.
remove_tree() {
    [ -e "$1" ] || return 0
    unmount_under "$1" || die "not removing $1: mounts remain under it"
    rm -rf --one-file-system "$1"
}

# Processes whose root directory is this run's root (only this script starts
# them): TERM, then KILL what is left after a few seconds.
in_root() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] && echo "${p#/proc/}"
    done
    return 0
}
kill_in_root() {
    local pids i
    [ -d "$ROOT" ] || return 0
    pids=$(in_root); [ -n "$pids" ] || return 0
    kill $pids 2>/dev/null || true
    for i in 1 2 3 4 5; do sleep 1; pids=$(in_root); [ -n "$pids" ] || return 0; done
    kill -9 $pids 2>/dev/null || true
    sleep 1
}

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot and mounts)"
mkdir -p "$CACHE"
# The lock is held by this script only (long-running children get 9>&-), so
# processes a killed run left in its root do not block the next run, which
# ends them.
exec 9>"$CACHE/lock"
flock -n 9 || { say "another fresh-check holds $CACHE/lock; waiting"; flock 9; }

if [ "${1:-}" = --clean ]; then
    kill_in_root; remove_tree "$RUN"
    for d in "$CACHE"/build-*; do remove_tree "$d"; done
    rm -rf --one-file-system "$CACHE"/root-*.tar "$CACHE"/apt
    say "cache dropped ($CACHE)"
    exit 0
fi
[ $# = 0 ] || die "usage: tools/fresh-check.sh [--clean]"
command -v debootstrap >/dev/null || die "debootstrap missing (apt-get install debootstrap)"

# ---- the host's apt sources: "URI SUITE" for every enabled deb entry ----
apt_entries() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" { print $2, $3 }'
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # deb822: paragraphs split by blank lines, "Field: value", a line
        # starting with white space continues the field before it.
        awk '
            function flush(   i, j, nu, ns, u, s) {
                if (f["types"] ~ /(^|[ \t])deb([ \t]|$)/ && tolower(f["enabled"]) != "no") {
                    nu = split(f["uris"], u, /[ \t]+/); ns = split(f["suites"], s, /[ \t]+/)
                    for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++)
                        if (u[i] != "" && s[j] != "") print u[i], s[j]
                }
                delete f; key = ""
            }
            /^#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]/ { if (key != "") f[key] = f[key] " " $0; next }
            { key = tolower(substr($0, 1, index($0, ":") - 1))
              f[key] = substr($0, index($0, ":") + 1); gsub(/^[ \t]+|[ \t]+$/, "", f[key]) }
            END { flush() }' "$f"
    done
}
uri_for() { apt_entries | awk -v s="$1" '$2 == s { sub(/\/+$/, "", $1); print $1; exit }'; }
MIRROR=$(uri_for "$SUITE")
[ -n "$MIRROR" ] || die "no apt source on this machine names suite '$SUITE' (looked in /etc/apt/sources.list{,.d/})"
UPDATES=$(uri_for "$SUITE-updates")
SECURITY=$(uri_for "$SUITE-security")
ARCH=$(dpkg --print-architecture)

# ---- the pristine root, cached ----
KEY=$(printf '%s\n' "$SUITE" "$MIRROR" "$VARIANT" "$INCLUDE" "$ARCH" | sha256sum | cut -c1-12)
TARBALL=$CACHE/root-$SUITE-$KEY.tar
kill_in_root; remove_tree "$RUN"   # a killed earlier run: end, unmount, then remove
for d in "$CACHE"/build-*; do remove_tree "$d"; done
t_boot=0
if [ ! -f "$TARBALL" ]; then
    say "debootstrap $SUITE ($VARIANT, +$INCLUDE) from $MIRROR (cached as $TARBALL)"
    t0=$SECONDS
    build=$CACHE/build-$KEY
    debootstrap --variant="$VARIANT" --include="$INCLUDE" --arch="$ARCH" "$SUITE" "$build" "$MIRROR" \
        >"$CACHE/debootstrap.log" 2>&1 9>&- || {
        tail -n 20 "$CACHE/debootstrap.log" >&2; remove_tree "$build"; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
    unmount_under "$build"
    rm -f "$build"/var/cache/apt/archives/*.deb
    tar --numeric-owner -C "$build" -cf "$TARBALL.tmp" .
    mv "$TARBALL.tmp" "$TARBALL"
    remove_tree "$build"
    t_boot=$((SECONDS - t0))
fi

# ---- this run's root ----
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    kill_in_root
    unmount_under "$RUN" || rc=1
    if [ $rc = 0 ] && [ "${FRESH_KEEP:-0}" != 1 ]; then
        rm -rf --one-file-system "$RUN"
    elif [ -d "$ROOT" ]; then
        say "the root is kept for inspection: $ROOT (removed by the next run or make fresh-check-clean)"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

t0=$SECONDS
mkdir -p "$ROOT"
tar --numeric-owner -C "$ROOT" -xpf "$TARBALL"
t_unpack=$((SECONDS - t0))

# Network set-up of this machine.
rm -f "$ROOT/etc/resolv.conf"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
[ -f /etc/pip.conf ] && cp -L /etc/pip.conf "$ROOT/etc/pip.conf"
CA=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
if [ -f "$CA" ]; then
    mkdir -p "$ROOT/etc/ssl/certs" "$ROOT/usr/local/share/ca-certificates"
    rm -f "$ROOT/etc/ssl/certs/ca-certificates.crt"
    cp -L "$CA" "$ROOT/etc/ssl/certs/ca-certificates.crt"
    # One file per certificate (update-ca-certificates hashes each file as
    # one certificate for the /etc/ssl/certs directory lookup).
    mkdir -p "$ROOT/usr/local/share/ca-certificates/host-ca"
    awk -v d="$ROOT/usr/local/share/ca-certificates/host-ca" '
        /-----BEGIN CERTIFICATE-----/ { f = sprintf("%s/%03d.crt", d, ++n) }
        f { print > f }
        /-----END CERTIFICATE-----/ { close(f); f = "" }' "$CA"
fi
{
    echo "deb $MIRROR $SUITE main"
    [ -z "$UPDATES" ] || echo "deb $UPDATES $SUITE-updates main"
    [ -z "$SECURITY" ] || echo "deb $SECURITY $SUITE-security main"
} >"$ROOT/etc/apt/sources.list"
apt-config dump | grep -i '^Acquire::[a-z]*::proxy' >"$ROOT/etc/apt/apt.conf.d/90host-proxy" || true
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"

# The clean clone of the committed REF.
SHA=$(git -C "$REPO" rev-parse --verify "$REF^{commit}") || die "FRESH_REF '$REF' is not a commit"
git init -q "$ROOT$SRC_IN_ROOT"
git -C "$ROOT$SRC_IN_ROOT" fetch -q "$REPO" "$SHA"
git -C "$ROOT$SRC_IN_ROOT" checkout -q --detach FETCH_HEAD
say "checking $(git -C "$REPO" log -1 --format='%h %s' "$SHA" | cut -c1-100)"

# The README's commands.
# They are the first indented block of the README's "## Set-up" section that
# holds `make` lines (its later blocks list other targets).
mapfile -t CMDS < <(awk '
    /^## / { if (n) exit; inside = ($0 ~ /^## Set-up/); next }
    !inside { next }
    /^    / { if ($0 ~ /^    make([ \t]|$)/) { sub(/^    /, ""); sub(/[ \t]*#.*/, ""); print; n++ } next }
    /^[ \t]*$/ { next }
    n { exit }' "$ROOT$SRC_IN_ROOT/README.md")
[ ${#CMDS[@]} -gt 0 ] || die "no 'make ...' command in the README's '## Set-up' section"
say "the README's commands: $(printf '"%s" ' "${CMDS[@]}")"

# Mounts (removed by cleanup on every exit path).
mount -t proc proc "$ROOT/proc"
mount -t sysfs sysfs "$ROOT/sys" 2>/dev/null || mount --rbind /sys "$ROOT/sys"
mount --make-rslave "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"
mount --make-rslave "$ROOT/dev"
if [ "$APT_CACHE" = 1 ]; then
    mkdir -p "$CACHE/apt"
    mount --bind "$CACHE/apt" "$ROOT/var/cache/apt/archives"
fi

# A clean environment: what a root shell on a fresh machine has, plus the
# machine's network variables.
ENV=(HOME=/root USER=root LOGNAME=root SHELL=/bin/sh TERM=dumb
     PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
while IFS= read -r v; do ENV+=("$v"); done < <(env | grep -E '^(PIP_|SSL_CERT_|https?_proxy=|no_proxy=|HTTPS?_PROXY=|NO_PROXY=)' || true)
MAKEFLAGS_IN=
[ "$JOBS" = 1 ] || { MAKEFLAGS_IN=-j$JOBS; ENV+=("MAKEFLAGS=$MAKEFLAGS_IN"); }

LOG=$RUN/log
declare -a TIMES
for cmd in "${CMDS[@]}"; do
    say "---- $cmd    (in $SRC_IN_ROOT; MAKEFLAGS=${MAKEFLAGS_IN:-none})"
    t0=$SECONDS
    # In the background so that INT/TERM reach the trap at once; cleanup
    # ends whatever still runs inside the root.
    ( set -o pipefail
      chroot "$ROOT" /usr/bin/env -i "${ENV[@]}" /bin/sh -c "cd $SRC_IN_ROOT && $cmd" </dev/null 2>&1 | tee -a "$LOG" ) 9>&- &
    rc=0; wait $! || rc=$?
    TIMES+=("$cmd: $((SECONDS - t0)) s, exit $rc")
    [ $rc = 0 ] || { say "FAILED: '$cmd' exited $rc"; printf 'fresh-check:   %s\n' "${TIMES[@]}"; exit 1; }
done

# Summary.
checks=$(grep -oE '^[0-9]+%: Checks: [0-9]+' "$LOG" | awk '{ n += $3 } END { print n + 0 }')
suites=$(grep -cE '^[0-9]+%: Checks: ' "$LOG" || true)
skips=$(grep -cE '^SKIP' "$LOG" || true)
say "==== summary ($(git -C "$REPO" rev-parse --short "$SHA"))"
[ "$t_boot" = 0 ] && say "  debootstrap: cached ($TARBALL)" || say "  debootstrap: $t_boot s"
say "  unpack root: $t_unpack s"
printf 'fresh-check:   %s\n' "${TIMES[@]}"
# The root's package installs (its apt history): time, packages, what was asked.
awk -F': ' '/^Start-Date/ { s = $2 } /^Commandline/ { c = $2 }
    /^Install/ { n = gsub(/\), /, "&") + 1 } /^End-Date/ { print s "|" $2 "|" n "|" c; n = 0 }' \
    "$ROOT/var/log/apt/history.log" 2>/dev/null |
while IFS='|' read -r s e n c; do
    printf 'fresh-check:     apt-get: %4d s, %4d packages installed; %.70s\n' \
        $(( $(date -d "$e" +%s) - $(date -d "$s" +%s) )) "$n" "${c#apt-get install -y -q --no-install-recommends }"
done
say "  Check suites: $suites, checks: $checks; last test line: $(grep -iE 'test suites (passed|failed)' "$LOG" | tail -n 1)"
say "  SKIP lines: $skips"
say "  load average (1, 5, 15 min): $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
grep -E '^SKIP' "$LOG" | sed 's/^/fresh-check:     /' || true
if [ "$skips" != 0 ] && [ "${FRESH_ALLOW_SKIP:-0}" != 1 ]; then
    say "FAILED: the tests skipped references (network or package set-up; FRESH_ALLOW_SKIP=1 to accept)"
    exit 1
fi
say "PASSED"
