#include "storage/state_dict_file.h"

#include "storage/error.h"

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include <algorithm>
#include <array>

namespace fedgan::storage {
namespace {

// The dtypes PyTorch has a typed storage class for (`torch.<Name>Storage`, `<Name>` being what
// c10::toString prints): the pickler names that class for a tensor's storage, and Python's
// weights-only unpickler allows exactly these. complex32 and the newer dtypes have none.
constexpr std::array<at::ScalarType, 12> kStorableDtypes = {
    at::kByte,  at::kChar,   at::kShort,    at::kInt,          at::kLong,          at::kHalf,
    at::kFloat, at::kDouble, at::kBFloat16, at::kComplexFloat, at::kComplexDouble, at::kBool};

// A CPU tensor without autograd history that owns exactly its elements, so the file holds no
// bytes of a larger storage the tensor happens to view. Conjugate and negative views are
// resolved: the pickler writes a storage's elements and drops those bits.
at::Tensor savable(const std::string& name, const at::Tensor& tensor) {
  check(!name.empty(), "state dict: a tensor has an empty name");
  check(tensor.defined(), "state dict: tensor '{}' is undefined", name);
  check(tensor.layout() == at::kStrided && !tensor.is_quantized(),
        "state dict: tensor '{}' is sparse or quantized; only dense tensors are saved", name);
  check(std::find(kStorableDtypes.begin(), kStorableDtypes.end(), tensor.scalar_type()) !=
            kStorableDtypes.end(),
        "state dict: tensor '{}' is of dtype {}, which PyTorch has no storage class for", name,
        c10::toString(tensor.scalar_type()));
  at::Tensor cpu = tensor.detach().to(at::kCPU).resolve_conj().resolve_neg().contiguous();
  if (cpu.storage_offset() != 0 || cpu.storage().nbytes() != cpu.nbytes()) cpu = cpu.clone();
  return cpu;
}

}  // namespace

std::vector<char> encode_state_dict(const StateDict& tensors) {
  try {
    c10::Dict<std::string, at::Tensor> dict;
    for (const auto& item : tensors) dict.insert(item.key(), savable(item.key(), item.value()));
    // torch::pickle_save's steps with one difference: tag_aggregates = false, so the dict is not
    // wrapped in torch.jit._pickle.restore_type_tag (a global Python's weights-only unpickler
    // refuses). Tensors are still written the way torch.save writes them.
    std::vector<char> pickle;
    torch::jit::Pickler pickler(
        [&](const char* data, size_t size) { pickle.insert(pickle.end(), data, data + size); },
        /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
        /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
    pickler.protocol();
    pickler.pushIValue(c10::IValue(dict));
    pickler.stop();

    std::vector<char> archive;
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) {
      const char* bytes = static_cast<const char*>(data);
      archive.insert(archive.end(), bytes, bytes + size);
      return size;
    });
    // Records `data.pkl` and `data/<i>` for the i-th storage, as torch.save names them.
    torch::jit::writeArchiveAndTensors("data", pickle.data(), pickle.size(), pickler.tensorData(),
                                       writer);
    writer.writeEndOfFile();
    return archive;
  } catch (const c10::Error& error) {
    throw StorageError(
        fmt::format("cannot serialise a state dict: {}", error.what_without_backtrace()));
  }
}

StateDict decode_state_dict(const std::vector<char>& bytes, const std::string& what) {
  c10::IValue value;
  try {
    // Reads both formats: the unpickler restores a type tag when there is one and makes a dict of
    // any keys and values when there is none.
    value = torch::jit::pickle_load(bytes);
  } catch (const c10::Error& error) {
    throw StorageError(fmt::format("{} cannot be read as a PyTorch pickle: {}", what,
                                   error.what_without_backtrace()));
  }
  check(value.isGenericDict(), "{} holds a {}, not a state_dict", what, value.tagKind());
  StateDict tensors;
  for (const auto& entry : value.toGenericDict()) {
    check(entry.key().isString(), "{}: a key is a {}, not a name", what, entry.key().tagKind());
    const std::string name = entry.key().toStringRef();
    check(entry.value().isTensor(), "{}: entry '{}' is a {}, not a tensor", what, name,
          entry.value().tagKind());
    tensors.insert(name, entry.value().toTensor());
  }
  return tensors;
}

}  // namespace fedgan::storage
