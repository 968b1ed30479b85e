#!/usr/bin/env bash
# Validates every shipped model variant with TensorRT on a GPU machine (issue 18), with the same optimization
# profile the SDK passes to onnxruntime's TensorRT provider (tensorRtShapes: derived from each card):
#   1. trtexec builds an engine from the ONNX with --minShapes/--optShapes/--maxShapes (and --fp16 / --int8 for the
#      fp16 / QDQ variants) and times it at the opt shape;
#   2. polygraphy compares TensorRT with onnxruntime at the opt shape (tolerances: 1e-3 fp32, 1e-2 fp16/int8).
# Needs: trtexec and polygraphy on PATH (TensorRT's bin/ and `pip install polygraphy`), node + `npm run build` here.
# Writes results/bench/trt-validate/<model>.{log,json}; exits non-zero if a build or a comparison fails.
# Not run on the development machine (no GPU, no TensorRT): nothing it prints has been seen there.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=results/bench/trt-validate
mkdir -p "$OUT"
for tool in trtexec polygraphy node; do
  command -v "$tool" >/dev/null || { echo "validate-trt: $tool is not on PATH" >&2; exit 2; }
done
[ -f dist/sdk/index.js ] || { echo "validate-trt: run 'npm run build' first (the profile comes from the compiled SDK)" >&2; exit 2; }
status=0
for onnx in models/*.onnx; do
  card="${onnx%.onnx}.card.json"
  [ -f "$card" ] || continue  # a statistics graph (<model>.stats.onnx) has no card: it runs on the CPU provider
  name="$(basename "${onnx%.onnx}")"
  # min/opt/max for trtexec (name:1x31x8x8,…), the same for polygraphy (name:[1,31,8,8] …), and the precision,
  # from the same function FusionModel.load uses.
  mapfile -t p < <(node -e '
    const { tensorRtShapes } = require("./dist/sdk");
    const card = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const s = tensorRtShapes(card);
    const poly = (v) => v.split(",").map((b) => { const [n, d] = b.split(":"); return `${n}:[${d.split("x").join(",")}]`; }).join(" ");
    for (const v of [s.min, s.opt, s.max]) console.log(v);
    for (const v of [s.min, s.opt, s.max]) console.log(poly(v));
    console.log(card.precision || "fp32");' "$card")
  flags=()
  tol=1e-3
  case "${p[6]}" in fp16) flags=(--fp16); tol=1e-2 ;; int8) flags=(--int8 --fp16); tol=1e-2 ;; esac
  echo "== $name (${p[6]}): min ${p[0]} | opt ${p[1]} | max ${p[2]}"
  if trtexec --onnx="$onnx" --minShapes="${p[0]}" --optShapes="${p[1]}" --maxShapes="${p[2]}" --shapes="${p[1]}" \
      "${flags[@]}" --saveEngine="$OUT/$name.plan" --exportTimes="$OUT/$name.times.json" >"$OUT/$name.log" 2>&1; then
    grep -E "GPU Compute Time|Throughput" "$OUT/$name.log" | tail -2
  else
    echo "   trtexec FAILED (see $OUT/$name.log)"; status=1; continue
  fi
  poly_flags=()
  [ "${p[6]}" = fp32 ] || poly_flags=(--fp16)
  [ "${p[6]}" = int8 ] && poly_flags+=(--int8)
  if polygraphy run "$onnx" --trt --onnxrt "${poly_flags[@]}" \
      --trt-min-shapes ${p[3]} --trt-opt-shapes ${p[4]} --trt-max-shapes ${p[5]} --input-shapes ${p[4]} \
      --atol "$tol" --rtol "$tol" >>"$OUT/$name.log" 2>&1; then
    echo "   polygraphy: TensorRT matches onnxruntime within $tol"
  else
    echo "   polygraphy comparison FAILED (see $OUT/$name.log)"; status=1
  fi
done
exit $status
