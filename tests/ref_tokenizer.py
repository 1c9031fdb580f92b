#!/usr/bin/env python3
"""Reference CLIP tokenizer for tests/test_tokenizer.c (open_clip's SimpleTokenizer).

  ref_tokenizer.py VOCAB CONTEXT_LEN[,CONTEXT_LEN...] IN OUT
      IN holds one string per line, hex-encoded bytes (so any bytes, newlines and
      invalid UTF-8 survive); each is decoded with errors='replace', as
      models/text_clean.c does. OUT gets, for each context length in turn, one line
      per string of that many ids.
  ref_tokenizer.py --check
      exits 0 when the reference can be loaded (ftfy 6.3.1, regex, open_clip_torch).
  ref_tokenizer.py --entities > models/html_entities.inc
      prints the named-entity table of models/text_clean.c, derived from Python's
      html.entities.html5 and ftfy's upper-case rule (run it to regenerate).
  ref_tokenizer.py --mojibake-tables > models/mojibake_tables.inc
      prints the code pages and character classes of models/mojibake.c, from Python's
      codecs and ftfy (the tables ftfy's fix_encoding works with).
  ref_tokenizer.py --cases SEED N
      prints test strings, hex-encoded, one a line: every HTML5 entity name in a few
      forms, then N pieces of mojibake of many kinds made with random.Random(SEED).

open_clip's package __init__ imports torch, torchvision and timm, so only its
tokenizer.py is loaded, by file path. That file imports torch and numpy at the
top but SimpleTokenizer.encode needs neither: when they are missing, stand-ins
are installed and the context-length step is done here by open_clip's rule.
Run it with build/venv-tok/bin/python (see `make tokenizer-ref`).
"""
import importlib.util
import os
import sys
import types


def load_openclip_tokenizer_module():
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("open_clip_torch is not installed")
    path = os.path.join(list(spec.submodule_search_locations)[0], "tokenizer.py")
    have_torch = True
    for name in ("torch", "numpy"):
        try:
            __import__(name)
        except ImportError:
            if name == "torch":
                have_torch = False
            stub = types.ModuleType(name)
            stub.__getattr__ = lambda attr: object  # type annotations only
            sys.modules[name] = stub
    mspec = importlib.util.spec_from_file_location("vc_ref_openclip_tokenizer", path)
    mod = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(mod)
    return mod, have_torch


_loaded = {}


def tokenize_all(vocab, context_len, texts):
    if vocab not in _loaded:
        mod, have_torch = load_openclip_tokenizer_module()
        _loaded[vocab] = (mod.SimpleTokenizer(bpe_path=vocab), have_torch)
    tok, have_torch = _loaded[vocab]
    if have_torch:
        return tok(texts, context_length=context_len).tolist()
    rows = []
    for t in texts:  # SimpleTokenizer.__call__ without torch
        ids = [tok.sot_token_id] + tok.encode(t) + [tok.eot_token_id]
        if len(ids) > context_len:
            ids = ids[:context_len]
            ids[-1] = tok.eot_token_id
        rows.append(ids + [0] * (context_len - len(ids)))
    return rows


# ------------------------------------------------------------------ generated C tables


def c_string(s):
    return '"' + "".join("\\%03o" % b for b in s.encode("utf-8")) + '"'


def html_entity_rows():
    """(name, value, flags) for every name models/text_clean.c decodes: each html5 name
    (E_SEMI: "&name;" is in html.entities.html5, E_LEGACY: "&name" is too) and each
    upper-cased form that only ftfy decodes (E_FTFY_UPPER, value upper-cased)."""
    import html
    import html.entities as H

    h5 = H.html5
    rows = {}
    for key, val in h5.items():
        name = key[:-1] if key.endswith(";") else key
        old = rows.get(name)
        if old is not None and old[0] != val:
            raise SystemExit("html5 gives &%s and &%s; different values" % (name, name))
        flags = (old[1] if old else set()) | {"E_SEMI" if key.endswith(";") else "E_LEGACY"}
        rows[name] = (val, flags)
    # ftfy.chardata's rule: "&NAME;" of a lower-case "&name;" that html.unescape leaves alone
    for key, val in h5.items():
        if key.endswith(";") and key == key.lower():
            up = "&" + key.upper()
            if html.unescape(up) == up:
                assert key[:-1].upper() not in rows
                rows[key[:-1].upper()] = (val.upper(), {"E_FTFY_UPPER"})
    try:  # check against ftfy's own table when it is importable
        from ftfy.chardata import HTML_ENTITIES
        mine = {"&" + n + ";": v for n, (v, f) in rows.items() if f != {"E_LEGACY"}}
        if mine != HTML_ENTITIES:
            raise SystemExit("entity table differs from ftfy.chardata.HTML_ENTITIES")
    except ImportError:
        pass
    out = []
    for name in sorted(rows, key=lambda n: n.encode()):
        val, flags = rows[name]
        order = ["E_SEMI", "E_LEGACY", "E_FTFY_UPPER"]
        out.append((name, val, "|".join(sorted(flags, key=order.index))))
    return out


