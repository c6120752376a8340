// .npy reader: magic, version, header length, then a Python dict literal with exactly the keys descr,
// fortran_order and shape, then the raw data (see numpy.lib.format).
#include "npy.h"

#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/checked_math.h"
#include "core/error.h"

namespace kiln::tools {
namespace {

class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& what) : text_(text), what_(what) {}

  [[noreturn]] void bad(const std::string& why) const {
    fail(ErrorCode::kInvalidArgument, concat(what_, ": malformed .npy header (", why, "): ", text_));
  }
  void skipSpaces() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool accept(char c) {
    skipSpaces();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!accept(c)) bad(concat("expected '", c, "' at offset ", pos_));
  }
  std::string quoted() {
    skipSpaces();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) bad(concat("expected a string at offset ", pos_));
    char quote = text_[pos_++];
    size_t end = text_.find(quote, pos_);
    if (end == std::string::npos) bad("unterminated string");
    std::string s = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }
  bool boolean() {
    skipSpaces();
    for (auto [word, value] : {std::pair{"True", true}, std::pair{"False", false}})
      if (text_.compare(pos_, std::strlen(word), word) == 0) {
        pos_ += std::strlen(word);
        return value;
      }
    bad("fortran_order is not True or False");
  }
  Dims shape() {
    expect('(');
    Dims dims;
    while (!accept(')')) {
      skipSpaces();
      size_t start = pos_;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
      if (start == pos_ || pos_ - start > 18) bad("a dimension is not a non-negative integer");
      dims.push_back(std::stoll(text_.substr(start, pos_ - start)));
      if (!accept(',')) {
        expect(')');
        break;
      }
    }
    return dims;
  }
  bool atEnd() {
    skipSpaces();
    return pos_ == text_.size();
  }

 private:
  const std::string& text_;
  const std::string& what_;
  size_t pos_ = 0;
};

}  // namespace

HostTensor parseNpy(const std::string& bytes, const std::string& what) {
  static const char kMagic[] = "\x93NUMPY";
  KILN_CHECK(bytes.size() >= 10 && bytes.compare(0, 6, kMagic, 6) == 0, kInvalidArgument, what,
             ": not a NumPy .npy file (no \\x93NUMPY magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  KILN_CHECK(major >= 1 && major <= 3, kInvalidArgument, what, ": .npy format version ", major, ".",
             static_cast<int>(static_cast<unsigned char>(bytes[7])), " is not supported (1.0 to 3.0)");
  size_t headerLength = 0, offset = 0;
  auto byte = [&](size_t i) { return static_cast<size_t>(static_cast<unsigned char>(bytes[i])); };
  if (major == 1) {
    headerLength = byte(8) | byte(9) << 8;
    offset = 10;
  } else {
    KILN_CHECK(bytes.size() >= 12, kInvalidArgument, what, ": truncated .npy header");
    headerLength = byte(8) | byte(9) << 8 | byte(10) << 16 | byte(11) << 24;
    offset = 12;
  }
  KILN_CHECK(headerLength <= bytes.size() - offset, kInvalidArgument, what, ": truncated .npy header");
  const std::string header = bytes.substr(offset, headerLength);
  HeaderParser parser(header, what);
  std::string descr;
  bool fortran = false, haveDescr = false, haveOrder = false, haveShape = false;
  Dims dims;
  parser.expect('{');
  while (!parser.accept('}')) {
    std::string key = parser.quoted();
    parser.expect(':');
    if (key == "descr" && !haveDescr) {
      descr = parser.quoted();
      haveDescr = true;
    } else if (key == "fortran_order" && !haveOrder) {
      fortran = parser.boolean();
      haveOrder = true;
    } else if (key == "shape" && !haveShape) {
      dims = parser.shape();
      haveShape = true;
    } else {
      parser.bad(concat("unexpected or repeated key '", key, "'"));
    }
    if (!parser.accept(',')) {
      parser.expect('}');
      break;
    }
  }
  if (!parser.atEnd()) parser.bad("text after the dict");
  if (!haveDescr || !haveOrder || !haveShape) parser.bad("descr, fortran_order and shape are all required");
  DataType type;
  if (descr == "<f4") type = DataType::kFloat32;
  else if (descr == "<f2") type = DataType::kFloat16;
  else if (descr == "<i8") type = DataType::kInt64;
  else
    fail(ErrorCode::kUnsupported, concat(what, ": .npy dtype '", descr,
                                         "' is not supported (little-endian float32 '<f4', float16 '<f2' or int64 '<i8')"));
  KILN_CHECK(!fortran, kUnsupported, what, ": Fortran-order .npy arrays are not supported (save in C order)");
  int64_t size = checkedByteSize(type, dims);
  const size_t dataOffset = offset + headerLength;
  KILN_CHECK(size >= 0 && static_cast<uint64_t>(size) == bytes.size() - dataOffset, kInvalidArgument, what,
             ": shape ", dimsToString(dims), " of ", dataTypeName(type), " needs ", size, " bytes of data, the file has ",
             bytes.size() - dataOffset);
  return Weights::copyOf(type, dims, bytes.data() + dataOffset);
}

HostTensor readNpy(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  KILN_CHECK(file.good(), kIOError, "cannot open '", path, "'");
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  return parseNpy(bytes, path);
}

}  // namespace kiln::tools
