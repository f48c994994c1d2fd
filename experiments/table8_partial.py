#!/usr/bin/env python3
# The partial Table 8 on video-text few (README, item 5): cg and neumann from
#   meltr compare --preset few --methods cg,neumann --seeds 100,101,102,103,104 \
#     --backbone runs/protocol-video/backbone.safetensors \
#     --extra runs/protocol-video/recipes/bertadam-5e-5.toml --out runs/protocol-video/table8
# against the protocol's report runs of the sum and AID-FP-Lite on the same seeds.
import json
from scipy.stats import t
import sys
out = sys.argv[1] if len(sys.argv) > 1 else 'runs/protocol-video'
def ci(v):
    n=len(v); m=sum(v)/n; s=(sum((x-m)**2 for x in v)/(n-1))**.5
    return m, t.ppf(.975,n-1)*s/n**.5
s=json.load(open(f'{out}/report/sum/compare.json'))[0]
def val(d, m):
    v=[json.load(open(f'{out}/{d}/{m}-seed{k}/summary.json'))['epochs'][-1]['val']['r1'] for k in range(100,105)]
    return sum(v)/len(v)
s['val5']=val('report/sum','sum')
rows=[('plain multi-task sum', s)]
r=json.load(open(f'{out}/report/meltr/compare.json'))[0]; r['val5']=val('report/meltr','meltr')
rows.append(('MELTR, AID-FP-Lite', r))
for r in json.load(open(f'{out}/table8/compare.json')):
    r['val5']=val('table8', r['method']); rows.append((r['label'], r))
print("| method (BertAdam's, lr 5e-5) | test R@1 (mean ± 95 % CI, seeds 100–104) | val R@1 (mean) | − sum (wins/losses) | epoch time vs sum |")
print("|---|---|---|---|---|")
for label, r in rows:
    a=r['test'][:5]; b=s['test'][:5]
    m,h=ci(a); d=[x-y for x,y in zip(a,b)]
    dm,dh=ci(d)
    diff='—' if r is s else f"{dm:+.1f} ± {dh:.1f} ({sum(x>0 for x in d)}/{sum(x<0 for x in d)})"
    print(f"| {label} | {m:.1f} ± {h:.1f} | {r['val5']:.1f} | {diff} | {r['epoch_seconds']/s['epoch_seconds']:.2f}× |")
