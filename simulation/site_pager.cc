#include "simulation/site_pager.h"

#include <c10/core/CPUAllocator.h>
#include <fmt/format.h>

#include <fstream>
#include <set>
#include <stdexcept>

namespace fedgan::simulation {

namespace {

std::vector<c10::intrusive_ptr<c10::StorageImpl>> distinct_storages(
    const std::vector<torch::Tensor>& tensors) {
  std::vector<c10::intrusive_ptr<c10::StorageImpl>> storages;
  std::set<const c10::StorageImpl*> seen;
  for (const auto& tensor : tensors) {
    if (!tensor.defined() || !tensor.has_storage()) continue;
    if (!tensor.device().is_cpu()) {
      throw std::runtime_error("a site's tensors are paged only from the CPU");
    }
    auto storage =
        c10::intrusive_ptr<c10::StorageImpl>::reclaim_copy(tensor.storage().unsafeGetStorageImpl());
    if (storage->nbytes() == 0 || !seen.insert(storage.get()).second) continue;
    storages.push_back(std::move(storage));
  }
  return storages;
}

}  // namespace

SitePager::~SitePager() {
  std::error_code ignored;
  std::filesystem::remove(file_, ignored);
}

size_t SitePager::bytes_of(const std::vector<torch::Tensor>& tensors) {
  size_t bytes = 0;
  for (const auto& storage : distinct_storages(tensors)) bytes += storage->nbytes();
  return bytes;
}

void SitePager::page_out(const std::vector<torch::Tensor>& tensors) {
  if (paged_out()) return;
  auto storages = distinct_storages(tensors);
  {
    std::ofstream out(file_, std::ios::binary | std::ios::trunc);
    for (const auto& storage : storages) {
      out.write(static_cast<const char*>(storage->data()),
                static_cast<std::streamsize>(storage->nbytes()));
    }
    out.flush();
    if (!out) throw std::runtime_error(fmt::format("cannot write {}", file_.string()));
  }
  // Only once every byte is in the file does any memory go.
  for (const auto& storage : storages) {
    storage->set_data_ptr_noswap(at::DataPtr(nullptr, storage->device()));
  }
  storages_ = std::move(storages);
}

void SitePager::page_in() {
  if (!paged_out()) return;
  std::ifstream in(file_, std::ios::binary);
  for (const auto& storage : storages_) {
    auto memory = c10::GetCPUAllocator()->allocate(storage->nbytes());
    in.read(static_cast<char*>(memory.get()), static_cast<std::streamsize>(storage->nbytes()));
    if (!in) throw std::runtime_error(fmt::format("cannot read {}", file_.string()));
    storage->set_data_ptr_noswap(std::move(memory));
  }
  storages_.clear();
  std::error_code ignored;
  std::filesystem::remove(file_, ignored);
}

}  // namespace fedgan::simulation
