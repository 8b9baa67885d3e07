#include "gan/data/idx.h"
#include "tests/gan/data/idx_files.h"

#include "gan/error.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace fedgan::gan {
namespace {

namespace fs = std::filesystem;

Bytes iota_bytes(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 37 + 1);
  return b;
}

class IdxFileTest : public TempDirTest {
 protected:
  std::string write_gzip(const std::string& name, const Bytes& content) {
    const std::string path = (dir_ / name).string();
    gzFile file = gzopen(path.c_str(), "wb");
    EXPECT_NE(file, nullptr);
    if (!content.empty()) {
      EXPECT_EQ(gzwrite(file, content.data(), static_cast<unsigned>(content.size())),
                static_cast<int>(content.size()));
    }
    EXPECT_EQ(gzclose(file), Z_OK);
    return path;
  }

  Bytes read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
};

/// Runs `fn` and expects a GanError whose message contains every phrase.
template <typename Fn>
void expect_error(Fn&& fn, const std::vector<std::string>& phrases) {
  try {
    fn();
    ADD_FAILURE() << "expected GanError containing '" << phrases.front() << "'";
  } catch (const GanError& e) {
    for (const auto& phrase : phrases) {
      EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos)
          << "message: " << e.what() << "\nmissing: " << phrase;
    }
  }
}

