#!/usr/bin/env python3
"""paired.py A.jsonl B.jsonl [GROUP] - two models' held-out benchmarks on the same
examples (prophy eval --heldout --jsonl: the same seeds, prompts and noise when the
splits, N and --exclude-data agree), compared example by example.

For PC, SA and joint: the examples both pass, only A, only B, neither; the
difference B - A in points with a 95 % interval (Wald on the paired difference,
which is what a paired design buys over two separate intervals) and McNemar's
exact two-sided p on the discordant pairs. GROUP: single (default), composite or
all. Only the standard library.

    tools/paired.py out/claims_baseline.jsonl out/claims_prophy.jsonl
"""
import json
import math
import sys

COMPOSITE = {'bounce_smoke', 'collision_flame', 'melting_explosion'}


def seed_key(seed):
    """the seed to 15 significant digits: files written before the seed was an integer
    literal hold it as cJSON's %1.15g when that was within an ulp (2.56251782431827e+15
    for 2562517824318271), so both forms of one seed give one key"""
    return '%.14e' % float(seed)


def load(path, group):
    rows = {}
    try:
        for i, line in enumerate(open(path), 1):
            r = json.loads(line)
            comp = r['scene'] in COMPOSITE
            if group == 'all' or (group == 'composite') == comp:
                rows[(r['scene'], r['split'], seed_key(r['seed']), r['prompt'])] = r
    except OSError as e:
        sys.exit('paired.py: %s: %s' % (path, e.strerror))
    except (ValueError, KeyError, TypeError) as e:
        sys.exit('paired.py: %s: line %d is not a held-out JSONL record (%s)' % (path, i, e))
    return rows


def mcnemar_p(b, c):
    """exact two-sided binomial test of b vs c discordant pairs"""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    group = sys.argv[3] if len(sys.argv) > 3 else 'single'
    if group not in ('single', 'composite', 'all'):
        sys.exit('paired.py: GROUP must be single, composite or all, not %r' % group)
    a, b = load(sys.argv[1], group), load(sys.argv[2], group)
    keys = sorted(set(a) & set(b))
    if not keys:
        sys.exit('paired.py: the two files share no example (same --heldout N, split and --exclude-data?)')
    n = len(keys)
    print('%d shared examples (%s; %d only in A, %d only in B)' % (n, group, len(a) - n, len(b) - n))
    print('| rate | both | A only | B only | neither | A % | B % | B - A, points [95 %] | McNemar p |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    for key, name in (('pc_pass', 'PC'), ('sa_pass', 'SA'), ('joint', 'joint')):
        both = sum(1 for k in keys if a[k][key] and b[k][key])
        ao = sum(1 for k in keys if a[k][key] and not b[k][key])
        bo = sum(1 for k in keys if b[k][key] and not a[k][key])
        d = (bo - ao) / n
        var = ((ao + bo) / n - d * d) / n
        h = 1.959963984540054 * math.sqrt(max(var, 0.0))
        print('| %s | %d | %d | %d | %d | %.1f | %.1f | %+.1f [%+.1f, %+.1f] | %.3g |' % (
            name, both, ao, bo, n - both - ao - bo, 100 * (both + ao) / n, 100 * (both + bo) / n,
            100 * d, 100 * (d - h), 100 * (d + h), mcnemar_p(ao, bo)))
    both_vel = [(a[k]['velocity_error'], b[k]['velocity_error']) for k in keys
                if all(isinstance(r[k]['velocity_error'], (int, float)) for r in (a, b))]
    if both_vel:
        print('velocity error on the %d examples where both have one: A %.3f, B %.3f units/s' % (
            len(both_vel), sum(v for v, _ in both_vel) / len(both_vel), sum(v for _, v in both_vel) / len(both_vel)))

if __name__ == '__main__':
    main()
