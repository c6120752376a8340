// The ONNX Attention importer: one Attention layer when the op maps exactly (3-D inputs through [B, S, H, D]
// and kBSHD, a 2-D mask unsqueezed to rank 4, is_causal, zeroMaskedRows), the MatMul/Softmax lowering
// otherwise (past key/value, present outputs, softcap).
#include <gtest/gtest.h>

#include <onnx/onnx.pb.h>

#include "ir/network.h"
#include "kiln/kiln.h"

using namespace kiln;

namespace {

// One Attention node (opset 23) over float inputs; dims < 0 are dynamic.
struct AttentionModel {
  onnx::ModelProto model;
  onnx::NodeProto* node = nullptr;
  AttentionModel() {
    model.set_ir_version(10);
    auto* opset = model.add_opset_import();
    opset->set_domain("");
    opset->set_version(23);
    node = model.mutable_graph()->add_node();
    node->set_op_type("Attention");
    node->set_name("attention");
  }
  void input(const std::string& name, const Dims& dims, int type = onnx::TensorProto::FLOAT) {
    auto* vi = model.mutable_graph()->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(type);
    for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
    node->add_input(name);
  }
  void output(const std::string& name) {
    model.mutable_graph()->add_output()->set_name(name);
    node->add_output(name);
  }
  void attr(const std::string& name, int64_t value) {
    auto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(value);
  }
  void attr(const std::string& name, float value) {
    auto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(value);
  }
  std::unique_ptr<ir::Network> import() const {
    auto net = std::make_unique<ir::Network>();
    OnnxParser parser(*net);
    std::string bytes = model.SerializeAsString();
    parser.parse(bytes.data(), bytes.size());
    return net;
  }
};

int count(const ir::Network& net, LayerType type) {
  int n = 0;
  for (auto& l : net.layers()) n += l->type() == type;
  return n;
}

const ir::Layer* attentionOf(const ir::Network& net) {
  for (auto& l : net.layers())
    if (l->type() == LayerType::kAttention) return l.get();
  return nullptr;
}

TEST(OnnxAttentionImport, ThreeDimensionalInputsBecomeOneBshdLayer) {
  AttentionModel m;
  m.input("q", {2, 5, 3 * 8});
  m.input("k", {2, 7, 1 * 8});
  m.input("v", {2, 7, 1 * 4});
  m.input("mask", {5, 7}, onnx::TensorProto::BOOL);
  m.output("y");
  m.attr("q_num_heads", int64_t{3});
  m.attr("kv_num_heads", int64_t{1});
  m.attr("is_causal", int64_t{1});
  m.attr("scale", 0.25f);
  auto net = m.import();
  const ir::Layer* attention = attentionOf(*net);
  ASSERT_NE(attention, nullptr);
  EXPECT_EQ(count(*net, LayerType::kAttention), 1);
  EXPECT_EQ(count(*net, LayerType::kSoftmax), 0);
  EXPECT_EQ(count(*net, LayerType::kMatrixMultiply), 0);
  const auto& p = attention->as<AttentionParams>();
  EXPECT_EQ(p.layout, AttentionLayout::kBSHD);
  EXPECT_TRUE(p.causal);  // no past: ONNX's bottom-right alignment is top-left
  EXPECT_TRUE(p.zeroMaskedRows);
  EXPECT_FLOAT_EQ(p.scale, 0.25f);
  EXPECT_EQ(attention->inputs[0]->dims(), (Dims{2, 5, 3, 8}));
  EXPECT_EQ(attention->inputs[1]->dims(), (Dims{2, 7, 1, 8}));
  ASSERT_EQ(attention->inputs.size(), 4u);
  EXPECT_EQ(attention->inputs[3]->dims(), (Dims{1, 1, 5, 7}));
  EXPECT_EQ(net->outputs()[0]->dims(), (Dims{2, 5, 3 * 4}));
}

TEST(OnnxAttentionImport, FourDimensionalInputsKeepTheDefaultScale) {
  AttentionModel m;
  m.input("q", {1, 4, 6, 16});
  m.input("k", {1, 2, 9, 16});
  m.input("v", {1, 2, 9, 16});
  m.output("y");
  auto net = m.import();
  const ir::Layer* attention = attentionOf(*net);
  ASSERT_NE(attention, nullptr);
  EXPECT_EQ(attention->as<AttentionParams>().layout, AttentionLayout::kBHSD);
  EXPECT_EQ(attention->as<AttentionParams>().scale, 0.f);  // 1/sqrt(D), as ONNX's default
  EXPECT_FALSE(attention->as<AttentionParams>().causal);
  EXPECT_EQ(attention->inputs.size(), 3u);
  EXPECT_EQ(net->outputs()[0]->dims(), (Dims{1, 4, 6, 16}));
}

TEST(OnnxAttentionImport, PastKeysPresentOutputsAndSoftcapKeepTheLowering) {
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE(variant);
    AttentionModel m;
    m.input("q", {1, 2, 3, 8});
    m.input("k", {1, 2, 3, 8});
    m.input("v", {1, 2, 3, 8});
    if (variant == 0) {
      m.node->add_input("");  // no mask
      m.input("past_key", {1, 2, 4, 8});
      m.input("past_value", {1, 2, 4, 8});
    }
    m.output("y");
    if (variant == 1) m.output("present_key");
    if (variant == 2) m.attr("softcap", 2.f);
    auto net = m.import();
    EXPECT_EQ(count(*net, LayerType::kAttention), 0);
    EXPECT_EQ(count(*net, LayerType::kSoftmax), 1);
  }
}

}  // namespace
