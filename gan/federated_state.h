#pragma once

#include "gan/models/gan_model.h"

#include <torch/ordered_dict.h>
#include <torch/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace fedgan::gan {

// What of a GanModel travels between the coordinator and the clients, and what a checkpoint holds.
//
// Names are the networks' own torch names behind a prefix: "generator.<name>" and
// "discriminator.<name>" (e.g. "generator.project_norm.running_mean"). Within one network the
// order is: every parameter, then every buffer, each in registration order (what
// Module::named_parameters() and named_buffers() list, submodules depth-first). The generator
// always comes first. Coordinator and clients build the same architecture, so both sides derive
// the same list, and the manifest of a transfer is checked against it tensor by tensor.

inline constexpr std::string_view kGeneratorPrefix = "generator.";
inline constexpr std::string_view kDiscriminatorPrefix = "discriminator.";

/// Which networks a federation averages.
enum class FederationScope {
  /// Generator and discriminator are both averaged (every site trains against a common critic).
  kGeneratorAndDiscriminator,
  /// Only the generator is averaged; each site keeps its own discriminator.
  kGeneratorOnly,
};

/// "both" -> kGeneratorAndDiscriminator, "generator" -> kGeneratorOnly; throws GanError naming the
/// accepted values for anything else.
FederationScope parse_federation_scope(const std::string& name);
/// The inverse of parse_federation_scope.
std::string_view federation_scope_name(FederationScope scope);

/// One tensor of a model under its prefixed name.
struct NamedTensor {
  std::string name;
  torch::Tensor tensor;
};

/// The tensors that travel in a federated round: every parameter and every float32 buffer of the
/// generator, then (kGeneratorAndDiscriminator) of the discriminator, in the order described at
/// the top of this file.
///
/// BatchNorm running statistics (running_mean, running_var) travel and are averaged like the
/// weights: the global generator is evaluated and sampled in eval mode, where BatchNorm normalises
/// with these statistics, so a global model whose running statistics stayed at their initial
/// values (or belonged to one client) would produce images unrelated to its averaged weights.
/// Integer buffers (num_batches_tracked, a step counter) never travel: averaging a counter means
/// nothing, and the wire and aggregation carry float32 only.
///
/// The returned tensors alias the modules' memory (no copy): writing through one changes the model.
/// A GanModel is a handle (shared_ptr members), so a const one still hands out writable tensors.
/// Throws GanError when a parameter or a floating-point buffer is not float32 (a model converted to
/// another dtype cannot be federated).
std::vector<NamedTensor> federated_tensors(const GanModel& model, FederationScope scope);

/// Every parameter and every buffer (integer ones included) of both networks, named and ordered as
/// above: what a checkpoint holds. Aliases the modules' memory, like federated_tensors.
std::vector<NamedTensor> full_state(const GanModel& model);

/// The tensors of full_state(model) that federated_tensors(model, scope) does not list, in the same
/// order: what a site keeps to itself (with kGeneratorOnly its whole discriminator; always the
/// integer step counters). Aliases the modules' memory, like full_state.
std::vector<NamedTensor> local_tensors(const GanModel& model, FederationScope scope);

/// True when every value of every tensor in `tensors` is finite (non-floating tensors count as
/// finite). One reduction per tensor, without a mask: its sum in double, which is finite exactly
/// when every value is: a sum of float32 values (each below 2^128) cannot overflow a double.
bool all_finite(const std::vector<torch::Tensor>& tensors);

/// Copies `state` into the model's tensors in place (no reallocation, so views of the model stay
/// valid), without recording autograd history. `state` must hold exactly the names of
/// full_state(model), in any order, each with the model's dtype and shape and, for floating-point
/// tensors, finite values; it may live on any device. Everything is checked before anything is
/// copied, so on error the model is unchanged. Throws GanError naming the first missing, extra,
/// duplicated or mismatched tensor, or the first non-finite one.
void load_full_state(const GanModel& model, const std::vector<NamedTensor>& state);
void load_full_state(const GanModel& model,
                     const torch::OrderedDict<std::string, torch::Tensor>& state);

/// load_full_state for a `state` that may hold any subset of the names of full_state(model) (such
/// as local_tensors): the model's other tensors keep their values. The same checks, all before
/// anything is copied.
void load_partial_state(const GanModel& model, const std::vector<NamedTensor>& state);

}  // namespace fedgan::gan