def print_entities():
    rows = html_entity_rows()
    print("/* html_entities.inc: every named character reference that models/text_clean.c")
    print(" * decodes, sorted by name (strcmp); values are UTF-8 in octal escapes.")
    print(" * %d entries, generated by tests/ref_tokenizer.py --entities: do not edit. */"
          % len(rows))
    for n, val, flags in rows:
        print('{"%s", %s, %s},' % (n, c_string(val), flags))


# The code pages ftfy.chardata.CHARMAP_ENCODINGS tries, in its order. A "sloppy" one is
# the Windows code page with its undefined bytes read as Latin-1 and byte 0x1A as U+FFFD
# (ftfy.bad_codecs.sloppy); the table is built here from the stdlib codec by that rule.
CODE_PAGES = [
    ("CP_LATIN1", "latin-1", False),
    ("CP_SLOPPY_1252", "windows-1252", True),
    ("CP_SLOPPY_1251", "windows-1251", True),
    ("CP_SLOPPY_1250", "windows-1250", True),
    ("CP_SLOPPY_1253", "windows-1253", True),
    ("CP_SLOPPY_1254", "windows-1254", True),
    ("CP_SLOPPY_1257", "windows-1257", True),
    ("CP_ISO_8859_2", "iso-8859-2", False),
    ("CP_MACROMAN", "macroman", False),
    ("CP_437", "cp437", False),
]


def code_page_table(codec, sloppy):
    import codecs

    table = bytes(range(256)).decode(codec, errors="replace")
    if not sloppy:
        assert "\ufffd" not in table
        return table, lambda ch: ch.encode(codec)
    chars = [t if t != "\ufffd" else chr(i) for i, t in enumerate(table)]
    chars[0x1A] = "\ufffd"
    table = "".join(chars)
    enc = codecs.charmap_build(table)
    return table, lambda ch: codecs.charmap_encode(ch, "strict", enc)[0]


def clue_sets():
    """ftfy.chardata.UTF8_CLUES, derived from the code pages (and checked against ftfy)."""
    pages = ["latin-1", "windows-1252", "windows-1250", "windows-1251", "windows-1253",
             "windows-1254", "windows-1257"]

    def decoded(byte_values):
        s = set()
        for p in pages:
            for b in byte_values:
                ch = bytes([b]).decode(p, errors="replace")
                if ch != "\ufffd":
                    s.add(ch)
        return s

    # ftfy's lists: 4-byte leads only from F0 and F3; a space may stand for byte A0; the
    # strict continuation set leaves out the punctuation that often stands for itself.
    cont = decoded(range(0x80, 0xC0)) | {" "}
    loose = set("\u2013\u2014\u2015\u2018\u2019\u201a\u201c\u201d\u201e\u2022\u2026")
    sets = {
        "utf8_first_of_2": decoded(range(0xC2, 0xE0)),
        "utf8_first_of_3": decoded(range(0xE0, 0xF0)),
        "utf8_first_of_4": decoded([0xF0, 0xF3]),
        "utf8_continuation": cont,
        "utf8_continuation_strict": cont - {" "} - loose,
    }
    try:
        import re
        from ftfy.chardata import UTF8_CLUES
        for name, s in sets.items():
            rx = re.compile("[%s]" % UTF8_CLUES[name])
            theirs = {chr(c) for c in range(0x10000) if rx.fullmatch(chr(c))}
            if theirs != s:
                raise SystemExit("%s differs from ftfy: %r" % (name, sorted(theirs ^ s)))
    except ImportError:
        pass
    return sets


