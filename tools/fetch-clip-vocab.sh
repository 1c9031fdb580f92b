#!/bin/sh
# Fetches CLIP's BPE vocabulary, bpe_simple_vocab_16e6.txt.gz, into DEST_DIR.
# usage: tools/fetch-clip-vocab.sh DEST_DIR
# The file ships inside PyPI's open_clip_torch wheel: the wheel is downloaded with pip
# (no dependencies, nothing installed) into a temporary folder and the file is taken out
# of it and checked against its known SHA-256. Needs python3 with pip or venv, and PyPI.
set -eu

NAME=bpe_simple_vocab_16e6.txt.gz
SHA256=924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a
WHEEL_VERSION=3.3.0
PY=${PYTHON:-python3}

if [ $# -ne 1 ]; then
    echo "usage: $0 DEST_DIR" >&2
    exit 2
fi
DEST=$1

fail() {
    echo "fetch-clip-vocab: $*" >&2
    echo "fetch-clip-vocab: without it the tokenizer tests SKIP; copy $NAME (from any" >&2
    echo "  open_clip or OpenAI CLIP install) to $DEST/ by hand, or retry online." >&2
    exit 1
}

if [ -f "$DEST/$NAME" ] && echo "$SHA256  $DEST/$NAME" | sha256sum -c --status 2>/dev/null; then
    echo "fetch-clip-vocab: $DEST/$NAME is already there"
    exit 0
fi

command -v "$PY" >/dev/null 2>&1 || fail "$PY not found"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fetch-clip-vocab.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

PIP="$PY -m pip"
if ! $PY -m pip --version >/dev/null 2>&1; then
    # no pip module (Debian without python3-pip): a throw-away venv brings its own
    $PY -m venv "$TMP/venv" >/dev/null 2>&1 || fail "neither pip nor venv works for $PY (Debian: apt-get install python3-pip)"
    PIP="$TMP/venv/bin/python -m pip"
fi

echo "fetch-clip-vocab: downloading open_clip_torch==$WHEEL_VERSION from PyPI"
if ! $PIP download --no-deps --only-binary=:all: --disable-pip-version-check -q \
        --timeout 30 --retries 1 -d "$TMP/wheel" "open_clip_torch==$WHEEL_VERSION" >"$TMP/pip.log" 2>&1; then
    tail -n 3 "$TMP/pip.log" >&2
    fail "pip could not download open_clip_torch from PyPI (offline?)"
fi

WHL=$(ls "$TMP"/wheel/open_clip_torch-*.whl 2>/dev/null | head -n 1)
[ -n "$WHL" ] || fail "no wheel found after pip download"
$PY - "$WHL" "$TMP/$NAME" "$NAME" <<'EOF' || fail "$WHL has no $NAME"
import sys, zipfile
whl, out, name = sys.argv[1:4]
with zipfile.ZipFile(whl) as z:
    member = [m for m in z.namelist() if m.endswith("/" + name)]
    if not member:
        sys.exit(1)
    with open(out, "wb") as f:
        f.write(z.read(member[0]))
EOF

echo "$SHA256  $TMP/$NAME" | sha256sum -c --status || fail "$NAME from the wheel has an unexpected SHA-256"
mkdir -p "$DEST"
mv "$TMP/$NAME" "$DEST/$NAME.tmp"
mv "$DEST/$NAME.tmp" "$DEST/$NAME"
echo "fetch-clip-vocab: wrote $DEST/$NAME"
