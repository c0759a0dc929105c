#!/usr/bin/env python3
"""router_stats.py MODEL [SEEDS] - how peaked the semantic router of a ProPhy model
is: for every scene and SEEDS simulator seeds from 900001 (default 4; seeds never
used in training), the simulator's prompt goes through `prophy route --steps 1 --json`
(the semantic weights depend on the prompt alone), and this prints, per scene, the
mean top weight and the top experts, then over all prompts: the mean top weight,
the mean entropy of the weights as a fraction of log(E), how many of the E experts
are ever on top, and the share of prompts whose top weight is >= 0.9.
Only the standard library; PROPHY names the binary (default ./prophy).

    python3 tools/router_stats.py models/latent_prophy.safetensors
"""
import collections
import json
import math
import os
import subprocess
import sys
import tempfile

PROPHY = os.environ.get('PROPHY', './prophy')


def run(args):
    r = subprocess.run([PROPHY] + args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit('router_stats.py: %s %s: %s' % (PROPHY, args[0], r.stderr.strip()))
    return r.stdout


def prompt_of(scene, seed, tmp):
    spec = os.path.join(tmp, 'spec.json')
    run(['sim', '--scene', scene, '--seed', str(seed), '-W', '32', '-H', '32', '--video-frames', '9',
         '-o', os.path.join(tmp, 'sim.y4m'), '--spec', spec])
    with open(spec) as f:
        return json.load(f)['prompt']


def weights_of(model, prompt, tmp):
    out = run(['route', '-m', model, '-p', prompt, '--steps', '1', '-t', '1', '--json',
               '-o', os.path.join(tmp, 'route.gif')])
    w = json.loads(out).get('semantic_weights')
    if not w:
        sys.exit('router_stats.py: %s has no semantic router (branch reb?)' % model)
    return w


def entropy_fraction(w):
    return -sum(p * math.log(p) for p in w if p > 0) / math.log(len(w))


def main():
    if len(sys.argv) < 2 or len(sys.argv) > 3:
        sys.exit(__doc__.strip().split('\n\n')[0])
    model = sys.argv[1]
    arg = sys.argv[2] if len(sys.argv) == 3 else '4'
    if not arg.isdigit() or int(arg) < 1:
        sys.exit('router_stats.py: SEEDS must be a whole number >= 1, not %r' % arg)
    seeds = int(arg)
    scenes = run(['sim', '--list']).split()
    rows, tops = [], collections.Counter()
    with tempfile.TemporaryDirectory() as tmp:
        print('| scene | mean top weight | top experts (count) |')
        print('|---|---:|---|')
        for s in scenes:
            ws = [weights_of(model, prompt_of(s, 900001 + k, tmp), tmp) for k in range(seeds)]
            top = collections.Counter(max(range(len(w)), key=w.__getitem__) for w in ws)
            tops.update(top)
            rows += ws
            print('| %s | %.3f | %s |' % (s, sum(max(w) for w in ws) / len(ws),
                                          ', '.join('%d (%d)' % kv for kv in sorted(top.items()))))
    E = len(rows[0])
    print()
    print('%d prompts, %d experts: mean top weight %.3f, mean entropy %.3f of log(%d), '
          '%d experts ever on top, top weight >= 0.9 on %.0f %%' %
          (len(rows), E, sum(max(w) for w in rows) / len(rows),
           sum(entropy_fraction(w) for w in rows) / len(rows), E, len(tops),
           100.0 * sum(max(w) >= 0.9 for w in rows) / len(rows)))


if __name__ == '__main__':
    main()