def pcre_class(chars):
    """A string of ftfy's MOJIBAKE_CATEGORIES form ("a-z" is a range) as the body of a
    PCRE2 character class, every character written as \\x{...}."""
    out, i = [], 0
    while i < len(chars):
        if i + 2 < len(chars) and chars[i + 1] == "-":
            out.append("\\\\x{%x}-\\\\x{%x}" % (ord(chars[i]), ord(chars[i + 2])))
            i += 3
        else:
            out.append("\\\\x{%x}" % ord(chars[i]))
            i += 1
    return "".join(out)


def print_mojibake_tables():
    import ftfy.bad_codecs  # noqa: F401  (registers the sloppy codecs, checked against below)
    from ftfy.badness import MOJIBAKE_CATEGORIES
    from ftfy.chardata import CHARMAP_ENCODINGS

    assert [("sloppy-" if s else "") + c for _, c, s in CODE_PAGES] == CHARMAP_ENCODINGS
    for _, codec, sloppy in CODE_PAGES:
        if sloppy:
            theirs = bytes(range(256)).decode("sloppy-" + codec)
            assert code_page_table(codec, sloppy)[0] == theirs, codec
            assert all(ch.encode("sloppy-" + codec) == code_page_table(codec, sloppy)[1](ch)
                       for ch in theirs), codec

    print("/* mojibake_tables.inc: data for models/mojibake.c, generated by")
    print(" * tests/ref_tokenizer.py --mojibake-tables from Python's codecs and ftfy 6.3.1:")
    print(" * do not edit. */")
    print()
    print("enum {")
    for i, (cname, codec, sloppy) in enumerate(CODE_PAGES):
        print("    %s,%s" % (cname, " /* %s%s */" % ("sloppy " if sloppy else "", codec)))
    print("    CP_COUNT\n};")
    print()
    print("static const bool k_cp_sloppy[CP_COUNT] = {%s};" %
          ", ".join("true" if s else "false" for _, _, s in CODE_PAGES))
    print()
    print("/* What bytes 0x80..0xFF decode to. Bytes below 0x80 are ASCII in every code page,")
    print(" * except 0x1A in a sloppy one (U+FFFD, see k_cp_encode). */")
    print("static const uint16_t k_cp_decode[CP_COUNT][128] = {")
    encoders = []
    for cname, codec, sloppy in CODE_PAGES:
        table, encode = code_page_table(codec, sloppy)
        for i in range(0x80):
            assert table[i] == (chr(i) if i != 0x1A or not sloppy else "\ufffd")
        encoders.append((table, encode))
        print("    { /* %s */" % cname)
        for row in range(0x80, 0x100, 8):
            print("        " + " ".join("0x%04X," % ord(table[b]) for b in range(row, row + 8)))
        print("    },")
    print("};")
    print()
    print("/* Every character outside ASCII a code page encodes (those of bytes 0x80..0xFF and")
    print(" * of byte 0x1A) with its byte, sorted by code point. */")
    print("typedef struct { uint16_t cp; uint8_t byte; } cp_pair;")
    print("static const cp_pair k_cp_encode[CP_COUNT][129] = {")
    for (cname, codec, sloppy), (table, encode) in zip(CODE_PAGES, encoders):
        chars = {table[b] for b in list(range(0x80, 0x100)) + [0x1A]}
        assert len(chars) == 129, cname
        pairs = sorted((ord(ch), encode(ch)[0]) for ch in chars)
        assert all(ord(table[b]) == c for c, b in pairs)
        print("    { /* %s */" % cname)
        for k in range(0, len(pairs), 6):
            print("        " + " ".join("{0x%04X, 0x%02X}," % p for p in pairs[k:k + 6]))
        print("    },")
    print("};")
    print()
    sets = clue_sets()
    bits = ["CLUE_FIRST2", "CLUE_FIRST3", "CLUE_FIRST4", "CLUE_CONT", "CLUE_CONT_STRICT"]
    names = ["utf8_first_of_2", "utf8_first_of_3", "utf8_first_of_4", "utf8_continuation",
             "utf8_continuation_strict"]
    flags = {}
    for bit, name in zip(bits, names):
        for ch in sets[name]:
            flags.setdefault(ord(ch), []).append(bit)
    print("/* ftfy.chardata.UTF8_CLUES as flags per character (sorted by code point). */")
    print("enum { %s };" % ", ".join("%s = %d" % (b, 1 << i) for i, b in enumerate(bits)))
    print("typedef struct { uint16_t cp; uint8_t flags; } clue_pair;")
    print("static const clue_pair k_clues[%d] = {" % len(flags))
    for cp in sorted(flags):
        print("    {0x%04X, %s}," % (cp, "|".join(flags[cp])))
    print("};")
    print()
    print("/* ftfy.badness.MOJIBAKE_CATEGORIES as bodies of PCRE2 character classes. */")
    for key, chars in MOJIBAKE_CATEGORIES.items():
        print('static const char k_cat_%s[] = "%s";' % (key, pcre_class(chars)))


