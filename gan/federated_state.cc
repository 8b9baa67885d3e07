#include "gan/federated_state.h"

#include "gan/error.h"

#include <torch/torch.h>

#include <cmath>

#include <unordered_map>
#include <unordered_set>

namespace fedgan::gan {
namespace {

std::string prefixed(std::string_view prefix, const std::string& name) {
  std::string result(prefix);
  result += name;
  return result;
}

// Appends the module's parameters, then its buffers, under `prefix`. With `federated_only`,
// integer buffers are left out and every other tensor must be float32.
void append_tensors(const torch::nn::Module& module, std::string_view prefix, bool federated_only,
                    std::vector<NamedTensor>& out) {
  for (const auto& item : module.named_parameters()) {
    const auto& tensor = item.value();
    check(!federated_only || tensor.scalar_type() == torch::kFloat32,
          "parameter '{}{}' is {}, but federated tensors must be float32", prefix, item.key(),
          c10::toString(tensor.scalar_type()));
    out.push_back({prefixed(prefix, item.key()), tensor});
  }
  for (const auto& item : module.named_buffers()) {
    const auto& tensor = item.value();
    if (federated_only) {
      if (!tensor.is_floating_point()) continue;  // step counters such as num_batches_tracked
      check(tensor.scalar_type() == torch::kFloat32,
            "buffer '{}{}' is {}, but federated tensors must be float32", prefix, item.key(),
            c10::toString(tensor.scalar_type()));
    }
    out.push_back({prefixed(prefix, item.key()), tensor});
  }
}

void check_networks(const GanModel& model) {
  check(model.generator != nullptr && model.discriminator != nullptr,
        "the {} model has no generator or no discriminator", model.architecture);
}

// Checks one incoming tensor against the model's tensor of the same name.
void check_compatible(const NamedTensor& target, const torch::Tensor& source) {
  check(source.defined(), "tensor '{}' is undefined in the state", target.name);
  check(source.scalar_type() == target.tensor.scalar_type(),
        "tensor '{}' is {} in the state but {} in the model", target.name,
        c10::toString(source.scalar_type()), c10::toString(target.tensor.scalar_type()));
  check(source.sizes() == target.tensor.sizes(),
        "tensor '{}' has shape [{}] in the state but [{}] in the model", target.name,
        fmt::join(source.sizes(), ", "), fmt::join(target.tensor.sizes(), ", "));
  if (source.is_floating_point() && source.numel() > 0) {
    check(torch::isfinite(source).all().item<bool>(),
          "tensor '{}' holds a NaN or infinite value in the state", target.name);
  }
}

}  // namespace

FederationScope parse_federation_scope(const std::string& name) {
  if (name == "both") return FederationScope::kGeneratorAndDiscriminator;
  if (name == "generator") return FederationScope::kGeneratorOnly;
  throw GanError(fmt::format(
      "unknown federation scope '{}': expected both (generator and discriminator) or generator",
      name));
}

std::string_view federation_scope_name(FederationScope scope) {
  return scope == FederationScope::kGeneratorOnly ? "generator" : "both";
}

std::vector<NamedTensor> federated_tensors(const GanModel& model, FederationScope scope) {
  check_networks(model);
  std::vector<NamedTensor> tensors;
  append_tensors(*model.generator, kGeneratorPrefix, true, tensors);
  if (scope == FederationScope::kGeneratorAndDiscriminator) {
    append_tensors(*model.discriminator, kDiscriminatorPrefix, true, tensors);
  }
  return tensors;
}

std::vector<NamedTensor> full_state(const GanModel& model) {
  check_networks(model);
  std::vector<NamedTensor> tensors;
  append_tensors(*model.generator, kGeneratorPrefix, false, tensors);
  append_tensors(*model.discriminator, kDiscriminatorPrefix, false, tensors);
  return tensors;
}

std::vector<NamedTensor> local_tensors(const GanModel& model, FederationScope scope) {
  std::unordered_set<std::string> federated;
  for (const auto& entry : federated_tensors(model, scope)) federated.insert(entry.name);
  std::vector<NamedTensor> local;
  for (auto& entry : full_state(model)) {
    if (federated.count(entry.name) == 0) local.push_back(std::move(entry));
  }
  return local;
}

bool all_finite(const std::vector<torch::Tensor>& tensors) {
  for (const auto& t : tensors) {
    if (t.numel() == 0 || !t.is_floating_point()) continue;
    if (!std::isfinite(t.sum(torch::kFloat64).item<double>())) return false;
  }
  return true;
}

namespace {

// Checks every tensor of `state` against the model's tensor of its name (and, with
// `every_tensor`, that none of the model's is missing) before copying any.
void load_state(const GanModel& model, const std::vector<NamedTensor>& state, bool every_tensor) {
  const std::vector<NamedTensor> targets = full_state(model);
  std::unordered_map<std::string, const torch::Tensor*> by_name;
  for (const auto& entry : state) {
    check(by_name.emplace(entry.name, &entry.tensor).second,
          "tensor '{}' appears twice in the state", entry.name);
  }
  std::unordered_map<std::string, const NamedTensor*> target_by_name;
  for (const auto& target : targets) {
    const auto found = by_name.find(target.name);
    check(found != by_name.end() || !every_tensor,
          "the state has no tensor '{}', which the {} model needs (a checkpoint of another "
          "architecture or width?)",
          target.name, model.architecture);
    if (found != by_name.end()) check_compatible(target, *found->second);
    target_by_name.emplace(target.name, &target);
  }
  for (const auto& entry : state) {
    check(target_by_name.count(entry.name) > 0,
          "the state holds tensor '{}', which the {} model lacks", entry.name, model.architecture);
  }
  // Everything matched: only now is anything copied, so a refused state leaves the model as it was.
  torch::NoGradGuard no_grad;
  for (const auto& entry : state) target_by_name.at(entry.name)->tensor.copy_(entry.tensor);
}

}  // namespace

void load_full_state(const GanModel& model, const std::vector<NamedTensor>& state) {
  load_state(model, state, true);
}

void load_partial_state(const GanModel& model, const std::vector<NamedTensor>& state) {
  load_state(model, state, false);
}

void load_full_state(const GanModel& model,
                     const torch::OrderedDict<std::string, torch::Tensor>& state) {
  std::vector<NamedTensor> entries;
  entries.reserve(state.size());
  for (const auto& item : state) entries.push_back({item.key(), item.value()});
  load_full_state(model, entries);
}

}  // namespace fedgan::gan
