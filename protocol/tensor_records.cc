#include "protocol/tensor_records.h"

#include "protocol/wire_text.h"

#include <fmt/ranges.h>

#include <cstring>

namespace fedgan::protocol {
namespace {

// A tensor name as error messages quote it: a peer's manifest may hold any text, of any length.
Printable quoted(const std::string& name) {
  return Printable{name, kMaxQuotedNameBytes};
}

std::string shape_text(const wire::TensorSpec& spec) {
  return fmt::format("[{}]", fmt::join(spec.shape(), ", "));
}

}  // namespace

size_t encoded_element_bytes(wire::DType dtype, wire::Codec codec) {
  check(codec == wire::CODEC_FP32 || codec == wire::CODEC_FP16, wire::STATUS_MALFORMED,
        "unknown tensor codec {}", static_cast<int>(codec));
  switch (dtype) {
    case wire::DTYPE_FLOAT32:
      return codec == wire::CODEC_FP16 ? 2 : 4;
    case wire::DTYPE_FLOAT16:
      return 2;
    case wire::DTYPE_INT64:
      return 8;
    default:
      break;
  }
  throw ProtocolError(wire::STATUS_MALFORMED,
                      fmt::format("unknown tensor dtype {}", static_cast<int>(dtype)));
}

uint64_t encoded_tensor_bytes(const wire::TensorSpec& spec, wire::Codec codec) {
  check(spec.shape_size() <= kMaxTensorDims, wire::STATUS_MANIFEST_SHAPE,
        "tensor '{}' has {} dimensions, at most {} are accepted", quoted(spec.name()),
        spec.shape_size(), kMaxTensorDims);
  uint64_t bytes = encoded_element_bytes(spec.dtype(), codec);
  for (int64_t dim : spec.shape()) {
    check(dim >= 0, wire::STATUS_MANIFEST_SHAPE, "tensor '{}' has a negative dimension in {}",
          quoted(spec.name()), shape_text(spec));
    check(dim == 0 || bytes <= kMaxManifestBytes / static_cast<uint64_t>(dim),
          wire::STATUS_MANIFEST_SHAPE, "tensor '{}' of shape {} exceeds {} bytes",
          quoted(spec.name()), shape_text(spec), kMaxManifestBytes);
    bytes *= static_cast<uint64_t>(dim);
  }
  return bytes;
}

void validate_manifest(const wire::Manifest& received, const wire::Manifest& expected,
                       uint32_t accepted_codecs) {
  const int codec = received.codec();
  check(codec > 0 && codec < 32 && (accepted_codecs & (1u << codec)) != 0, wire::STATUS_MALFORMED,
        "tensor codec {} is not accepted here",
        wire::Codec_Name(received.codec()).empty() ? std::to_string(codec)
                                                   : wire::Codec_Name(received.codec()));
  const int n = expected.tensors_size();
  uint64_t total = 0;
  for (int i = 0; i < received.tensors_size(); ++i) {
    const auto& got = received.tensors(i);
    check(i < n, wire::STATUS_MANIFEST_EXTRA, "unexpected tensor '{}': the model has {} tensors",
          quoted(got.name()), n);
    const auto& want = expected.tensors(i);
    check(got.name() == want.name(), wire::STATUS_MANIFEST_NAME,
          "tensor {} is named '{}', expected '{}'", i, quoted(got.name()), quoted(want.name()));
    check(got.dtype() == want.dtype(), wire::STATUS_MANIFEST_DTYPE,
          "tensor '{}' has dtype {}, expected {}", quoted(got.name()),
          wire::DType_Name(got.dtype()), wire::DType_Name(want.dtype()));
    check(std::equal(got.shape().begin(), got.shape().end(), want.shape().begin(),
                     want.shape().end()),
          wire::STATUS_MANIFEST_SHAPE, "tensor '{}' has shape {}, expected {}", quoted(got.name()),
          shape_text(got), shape_text(want));
    total += encoded_tensor_bytes(got, received.codec());
    check(total <= kMaxManifestBytes, wire::STATUS_MANIFEST_BYTES,
          "model exceeds {} bytes at tensor '{}'", kMaxManifestBytes, quoted(got.name()));
  }
  check(received.tensors_size() == n, wire::STATUS_MANIFEST_MISSING,
        "{} of the model's {} tensors are missing, the first is '{}'", n - received.tensors_size(),
        n,
        quoted(n > received.tensors_size() ? expected.tensors(received.tensors_size()).name()
                                           : std::string()));
  check(received.total_bytes() == total, wire::STATUS_MANIFEST_BYTES,
        "manifest declares {} bytes, its tensors take {}", received.total_bytes(), total);
}

}  // namespace fedgan::protocol
