#pragma once

#include <ATen/core/Tensor.h>
#include <torch/ordered_dict.h>

#include <string>
#include <vector>

namespace fedgan::storage {

/// A model's tensors by name (`module->named_parameters()` plus buffers), in a stable order.
using StateDict = torch::OrderedDict<std::string, at::Tensor>;

/// The bytes of a PyTorch checkpoint holding `tensors`: the zip archive torch.save writes, whose
/// `data.pkl` is a plain dict from name to tensor. The pickle names only globals that the
/// weights-only unpickler of PyTorch allows (`torch._utils._rebuild_tensor_v2`, the typed storage
/// classes such as `torch.FloatStorage`, `collections.OrderedDict`), so Python loads the file with
/// `torch.load(path, weights_only=True)`, the default since PyTorch 2.6, as well as with a plain
/// `torch.load(path)`. (torch::pickle_save wraps the dict in
/// `torch.jit._pickle.restore_type_tag`, which that unpickler refuses.)
///
/// Tensors may live on any device. Each is saved as a CPU tensor without autograd history that
/// owns exactly its elements (its values: a conjugate or negative view is resolved), so the file
/// holds no bytes of a larger storage a tensor views. Entries keep their order. Throws
/// StorageError on an empty name, an undefined tensor, or a tensor PyTorch cannot store this way
/// (sparse, quantized, or of a dtype without a typed storage class, such as complex32).
/// Thread-safe: it touches nothing but its arguments.
std::vector<char> encode_state_dict(const StateDict& tensors);

/// The tensors of a checkpoint in the format encode_state_dict writes, or in the format
/// torch::pickle_save writes (the dict wrapped in a type tag, as fedgan wrote checkpoints and
/// site states before), in the file's order. `what` names the bytes in error messages (say
/// "checkpoint /runs/a/round_000042.pt"). Throws StorageError when the bytes are not a PyTorch
/// archive, or hold anything but a dict from name to tensor. Thread-safe.
StateDict decode_state_dict(const std::vector<char>& bytes, const std::string& what);

}  // namespace fedgan::storage
