set -u
B=build-gpu
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_WITH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null && cmake --build $B -j16 --target kiln_cli >/dev/null || exit 1
python3 scripts/make_models.py /tmp/m --models resnet50 >/dev/null
for e in 0 3; do
  $B/kiln build --onnx=/tmp/m/resnet50.onnx --device=cuda --fp16 --shapes=input:32x3x224x224 --builder-effort=$e --save-engine=/tmp/e$e.plan --quiet --dump-layers > $OUT/layers_e$e.txt
  $B/kiln bench --engine=/tmp/e$e.plan --no-data-transfers --use-cuda-graph --iterations=50 | grep -i "GPU compute"
  $B/kiln bench --engine=/tmp/e$e.plan --no-data-transfers --profile=all --iterations=20 > $OUT/profile_e$e.txt
done
python3 - <<'PY'
import os,re
out=os.environ["OUT"]
def iso(f):
    d={}
    for l in open(f):
        c=l.split()
        if len(c)>=6 and c[1]=="Convolution": d[c[0]]=(c[3],c[4])
    return d
def prof(f):
    d={};on=False
    for l in open(f):
        if l.startswith("Layers, slowest"): on=True; continue
        if on:
            c=l.split()
            if len(c)==2: d[c[1]]=float(c[0])
    return d
i0,i3=iso(f"{out}/layers_e0.txt"),iso(f"{out}/layers_e3.txt")
p0,p3=prof(f"{out}/profile_e0.txt"),prof(f"{out}/profile_e3.txt")
s0=s3=si=0
for n in i3:
    a,b=p0.get(n,0),p3.get(n,0); s0+=a; s3+=b
    try: si+=float(i3[n][1])
    except: pass
    if b>a*1.2: print(f"{n:30s} e0 {a:.4f} ms e3 {b:.4f} ms ({i3[n][0]}, isolated {i3[n][1]})")
print(f"conv sum in situ: effort0 {s0:.3f} ms, effort3 {s3:.3f} ms; isolated sum effort3 {si:.3f}")
PY
grep -A12 "by type" $OUT/profile_e0.txt; grep -A12 "by type" $OUT/profile_e3.txt
