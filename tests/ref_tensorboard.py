"""Reads a run directory's TensorBoard event files with TensorBoard itself
(PyPI `tensorboard`, in the virtualenv `make tensorboard-ref` makes) and
prints every scalar, for tests/test_tensorboard.c.

    ref_tensorboard.py --check        exit 0 when tensorboard imports
    ref_tensorboard.py RUN_DIR        print the scalars, one per line

Output, tab-separated:
    raw  FILE TAG STEP VALUE   every value of every record, in file order, as
                               TensorBoard's event file loader decodes them
                               (no de-duplication: a duplicate step shows)
    acc  TAG STEP VALUE        what EventAccumulator (the loader behind the
                               scalars dashboard) holds for the directory
VALUE is the float32 written, printed exactly (repr of the Python float).
"""
import os
import sys


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--check":
        from tensorboard.backend.event_processing import event_accumulator  # noqa: F401
        from tensorboard.backend.event_processing import event_file_loader  # noqa: F401
        return 0
    if len(sys.argv) != 2:
        print("usage: ref_tensorboard.py RUN_DIR | --check", file=sys.stderr)
        return 2
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.backend.event_processing import event_file_loader

    run = sys.argv[1]
    files = sorted(f for f in os.listdir(run) if "tfevents" in f)
    if not files:
        print("no event file in " + run, file=sys.stderr)
        return 1
    for name in files:
        loader = event_file_loader.LegacyEventFileLoader(os.path.join(run, name))
        for ev in loader.Load():
            if not ev.HasField("summary"):
                continue
            for v in ev.summary.value:
                if v.HasField("simple_value"):
                    print("raw\t%s\t%s\t%d\t%r" % (name, v.tag, ev.step, v.simple_value))
    acc = event_accumulator.EventAccumulator(run, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    for tag in sorted(acc.Tags()["scalars"]):
        for s in acc.Scalars(tag):
            print("acc\t%s\t%d\t%r" % (tag, s.step, s.value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