# ------------------------------------------------------------------ generated test strings

GOOD_WORDS = [
    # Latin-1 range
    "café", "naïve", "résumé", "Crème brûlée", "São Paulo", "Zürich", "façade", "jalapeño",
    "Ærøskøbing", "smørrebrød", "Straße", "À la mode", "à", "às", "àquele", "déjà vu", "voilà",
    "fiancée", "Ångström", "œuvre", "Œdipe", "Mañana", "niño", "ÉCOLE", "Ça va", "Ü", "ß", "ÿ",
    "Ø", "Ù", "Ó", "Þór", "ðe", "íslenska", "ê", "Â", "Ã", "Î", "Ð", "¡Hola!", "¿Qué?",
    # central European, Turkish, Baltic
    "Łódź", "Dvořák", "Kraków", "Gdańsk", "Žluťoučký kůň", "Székesfehérvár", "ŐŰőű", "Brașov",
    "İstanbul", "ığdır", "Ğğ Şş", "Šiauliai", "Ąžuolas", "Rīga", "Ēģīķļņ", "č", "ř", "ž",
    # Cyrillic, Greek
    "Москва", "привет мир", "Україна", "ЁЖЗ", "Ђорђе", "Љубљана", "ґ", "В", "Г", "Р", "С",
    "Αθήνα", "καλημέρα", "ΟΔΥΣΣΕΑΣ", "ΐΰ", "ώ", "β", "Β", "Γ", "Ξ", "Ο", "π", "σ",
    # punctuation and symbols that code pages hold
    "“quoted”", "‘single’", "don’t", "—", "–", "…", "•", "€100", "™", "©", "®", "°C", "±",
    "½", "¼", "²", "³", "×", "÷", "µ", "¶", "§", "«guillemets»", "‹›", "„low“", "‚", "†‡",
    "‰", "a\u00a0b", "soft\u00adhyphen", "·", "¢£¥", "¤", "¦", "¨", "¬", "¯", "¸", "ƒ", "ˆ",
    "˜", "√", "∂", "≈", "≠", "≤", "≥", "∞", "Ω", "π", "◊", "", "ﬁ", "ﬂ", "№", "‽", "⁄",
    "─│┌┐", "═║╬", "░▒▓█",
    # other scripts and astral characters
    "日本語", "中文", "한국어", "עברית", "العربية", "हिन्दी", "ไทย", "😀", "👍🏽", "❤️",
    "🇺🇸", "𝒥", "𝔸𝔹", "ツ", "¯\\_(ツ)_/¯", "ÿþ", "ĳ",
    # ASCII
    "the", "a photo of", "dog", "running", "hello world", "x", "42", "!", "?", ".", ",", "-",
    "a", "I", "s", "quele", "quilo", "la", "Ã la", "&", "<b>", "'", '"',
]

# The code pages mojibake is made with: the ten ftfy tries, and strict Windows ones whose
# undefined bytes turn into U+FFFD (lossy mojibake).
MOJIBAKE_PAGES = ["latin-1", "sloppy-windows-1252", "sloppy-windows-1251", "sloppy-windows-1250",
                  "sloppy-windows-1253", "sloppy-windows-1254", "sloppy-windows-1257",
                  "iso-8859-2", "macroman", "cp437", "windows-1252", "windows-1251",
                  "windows-1250", "windows-1253", "windows-1254", "windows-1257", "cp850",
                  "iso-8859-15", "koi8-r", "utf-16-le"]


