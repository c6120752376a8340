// Slice (ONNX): per-axis start/step after clamping, then one strided copy (negative steps read backwards).
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

std::string supportsSlice(const ir::Layer& layer) {
  return checkTypes(layer, kBytes, kBytes);
}

void runSlice(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 3);
  const TensorView& in = args.inputs[0];
  const TensorView& out = args.outputs[0];
  checkSameType(layer, in, out);
  const int64_t rank = static_cast<int64_t>(in.shape.size());
  std::vector<int64_t> starts = readInts(args.inputs[1], layer), ends = readInts(args.inputs[2], layer);
  std::vector<int64_t> axes, steps;
  if (present(args, 3)) axes = readInts(args.inputs[3], layer);
  else for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (present(args, 4)) steps = readInts(args.inputs[4], layer);
  else steps.assign(starts.size(), 1);
  KILN_CHECK(ends.size() == starts.size() && axes.size() == starts.size() && steps.size() == starts.size(),
             kInvalidArgument, layer.describe(), ": starts, ends, axes and steps differ in length");
  Dims start(rank, 0), step(rank, 1), shape = in.shape;
  std::vector<bool> seen(rank, false);
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t a = normAxis(axes[i], rank, layer);
    KILN_CHECK(!seen[a], kInvalidArgument, layer.describe(), ": axis ", axes[i], " repeats");
    seen[a] = true;
    int64_t d = in.shape[a], s = starts[i], e = ends[i], st = steps[i];
    KILN_CHECK(st != 0, kInvalidArgument, layer.describe(), ": step 0");
    if (s < 0) s += d;
    if (e < 0 && e > std::numeric_limits<int64_t>::min() / 2) e += d;
    else if (e < 0) e = -1;
    // Counts as (span - 1) / |step| + 1, which cannot overflow for any step (|INT64_MIN| taken as INT64_MAX).
    if (d == 0) {
      s = 0;
      shape[a] = 0;
    } else if (st > 0) {
      s = std::clamp<int64_t>(s, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
      shape[a] = e > s ? (e - s - 1) / st + 1 : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, d - 1);
      e = std::clamp<int64_t>(e, -1, d - 1);
      int64_t magnitude = st == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -st;
      shape[a] = s > e ? (s - e - 1) / magnitude + 1 : 0;
    }
    start[a] = s;
    step[a] = shape[a] > 1 ? st : 1;  // a step that takes one element is never applied: keep stride * step small
  }
  KILN_CHECK(shape == out.shape, kInternal, layer.describe(), ": output shape ", dimsToString(out.shape),
             ", expected ", dimsToString(shape));
  if (out.count() == 0) return;
  Dims inStrides = stridesOf(in.shape), strides(rank);
  int64_t base = 0;
  for (int64_t d = 0; d < rank; ++d) {
    base += start[d] * inStrides[d];
    strides[d] = step[d] * inStrides[d];
  }
  stridedCopy(out.data, in.data, shape, strides, base, elementSize(in.type, layer), layer);
}

}  // namespace kiln::cpu