TEST_F(IdxFileTest, ReadsPlainUint8Exactly) {
  const Bytes payload = iota_bytes(2 * 3 * 4);
  const std::string path = write_plain("a-idx3-ubyte", make_idx(0x08, {2, 3, 4}, payload));
  const IdxArray array = read_idx(path);
  EXPECT_EQ(array.type, IdxType::kUint8);
  EXPECT_EQ(array.dims, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(array.num_elements(), 24);
  EXPECT_EQ(array.bytes, payload);
}

TEST_F(IdxFileTest, ReadsGzipUint8Exactly) {
  const Bytes payload = iota_bytes(5 * 7);
  // The name has no .gz suffix: compression is detected from the content.
  const std::string path = write_gzip("b-idx2-ubyte", make_idx(0x08, {5, 7}, payload));
  const IdxArray array = read_idx(path);
  EXPECT_EQ(array.dims, (std::vector<int64_t>{5, 7}));
  EXPECT_EQ(array.bytes, payload);
}

TEST_F(IdxFileTest, ConvertsMultiByteTypesToHostOrder) {
  const std::vector<int32_t> ints = {1, -2, 0x01020304, INT32_MIN};
  Bytes int_payload;
  for (int32_t v : ints) {
    const auto u = static_cast<uint32_t>(v);
    int_payload.insert(int_payload.end(),
                       {static_cast<uint8_t>(u >> 24), static_cast<uint8_t>(u >> 16),
                        static_cast<uint8_t>(u >> 8), static_cast<uint8_t>(u)});
  }
  // 1.5 and -0.25 as big-endian IEEE-754 doubles, and 0x1234 / -1 as big-endian int16.
  const Bytes double_payload = {0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xbf, 0xd0, 0, 0, 0, 0, 0, 0};
  const Bytes short_payload = {0x12, 0x34, 0xff, 0xff};

  for (bool gzip : {false, true}) {
    SCOPED_TRACE(gzip ? "gzip" : "plain");
    auto write = [&](const std::string& name, const Bytes& content) {
      return gzip ? write_gzip(name, content) : write_plain(name, content);
    };
    const IdxArray i32 = read_idx(write("i32", make_idx(0x0C, {4}, int_payload)));
    ASSERT_EQ(i32.type, IdxType::kInt32);
    ASSERT_EQ(i32.bytes.size(), 16u);
    std::vector<int32_t> got(4);
    std::memcpy(got.data(), i32.bytes.data(), 16);
    EXPECT_EQ(got, ints);

    const IdxArray f64 = read_idx(write("f64", make_idx(0x0E, {1, 2}, double_payload)));
    ASSERT_EQ(f64.type, IdxType::kFloat64);
    double doubles[2];
    std::memcpy(doubles, f64.bytes.data(), 16);
    EXPECT_EQ(doubles[0], 1.5);
    EXPECT_EQ(doubles[1], -0.25);

    const IdxArray i16 = read_idx(write("i16", make_idx(0x0B, {2}, short_payload)));
    int16_t shorts[2];
    std::memcpy(shorts, i16.bytes.data(), 4);
    EXPECT_EQ(shorts[0], 0x1234);
    EXPECT_EQ(shorts[1], -1);
  }
}

TEST(IdxParse, ParsesFromMemory) {
  const Bytes payload = iota_bytes(6);
  const IdxArray array = parse_idx(make_idx(0x09, {6}, payload), "memory");
  EXPECT_EQ(array.type, IdxType::kInt8);
  EXPECT_EQ(array.dims, (std::vector<int64_t>{6}));
  EXPECT_EQ(array.bytes, payload);
}

TEST(IdxParse, DefaultArrayHasNoElements) {
  EXPECT_EQ(IdxArray{}.num_elements(), 0);
}

TEST_F(IdxFileTest, RejectsTruncatedPayload) {
  const Bytes content = make_idx(0x08, {10}, iota_bytes(5));
  expect_error([&] { read_idx(write_plain("short", content)); },
               {"short", "truncated: header declares 10 payload bytes, file has 5"});
  expect_error([&] { read_idx(write_gzip("short.gz", content)); },
               {"short.gz", "truncated: header declares 10 payload bytes, file has 5"});
  expect_error([&] { parse_idx(content, "mem"); }, {"mem: truncated"});
}

TEST_F(IdxFileTest, RejectsTrailingBytes) {
  const Bytes content = make_idx(0x08, {4}, iota_bytes(5));
  expect_error([&] { read_idx(write_plain("long", content)); },
               {"long", "trailing bytes after the 4 payload bytes"});
  expect_error([&] { read_idx(write_gzip("long.gz", content)); }, {"trailing bytes"});
}

TEST_F(IdxFileTest, RejectsBadMagic) {
  Bytes content = make_idx(0x08, {4}, iota_bytes(4));
  content[0] = 0x50;  // "P..." as in a PNG or text file
  expect_error([&] { read_idx(write_plain("magic", content)); },
               {"magic", "bad magic number 0x50000801"});
}

TEST_F(IdxFileTest, RejectsUnknownTypeCode) {
  const Bytes content = make_idx(0x0A, {4}, iota_bytes(4));
  expect_error([&] { read_idx(write_plain("type", content)); }, {"unknown element type code 0x0a"});
}

TEST_F(IdxFileTest, RejectsZeroDimension) {
  const Bytes content = make_idx(0x08, {3, 0}, {});
  expect_error([&] { read_idx(write_plain("zero", content)); }, {"dimension 1 is 0"});
}

TEST_F(IdxFileTest, RejectsDimensionCountOutsideLimits) {
  expect_error(
      [&] {
        read_idx(write_plain("five", make_idx(0x08, {1, 1, 1, 1, 1}, {7})));
      },
      {"header declares 5 dimensions, expected 1 to 4"});
  expect_error([&] { read_idx(write_plain("none", make_idx(0x08, {}, {7}))); },
               {"header declares 0 dimensions"});
  IdxLimits two_dims;
  two_dims.max_dims = 2;
  expect_error(
      [&] {
        parse_idx(make_idx(0x08, {1, 1, 1}, {7}), "mem", two_dims);
      },
      {"expected 1 to 2"});
}

TEST_F(IdxFileTest, RejectsHugeDeclaredSizeBeforeAllocating) {
  // 10^15 bytes: refused from the header alone (an attempt to allocate it would throw bad_alloc).
  const Bytes content = make_idx(0x08, {100000, 100000, 100000}, {});
  expect_error([&] { read_idx(write_plain("huge", content)); },
               {"huge", "100000 x 100000 x 100000", "over the limit of 2147483648 payload bytes"});
  // Products that overflow 64 bits are refused too.
  const Bytes overflow = make_idx(0x0E, {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {});
  expect_error([&] { parse_idx(overflow, "mem"); }, {"over the limit"});
  // The limit is the caller's.
  IdxLimits small;
  small.max_bytes = 100;
  expect_error([&] { parse_idx(make_idx(0x0C, {26}, iota_bytes(104)), "mem", small); },
               {"over the limit of 100 payload bytes"});
  EXPECT_NO_THROW(parse_idx(make_idx(0x0C, {25}, iota_bytes(100)), "mem", small));
}

TEST_F(IdxFileTest, RejectsTruncatedHeader) {
  expect_error([&] { read_idx(write_plain("tiny", {0, 0})); }, {"too short for an IDX file"});
  expect_error([&] { read_idx(write_plain("empty", {})); }, {"too short for an IDX file"});
  expect_error(
      [&] {
        read_idx(write_plain("dims", {0, 0, 8, 2, 0, 0, 0, 1}));
      },
      {"truncated header: 2 dimensions need 8 bytes, file has 4"});
}

TEST_F(IdxFileTest, RejectsCorruptGzipStream) {
  // A gzip magic number followed by garbage.
  Bytes garbage = {0x1f, 0x8b};
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) garbage.push_back(static_cast<uint8_t>(rng()));
  expect_error([&] { read_idx(write_plain("garbage.gz", garbage)); },
               {"garbage.gz", "corrupt or truncated gzip stream"});
}

TEST_F(IdxFileTest, RejectsGzipCutInTheMiddle) {
  // Random bytes do not compress, so half the file is half the payload.
  Bytes payload(20000);
  std::mt19937 rng(11);
  for (auto& b : payload) b = static_cast<uint8_t>(rng());
  const Bytes whole = read_file(write_gzip("whole.gz", make_idx(0x08, {100, 200}, payload)));
  ASSERT_EQ(read_idx((dir_ / "whole.gz").string()).bytes, payload);

  const Bytes half(whole.begin(), whole.begin() + static_cast<long>(whole.size() / 2));
  expect_error([&] { read_idx(write_plain("half.gz", half)); },
               {"half.gz", "corrupt or truncated gzip stream"});
  // Cut inside the 8-byte trailer: all the payload decompresses but the stream is incomplete.
  const Bytes no_trailer(whole.begin(), whole.end() - 4);
  expect_error([&] { read_idx(write_plain("trailer.gz", no_trailer)); },
               {"corrupt or truncated gzip stream"});
  // A wrong CRC.
  Bytes bad_crc = whole;
  bad_crc[bad_crc.size() - 8] ^= 0xff;
  expect_error([&] { read_idx(write_plain("crc.gz", bad_crc)); },
               {"corrupt or truncated gzip stream"});
}

TEST_F(IdxFileTest, RejectsMissingFile) {
  const std::string path = (dir_ / "absent-idx1-ubyte.gz").string();
  expect_error([&] { read_idx(path); }, {path, "cannot open"});
}

}  // namespace
}  // namespace fedgan::gan
