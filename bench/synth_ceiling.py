#!/usr/bin/python3
# Usage: bench/synth_ceiling.py SYNTH.h5 [--bag]
# The best expected test t2v R@1 on a synth file: a caption's meaning is its
# ordered events; videos sharing it are indistinguishable, so a perfect model
# ranks its own video first among k same-meaning videos 1/k of the time.
# --bag: the same for a pooler blind to order (mean, mlp_mean): the meaning
# is then the set of events, so more videos share one.
import h5py, collections, re, sys, numpy as np
f = h5py.File(sys.argv[1], 'r')
dec = lambda x: x.decode() if isinstance(x, bytes) else x
names = [dec(c) for c in f['class/names'][:]]
ev = set()
for n in names:
    m = re.match(r'starts with (.*) and ends with (.*)', n); ev.update(m.groups())
ev = sorted(ev, key=len, reverse=True)
pat = re.compile('|'.join(re.escape(e) for e in ev))
caps = [dec(c) for c in f['text/captions'][:]]
vid = [int(v) for v in f['text/video'][:]]
off = f['video/offsets'][:]
test = set(int(v) for v in f['split/test'][:] if off[v + 1] > off[v])
bag = "--bag" in sys.argv[2:]
key = lambda c: tuple(sorted(pat.findall(c))) if bag else tuple(pat.findall(c))
mv = {}
for c, v in zip(caps, vid):
    assert mv.setdefault(v, key(c)) == key(c), (c, mv[v])
tv = [v for v in test if v in mv]
cnt = collections.Counter(mv[v] for v in tv)
q = [v for c, v in zip(caps, vid) if v in set(tv)]
print("events", ev, "test videos", len(tv), "queries", len(q), "meanings", len(cnt))
print("t2v R@1 ceiling%s %.2f" % (" (order ignored)" if bag else "", 100 * np.mean([1 / cnt[mv[v]] for v in q])))
