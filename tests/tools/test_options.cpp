#include <gtest/gtest.h>

#include <sstream>

#include "cli.h"
#include "options.h"

using namespace kiln;
using namespace kiln::tools;

TEST(CliOptions, ParsesValuesFlagsAndPositionals) {
  Options o({"--onnx=m.onnx", "--fp16", "dir1", "--iterations=5", "dir2"}, {"onnx", "fp16", "iterations"});
  EXPECT_EQ(o.get("onnx"), "m.onnx");
  EXPECT_TRUE(o.has("fp16"));
  EXPECT_FALSE(o.has("iterations-x"));
  EXPECT_EQ(o.getInt("iterations", 0), 5);
  EXPECT_EQ(o.positional(), (std::vector<std::string>{"dir1", "dir2"}));
}

TEST(CliOptions, RejectsUnknownOptionsAndBadNumbers) {
  EXPECT_THROW(Options({"--nope=1"}, {"onnx"}), Error);
  Options o({"--iterations=abc"}, {"iterations"});
  EXPECT_THROW(o.getInt("iterations", 0), Error);
}

TEST(CliOptions, ParsesShapes) {
  auto shapes = parseShapes("input:1x3x224x224,mask:8,scalar:");
  EXPECT_EQ(shapes["input"], (Dims{1, 3, 224, 224}));
  EXPECT_EQ(shapes["mask"], (Dims{8}));
  EXPECT_TRUE(shapes["scalar"].empty());
  EXPECT_THROW(parseShapes("input1x3"), Error);
  EXPECT_THROW(parseShapes("input:1xz"), Error);
}

TEST(Cli, UnknownCommandAndMissingFilesFailCleanly) {
  std::ostringstream out, err;
  EXPECT_EQ(runCli({"frobnicate"}, out, err), 2);
  EXPECT_NE(err.str().find("unknown command"), std::string::npos);
  err.str("");
  EXPECT_EQ(runCli({"build", "--onnx=/no/such/model.onnx", "--save-engine=/tmp/x.plan"}, out, err), 1);
  EXPECT_NE(err.str().find("/no/such/model.onnx"), std::string::npos) << err.str();
  err.str("");
  EXPECT_EQ(runCli({"run", "--engine=/no/such.plan", "--load-inputs=/tmp"}, out, err), 1);
  EXPECT_NE(err.str().find("/no/such.plan"), std::string::npos) << err.str();
}
