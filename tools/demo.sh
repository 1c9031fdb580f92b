#!/bin/sh
# The main job on the built-in default (`make demo`): synthetic data whose
# captions depend on the order of events, a mean-pooling baseline and a
# transformer pooler trained on it, both evaluated on the test split, side by
# side, the transformer pooler exported for PyTorch, and a picture of both
# runs (training loss and validation mean R@1 against step).
set -e
V=${VCLIP:-build/vclip}
D=build/demo
mkdir -p $D
if [ ! -f $D/synth.h5 ]; then
    echo "== vclip synth: $D/synth.h5"
    $V synth --out $D/synth.h5
fi
echo "== train the mean baseline (configs/demo_mean.ini)"
$V train configs/demo_mean.ini
echo "== train the transformer pooler (configs/demo.ini)"
$V train configs/demo.ini
echo "== evaluate both on the test split"
$V eval configs/demo_mean.ini --checkpoint $D/mean/best.safetensors --split test --json $D/mean.json > $D/mean_eval.txt
$V eval configs/demo.ini --checkpoint $D/transformer/best.safetensors --split test --json $D/transformer.json > $D/transformer_eval.txt
$V compare $D/mean.json $D/transformer.json
echo "== export the transformer pooler"
$V export $D/transformer/best.safetensors --out $D/transformer_pooler.safetensors
echo "load it in PyTorch: python3 -c \"import sys; sys.path.insert(0, 'tools'); import vclip_torch; print(vclip_torch.load_pooler('$D/transformer_pooler.safetensors'))\""
echo "== plot both runs"
$V plot $D/mean $D/transformer --out $D/demo_plot.png
echo "the runs side by side: $D/demo_plot.png (TensorBoard: tensorboard --logdir $D)"