def cesu8(text):
    out = bytearray()
    for ch in text:
        c = ord(ch)
        if c >= 0x10000:
            c -= 0x10000
            for s in (0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF)):
                out += chr(s).encode("utf-8", "surrogatepass")
        elif c == 0:
            out += b"\xc0\x80"
        else:
            out += ch.encode("utf-8")
    return bytes(out)


def mojibake_case(r):
    import unicodedata

    import ftfy.bad_codecs  # noqa: F401  (registers the sloppy codecs)

    def good(k):
        return r.choice([" ", " ", "", "-", ", "]).join(r.choice(GOOD_WORDS) for _ in range(k))

    def garble(text, page=None):
        page = page or r.choice(MOJIBAKE_PAGES[:16])
        raw = cesu8(text) if r.random() < 0.15 else text.encode("utf-8")
        if r.random() < 0.1:
            raw = raw.replace(b"\xa0", b" ")  # a program "fixed" the NBSP byte
        out = raw.decode(page, errors="replace")
        if page == "utf-16-le":
            out = out.replace("\x00", "")
        return out

    kind = r.randrange(12)
    if kind == 0:  # plain mojibake in one code page
        s = garble(good(r.randint(1, 6)))
    elif kind == 1:  # twice
        s = garble(good(r.randint(1, 4)))
        s = garble(s, r.choice(["latin-1", "sloppy-windows-1252", "windows-1252",
                                "sloppy-windows-1251", "macroman"]))
    elif kind == 2:  # byte A0 turned into a space
        s = garble(good(r.randint(1, 5)), r.choice(MOJIBAKE_PAGES[:10])).replace("\u00a0", " ")
    elif kind == 3:  # lossy: characters lost to '?' or U+FFFD
        s = list(garble(good(r.randint(1, 5))))
        for _ in range(r.randint(1, 3)):
            if s:
                s[r.randrange(len(s))] = r.choice("?\ufffd")
        s = "".join(s)
    elif kind == 4:  # mixed good and bad text
        s = good(r.randint(0, 3)) + r.choice([" ", "", "\n"]) + garble(good(r.randint(1, 3))) + \
            r.choice([" ", ""]) + good(r.randint(0, 3))
    elif kind == 5:  # Windows-1252 punctuation
        p = ["“", "”", "‘", "’", "—", "–", "…", "•", "€", "™", "„", "‚", "‹", "›", "†", "‰"]
        s = "".join(r.choice(p) + r.choice(["", " ", "word", "x"]) for _ in range(r.randint(1, 8)))
        s = garble(s, r.choice(["latin-1", "sloppy-windows-1252", "windows-1252", "macroman",
                                "sloppy-windows-1250"]))
    elif kind == 6:  # C1 controls among text
        s = "".join(r.choice([chr(r.randrange(0x80, 0xA0)), r.choice(GOOD_WORDS), " "])
                    for _ in range(r.randint(1, 8)))
    elif kind == 7:  # CESU-8 and Java's C0 80
        t = good(r.randint(1, 3)) + r.choice(["😀", "𝒥", "\x00", "🇺🇸", "👍🏽"]) + good(r.randint(0, 2))
        page = r.choice(["latin-1", "sloppy-windows-1252", "windows-1252"])
        s = cesu8(t).decode(page, errors="replace")
    elif kind == 8:  # characters ftfy looks at, at random
        pool = "ÂÃÎÐØÙàâóé€œŠš¢£Ÿž\u00a0\u00ad®©°·»–—´×²³µ√≈‚Äвђ¬ВГРСўЂβΒΓΞΟāŒœ" \
               "ÃƒâÅÐÑ€™“”‘’•…ªº¦¤¨¯¸ˆˇ˘˛˜†‡‰◊\ufffd ab.,?!\n<" + \
               "".join(chr(c) for c in range(0x80, 0xA0))
        s = "".join(r.choice(pool) for _ in range(r.randint(1, 12)))
    elif kind == 9:  # several lines, some of them mojibake, maybe HTML
        lines = [r.choice([good(2), garble(good(2)), "<p>" + good(1), "&amp;" + garble(good(1))])
                 for _ in range(r.randint(2, 4))]
        s = r.choice(["\n", "\r\n", "\u2028", "\n\n"]).join(lines) + r.choice(["", "\n"])
    elif kind == 10:  # mojibake written as HTML entities, or around them
        t = garble(good(r.randint(1, 3)))
        s = "".join("&#%d;" % ord(ch) if ord(ch) > 127 and r.random() < 0.5 else ch for ch in t)
        s += r.choice(["", " &amp;", " &eacute;", " &EACUTE;", "&nbsp;"])
    else:  # a code page ftfy does not try, or UTF-16
        s = garble(good(r.randint(1, 4)), r.choice(MOJIBAKE_PAGES[16:]))
    # Code points Python 3.11's Unicode 14 leaves unassigned (UTF-16 garbage makes them,
    # and so can the repair) are letters to newer versions of the regex module, which
    # open_clip splits words with: not what these tests are about.
    return "".join("\ufffd" if unicodedata.category(ch) == "Cn" else ch
                   for ch in s.replace("\x00", ""))


