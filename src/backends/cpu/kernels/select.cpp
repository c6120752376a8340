// Select (Where): cond ? x : y with numpy broadcasting of the three inputs.
#include "backends/cpu/kernels/indexing.h"
#include "backends/cpu/kernels/kernels.h"
#include "backends/cpu/kernels/type_support.h"

namespace kiln::cpu {

std::string supportsSelect(const ir::Layer& layer) {
  return checkTypesPerIndex(layer, {kBoolType, kBytes}, {kBytes});
}

void runSelect(const ir::Layer& layer, const KernelArgs& args) {
  checkInputs(layer, args, 3);
  const TensorView& c = args.inputs[0];
  const TensorView& x = args.inputs[1];
  const TensorView& y = args.inputs[2];
  const TensorView& out = args.outputs[0];
  KILN_CHECK(c.type == DataType::kBool, kInvalidArgument, layer.describe(), ": condition must be bool, got ",
             dataTypeName(c.type));
  checkSameType(layer, x, y);
  checkSameType(layer, x, out);
  const Dims* shapes[3] = {&c.shape, &x.shape, &y.shape};
  BroadcastPlan<3> plan(out.shape, shapes, layer);
  if (plan.total == 0) return;
  dispatchBytes(x.type, layer, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const bool* pc = c.as<const bool>();
    const T* px = x.as<const T>();
    const T* py = y.as<const T>();
    T* po = out.as<T>();
    plan.forAll([&](int64_t pos, const int64_t* offs, int64_t count, const int64_t* inner) {
      const bool* cc = pc + offs[0];
      const T* xx = px + offs[1];
      const T* yy = py + offs[2];
      T* oo = po + pos;
      if (inner[0] == 1 && inner[1] == 1 && inner[2] == 1) {
        for (int64_t i = 0; i < count; ++i) oo[i] = cc[i] ? xx[i] : yy[i];
      } else {
        for (int64_t i = 0; i < count; ++i) oo[i] = cc[i * inner[0]] ? xx[i * inner[1]] : yy[i * inner[2]];
      }
    });
  });
}

}  // namespace kiln::cpu