def entity_cases():
    """Every name html.unescape or ftfy decodes, a few per string, in the forms that
    matter: "&name;", "&name" followed by text (longest-prefix rule), upper case."""
    import html.entities as H

    semi = sorted(k for k in H.html5 if k.endswith(";"))
    legacy = sorted(k for k in H.html5 if not k.endswith(";"))
    cases = []
    for i in range(0, len(semi), 10):
        cases.append(" ".join("&" + k for k in semi[i:i + 10]))
    for i in range(0, len(legacy), 10):
        cases.append(" ".join("&%s%s" % (k, ["", "x", "2020", ";", "in;", " "][j % 6])
                              for j, k in enumerate(legacy[i:i + 10])))
    ups = [k for k in semi if k == k.lower()]
    for i in range(0, len(ups), 10):
        cases.append(" ".join("&" + k.upper() for k in ups[i:i + 10]))
    for i in range(0, len(semi), 40):  # without ';' (mostly left alone, some by prefix)
        cases.append(" ".join("&" + k[:-1] for k in semi[i:i + 40:4]))
    cases.append("<b>" + " ".join("&" + k for k in semi[::97]))  # '<': only html.unescape
    return cases


def print_cases(seed, n):
    import html
    import random
    import unicodedata

    import ftfy

    def unassigned_after_cleaning(s):  # see the end of mojibake_case
        t = html.unescape(html.unescape(ftfy.fix_text(s)))
        return any(unicodedata.category(ch) == "Cn" for ch in t)

    r = random.Random(seed)
    cases = entity_cases()
    for _ in range(n):
        s = mojibake_case(r)
        while unassigned_after_cleaning(s):
            s = mojibake_case(r)
        cases.append(s)
    for s in cases:
        print(s.encode("utf-8").hex())


def main(argv):
    if len(argv) == 2 and argv[1] == "--entities":
        print_entities()
        return 0
    if len(argv) == 2 and argv[1] == "--mojibake-tables":
        print_mojibake_tables()
        return 0
    if len(argv) == 4 and argv[1] == "--cases":
        print_cases(int(argv[2]), int(argv[3]))
        return 0
    if len(argv) == 2 and argv[1] == "--check":
        import ftfy
        import regex  # noqa: F401

        if ftfy.__version__ != "6.3.1":  # models/mojibake.c follows 6.3.1 exactly
            sys.stderr.write("ftfy %s installed, the tests need 6.3.1\n" % ftfy.__version__)
            return 1
        load_openclip_tokenizer_module()
        return 0
    if len(argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    vocab, inp, out = argv[1], argv[3], argv[4]
    lens = [int(x) for x in argv[2].split(",")]
    with open(inp, "r", encoding="ascii") as f:
        texts = [bytes.fromhex(line.strip()).decode("utf-8", errors="replace") for line in f]
    with open(out, "w", encoding="ascii") as f:
        for context_len in lens:
            for r in tokenize_all(vocab, context_len, texts):
                f.write(" ".join(str(int(i)) for i in r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
